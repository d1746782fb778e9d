"""Shopify does not order its deliveries: a fulfilment processed before its order is
retried by the webhook sweeper (then dead, with a clear error), never silently dropped;
a fulfilment without an id never shares another's trigger key."""

from datetime import timedelta

import time_machine
from sqlalchemy import select

from astronote.models import WebhookEvent
from astronote.tasks import periodic
from tests.automations.conftest import NOON, texts_to, tick
from tests.fakes import shopify_webhooks as payloads

PHONE = "+12125550123"
MINUTE = timedelta(minutes=1)


def _events(db) -> dict[str, WebhookEvent]:
    db.session.expire_all()
    return {e.topic: e for e in db.session.execute(select(WebhookEvent)).scalars()}


def _sweep(at) -> None:
    with time_machine.travel(at, tick=False):
        periodic.sweep_webhook_events.call_local()


def test_a_shipment_delivered_before_its_order_still_sends_one_update(
    sim, flows, shopify, person, read, db
):
    flows("shipping_update")
    person(PHONE, customer_id=77)
    with time_machine.travel(NOON, tick=False):
        shopify.deliver("fulfillments/create", payloads.fulfillment(7001, 9001))
    event = _events(db)["fulfillments/create"]
    assert (event.status, event.attempts) == ("received", 1)
    assert "order 9001" in event.error and "not recorded yet" in event.error
    with time_machine.travel(NOON + MINUTE, tick=False):
        shopify.deliver("orders/create", payloads.order(9001, PHONE, 77))
    _sweep(NOON + 3 * MINUTE)
    assert _events(db)["fulfillments/create"].status == "processed"
    tick(NOON + 4 * MINUTE)
    _sweep(NOON + 6 * MINUTE)
    shopify.resend_as_new(0)  # the fulfilment once more, under a new id
    tick(NOON + 8 * MINUTE)
    [text] = texts_to(sim, PHONE)
    assert "1Z2345" in text
    assert [r.trigger_key for r in read.runs("shipping_update")] == ["fulfillment:7001:shipped"]


def test_a_shipment_whose_order_never_comes_ends_dead_with_its_reason(
    sim, flows, shopify, person, db
):
    flows("shipping_update")
    with time_machine.travel(NOON, tick=False):
        shopify.deliver("fulfillments/create", payloads.fulfillment(7001, 9001))
    for minute in range(3, 10):
        _sweep(NOON + minute * MINUTE)
    event = _events(db)["fulfillments/create"]
    assert (event.status, event.attempts) == ("dead", 5)
    assert event.error.startswith("OrderNotYetKnown: order 9001 of fulfillment 7001")


def test_with_its_flows_off_an_unknown_order_is_not_retried(sim, shopify, db):
    with time_machine.travel(NOON, tick=False):
        shopify.deliver("fulfillments/create", payloads.fulfillment(7001, 9001))
    assert _events(db)["fulfillments/create"].status == "processed"


def test_fulfilments_without_an_id_keep_apart_by_tracking_number(sim, flows, shopify, person, read):
    flows("shipping_update")
    person(PHONE, customer_id=77)
    with time_machine.travel(NOON, tick=False):
        shopify.deliver("orders/create", payloads.order(9001, PHONE, 77))
        shopify.deliver("orders/create", payloads.order(9002, PHONE, 77, number=1002))
        for order_id, tracking in [(9001, "1ZAAA"), (9002, "1ZBBB"), (9002, "1ZCCC")]:
            fulfilment = payloads.fulfillment(0, order_id, tracking_number=tracking)
            del fulfilment["id"]
            shopify.deliver("fulfillments/create", fulfilment)
    tick(NOON + MINUTE)
    keys = sorted(r.trigger_key for r in read.runs("shipping_update"))
    assert keys == [
        "fulfillment:order-9001:1ZAAA:shipped",
        "fulfillment:order-9002:1ZBBB:shipped",
        "fulfillment:order-9002:1ZCCC:shipped",
    ]
    assert len(texts_to(sim, PHONE)) == 3
