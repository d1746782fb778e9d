"""A Shopify timestamp without a UTC offset is read as UTC, never as a naive datetime
that breaks a comparison with an aware one (and with it the whole orders/create)."""

from datetime import UTC, datetime, timedelta

import time_machine

from astronote.integrations.shopify import billing
from astronote.services.shopify import orders
from tests.automations.conftest import NOON, texts_to
from tests.fakes import shopify_webhooks as payloads

PHONE = "+12125550123"


def test_parse_time_is_always_aware():
    assert orders.parse_time("2026-12-08T17:00:00") == datetime(2026, 12, 8, 17, tzinfo=UTC)
    assert orders.parse_time("2026-12-08T12:00:00-05:00") == datetime(2026, 12, 8, 17, tzinfo=UTC)
    assert billing.parse_time("2026-12-08T17:00:00") == datetime(2026, 12, 8, 17, tzinfo=UTC)
    assert billing.parse_time("2026-12-08T17:00:00Z").tzinfo is not None


def test_an_order_without_an_offset_is_recorded_and_confirmed(
    sim, flows, shopify, person, read, db
):
    flows("order_confirmation")
    contact = person(PHONE, customer_id=77, last_order_at=NOON - timedelta(days=30))
    payload = payloads.order(9001, PHONE, 77)
    payload["created_at"] = "2026-12-08T17:00:00"  # no offset
    with time_machine.travel(NOON, tick=False):
        shopify.deliver("orders/create", payload)
    assert len(texts_to(sim, PHONE)) == 1
    db.session.expire_all()
    assert db.session.get(type(contact), contact.id).last_order_at == NOON
