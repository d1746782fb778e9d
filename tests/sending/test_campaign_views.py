"""Campaign pages end to end: compose, live count, preview and exact cost, send with a
confirmation, progress and counts, failed CSV, retry-failed, test sends, transitions and
tenant isolation. Huey runs inline; the Mitto simulator answers on loopback.

Every test runs on SQLite and on PostgreSQL (the `database_url` fixture).
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from astronote.models import Campaign, Contact, CreditLedgerEntry, Message
from astronote.services import credits
from astronote.services.campaigns import lifecycle as campaigns
from astronote.services.campaigns import stats as campaign_stats
from astronote.services.campaigns.audience import Audience
from astronote.services.contacts import editing as contacts
from astronote.services.messaging.rendering import opt_out_text, render, values_for
from astronote.services.messaging.segments import count_segments
from tests.conftest import bearer

ID_IN_PATH = re.compile(r"/campaigns/(\d+)")


# --------------------------------------------------------------------------- helpers


def hx(shop) -> dict[str, str]:
    return {**bearer(shop.shop_domain), "HX-Request": "true"}


def text(response) -> str:
    return response.get_data(as_text=True)


def location(response) -> str:
    assert response.status_code == 204, (response.status_code, text(response)[:2000])
    return json.loads(response.headers["HX-Location"])["path"]


def form(**fields) -> dict:
    data = {"name": "Spring sale", "body": "Hi {{first_name}}, 20% off today!", "intent": "draft"}
    data.update(fields)
    return data


def create(client, shop, **fields) -> int:
    response = client.post("/campaigns", data=form(**fields), headers=hx(shop))
    return int(ID_IN_PATH.search(location(response)).group(1))


def add(db, shop, phone, first=None, consent="subscribed", tags=(), **extra) -> Contact:
    data = contacts.ContactInput(
        phone=phone, first_name=first, consent_state=consent, tags=list(tags), **extra
    )
    contact = contacts.create_contact(shop, data, "test setup")
    db.session.commit()
    return contact


def count_of(db, model, **filters) -> int:
    query = select(func.count()).select_from(model).filter_by(**filters)
    return db.session.execute(query).scalar_one()


def shown(body: str, key: str) -> int:
    match = re.search(rf'id="count-{key}">([\d,]+)<', body)
    assert match, f"count-{key} not in the fragment"
    return int(match.group(1).replace(",", ""))


def started(db, shop, n_body="Hi {{first_name}}") -> Campaign:
    """A campaign snapshotted and reserved but with no batch run yet: it stays `sending`."""
    campaign = Campaign(shop_id=shop.id, name="Running", body=n_body, audience=Audience().to_json())
    db.session.add(campaign)
    db.session.commit()
    campaigns.start(shop, campaign)
    db.session.commit()
    return campaign


# --------------------------------------------------------------------------- compose


def test_compose_page_has_counter_placeholders_audience_and_schedule(client, shop):
    page = text(client.get("/campaigns/new", headers=bearer(shop.shop_domain)))
    assert 'id="sms-counter"' in page and "+ opt-out text" in page
    assert 'data-opt-out="Reply STOP to opt out"' in page
    assert "Replace with GSM-safe characters" in page
    for name in ("first_name", "last_name", "shop_name", "discount_code"):
        assert f'data-insert="{{{{{name}}}}}"' in page
    assert 'hx-trigger="load, change, input delay:400ms"' in page
    assert 'name="age_bands" value="18-24"' in page
    assert 'type="datetime-local"' in page and "America/New_York" in page
    assert "js/composer.js" in page and "css/campaigns.css" in page


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"name": "", "body": ""}, {"name": "Give the campaign a name", "body": "Write the"}),
        ({"body": "Hi {{nickname}}"}, {"body": "Unknown placeholder: {{nickname}}"}),
        ({"intent": "schedule", "scheduled_at": "2020-01-01T09:00"}, {"scheduled_at": "future"}),
        ({"intent": "schedule", "scheduled_at": ""}, {"scheduled_at": "Pick the date and time"}),
        ({"age_bands": "12-15"}, {"age_bands": "Choose age bands"}),
        ({"last_order_after": "yesterday"}, {"last_order_after": "Use a date"}),
    ],
)
def test_compose_validation_answers_422_with_field_errors(client, db, shop, fields, errors):
    response = client.post("/campaigns", data=form(**fields), headers=hx(shop))
    assert response.status_code == 422
    body = html.unescape(text(response))
    assert "Please fix the highlighted fields" in body
    assert '<form id="campaign-form"' in body and "<html" not in body  # the fragment only
    for name, message in errors.items():
        assert re.search(rf'field-error"[^>]*>[^<]*{re.escape(message)}', body), (name, body)
    assert count_of(db, Campaign) == 0


def test_create_draft_edit_schedule_and_unschedule(client, db, shop):
    campaign_id = create(client, shop, discount_code="SPRING20", tags="vip", age_bands="25-34")
    campaign = db.session.get(Campaign, campaign_id)
    assert (campaign.status, campaign.scheduled_at, campaign.discount_code) == (
        "draft",
        None,
        "SPRING20",
    )
    assert campaign.audience["tags"] == ["vip"] and campaign.audience["age_bands"] == ["25-34"]

    page = html.unescape(text(client.get(f"/campaigns/{campaign_id}/edit", headers=hx(shop))))
    assert 'value="Spring sale"' in page and "Hi {{first_name}}, 20% off today!</textarea>" in page
    assert 'value="25-34" checked' in page and 'value="vip"' in page

    when = (datetime.now(ZoneInfo("America/New_York")) + timedelta(days=2)).replace(
        second=0, microsecond=0
    )
    local = when.strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        f"/campaigns/{campaign_id}",
        data=form(name="Spring sale 2", intent="schedule", scheduled_at=local),
        headers=hx(shop),
    )
    assert location(response) == f"/campaigns/{campaign_id}"
    assert json.loads(response.headers["HX-Trigger"])["astronote:toast"]["message"] == (
        "Campaign scheduled"
    )
    db.session.expire_all()
    campaign = db.session.get(Campaign, campaign_id)
    assert campaign.status == "scheduled" and campaign.name == "Spring sale 2"
    assert campaign.scheduled_at == when.astimezone(UTC)  # the shop's wall clock, stored in UTC
    page = text(client.get(f"/campaigns/{campaign_id}/edit", headers=hx(shop)))
    assert f'value="{local}"' in page  # shown back in the shop's time zone

    # "Save draft" keeps the campaign unscheduled even with a date in the field.
    client.post(
        f"/campaigns/{campaign_id}", data=form(intent="draft", scheduled_at=local), headers=hx(shop)
    )
    db.session.expire_all()
    assert db.session.get(Campaign, campaign_id).status == "draft"
    assert db.session.get(Campaign, campaign_id).scheduled_at is None


def test_plain_form_posts_redirect_and_review_leads_to_confirmation(client, db, shop):
    response = client.post(
        "/campaigns", data=form(intent="review"), headers=bearer(shop.shop_domain)
    )
    assert response.status_code == 303
    assert re.search(r"/campaigns/\d+/send$", response.headers["Location"])
    assert count_of(db, Message) == 0  # reviewing sends nothing


def test_edit_and_update_refused_once_sending(client, db, funded, subscribers, sim):
    subscribers(2)
    campaign = started(db, funded)
    assert client.get(f"/campaigns/{campaign.id}/edit", headers=hx(funded)).status_code == 409
    response = client.post(f"/campaigns/{campaign.id}", data=form(), headers=hx(funded))
    assert response.status_code == 409
    assert "Only draft or scheduled campaigns can be edited" in text(response)
    assert client.get(f"/campaigns/{campaign.id}/send", headers=hx(funded)).status_code == 409


# --------------------------------------------------------------------------- audience + preview


def test_audience_count_respects_consent_and_every_filter(client, db, shop):
    today = date.today()
    ada = add(
        db,
        shop,
        "+12015550101",
        "Ada",
        tags=["vip"],
        gender="female",
        birth_date=today.replace(year=today.year - 30),
    )
    add(
        db,
        shop,
        "+12015550102",
        "Bob",
        tags=["vip"],
        gender="male",
        birth_date=today.replace(year=today.year - 50),
    )
    add(db, shop, "+12015550103", "Cy", tags=["vip"], consent="unsubscribed", gender="female")
    add(db, shop, "+12015550104", "Di", tags=["vip"], consent="pending", gender="female")
    add(db, shop, "+12015550105", "Ed", consent="not_subscribed")
    db.session.execute(
        update(Contact)
        .where(Contact.id == ada.id)
        .values(orders_count=3, last_order_at=datetime(2026, 3, 1, tzinfo=UTC))
    )
    db.session.commit()

    def count(**args) -> int:
        response = client.get("/campaigns/audience-count", query_string=args, headers=hx(shop))
        assert response.status_code == 200
        match = re.search(r'id="audience-total">([\d,]+) subscribed contact', text(response))
        return int(match.group(1))

    assert count() == 2  # unsubscribed, pending and not-subscribed are never counted
    assert count(tags="vip") == 2
    assert count(tags="nobody") == 0
    assert count(gender="female") == 1
    assert count(age_bands=["25-34"]) == 1
    assert count(age_bands=["25-34", "45-54"]) == 2
    assert count(purchased="yes") == 1 and count(purchased="no") == 1
    bad = client.get("/campaigns/audience-count?gender=robot", headers=hx(shop))
    assert bad.status_code == 200 and "Choose a gender" in text(bad)


def test_audience_count_by_last_order_date(client, db, shop):
    ada = add(db, shop, "+12015550101", "Ada")
    add(db, shop, "+12015550102", "Bob")
    db.session.execute(
        update(Contact)
        .where(Contact.id == ada.id)
        .values(orders_count=3, last_order_at=datetime(2026, 3, 1, 15, tzinfo=UTC))
    )
    db.session.commit()

    def count(**args) -> int:
        response = client.get("/campaigns/audience-count", query_string=args, headers=hx(shop))
        assert response.status_code == 200, text(response)
        return int(re.search(r'id="audience-total">([\d,]+)', text(response)).group(1))

    assert count(last_order_after="2026-02-01") == 1
    assert count(last_order_before="2026-02-01") == 0
    assert count(last_order_before="2026-04-01") == 1


def test_preview_cost_is_the_sum_of_segments_after_personalisation(client, db, funded):
    add(db, funded, "+12015550111", "Zoë")  # ë is not GSM-7: her message goes UCS-2
    add(db, funded, "+12015550112", "Ann")
    add(db, funded, "+12015550113", "Unsub", consent="unsubscribed")
    body = "Hi {{first_name}}, our spring collection is here. Come and see it at {{shop_name}}!"
    rendered = {
        name: render(body, values_for(funded, name, None, None), opt_out_text(funded))
        for name in ("Zoë", "Ann")
    }
    segments = {name: count_segments(t).segments for name, t in rendered.items()}
    assert segments == {"Zoë": 2, "Ann": 1}  # the case this test is about

    response = client.post("/campaigns/preview", data=form(body=body), headers=hx(funded))
    assert response.status_code == 200
    page = html.unescape(text(response))
    assert 'id="preview-recipients">2<' in page
    assert f'data-credits="{sum(segments.values())}"' in page and ">3 credits<" in page
    assert "1,000,000 credits" in page and "Enough credits" in page
    # The preview is a real recipient: the first match, with its own segment count.
    assert rendered["Zoë"] in page
    assert re.search(r'id="preview-segments">[^<]*UCS-2 · 2 segments<', page)

    # Both helpers agree with the service the send itself uses.
    assert campaigns.audiences.cost(funded, Audience(), body, None) == (2, 3)


def test_preview_flags_short_balance_bad_placeholder_and_empty_body(client, db, shop):
    add(db, shop, "+12015550121", "Ann")
    page = text(client.post("/campaigns/preview", data=form(), headers=hx(shop)))
    assert "Not enough credits" in page and 'id="preview-balance">0 credits<' in page
    page = html.unescape(
        text(client.post("/campaigns/preview", data=form(body="{{coupon}}"), headers=hx(shop)))
    )
    assert "Unknown placeholder: {{coupon}}" in page and "data-credits" not in page
    page = text(client.post("/campaigns/preview", data=form(body=" "), headers=hx(shop)))
    assert "Write the message to see its exact cost" in page


# --------------------------------------------------------------------------- send now


def test_send_now_without_confirmation_does_nothing(client, db, funded, subscribers, sim):
    subscribers(3)
    campaign_id = create(client, funded)
    response = client.post(f"/campaigns/{campaign_id}/send", data={}, headers=hx(funded))
    assert response.status_code == 422 and "then confirm" in text(response)
    assert db.session.get(Campaign, campaign_id).status == "draft"
    assert count_of(db, Message) == 0 and sim.sends_per_phone() == Counter()
    assert credits.balance(funded.id) == credits.Balance(1_000_000, 0)


def test_send_now_with_too_few_credits_is_refused_in_place(client, db, make_shop, subscribers, sim):
    shop = make_shop("poor.myshopify.com", default_region="US")  # `subscribers` funds `shop`
    credits.grant(shop.id, 2, "small-grant", "test")
    db.session.commit()
    subscribers(3, start=7000, shop=shop)
    campaign_id = create(client, shop)
    confirm = text(client.get(f"/campaigns/{campaign_id}/send", headers=hx(shop)))
    assert 'id="confirm-cost">3 credits<' in confirm and "Not enough credits" in confirm

    response = client.post(
        f"/campaigns/{campaign_id}/send", data={"confirm": "yes"}, headers=hx(shop)
    )
    assert response.status_code == 402
    page = text(response)
    assert 'id="send-error"' in page and "needs 3 credits but only 2 are available" in page
    db.session.expire_all()
    assert db.session.get(Campaign, campaign_id).status == "draft"
    assert count_of(db, Message) == 0 and sim.sends_per_phone() == Counter()
    assert credits.balance(shop.id) == credits.Balance(2, 0)
    assert count_of(db, CreditLedgerEntry, kind="reserve") == 0


def test_send_now_sends_once_and_progress_stops_at_completed(
    client, db, funded, subscribers, sim, read
):
    phones = subscribers(30)
    subscribers(5, start=5000, consent="unsubscribed")
    campaign_id = create(client, funded, body="Hi {{first_name}} 🎉 see you soon")
    confirm = text(client.get(f"/campaigns/{campaign_id}/send", headers=bearer(funded.shop_domain)))
    assert 'id="confirm-recipients">30 subscribed contacts<' in confirm
    one = render("Hi Ann0 🎉 see you soon", {}, "Reply STOP to opt out")
    expected = 30 * count_segments(one).segments
    assert f'id="confirm-cost">{expected} credits<' in confirm

    response = client.post(
        f"/campaigns/{campaign_id}/send", data={"confirm": "yes"}, headers=hx(funded)
    )
    assert location(response) == f"/campaigns/{campaign_id}"
    assert "Sending to 30 recipients" in response.headers["HX-Trigger"]
    assert read.campaign(campaign_id).status == "completed"
    messages = read.messages(campaign_id)
    assert Counter(sim.sends_per_phone()) == Counter({p: 1 for p in phones})
    assert {m.status for m in messages} == {"accepted"}

    progress = client.get(f"/campaigns/{campaign_id}/progress", headers=hx(funded))
    assert progress.status_code == 286  # htmx stops polling
    fragment = text(progress)
    assert "hx-trigger" not in fragment and 'data-status="completed"' in fragment
    truth = Counter(m.status for m in messages)
    assert shown(fragment, "recipients") == len(messages) == 30
    assert shown(fragment, "accepted") == truth["accepted"]
    assert shown(fragment, "queued") == shown(fragment, "failed") == 0
    assert shown(fragment, "credits") == sum(m.segments for m in messages) == expected
    assert 'value="100"' in fragment
    # sending twice is a 409, and nothing is sent again
    again = client.post(
        f"/campaigns/{campaign_id}/send", data={"confirm": "yes"}, headers=hx(funded)
    )
    assert again.status_code == 409
    assert sum(sim.sends_per_phone().values()) == 30


def test_progress_polls_while_sending_and_counts_every_state(client, db, funded, subscribers):
    subscribers(9)
    campaign = started(db, funded)
    rows = (
        db.session.execute(
            select(Message.id).filter_by(campaign_id=campaign.id).order_by(Message.id)
        )
        .scalars()
        .all()
    )
    states = [
        ("claimed", None, None),
        ("submitting", None, None),
        ("accepted", None, None),
        ("delivered", None, None),
        ("failed", None, "Invalid number"),
        ("failed", None, "Invalid number"),
        ("unknown", None, "read timeout"),
        ("skipped", "unsubscribed", None),
    ]  # the ninth row stays queued
    for message_id, (status, reason, error) in zip(rows, states, strict=False):
        db.session.execute(
            update(Message)
            .where(Message.id == message_id)
            .values(status=status, skip_reason=reason, error=error)
        )
    db.session.commit()

    stats = campaign_stats.counts(campaign)
    assert {
        k: stats[k]
        for k in (
            "recipients",
            "queued",
            "sending",
            "accepted",
            "delivered",
            "failed",
            "unknown",
            "skipped",
            "cancelled",
            "pending",
        )
    } == {
        "recipients": 9,
        "queued": 2,
        "sending": 1,
        "accepted": 1,
        "delivered": 1,
        "failed": 2,
        "unknown": 1,
        "skipped": 1,
        "cancelled": 0,
        "pending": 3,
    }
    assert stats["skip_reasons"] == {"unsubscribed": 1} and stats["percent"] == 66

    response = client.get(f"/campaigns/{campaign.id}/progress", headers=hx(funded))
    assert response.status_code == 200
    fragment = text(response)
    assert 'hx-trigger="every 2s"' in fragment and 'value="66"' in fragment
    assert shown(fragment, "queued") == 2 and shown(fragment, "unknown") == 1
    assert "outcome unknown: never resent automatically" in fragment
    assert "1 unsubscribed" in fragment
    assert "Invalid number" in fragment and "failed.csv" in fragment
    assert campaign_stats.failure_reasons(campaign) == [("Invalid number", 2)]
    assert "Pause" in fragment and "Cancel campaign" in fragment


# --------------------------------------------------------------------------- failures


def test_failed_csv_and_retry_failed_resend_only_failed_rows(
    client, db, funded, subscribers, sim, read
):
    phones = subscribers(40)
    sim.update_config({"reject_rate": 0.3})
    campaign_id = create(client, funded)
    client.post(f"/campaigns/{campaign_id}/send", data={"confirm": "yes"}, headers=hx(funded))
    messages = read.messages(campaign_id)
    failed = sorted(m.phone for m in messages if m.status == "failed")
    accepted = {m.phone for m in messages if m.status == "accepted"}
    assert failed and accepted and len(failed) + len(accepted) == 40
    assert read.campaign(campaign_id).status == "completed"

    page = text(client.get(f"/campaigns/{campaign_id}", headers=hx(funded)))
    assert "Rejected by simulator" in page and f"Retry {len(failed)} failed messages" in page
    export = client.get(f"/campaigns/{campaign_id}/failed.csv", headers=hx(funded))
    assert export.status_code == 200 and export.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(text(export))))
    assert sorted(r["phone"] for r in rows) == failed
    assert {r["error"] for r in rows} == {"Rejected by simulator"}

    sim.update_config({"reject_rate": 0})
    spent_before = credits.consumed_for(funded.id, campaign_id)
    response = client.post(f"/campaigns/{campaign_id}/retry-failed", headers=hx(funded))
    assert location(response) == f"/campaigns/{campaign_id}"
    assert read.campaign(campaign_id).status == "completed"
    assert {m.status for m in read.messages(campaign_id)} == {"accepted"}
    assert Counter(sim.sends_per_phone()) == Counter({p: 1 for p in phones})  # none twice
    assert credits.consumed_for(funded.id, campaign_id) == spent_before + len(failed)
    export = client.get(f"/campaigns/{campaign_id}/failed.csv", headers=hx(funded))
    assert list(csv.DictReader(io.StringIO(text(export)))) == []
    # nothing failed any more: a second retry is refused
    assert (
        client.post(f"/campaigns/{campaign_id}/retry-failed", headers=hx(funded)).status_code == 409
    )
    assert credits.ledger_totals(funded.id) == credits.balance(funded.id)


# --------------------------------------------------------------------------- test sends


def test_test_send_reaches_a_subscribed_contact_only(client, db, funded, sim):
    add(db, funded, "+12015550131", "Tess")
    add(db, funded, "+12015550132", "Una", consent="unsubscribed")
    data = form(body="Hi {{first_name}}, use {{discount_code}}", discount_code="TEST10")

    ok = client.post(
        "/campaigns/test-send", data={**data, "test_phone": "(201) 555-0131"}, headers=hx(funded)
    )
    assert ok.status_code == 200 and "Test message on its way to +12015550131 (1 segment)" in text(
        ok
    )
    message = db.session.execute(select(Message).filter_by(kind="test")).scalar_one()
    assert message.status == "accepted" and message.campaign_id is None
    assert message.body == "Hi Tess, use TEST10\nReply STOP to opt out"
    assert sim.sends_per_phone() == Counter({"+12015550131": 1})
    assert count_of(db, Campaign) == 0  # a test from the compose page saves nothing

    for phone, message_text in [
        ("+12015550132", "is not subscribed"),
        ("+12015550199", "No contact has the number +12015550199"),
        ("12", "not a"),
        ("", "Phone is required"),
    ]:
        refused = client.post(
            "/campaigns/test-send", data={**data, "test_phone": phone}, headers=hx(funded)
        )
        assert refused.status_code == 422, phone
        assert message_text in html.unescape(text(refused)), phone
    assert count_of(db, Message) == 1 and sum(sim.sends_per_phone().values()) == 1

    campaign_id = create(client, funded, body="Saved body for {{first_name}}")
    saved = client.post(
        f"/campaigns/{campaign_id}/test-send",
        data={"test_phone": "+12015550131", "body": "ignored"},
        headers=hx(funded),
    )
    assert saved.status_code == 200
    last = db.session.execute(select(Message).order_by(Message.id.desc()).limit(1)).scalar_one()
    assert last.body.startswith("Saved body for Tess")


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"body": "x" * 1601}, "body", "at most 1,600 characters"),
        ({"body": "Hi {{nickname}}"}, "body", "Unknown placeholder: {{nickname}}"),
        ({"discount_code": "10% OFF!"}, "discount_code", "Use letters, digits"),
    ],
)
def test_a_test_send_checks_the_message_as_a_campaign_would(
    client, db, funded, sim, fields, field, message
):
    add(db, funded, "+12015550131", "Tess")
    data = {**form(**fields), "test_phone": "+12015550131"}
    refused = client.post("/campaigns/test-send", data=data, headers=hx(funded))
    assert refused.status_code == 422 and message in html.unescape(text(refused))
    assert count_of(db, Message) == 0 and sim.sends_per_phone() == Counter()
    assert credits.balance(funded.id).reserved == 0


# --------------------------------------------------------------------------- transitions


def test_pause_resume_cancel_and_invalid_transitions(client, db, funded, subscribers, sim, read):
    subscribers(12)
    campaign = started(db, funded)
    url = f"/campaigns/{campaign.id}"
    assert location(client.post(url + "/pause", headers=hx(funded))) == url
    assert read.campaign(campaign.id).status == "paused"
    assert client.post(url + "/pause", headers=hx(funded)).status_code == 409
    assert client.get(url + "/progress", headers=hx(funded)).status_code == 286

    assert location(client.post(url + "/resume", headers=hx(funded))) == url
    assert read.campaign(campaign.id).status == "completed"  # resumed and sent inline
    assert sum(sim.sends_per_phone().values()) == 12
    for action in ("resume", "cancel", "pause"):
        response = client.post(f"{url}/{action}", headers=hx(funded))
        assert response.status_code == 409, action
        assert "cannot become" in text(response)

    draft_id = create(client, funded)
    assert location(client.post(f"/campaigns/{draft_id}/cancel", headers=hx(funded)))
    assert read.campaign(draft_id).status == "cancelled"
    assert client.post(f"/campaigns/{draft_id}/resume", headers=hx(funded)).status_code == 409
    assert (
        client.post(
            f"/campaigns/{draft_id}/send", data={"confirm": "yes"}, headers=hx(funded)
        ).status_code
        == 409
    )
    assert client.post(f"/campaigns/{draft_id}/retry-failed", headers=hx(funded)).status_code == 409


def test_cancel_while_sending_stops_queued_rows(client, db, funded, subscribers, sim, read):
    subscribers(6)
    campaign = started(db, funded)
    client.post(f"/campaigns/{campaign.id}/cancel", headers=hx(funded))
    assert read.campaign(campaign.id).status == "cancelled"
    fragment = text(client.get(f"/campaigns/{campaign.id}/progress", headers=hx(funded)))
    assert shown(fragment, "cancelled") == 6 and shown(fragment, "queued") == 0
    assert sim.sends_per_phone() == Counter()


# --------------------------------------------------------------------------- list


def test_list_filters_by_status_and_pages_by_keyset(client, db, shop):
    for i in range(30):
        db.session.add(
            Campaign(
                shop_id=shop.id,
                name=f"C{i:02d}",
                body="x",
                status="completed" if i % 3 == 0 else "draft",
            )
        )
    db.session.commit()
    first = text(client.get("/campaigns", headers=bearer(shop.shop_domain)))
    names = re.findall(r'">(C\d\d)</a>', first)
    assert names == [f"C{i:02d}" for i in range(29, 4, -1)]  # newest first, 25 a page
    after = re.search(r'rel="next" href="/campaigns\?after=(\d+)"', first).group(1)
    second = text(client.get(f"/campaigns?after={after}", headers=hx(shop)))
    assert re.findall(r'">(C\d\d)</a>', second) == ["C04", "C03", "C02", "C01", "C00"]
    assert 'rel="next"' not in second
    done = text(client.get("/campaigns?status=completed", headers=hx(shop)))
    assert len(re.findall(r'">(C\d\d)</a>', done)) == 10
    odd = client.get("/campaigns?status=bogus&after=%C2%B2", headers=hx(shop))
    assert odd.status_code == 200 and len(re.findall(r'">(C\d\d)</a>', text(odd))) == 25
    nav = text(client.get("/contacts", headers=bearer(shop.shop_domain)))
    assert nav.index(">Contacts<") < nav.index(">Campaigns<") < nav.index(">Settings<")


# --------------------------------------------------------------------------- tenancy


def test_shop_b_gets_404_on_every_campaign_route_for_shop_a_ids(
    app, client, db, funded, subscribers, make_shop, sim
):
    subscribers(3)
    campaign_id = create(client, funded, name="A-ONLY-CAMPAIGN")
    client.post(f"/campaigns/{campaign_id}/send", data={"confirm": "yes"}, headers=hx(funded))
    b = make_shop("beta.myshopify.com", default_region="US")
    credits.grant(b.id, 1000, "b-grant", "test")
    db.session.commit()
    before = (db.session.get(Campaign, campaign_id).status, count_of(db, Message))

    rules = [
        r
        for r in app.url_map.iter_rules()
        if r.endpoint.startswith("campaigns.") and "<int:campaign_id>" in r.rule
    ]
    assert len(rules) >= 11
    for rule in rules:
        url = rule.rule.replace("<int:campaign_id>", str(campaign_id))
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            for headers in (hx(b), bearer(b.shop_domain)):
                response = client.open(
                    url,
                    method=method,
                    headers=headers,
                    data={"confirm": "yes", "test_phone": "+14155550100"},
                )
                assert response.status_code == 404, (method, url, response.status_code)
                assert "A-ONLY-CAMPAIGN" not in text(response)
    db.session.expire_all()
    assert (db.session.get(Campaign, campaign_id).status, count_of(db, Message)) == before
    assert "A-ONLY-CAMPAIGN" not in text(client.get("/campaigns", headers=bearer(b.shop_domain)))
    assert "A-ONLY-CAMPAIGN" in text(client.get("/campaigns", headers=bearer(funded.shop_domain)))
