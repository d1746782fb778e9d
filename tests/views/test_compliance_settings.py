"""Settings → Messaging rules: quiet hours, cap, opt-out, help text, keywords, reply numbers."""

from __future__ import annotations

import re
from datetime import time

import pytest
from sqlalchemy import select

from astronote.models import Shop, ShopSenderNumber
from astronote.services.messaging import keywords
from tests.conftest import bearer

VALID = {
    "quiet_start": "09:30",
    "quiet_end": "20:00",
    "transactional_ignores_quiet_hours": "on",
    "frequency_cap_hours": "24",
    "opt_out_mode": "link",
    "help_text": "{shop} help: email help@alpha.test. Reply STOP to opt out.",
    "double_opt_in": "on",
    "keywords_stop": "",
    "keywords_start": "",
    "keywords_help": "",
    "sender_numbers": "",
}


def post(client, auth, **changes):
    return client.post("/settings/messaging", data={**VALID, **changes}, headers=auth)


def stored(db, shop_id: int) -> Shop:
    db.session.expire_all()
    return db.session.get(Shop, shop_id)


def rules(db, shop_id: int) -> tuple:
    shop = stored(db, shop_id)
    return (
        shop.quiet_start,
        shop.quiet_end,
        shop.transactional_ignores_quiet_hours,
        shop.frequency_cap_hours,
        shop.opt_out_mode,
        shop.help_text,
        shop.double_opt_in,
        shop.keywords,
        numbers_of(db, shop_id),
    )


def numbers_of(db, shop_id: int) -> list[str]:
    query = select(ShopSenderNumber.number).filter_by(shop_id=shop_id)
    return sorted(db.session.execute(query.order_by(ShopSenderNumber.number)).scalars())


def errors_in(body: str) -> list[str]:
    """The names of the fields marked invalid, in page order."""
    return re.findall(r'<div class="field[^"]* has-error">\s*<label for="f-(\w+)"', body)


# --------------------------------------------------------------------------- page


def test_page_shows_the_strict_defaults_and_keeps_the_other_cards(client, doc_auth, shop):
    response = client.get("/settings", headers=doc_auth)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="messaging-card"' in body and "Messaging rules" in body
    assert 'id="settings-card"' in body and 'id="sync-card"' in body
    assert "Customer data requests" in body
    assert 'name="quiet_start" type="time" value="08:00"' in body
    assert 'name="quiet_end" type="time" value="21:00"' in body
    assert 'name="frequency_cap_hours" type="number" value="16"' in body
    assert re.search(
        r'name="transactional_ignores_quiet_hours" type="checkbox" value="on"\s+checked', body
    )
    assert not re.search(r'name="double_opt_in" type="checkbox" value="on"\s+checked', body)
    assert re.search(r'<option value="reply"\s+selected\s*>', body)
    assert "Always: STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT" in body
    # the hint is escaped text, and the numeric field's attributes are real attributes
    assert 'min="0" max="168"' in body


def test_saving_every_rule(client, auth, db, shop):
    response = post(
        client,
        auth,
        keywords_stop="arret, Stop please!, halt",
        keywords_start="rejoin",
        keywords_help="aide",
        sender_numbers="+14155550000\n(415) 555-0001, +14155550000",
    )
    assert response.status_code == 200, errors_in(response.get_data(as_text=True))
    assert "Messaging rules saved" in response.headers["HX-Trigger"]
    body = response.get_data(as_text=True)
    assert "<html" not in body and 'id="messaging-form"' in body
    assert 'id="settings-form"' not in body
    assert rules(db, shop.id) == (
        time(9, 30),
        time(20, 0),
        True,
        24,
        "link",
        VALID["help_text"],
        True,
        {"stop": ["ARRET", "STOPPLEASE", "HALT"], "start": ["REJOIN"], "help": ["AIDE"]},
        ["+14155550000", "+14155550001"],
    )
    # the form shows what was stored: normalised words, E.164 numbers
    assert 'value="ARRET, STOPPLEASE, HALT"' in body
    assert "+14155550000\n+14155550001</textarea>" in body


def test_unchecked_boxes_and_empty_help_restore_defaults(client, auth, db, shop):
    shop.double_opt_in = True
    shop.help_text = "{shop}: old help. Reply STOP to opt out."
    db.session.commit()
    form = {**VALID, "help_text": "  "}
    del form["double_opt_in"], form["transactional_ignores_quiet_hours"]
    response = client.post("/settings/messaging", data=form, headers=auth)
    assert response.status_code == 200
    shop = stored(db, shop.id)
    assert shop.double_opt_in is False and shop.transactional_ignores_quiet_hours is False
    assert shop.help_text is None
    assert keywords.help_text(shop) == keywords.DEFAULT_HELP.replace("{shop}", "Alpha")


def test_same_start_and_end_is_allowed_and_midnight_windows_too(client, auth, db, shop):
    assert post(client, auth, quiet_start="00:00", quiet_end="00:00").status_code == 200
    assert stored(db, shop.id).quiet_start == stored(db, shop.id).quiet_end == time(0)
    assert post(client, auth, quiet_start="22:00", quiet_end="7:15").status_code == 200
    assert (stored(db, shop.id).quiet_start, stored(db, shop.id).quiet_end) == (
        time(22),
        time(7, 15),
    )
    # seconds from a browser with step=1 are accepted and dropped
    assert post(client, auth, quiet_start="08:00:30").status_code == 200
    assert stored(db, shop.id).quiet_start == time(8)


def test_frequency_cap_bounds(client, auth, db, shop):
    for value, expected in (("0", 0), ("168", 168), ("1", 1)):
        assert post(client, auth, frequency_cap_hours=value).status_code == 200
        assert stored(db, shop.id).frequency_cap_hours == expected


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("quiet_start", "", "Enter a time such as 08:00"),
        ("quiet_start", "25:00", "Enter a time such as 08:00"),
        ("quiet_end", "8am", "Enter a time such as 08:00"),
        ("quiet_end", "12:60", "Enter a time such as 08:00"),
        ("frequency_cap_hours", "169", "from 0 to 168"),
        ("frequency_cap_hours", "-1", "from 0 to 168"),
        ("frequency_cap_hours", "1.5", "from 0 to 168"),
        ("frequency_cap_hours", "", "from 0 to 168"),
        ("frequency_cap_hours", "٣", "from 0 to 168"),  # a non-ASCII digit
        ("opt_out_mode", "", "Choose how contacts opt out."),
        ("opt_out_mode", "email", "Choose how contacts opt out."),
        ("help_text", "{shop}: " + "x" * 160 + " Reply STOP", "Keep it to 160 characters"),
        ("help_text", "We are a shop. Reply STOP to opt out.", "Name your shop"),
        ("help_text", "{shop}: questions? Call us.", "Say how to opt out"),
        ("help_text", "{shop}: reply stop to opt out", "Say how to opt out"),
        ("help_text", "{shop} {name}: Reply STOP to opt out", "Only {shop} can be filled in"),
        ("help_text", "{shop}: 🙂 " + "a" * 60 + " Reply STOP", "one SMS"),
        ("keywords_stop", "!!!", "has no letters or digits"),
        ("keywords_stop", "A" * 17, "at most 16 characters"),
        ("keywords_stop", "yes", "YES already means START (opt back in)."),
        ("keywords_start", "Stop!", "STOP already means STOP (opt out)."),
        ("keywords_help", "start", "START already means START"),
        ("keywords_help", ", ".join(f"w{i}" for i in range(21)), "at most 20 extra keywords"),
        ("sender_numbers", "+1415555", "not a valid number"),
        ("sender_numbers", "call me", "not a phone number"),
        ("sender_numbers", "\n".join(f"+1415555{i:04d}" for i in range(21)), "at most 20"),
    ],
)
def test_each_invalid_field_is_a_422_field_error_and_nothing_is_saved(
    client, auth, db, shop, field, value, message
):
    before = rules(db, shop.id)
    response = post(client, auth, **{field: value})
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert errors_in(body) == [field]
    assert message in body
    assert "Messaging rules saved" not in response.headers.get("HX-Trigger", "")
    assert rules(db, shop.id) == before


def test_help_text_counts_the_shop_name_not_the_placeholder(client, auth, db, make_shop):
    long_name = make_shop("long.myshopify.com", name="N" * 60)
    text = "{shop}: " + "h" * 80 + " Reply STOP"  # 99 raw, 153 with a 60-letter name
    assert post(client, bearer(long_name.shop_domain), help_text=text).status_code == 200
    over = "{shop}: " + "h" * 88 + " Reply STOP"  # 161 with the name
    response = post(client, bearer(long_name.shop_domain), help_text=over)
    assert response.status_code == 422 and "(it is 161)" in response.get_data(as_text=True)
    # writing the shop's name instead of the placeholder is fine too
    named = post(client, bearer(long_name.shop_domain), help_text="N" * 60 + ": Reply STOP")
    assert named.status_code == 200


def test_every_invalid_field_is_reported_at_once(client, auth, db, shop):
    response = post(
        client,
        auth,
        quiet_start="x",
        quiet_end="y",
        frequency_cap_hours="999",
        opt_out_mode="fax",
        help_text="hello",
        keywords_stop="yes",
        sender_numbers="nope",
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert sorted(errors_in(body)) == sorted(
        [
            "quiet_start",
            "quiet_end",
            "frequency_cap_hours",
            "opt_out_mode",
            "help_text",
            "keywords_stop",
            "sender_numbers",
        ]
    )
    # what the merchant typed is kept
    assert 'value="999"' in body and ">nope</textarea>" in body


def test_keyword_extras_are_normalised_and_defaults_always_kept(client, auth, db, shop):
    response = post(
        client,
        auth,
        keywords_stop="  Arrêt , arret; STOP, end, Basta!\n",
        keywords_start="",
        keywords_help="INFO, Hilfe",
    )
    assert response.status_code == 200
    shop = stored(db, shop.id)
    # accents and punctuation dropped like inbound text; defaults never stored as extras
    assert shop.keywords == {"stop": ["ARRET", "BASTA"], "help": ["HILFE"]}
    sets = keywords.keyword_sets(shop)
    assert set(keywords.DEFAULTS["stop"]) <= set(sets["stop"]) and "BASTA" in sets["stop"]
    assert keywords.classify(shop, "basta.") == ("stop", "BASTA")
    assert keywords.classify(shop, "Hilfe") == ("help", "HILFE")
    # clearing the extras can never remove STOP
    assert post(client, auth).status_code == 200
    shop = stored(db, shop.id)
    assert shop.keywords is None
    assert keywords.classify(shop, "STOP") == ("stop", "STOP")
    assert keywords.classify(shop, "basta") is None


def test_keyword_conflict_between_two_extra_lists(client, auth, db, shop):
    response = post(client, auth, keywords_stop="nope", keywords_start="nope")
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert sorted(errors_in(body)) == ["keywords_start", "keywords_stop"]
    assert stored(db, shop.id).keywords is None


# --------------------------------------------------------------------------- reply numbers


def test_numbers_are_replaced_not_appended(client, auth, db, shop):
    assert post(client, auth, sender_numbers="+14155550000, +14155550001").status_code == 200
    assert post(client, auth, sender_numbers="+14155550001\n+14155550002").status_code == 200
    assert numbers_of(db, shop.id) == ["+14155550001", "+14155550002"]
    assert post(client, auth, sender_numbers="").status_code == 200
    assert numbers_of(db, shop.id) == []


def test_national_numbers_are_read_in_the_shop_region(client, auth, db, shop):
    assert post(client, auth, sender_numbers="415 555 0123").status_code == 200
    assert numbers_of(db, shop.id) == ["+14155550123"]


def test_a_number_owned_by_another_shop_is_a_field_error_never_reassigned(
    client, auth, db, shop, make_shop
):
    other = make_shop("beta.myshopify.com")
    db.session.add(ShopSenderNumber(number="+14155550000", shop_id=other.id))
    db.session.commit()
    before = rules(db, shop.id)
    response = post(client, auth, sender_numbers="+14155550001\n+1 415 555 0000")
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert errors_in(body) == ["sender_numbers"]
    assert "+14155550000 already receives replies for another shop" in body
    assert "beta" not in body.lower()  # never names the other shop
    assert numbers_of(db, other.id) == ["+14155550000"]
    assert rules(db, shop.id) == before  # nothing else saved either
    # the other shop keeps it and can save it again
    again = post(client, bearer(other.shop_domain), sender_numbers="+14155550000")
    assert again.status_code == 200
    assert numbers_of(db, other.id) == ["+14155550000"]


def test_a_number_claimed_between_validation_and_commit_is_reported(
    client, auth, db, shop, make_shop, monkeypatch
):
    """The primary key refuses the second owner; the form says so instead of a 500."""
    from astronote.services.messaging import settings as compliance_settings

    other = make_shop("beta.myshopify.com")
    real_validate = compliance_settings.validate
    calls = []

    def validate_then_race(target, form):
        parsed = real_validate(target, form)
        if not calls:  # another shop's request commits the same number right now
            calls.append(1)
            with db.engine.begin() as connection:
                connection.execute(
                    ShopSenderNumber.__table__.insert().values(
                        number="+14155550000", shop_id=other.id
                    )
                )
        return parsed

    monkeypatch.setattr(compliance_settings, "validate", validate_then_race)
    response = post(client, auth, sender_numbers="+14155550000", frequency_cap_hours="5")
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "already receives replies for another shop" in body
    assert numbers_of(db, other.id) == ["+14155550000"] and numbers_of(db, shop.id) == []
    assert stored(db, shop.id).frequency_cap_hours == 16


def test_saved_number_routes_inbound_replies_to_the_shop(client, auth, db, shop):
    from tests.views.test_inbox import inbound_webhook

    assert post(client, auth, sender_numbers="+14155550000").status_code == 200
    response = inbound_webhook(client, "hello?", "+12015550100", to="+14155550000")
    assert response.status_code == 200
    assert response.json["routed_by"] == "number"


# --------------------------------------------------------------------------- other


def test_general_settings_form_does_not_touch_messaging_rules(client, auth, db, shop):
    assert post(client, auth, sender_numbers="+14155550000").status_code == 200
    before = rules(db, shop.id)
    response = client.post(
        "/settings",
        data={"default_region": "GR", "timezone": "Europe/Athens", "sender_id": ""},
        headers=auth,
    )
    assert response.status_code == 200
    assert rules(db, shop.id) == before


def test_plain_form_post_renders_the_whole_page(client, doc_auth, db, shop):
    response = client.post("/settings/messaging", data=VALID, headers=doc_auth)
    assert response.status_code == 200 and "<html" in response.get_data(as_text=True)
    bad = client.post("/settings/messaging", data={**VALID, "quiet_end": "x"}, headers=doc_auth)
    body = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "<html" in body and 'id="e-quiet_end"' in body


def test_garbage_never_500(client, auth, db, shop):
    headers = {**auth, "Content-Type": "application/x-www-form-urlencoded"}
    for body in (
        b"quiet_start=%FF%FE&quiet_end=%C3%28&frequency_cap_hours=%80",
        b"frequency_cap_hours=99999999999999999999999",
        b"keywords_stop=" + b"A," * 50000,
        b"sender_numbers=" + b"+1," * 50000,
        b"help_text=" + b"{" * 10000,
        b"\xff\xfe",
    ):
        response = client.post("/settings/messaging", data=body, headers=headers)
        assert response.status_code < 500, body[:60]


def test_messaging_rules_require_a_session(client, db, shop):
    before = rules(db, shop.id)
    assert client.post("/settings/messaging", data=VALID).status_code == 401
    assert rules(db, shop.id) == before
