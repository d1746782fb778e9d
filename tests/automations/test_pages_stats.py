"""Automations results: every way a run can end counted once, in its flow and shop, on the
page and from the service; what is queued to go next; the period picker. Both backends."""

from __future__ import annotations

import html
import itertools
import re
from datetime import timedelta

from sqlalchemy import select

from astronote.models import Automation, AutomationRun, Message, now_utc
from astronote.services import timezones
from astronote.services.automations import settings, stats
from astronote.services.automations.catalogue import FLOWS
from astronote.services.reports import rollups
from tests.conftest import bearer

_keys = itertools.count()


def flow_row(db, shop, flow) -> Automation:
    row = db.session.execute(select(Automation).filter_by(shop_id=shop.id, flow=flow))
    automation = row.scalar_one_or_none()
    if automation is None:
        automation = Automation(**settings.defaults(shop.id, FLOWS[flow]))
        db.session.add(automation)
        db.session.flush()
    return automation


def roll_up(db, shop, flow, message: dict, at) -> None:
    """What the send and delivery-report paths add to the flow's day for this message."""
    counts = {}
    if message.get("sent_at"):
        price = message["credits"] if message["credits"] is not None else message["segments"]
        counts.update(sent=1, credits=price)
    if message["status"] in ("delivered", "failed"):
        counts[message["status"]] = 1
    if counts:
        rollups.bump(shop.id, at, "flow", flow_row(db, shop, flow).id, **counts)


def run(
    db, shop, flow, status="queued", reason=None, message=None, age_days=0, due_in=None, at=None
):
    """One run (and its message, given as Message fields) as the engine leaves it."""
    created = at or now_utc() - timedelta(days=age_days)
    message_id = None
    if message is not None:
        row = Message(shop_id=shop.id, kind="automation", phone="+12015550100", **message)
        db.session.add(row)
        db.session.flush()
        message_id = row.id
        roll_up(db, shop, flow, message, created)
    due = created + (due_in or timedelta())
    db.session.add(
        AutomationRun(
            shop_id=shop.id,
            flow=flow,
            trigger_key=f"t:{next(_keys)}",
            due_at=due,
            status=status,
            skip_reason=reason,
            message_id=message_id,
            created_at=created,
            context={},
        )
    )


def sent(status, credits=None, segments=1):
    return {"status": status, "sent_at": now_utc(), "credits": credits, "segments": segments}


def seed(db, shop, other):
    order = "order_confirmation"
    run(db, shop, order, message=sent("delivered", credits=2))
    run(db, shop, order, message=sent("failed", credits=None, segments=3))  # a carrier failure
    run(db, shop, order, message={"status": "failed", "credits": 1, "segments": 1})  # refused
    run(db, shop, order, message={"status": "skipped", "skip_reason": "frequency_cap"})
    run(db, shop, order, status="skipped", reason="opted_out")
    run(db, shop, order, message=sent("accepted", credits=1))
    run(db, shop, order, status="scheduled", due_in=timedelta(hours=5))
    run(db, shop, order, status="scheduled", due_in=timedelta(hours=2))
    run(db, shop, order, message={"status": "queued"})  # deferred by quiet hours
    run(db, shop, "abandoned_checkout", status="cancelled", reason="checkout_completed")
    run(db, shop, "abandoned_checkout", status="cancelled")
    run(db, shop, "welcome", message=sent("delivered", credits=4), age_days=60)
    run(db, other, "welcome", message=sent("delivered", credits=9))
    run(db, other, order, status="scheduled", due_in=timedelta(hours=1))
    db.session.commit()


def test_every_outcome_counts_once_in_its_flow(db, shop, make_shop):
    seed(db, shop, make_shop("beta.myshopify.com"))
    result = stats.outcomes(shop, "all")
    order = result["order_confirmation"]
    assert (order.triggered, order.sent, order.delivered, order.failed) == (9, 3, 1, 2)
    assert (order.skipped, order.credits, order.delivery_rate) == (2, 6, 33)
    assert order.reasons == {"frequency_cap": 1, "opted_out": 1}
    cart = result["abandoned_checkout"]
    assert (cart.triggered, cart.skipped, cart.sent) == (2, 2, 0)
    assert cart.reasons == {"checkout_completed": 1, "cancelled": 1}
    assert (result["welcome"].sent, result["welcome"].credits) == (1, 4)  # not the other shop's 9
    assert result["birthday"].triggered == 0 and result["birthday"].delivery_rate is None

    recent = stats.outcomes(shop, "30")
    assert recent["welcome"].triggered == 0 and recent["order_confirmation"].triggered == 9

    waiting = stats.waiting(shop)
    assert waiting["order_confirmation"].count == 3  # two not yet due, one message held
    due = waiting["order_confirmation"].next_due
    assert timedelta(hours=1, minutes=59) < due - now_utc() <= timedelta(hours=2)
    assert waiting["welcome"].count == 0 and waiting["welcome"].next_due is None


def _cells(page: str, flow: str) -> dict[str, str]:
    row = re.search(rf'<tr id="stats-{flow}">(.*?)</tr>', page, re.S).group(1)
    return dict(re.findall(r'data-stat="(\w+)">([^<]*)<', row))


def test_the_page_shows_results_reasons_and_what_goes_next(client, db, shop, make_shop):
    seed(db, shop, make_shop("beta.myshopify.com"))
    page = html.unescape(
        client.get("/automations", headers=bearer(shop.shop_domain)).get_data(True)
    )
    assert _cells(page, "order_confirmation") == {
        "triggered": "9",
        "sent": "3",
        "delivered": "1",
        "rate": "33%",
        "failed": "2",
        "skipped": "2",
        "credits": "6",
    }
    assert _cells(page, "welcome")["triggered"] == "0"  # older than the default 30 days
    assert _cells(page, "birthday")["rate"] == "—"
    waiting = re.search(r'id="waiting-order_confirmation">(.*?)</span>', page, re.S).group(1)
    due = timezones.shown(stats.waiting(shop)["order_confirmation"].next_due, shop.timezone)
    assert f"<strong>3</strong> queued to go next, next {due}" in waiting
    assert "(America/New_York)" in due
    assert "Nothing queued" in re.search(r'id="waiting-welcome">(.*?)</span>', page, re.S).group(1)
    reasons = re.search(r'id="skip-reasons">(.*?)</table>', page, re.S).group(1)
    for label in ("Frequency cap", "Opted out", "Checkout completed", "Cancelled"):
        assert f"<td>{label}</td>" in reasons

    chart = re.search(r'id="results-chart">(.*?)</figure>', page, re.S).group(1)
    assert '<rect x="150.0" y="56" width="44.4" height="18" class="bar-delivered">' in chart
    assert "<title>Order confirmation: 2 failed</title>" in chart  # 2 of 9 triggered
    assert "<title>Abandoned checkout: 2 skipped</title>" in chart

    fragment = client.get("/automations/results?period=all", headers=bearer(shop.shop_domain))
    part = html.unescape(fragment.get_data(True))
    assert "<html" not in part and _cells(part, "welcome")["credits"] == "4"
    assert 'value="all" selected' in part
    bogus = client.get("/automations/results?period=forever", headers=bearer(shop.shop_domain))
    assert bogus.status_code == 200 and 'value="30" selected' in bogus.get_data(True)


def test_another_shop_sees_only_its_own_results(client, db, shop, make_shop):
    other = make_shop("beta.myshopify.com")
    seed(db, shop, other)
    page = html.unescape(
        client.get("/automations", headers=bearer(other.shop_domain)).get_data(True)
    )
    assert _cells(page, "order_confirmation")["triggered"] == "1"
    assert _cells(page, "welcome") == {
        "triggered": "1",
        "sent": "1",
        "delivered": "1",
        "rate": "100%",
        "failed": "0",
        "skipped": "0",
        "credits": "9",
    }
    assert 'id="skip-reasons"' not in page


def test_a_flow_switched_on_and_edited_on_the_pages_reports_what_the_engine_did(
    client, db, sim, funded, shopify, person, read
):
    """Pages and engine together: the switch and the edit drive real sends, and the
    results count them (one sent, one opted out)."""
    from tests.automations.conftest import texts_to
    from tests.fakes import shopify_webhooks as payloads

    headers = {**bearer(funded.shop_domain), "HX-Request": "true"}
    client.post("/automations/order_confirmation/switch", data={"enabled": "1"}, headers=headers)
    body = {"body": "PAGES-EDIT {{order_number}} for {{first_name}}"}
    assert (
        client.post("/automations/order_confirmation", data=body, headers=headers).status_code
        == 204
    )
    person("+12125550123", customer_id=77, first_name="Ann")
    person("+12125550124", consent="unsubscribed", customer_id=78)
    shopify.deliver("orders/create", payloads.order(9001, "+12125550123", 77, number=1042))
    shopify.deliver("orders/create", payloads.order(9002, "+12125550124", 78, number=1043))
    assert texts_to(sim, "+12125550123") == ["PAGES-EDIT #1042 for Ann\nReply STOP to opt out"]

    page = html.unescape(
        client.get("/automations", headers=bearer(funded.shop_domain)).get_data(True)
    )
    cells = _cells(page, "order_confirmation")
    assert (cells["triggered"], cells["sent"], cells["skipped"], cells["credits"]) == (
        "2",
        "1",
        "1",
        "1",
    )
    reasons = re.search(r'id="skip-reasons">(.*?)</table>', page, re.S).group(1)
    assert "<td>Order confirmation</td><td>Opted out</td>" in reasons


def test_a_period_is_the_shops_last_calendar_days_in_runs_and_rollup(db, shop):
    """ "7": today and the 6 days before in the shop's zone, for runs and rollup alike."""
    today = stats.first_day(shop, "all"), stats.first_day(shop, "7")
    assert today[0] is None
    start = stats._start_of(shop, today[1])
    assert start.astimezone(timezones.zone_of(shop.timezone)[0]).hour == 0  # local midnight
    inside, before = start + timedelta(minutes=1), start - timedelta(minutes=1)
    for moment, credits in ((inside, 2), (before, 5)):
        run(db, shop, "birthday", message=sent("delivered", credits=credits), at=moment)
    db.session.commit()
    week, ever = stats.outcomes(shop, "7")["birthday"], stats.outcomes(shop, "all")["birthday"]
    assert (week.triggered, week.sent, week.credits) == (1, 1, 2)
    assert (ever.triggered, ever.sent, ever.credits) == (2, 2, 7)
