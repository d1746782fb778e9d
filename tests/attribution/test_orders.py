"""Revenue attribution end to end: signed orders/create and refunds/create deliveries,
clicks through the real redirect, the rollup and the report pages."""

from __future__ import annotations

from datetime import timedelta

from astronote.services.discounts import codes as discount_codes
from tests.attribution.conftest import next_order_id, now
from tests.fakes import shopify_webhooks as payloads
from tests.reports.test_pages import _tile

PHONE = "+12125550123"


def _order(shopify, phone=PHONE, customer_id=None, total="42.00", at=None, **extra):
    order_id = next_order_id()
    at = at or now() + timedelta(minutes=1)
    shopify.deliver(
        "orders/create", payloads.order(order_id, phone, customer_id, total=total,
                                        created_at=at, shop=shopify.shop, **extra),
    )  # fmt: skip
    return order_id


def test_a_click_credits_the_campaign_once_and_shows_on_its_pages(
    client, doc_auth, shop, shopify, contact, campaign, sent_message, click, attributed, money
):
    person = contact(shop)
    sale = campaign(shop)
    message = sent_message(shop, person, campaign=sale)
    click(shop, message, "campaign", sale.id)
    order_id = _order(shopify, total="42.00")
    [row] = attributed(shop)
    assert (row.message_id, row.source_kind, row.source_id, row.reason) == (
        message.id, "campaign", sale.id, "click",
    )  # fmt: skip
    assert (row.amount_cents, row.currency, row.shopify_order_id) == (4200, "USD", order_id)
    assert money(shop, "campaign", sale.id) == (1, 4200, 0)
    # Shopify retries the delivery, then emits the same event under a new id: once.
    shopify.redeliver_last()
    shopify.resend_as_new()
    assert len(attributed(shop)) == 1
    assert money(shop, "campaign", sale.id) == (1, 4200, 0)
    report = client.get(f"/reports/campaigns/{sale.id}", headers=doc_auth).get_data(as_text=True)
    assert _tile(report, "report-revenue") == "42.00 USD"
    page = client.get(f"/campaigns/{sale.id}", headers=doc_auth).get_data(as_text=True)
    assert _tile(page, "campaign-revenue") == "42.00 USD"
    home = client.get("/?period=7", headers=doc_auth).get_data(as_text=True)
    assert _tile(home, "dash-revenue") == "42.00 USD"


def test_refunds_reduce_the_revenue_once_each_and_never_below_zero(
    client, doc_auth, shop, shopify, contact, campaign, sent_message, click, attributed, money
):
    person = contact(shop)
    sale = campaign(shop)
    click(shop, sent_message(shop, person, campaign=sale), "campaign", sale.id)
    order_id = _order(shopify, total="42.00")
    shopify.deliver("refunds/create", payloads.refund(880001, order_id, amount="10.00"))
    shopify.redeliver_last()
    shopify.resend_as_new()
    assert money(shop, "campaign", sale.id) == (1, 4200, 1000)
    assert attributed(shop)[0].refunded_cents == 1000
    report = client.get(f"/reports/campaigns/{sale.id}", headers=doc_auth).get_data(as_text=True)
    assert _tile(report, "report-revenue") == "32.00 USD"
    # A second refund larger than what is left takes it to zero, not below.
    shopify.deliver("refunds/create", payloads.refund(880002, order_id, amount="40.00"))
    assert money(shop, "campaign", sale.id) == (1, 4200, 4200)
    assert attributed(shop)[0].refunded_cents == 4200


def test_a_refund_before_its_order_is_applied_when_the_order_is_attributed(
    shop, shopify, contact, campaign, sent_message, click, money
):
    person = contact(shop)
    sale = campaign(shop)
    click(shop, sent_message(shop, person, campaign=sale), "campaign", sale.id)
    order_id = next_order_id()
    shopify.deliver("refunds/create", payloads.refund(880003, order_id, amount="5.00"))
    at = now() + timedelta(minutes=1)
    shopify.deliver("orders/create", payloads.order(order_id, PHONE, total="42.00", created_at=at))
    assert money(shop, "campaign", sale.id) == (1, 4200, 500)


def test_a_click_on_a_flow_message_credits_the_flow(
    client, doc_auth, shop, shopify, contact, flow, sent_message, click, attributed, money
):
    person = contact(shop)
    winback = flow(shop)
    message = sent_message(shop, person, flow=winback)
    click(shop, message, "automation", winback.id)
    _order(shopify, total="19.99")
    [row] = attributed(shop)
    assert (row.source_kind, row.source_id, row.reason) == ("flow", winback.id, "click")
    assert money(shop, "flow", winback.id) == (1, 1999, 0)
    page = client.get(f"/reports/flows/{winback.id}", headers=doc_auth).get_data(as_text=True)
    assert _tile(page, "report-revenue") == "19.99 USD"


def test_without_a_click_a_delivery_within_24_hours_credits_the_message(
    shop, shopify, contact, campaign, flow, sent_message, attributed, money
):
    person = contact(shop)
    older, newer = campaign(shop, "Older"), campaign(shop, "Newer")
    sent_message(shop, person, campaign=older, sent_at=now() - timedelta(hours=5))
    latest = sent_message(shop, person, campaign=newer, sent_at=now() - timedelta(hours=2))
    # An order update sent later is transactional: it never earns the order.
    sent_message(shop, person, flow=flow(shop, "order_confirmation"), kind="transactional")
    _order(shopify, total="10.00")
    [row] = attributed(shop)
    assert (row.message_id, row.reason) == (latest.id, "delivery")
    assert money(shop, "campaign", newer.id) == (1, 1000, 0)
    assert money(shop, "campaign", older.id) == (0, 0, 0)


def test_outside_both_windows_nothing_is_attributed(
    shop, shopify, contact, campaign, sent_message, click, attributed, money
):
    person = contact(shop)
    sale = campaign(shop)
    clicked = sent_message(shop, person, campaign=sale)
    click(shop, clicked, "campaign", sale.id)
    # The order comes 6 days after the click (window 5) and 6 days after the delivery.
    _order(shopify, at=now() + timedelta(days=6))
    # Delivered 25 hours before an order, never clicked.
    other = contact(shop, "+12125550199")
    late = campaign(shop, "Late")
    sent_message(shop, other, campaign=late, sent_at=now() - timedelta(hours=25))
    _order(shopify, phone=other.phone)
    # Sent but never delivered (failed): no delivery to credit.
    third = contact(shop, "+12125550188")
    sent_message(shop, third, campaign=late, status="failed")
    _order(shopify, phone=third.phone)
    assert attributed(shop) == []
    assert money(shop, "campaign", sale.id) == money(shop, "campaign", late.id) == (0, 0, 0)


def test_the_windows_come_from_the_shops_settings(
    shop, db, shopify, contact, campaign, sent_message, click, attributed
):
    shop.attribution_click_days, shop.attribution_delivery_hours = 10, 0
    db.session.commit()
    person = contact(shop)
    sale = campaign(shop)
    click(shop, sent_message(shop, person, campaign=sale), "campaign", sale.id)
    _order(shopify, at=now() + timedelta(days=6))  # inside 10 days
    other = contact(shop, "+12125550199")
    sent_message(shop, other, campaign=sale, sent_at=now() - timedelta(hours=1))
    _order(shopify, phone=other.phone)  # delivery attribution is off
    assert [r.reason for r in attributed(shop)] == ["click"]


def test_another_shops_order_never_attributes(
    client, make_shop, shop, contact, campaign, sent_message, click, attributed, money
):
    from tests.conftest import TEST_API_SECRET
    from tests.fakes.shopify_webhooks import Shopify

    person = contact(shop)
    sale = campaign(shop)
    click(shop, sent_message(shop, person, campaign=sale), "campaign", sale.id)
    beta = make_shop("beta.myshopify.com", timezone="America/New_York")
    contact(beta)  # the same phone is a contact of the other shop too
    _order(Shopify(client, TEST_API_SECRET, beta.shop_domain), total="99.00")
    assert attributed(shop) == [] and attributed(beta) == []
    assert money(shop, "campaign", sale.id) == (0, 0, 0)


def test_the_shopify_customer_is_matched_before_the_phone(
    shop, shopify, contact, campaign, sent_message, click, attributed
):
    customer = contact(shop, "+12125550111", customer_id=501)
    by_phone = contact(shop, PHONE)
    sale, other = campaign(shop), campaign(shop, "Other")
    click(shop, sent_message(shop, customer, campaign=sale), "campaign", sale.id)
    click(shop, sent_message(shop, by_phone, campaign=other), "campaign", other.id)
    _order(shopify, phone=PHONE, customer_id=501)
    [row] = attributed(shop)
    assert (row.contact_id, row.source_id) == (customer.id, sale.id)


def test_a_unique_code_outranks_a_later_click_and_a_shared_code_counts(
    app, shop, shopify, contact, campaign, flow, sent_message, click, attributed
):
    from astronote.extensions import db
    from astronote.models import DiscountCode

    person = contact(shop)
    coded, clicked = campaign(shop, "Coded"), campaign(shop, "Clicked")
    own = sent_message(shop, person, campaign=coded, sent_at=now() - timedelta(days=3))
    code = discount_codes.code_for("ABC", own.id)
    db.session.add(DiscountCode(message_id=own.id, campaign_id=coded.id, code=code, batch_no=0))
    db.session.commit()
    click(shop, sent_message(shop, person, campaign=clicked), "campaign", clicked.id)
    _order(shopify, discount_codes=(code.lower(),))  # codes ignore case at checkout
    # A flow's shared code, used by a contact the flow messaged a week ago.
    other = contact(shop, "+12125550199")
    winback = flow(shop, code="COMEBACK10")
    sent_message(shop, other, flow=winback, sent_at=now() - timedelta(days=7))
    _order(shopify, phone=other.phone, discount_codes=("comeback10",))
    # A forged code (a valid shape naming that message, the wrong tag) earns nothing.
    third = contact(shop, "+12125550188")
    _order(
        shopify, phone=third.phone, discount_codes=(code[:-1] + ("2" if code[-1] != "2" else "3"),)
    )
    rows = attributed(shop)
    assert [(r.source_kind, r.source_id, r.reason) for r in rows] == [
        ("campaign", coded.id, "discount_code"),
        ("flow", winback.id, "discount_code"),
    ]


def test_the_sweeper_replaying_stored_events_counts_nothing_twice(
    db, shop, shopify, contact, campaign, sent_message, click, attributed, money
):
    """An event the sweeper takes again (as after a crash between apply and its status
    write) is applied a second time: the order and the refund still count once."""
    from sqlalchemy import select

    from astronote.models import WebhookEvent
    from astronote.tasks.shopify import apply_webhook

    person = contact(shop)
    sale = campaign(shop)
    click(shop, sent_message(shop, person, campaign=sale), "campaign", sale.id)
    order_id = _order(shopify, total="42.00")
    shopify.deliver("refunds/create", payloads.refund(880009, order_id, amount="2.50"))
    events = (
        db.session.execute(
            select(WebhookEvent).where(WebhookEvent.topic.in_(["orders/create", "refunds/create"]))
        )
        .scalars()
        .all()
    )
    assert len(events) == 2
    bodies = {webhook_id: body for _, webhook_id, body, _ in shopify.sent}
    for event in events:  # as stored before processing (processing empties the payload)
        event.status, event.processed_at = "received", None
        event.payload = bodies[event.webhook_id].decode()
    db.session.commit()
    assert [apply_webhook(event.id) for event in events] == ["processed", "processed"]
    assert len(attributed(shop)) == 1
    assert money(shop, "campaign", sale.id) == (1, 4200, 250)
