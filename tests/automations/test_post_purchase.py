"""Shipping update (transactional), review request and cross-sell, end to end through
signed orders/create and fulfillments/create|update deliveries."""

from datetime import timedelta

import time_machine
from sqlalchemy import update

from astronote.models import Contact
from tests.automations.conftest import NOON, opt_out, texts_to, tick
from tests.fakes import shopify_webhooks as payloads

PHONE = "+12125550123"
DAY = timedelta(days=1)


def _order(shopify, order_id=9001, at=NOON, number=1001):
    with time_machine.travel(at, tick=False):
        shopify.deliver("orders/create", payloads.order(order_id, PHONE, 77, number=number))


def _ship(shopify, status=None, at=NOON, topic="fulfillments/create"):
    with time_machine.travel(at, tick=False):
        fulfillment = payloads.fulfillment(7001, 9001, status, "1Z999AA10123456784", created_at=at)
        shopify.deliver(topic, fulfillment)


def test_shipped_then_delivered_each_texted_once(sim, flows, shopify, person, read):
    flows("shipping_update")
    person(PHONE, consent="not_subscribed", customer_id=77)  # transactional: no opt-in needed
    _order(shopify)
    _ship(shopify)
    [shipped] = texts_to(sim, PHONE)
    assert "order #1001 is on its way" in shipped
    assert "trackingNumber=1Z999AA10123456784 (1Z999AA10123456784)" in shipped
    _ship(shopify, "in_transit", topic="fulfillments/update")  # not a step we text
    _ship(shopify, "delivered", topic="fulfillments/update")
    texts = texts_to(sim, PHONE)
    assert len(texts) == 2 and "has been delivered" in texts[1]
    shopify.redeliver_last()
    shopify.resend_as_new()
    _ship(shopify, "delivered", topic="fulfillments/update")  # Shopify says it again
    assert len(texts_to(sim, PHONE)) == 2
    assert {r.trigger_key for r in read.runs()} == {
        "fulfillment:7001:shipped",
        "fulfillment:7001:delivered",
    }
    assert {read.message(r.message_id).kind for r in read.runs()} == {"transactional"}


def test_a_fulfilment_of_an_unknown_order_sends_nothing(sim, flows, shopify, person, read):
    flows("shipping_update")
    person(PHONE, customer_id=77)
    _ship(shopify)
    assert texts_to(sim, PHONE) == [] and read.runs() == []


def test_shipping_update_stops_for_a_contact_who_opted_out_meanwhile(
    sim, flows, shopify, person, read, asleep, db
):
    flows("shipping_update")
    contact = person(PHONE, customer_id=77)
    _order(shopify)
    _ship(shopify)
    opt_out(db, contact.id)
    tick(NOON + timedelta(minutes=1))
    assert texts_to(sim, PHONE) == []
    assert read.runs()[0].skip_reason == "opted_out"


def test_review_request_seven_days_after_the_fulfilment(sim, flows, shopify, person, read):
    flows("review_request")
    person(PHONE, customer_id=77)
    _order(shopify)
    _ship(shopify)
    tick(NOON + 7 * DAY - timedelta(minutes=1))
    assert texts_to(sim, PHONE) == []
    tick(NOON + 7 * DAY)
    [text] = texts_to(sim, PHONE)
    assert text.startswith("Hi Ann, how do you like your order #1001 from Alpha?")
    _ship(shopify, "delivered", at=NOON + 8 * DAY, topic="fulfillments/update")
    shopify.resend_as_new()
    tick(NOON + 9 * DAY)
    assert len(texts_to(sim, PHONE)) == 1
    [run] = read.runs("review_request")
    assert run.trigger_key == "order:9001" and read.message(run.message_id).kind == "automation"


def test_review_request_waits_out_quiet_hours(sim, flows, shopify, person, read, quiet):
    flows("review_request")
    person(PHONE, customer_id=77)
    night = NOON.replace(hour=3)  # 22:00 in New York
    _order(shopify, at=night)
    _ship(shopify, at=night)
    tick(night + 7 * DAY)
    assert texts_to(sim, PHONE) == []
    tick(NOON.replace(hour=13) + 7 * DAY)  # 08:00 New York, a week later
    assert len(texts_to(sim, PHONE)) == 1


def test_review_request_skipped_for_a_contact_who_unsubscribed(
    sim, flows, shopify, person, read, db
):
    flows("review_request")
    contact = person(PHONE, customer_id=77)
    _order(shopify)
    _ship(shopify)
    opt_out(db, contact.id)
    tick(NOON + 7 * DAY)
    assert texts_to(sim, PHONE) == []
    assert read.runs()[0].skip_reason == "opted_out"


def test_cross_sell_fourteen_days_after_an_order_once(sim, flows, shopify, person, read):
    flows("cross_sell", discount_code="MORE15")
    person(PHONE, customer_id=77)
    _order(shopify)
    shopify.redeliver_last()
    shopify.resend_as_new()
    tick(NOON + 14 * DAY - timedelta(minutes=1))
    assert texts_to(sim, PHONE) == []
    tick(NOON + 14 * DAY)
    tick(NOON + 14 * DAY + timedelta(minutes=1))
    [text] = texts_to(sim, PHONE)
    assert "MORE15" in text and text.startswith("Ann, customers who liked your last order")


def test_cross_sell_not_sent_when_the_flow_is_switched_off_meanwhile(
    sim, flows, shopify, person, read, db, funded
):
    from astronote.models import Automation

    flows("cross_sell")
    person(PHONE, customer_id=77)
    _order(shopify)
    db.session.execute(
        update(Automation).where(Automation.shop_id == funded.id).values(enabled=False)
    )
    db.session.commit()
    tick(NOON + 14 * DAY)
    assert texts_to(sim, PHONE) == []
    [run] = read.runs()
    assert (run.status, run.skip_reason) == ("cancelled", "flow_off")


def test_cross_sell_skipped_for_a_contact_who_never_subscribed(sim, flows, shopify, person, read):
    flows("cross_sell")
    person(PHONE, consent="not_subscribed", customer_id=77)
    _order(shopify)
    tick(NOON + 14 * DAY)
    assert texts_to(sim, PHONE) == []
    assert read.runs()[0].skip_reason == "not_subscribed"


def test_a_local_delivery_fulfilled_as_delivered_still_asks_for_a_review(
    sim, flows, shopify, person, read
):
    flows("shipping_update", "review_request")
    person(PHONE, customer_id=77)
    _order(shopify)
    _ship(shopify, "delivered")  # fulfillments/create, delivered at once
    [text] = texts_to(sim, PHONE)
    assert "has been delivered" in text
    tick(NOON + 7 * DAY)
    assert len(texts_to(sim, PHONE)) == 2


def test_a_malformed_fulfilment_never_fails_the_delivery(sim, flows, shopify, person, read):
    flows("shipping_update")
    person(PHONE, customer_id=77)
    _order(shopify)
    bad = payloads.fulfillment(7001, 9001)
    bad.update(
        tracking_numbers={"x": 1}, tracking_number=5, tracking_urls="nope", tracking_url=None
    )
    shopify.deliver("fulfillments/create", bad)
    [text] = texts_to(sim, PHONE)
    assert "Track it:  ()" in text


def test_a_buyer_we_did_not_know_gets_the_confirmation_not_marketing(
    sim, flows, shopify, read, db, funded
):
    from sqlalchemy import select

    from astronote.services.contacts import counts

    flows("order_confirmation", "cross_sell")
    shopify.deliver("orders/create", payloads.order(9001, "(212) 555-0177", 88, first="Lou"))
    [text] = texts_to(sim, "+12125550177")
    assert "#1001" in text
    contact = db.session.execute(select(Contact).filter_by(phone="+12125550177")).scalar_one()
    assert (contact.consent_state, contact.first_name, contact.shopify_customer_id) == (
        "not_subscribed",
        "Lou",
        88,
    )
    assert contact.orders_count == 1
    assert counts.totals(funded.id)["not_subscribed"] == 1
    tick(NOON + 30 * DAY)
    assert read.runs("cross_sell")[0].skip_reason == "not_subscribed"
