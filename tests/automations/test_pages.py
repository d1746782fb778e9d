"""Automations pages: the list with its switches, the flow editor (save, every kind of bad
input, default copy), the sample preview with its exact cost, test sends, tenancy and the
Origin rule. Every test runs on SQLite and on PostgreSQL (the `database_url` fixture).
"""

from __future__ import annotations

import html
import json
import re
from collections import Counter

import pytest
from sqlalchemy import func, select

from astronote.models import Automation, Message
from astronote.services import credits
from astronote.services.automations.catalogue import FLOWS
from astronote.services.contacts import editing as contacts
from astronote.services.messaging.rendering import opt_out_text, render, values_for
from astronote.services.messaging.segments import count_segments
from tests.conftest import bearer
from tests.views.test_hardening_security import LOCAL, dev_app  # noqa: F401 (fixture)


def hx(shop) -> dict[str, str]:
    return {**bearer(shop.shop_domain), "HX-Request": "true"}


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def rows(db, shop=None) -> int:
    query = select(func.count()).select_from(Automation)
    if shop is not None:
        query = query.where(Automation.shop_id == shop.id)
    return db.session.execute(query).scalar_one()


def stored(db, shop, flow) -> Automation:
    db.session.expire_all()
    query = select(Automation).filter_by(shop_id=shop.id, flow=flow)
    return db.session.execute(query).scalar_one()


def add(db, shop, phone, first=None, consent="subscribed") -> None:
    data = contacts.ContactInput(phone=phone, first_name=first, consent_state=consent)
    contacts.create_contact(shop, data, "test setup")
    db.session.commit()


def switch(client, shop, flow, on: bool, headers=None):
    data = {"enabled": "1" if on else "0"}
    return client.post(f"/automations/{flow}/switch", data=data, headers=headers or hx(shop))


# --------------------------------------------------------------------------- list and switch


def test_list_shows_the_eight_flows_from_the_catalogue_without_writing(client, db, shop):
    response = client.get("/automations", headers=bearer(shop.shop_domain))
    assert response.status_code == 200
    page = text(response)
    for key, flow in FLOWS.items():
        assert f'id="flow-{key}"' in page and flow.title in page and flow.trigger in page
        assert f'href="/automations/{key}"' in page
    assert page.count('role="switch"') == 8 and 'aria-checked="true"' not in page
    assert page.count(">Transactional<") == 2 and page.count(">Marketing<") == 6
    assert "1 hour later" in page and "7 days later" in page and "90 days later" in page
    assert "On the day, at 10:00 (America/New_York)" in page
    assert page.count("Nothing queued") == 8 and 'id="results-table"' in page
    assert 'id="results-chart"' not in page  # nothing triggered: no empty chart
    assert "← Home" in page and "css/automations.css" in page
    assert rows(db) == 0  # a GET writes nothing: untouched flows come from the catalogue


def test_switch_on_and_off_swaps_the_switch_and_creates_all_rows_once(client, db, shop):
    response = switch(client, shop, "welcome", True)
    assert response.status_code == 200
    fragment = text(response)
    assert 'id="switch-welcome"' in fragment and 'aria-checked="true"' in fragment
    assert "<html" not in fragment and 'name="enabled" value="0"' in fragment
    toast = json.loads(response.headers["HX-Trigger"])["astronote:toast"]
    assert toast["message"] == "Welcome switched on"
    assert rows(db, shop) == 8 and stored(db, shop, "welcome").enabled
    assert not stored(db, shop, "order_confirmation").enabled

    assert switch(client, shop, "welcome", True).status_code == 200  # a state, not a toggle
    assert stored(db, shop, "welcome").enabled and rows(db, shop) == 8
    page = text(client.get("/automations", headers=bearer(shop.shop_domain)))
    assert page.count('aria-checked="true"') == 1

    off = switch(client, shop, "welcome", False)
    assert 'aria-checked="false"' in text(off) and not stored(db, shop, "welcome").enabled
    plain = switch(client, shop, "order_confirmation", True, headers=bearer(shop.shop_domain))
    assert plain.status_code == 303 and plain.headers["Location"].endswith("/automations")
    assert stored(db, shop, "order_confirmation").enabled


def test_unknown_flow_is_a_404_everywhere(client, db, shop):
    for method, path in [
        ("GET", "/automations/nope"),
        ("POST", "/automations/nope"),
        ("POST", "/automations/nope/switch"),
        ("POST", "/automations/nope/preview"),
        ("POST", "/automations/nope/test-send"),
    ]:
        response = client.open(path, method=method, headers=hx(shop), data={"enabled": "1"})
        assert response.status_code == 404, (method, path)
    assert rows(db) == 0


# --------------------------------------------------------------------------- editor


def test_editor_shows_the_flow_its_placeholders_and_timing(client, shop):
    page = text(client.get("/automations/abandoned_checkout", headers=bearer(shop.shop_domain)))
    assert FLOWS["abandoned_checkout"].default_body in page
    for name in ("first_name", "last_name", "shop_name", "discount_code", "checkout_url"):
        assert f'data-insert="{{{{{name}}}}}"' in page
    assert 'data-insert="{{order_number}}"' not in page  # not this flow's event
    assert 'name="delay"' in page and 'value="60"' in page and ">minutes<" in page
    assert 'id="sms-counter"' in page and "js/composer.js" in page and "js/segments.js" in page
    assert 'data-opt-out="Reply STOP to opt out"' in page
    assert "Use default copy" in page and "← Automations" in page
    assert 'hx-post="/automations/abandoned_checkout/preview"' in page

    birthday = text(client.get("/automations/birthday", headers=bearer(shop.shop_domain)))
    assert 'name="send_hour"' in birthday and '<option value="10" selected>10:00' in birthday
    assert 'name="delay"' not in birthday and "America/New_York time" in birthday
    welcome = text(client.get("/automations/welcome", headers=bearer(shop.shop_domain)))
    assert 'name="include_imports"' in welcome and 'name="delay"' not in welcome
    order = text(client.get("/automations/order_confirmation", headers=bearer(shop.shop_domain)))
    assert "Sent as soon as it happens." in order and ">Transactional<" in order
    assert 'name="include_imports"' not in order


def test_save_stores_body_discount_and_timing_in_the_flows_unit(client, db, shop):
    data = {"body": "  Back for {{checkout_url}}? {{discount_code}}  ", "delay": "90"}
    response = client.post(
        "/automations/abandoned_checkout", data={**data, "discount_code": "CART5"}, headers=hx(shop)
    )
    assert response.status_code == 204, text(response)
    assert json.loads(response.headers["HX-Location"])["path"] == "/automations/abandoned_checkout"
    assert "Abandoned checkout saved" in response.headers["HX-Trigger"]
    row = stored(db, shop, "abandoned_checkout")
    assert (row.body, row.discount_code, row.delay_minutes) == (
        "Back for {{checkout_url}}? {{discount_code}}",
        "CART5",
        90,
    )
    assert not row.enabled  # saving does not switch a flow on

    review = {"body": "How was {{order_number}}?", "delay": "10"}
    assert (
        client.post("/automations/review_request", data=review, headers=hx(shop)).status_code == 204
    )
    assert stored(db, shop, "review_request").delay_minutes == 10 * 24 * 60
    birthday = {"body": "Happy birthday {{first_name}}", "send_hour": "9"}
    assert client.post("/automations/birthday", data=birthday, headers=hx(shop)).status_code == 204
    assert stored(db, shop, "birthday").send_hour == 9
    welcome = {"body": "Hi", "include_imports": "on"}
    assert client.post("/automations/welcome", data=welcome, headers=hx(shop)).status_code == 204
    assert stored(db, shop, "welcome").include_imports
    assert (
        client.post("/automations/welcome", data={"body": "Hi"}, headers=hx(shop)).status_code
        == 204
    )
    assert not stored(db, shop, "welcome").include_imports

    page = text(client.get("/automations/review_request", headers=bearer(shop.shop_domain)))
    assert 'value="10"' in page and "How was {{order_number}}?" in page and "Last changed" in page
    listing = text(client.get("/automations", headers=bearer(shop.shop_domain)))
    assert "90 minutes later" in listing and "10 days later" in listing
    assert "On the day, at 09:00" in listing


@pytest.mark.parametrize(
    ("flow", "fields", "field", "message"),
    [
        ("welcome", {"body": "   "}, "body", "Write the message."),
        ("welcome", {"body": "Hi {{nickname}}"}, "body", "Unknown placeholder: {{nickname}}"),
        ("welcome", {"body": "Track {{tracking_url}}"}, "body", "Unknown placeholder"),
        ("welcome", {"body": "x" * 1601}, "body", "at most 1,600 characters"),
        ("welcome", {"body": "Hi", "discount_code": "10% OFF!"}, "discount_code", "Use letters"),
        ("abandoned_checkout", {"body": "Hi", "delay": "soon"}, "delay", "whole number of minutes"),
        ("abandoned_checkout", {"body": "Hi", "delay": "1.5"}, "delay", "whole number"),
        ("abandoned_checkout", {"body": "Hi", "delay": ""}, "delay", "Enter the minutes"),
        ("abandoned_checkout", {"body": "Hi", "delay": "2"}, "delay", "between 5 and 1,440"),
        ("review_request", {"body": "Hi", "delay": "0"}, "delay", "between 1 and 365 days"),
        ("win_back", {"body": "Hi", "delay": "99999999999999999999"}, "delay", "between 1 and"),
        ("birthday", {"body": "Hi", "send_hour": "24"}, "send_hour", "from 0 to 23"),
        ("birthday", {"body": "Hi", "send_hour": "nine"}, "send_hour", "whole number"),
        ("birthday", {"body": "Hi"}, "send_hour", "Enter the hour"),
    ],
)
def test_bad_input_is_a_422_with_the_error_under_its_field(
    client, db, shop, flow, fields, field, message
):
    response = client.post(f"/automations/{flow}", data=fields, headers=hx(shop))
    assert response.status_code == 422
    page = text(response)
    assert '<form id="automation-form"' in page and "<html" not in page  # the fragment only
    assert "Please fix the highlighted fields" in page
    assert re.search(rf'id="e-{field}">[^<]*{re.escape(message)}', page), page
    assert rows(db) == 0  # nothing saved, nothing created


def test_use_default_copy_fills_the_box_without_saving(client, db, shop):
    client.post("/automations/welcome", data={"body": "Custom hello"}, headers=hx(shop))
    response = client.post(
        "/automations/welcome",
        data={"body": "Typed but unsaved", "discount_code": "KEEP1", "intent": "default"},
        headers=hx(shop),
    )
    assert response.status_code == 200
    page = text(response)
    assert FLOWS["welcome"].default_body + "</textarea>" in page and 'value="KEEP1"' in page
    assert stored(db, shop, "welcome").body == "Custom hello"


# --------------------------------------------------------------------------- preview


def test_preview_fills_sample_values_and_prices_for_the_shops_country(client, db, shop):
    body = "Order {{order_number}} for {{first_name}}: {{order_total}} at {{shop_name}}"
    response = client.post(
        "/automations/order_confirmation/preview", data={"body": body}, headers=hx(shop)
    )
    assert response.status_code == 200
    page = text(response)
    expected = "Order #1001 for Alex: $42.00 at Alpha\nReply STOP to opt out"
    assert expected in page and 'data-credits="1"' in page
    assert "To a number in US (+1)" in page and "1 segment × 1 credit per segment" in page

    shop.country = "GB"
    db.session.commit()
    long_body = body + " " + "more words " * 15
    page = text(
        client.post(
            "/automations/order_confirmation/preview", data={"body": long_body}, headers=hx(shop)
        )
    )
    values = {
        **values_for(shop, "Alex", "Morgan", None),
        "order_number": "#1001",
        "order_total": "$42.00",
    }
    segments = count_segments(render(long_body, values, opt_out_text(shop))).segments
    assert segments == 2  # the case this test is about
    assert f'data-credits="{segments * 3}"' in page and "To a number in GB (+44)" in page


def test_preview_names_a_bad_placeholder_and_asks_for_a_body(client, shop):
    page = text(
        client.post(
            "/automations/welcome/preview", data={"body": "{{checkout_url}}"}, headers=hx(shop)
        )
    )
    assert "Unknown placeholder: {{checkout_url}}" in page and "data-credits" not in page
    page = text(
        client.post(
            "/automations/abandoned_checkout/preview",
            data={"body": "{{checkout_url}}"},
            headers=hx(shop),
        )
    )
    assert "https://shop.example/checkouts/c/4a1b" in page and "data-credits" in page
    page = text(client.post("/automations/welcome/preview", data={"body": ""}, headers=hx(shop)))
    assert "Write the message to see it" in page


def test_preview_warns_when_the_message_shows_a_discount_code_that_is_not_set(client, shop):
    default = {"body": FLOWS["welcome"].default_body}
    page = text(client.post("/automations/welcome/preview", data=default, headers=hx(shop)))
    assert 'id="preview-discount"' in page and "no discount code is set" in page
    assert "your first order:\nReply STOP" in page  # what the warning is about
    with_code = {**default, "discount_code": "HELLO10"}
    page = text(client.post("/automations/welcome/preview", data=with_code, headers=hx(shop)))
    assert 'id="preview-discount"' not in page and "your first order: HELLO10" in page
    no_placeholder = {"body": "Welcome to {{shop_name}}!"}
    page = text(client.post("/automations/welcome/preview", data=no_placeholder, headers=hx(shop)))
    assert 'id="preview-discount"' not in page


# --------------------------------------------------------------------------- test sends


def test_test_send_queues_the_message_with_the_flows_sample_values(client, db, funded, sim):  # noqa: F811
    add(db, funded, "+12015550131", "Tess")
    add(db, funded, "+12015550132", "Una", consent="unsubscribed")
    body = "{{first_name}}, order {{order_number}} {{shipment_status}}: {{tracking_url}}"
    data = {"body": body, "test_phone": "(201) 555-0131"}
    response = client.post("/automations/shipping_update/test-send", data=data, headers=hx(funded))
    assert response.status_code == 200, text(response)
    assert "Test message on its way to +12015550131 (1 segment)" in text(response)
    message = db.session.execute(select(Message).filter_by(kind="test")).scalar_one()
    assert message.body == (
        "Tess, order #1001 is on its way: https://track.example/1Z999\nReply STOP to opt out"
    )
    assert message.status == "accepted" and message.campaign_id is None
    assert sim.sends_per_phone() == Counter({"+12015550131": 1})
    assert rows(db) == 0  # a test saves nothing

    for phone, fields, expected in [
        ("+12015550132", {}, "is not subscribed"),
        ("+12015550199", {}, "No contact has the number +12015550199"),
        ("", {}, "Phone is required"),
        ("+12015550131", {"body": "{{checkout_url}}"}, "Unknown placeholder: {{checkout_url}}"),
        ("+12015550131", {"body": ""}, "Write the message first."),
        ("+12015550131", {"discount_code": "no way!"}, "Use letters"),
    ]:
        refused = client.post(
            "/automations/shipping_update/test-send",
            data={**data, "test_phone": phone, **fields},
            headers=hx(funded),
        )
        assert refused.status_code == 422, (phone, fields)
        assert expected in text(refused), (phone, fields)
    db.session.expire_all()
    assert db.session.execute(select(func.count()).select_from(Message)).scalar_one() == 1
    assert credits.balance(funded.id).reserved == 0


def test_a_test_send_without_credits_says_so_in_place(client, db, shop):
    add(db, shop, "+12015550131", "Tess")
    data = {"body": "Hi {{first_name}}", "test_phone": "+12015550131"}
    response = client.post("/automations/welcome/test-send", data=data, headers=hx(shop))
    assert response.status_code == 402 and 'id="test-send"' in text(response)
    assert "needs 1 credits but only 0 are available" in text(response)
    assert "<html" not in text(response)
    db.session.expire_all()
    assert db.session.execute(select(func.count()).select_from(Message)).scalar_one() == 0


# --------------------------------------------------------------------------- tenancy, Origin


def test_each_shop_sees_and_changes_only_its_own_flows(client, db, shop, make_shop):
    b = make_shop("beta.myshopify.com", default_region="US")
    client.post("/automations/welcome", data={"body": "A-ONLY-WELCOME"}, headers=hx(shop))
    switch(client, shop, "welcome", True)

    page_b = text(client.get("/automations/welcome", headers=bearer(b.shop_domain)))
    assert "A-ONLY-WELCOME" not in page_b and FLOWS["welcome"].default_body in page_b
    assert 'aria-checked="true"' not in text(
        client.get("/automations", headers=bearer(b.shop_domain))
    )

    switch(client, b, "welcome", False)
    client.post("/automations/welcome", data={"body": "B copy"}, headers=hx(b))
    assert (
        stored(db, shop, "welcome").enabled and stored(db, shop, "welcome").body == "A-ONLY-WELCOME"
    )
    assert stored(db, b, "welcome").body == "B copy" and rows(db, b) == 8 and rows(db, shop) == 8


def test_cookie_posts_from_another_origin_are_refused(
    dev_app,  # noqa: F811
    db,
    shop,
):
    client = dev_app.test_client()
    with client.session_transaction() as session:
        session["dev_shop_id"] = shop.id
    evil = {"Origin": "https://evil.example"}
    assert (
        client.post("/automations/welcome/switch", data={"enabled": "1"}, headers=evil).status_code
        == 403
    )
    assert client.post("/automations/welcome", data={"body": "x"}, headers=evil).status_code == 403
    assert rows(db) == 0
    same = client.post(
        "/automations/welcome/switch", data={"enabled": "1"}, headers={"Origin": LOCAL}
    )
    assert same.status_code == 303
    assert stored(db, shop, "welcome").enabled
