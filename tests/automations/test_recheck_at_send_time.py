"""A run held by quiet hours waits as a run, not as a message: every send-time check
(an order overnight, the flow switched off) runs again when quiet hours end."""

from datetime import UTC, datetime, timedelta

import time_machine
from sqlalchemy import update

from astronote.extensions import db as _db
from astronote.models import Automation
from astronote.services.automations import scans
from tests.automations.conftest import texts_to, tick
from tests.fakes import shopify_webhooks as payloads

PHONE = "+12125550123"
DAY = timedelta(days=1)
EVENING = datetime(2026, 12, 8, 1, 30, tzinfo=UTC)  # 20:30 in New York
NIGHT = datetime(2026, 12, 8, 4, 0, tzinfo=UTC)  # 23:00 in New York
MORNING = datetime(2026, 12, 8, 13, 1, tzinfo=UTC)  # 08:01 in New York


def _abandon(shopify):
    with time_machine.travel(EVENING, tick=False):
        shopify.deliver(
            "checkouts/create", payloads.checkout("tok-1", PHONE, 77, updated_at=EVENING)
        )


def test_an_order_overnight_cancels_the_held_checkout_reminder(
    sim, flows, shopify, person, read, quiet
):
    flows("abandoned_checkout")
    person(PHONE, customer_id=77)
    _abandon(shopify)
    tick(EVENING + timedelta(hours=1))  # 21:30: due, but in quiet hours
    with time_machine.travel(EVENING + timedelta(hours=2), tick=False):  # 22:30: an order
        shopify.deliver("orders/create", payloads.order(9001, PHONE, 77, checkout_token="x"))
    tick(MORNING)
    tick(MORNING + timedelta(minutes=5))
    assert texts_to(sim, PHONE) == []
    [run] = read.runs("abandoned_checkout")
    assert (run.status, run.skip_reason) == ("cancelled", "ordered")


def test_an_order_overnight_cancels_the_held_win_back(
    sim, flows, funded, shopify, person, read, quiet
):
    flows("win_back")
    person(PHONE, customer_id=77, last_order_at=NIGHT - 91 * DAY)
    with time_machine.travel(NIGHT, tick=False):
        assert scans.run_daily(funded.id) == {"win_back": 1}
        _db.session.commit()
    tick(NIGHT + timedelta(minutes=1))
    [run] = read.runs("win_back")
    assert run.status == "scheduled"
    with time_machine.travel(NIGHT + timedelta(hours=1), tick=False):
        order = payloads.order(9001, PHONE, 77, created_at=NIGHT + timedelta(hours=1))
        shopify.deliver("orders/create", order)
    tick(MORNING)
    assert texts_to(sim, PHONE) == []
    [run] = read.runs("win_back")
    assert (run.status, run.skip_reason) == ("cancelled", "ordered")


def test_a_flow_switched_off_overnight_sends_nothing(sim, flows, shopify, person, read, quiet):
    flows("abandoned_checkout")
    person(PHONE, customer_id=77)
    _abandon(shopify)
    tick(EVENING + timedelta(hours=1))
    _db.session.execute(update(Automation).values(enabled=False))
    _db.session.commit()
    tick(MORNING)
    assert texts_to(sim, PHONE) == []
    [run] = read.runs("abandoned_checkout")
    assert (run.status, run.skip_reason) == ("cancelled", "flow_off")
