"""The guards every flow shares, for the flows whose own tests do not already show them:
quiet hours defer (never drop), and an opt-out between trigger and send stops it."""

from datetime import UTC, date, datetime, timedelta

import time_machine

from astronote.extensions import db as _db
from astronote.services.automations import scans
from tests.automations.conftest import NOON, opt_out, texts_to, tick
from tests.fakes import shopify_webhooks as payloads

PHONE = "+12125550123"
DAY = timedelta(days=1)
NIGHT = datetime(2026, 12, 8, 4, 0, tzinfo=UTC)  # 23:00 in New York
MORNING = datetime(2026, 12, 8, 13, 1, tzinfo=UTC)  # 08:01 in New York


def test_shipping_update_waits_out_quiet_hours_when_the_shop_wants_it(
    sim, flows, shopify, person, quiet, db
):
    quiet.transactional_ignores_quiet_hours = False
    db.session.commit()
    flows("shipping_update")
    person(PHONE, customer_id=77)
    with time_machine.travel(NIGHT, tick=False):
        shopify.deliver("orders/create", payloads.order(9001, PHONE, 77))
        shopify.deliver("fulfillments/create", payloads.fulfillment(7001, 9001))
    assert texts_to(sim, PHONE) == []
    tick(MORNING)
    assert len(texts_to(sim, PHONE)) == 1


def test_cross_sell_deferred_by_quiet_hours_then_stopped_by_an_opt_out(
    sim, flows, shopify, person, quiet, read
):
    flows("cross_sell")
    contact = person(PHONE, customer_id=77)
    with time_machine.travel(NIGHT - 14 * DAY, tick=False):
        shopify.deliver(
            "orders/create", payloads.order(9001, PHONE, 77, created_at=NIGHT - 14 * DAY)
        )
    tick(NIGHT)
    [run] = read.runs()
    assert run.status == "scheduled" and run.due_at == MORNING.replace(minute=0)
    opt_out(_db, contact.id)
    tick(MORNING)
    assert texts_to(sim, PHONE) == []
    assert (read.runs()[0].status, read.runs()[0].skip_reason) == ("skipped", "opted_out")


def test_win_back_scanned_at_night_goes_in_the_morning(sim, flows, funded, person, quiet):
    flows("win_back")
    person(PHONE, last_order_at=NIGHT - 91 * DAY)
    with time_machine.travel(NIGHT, tick=False):
        assert scans.run_daily(funded.id) == {"win_back": 1}
        _db.session.commit()
    assert texts_to(sim, PHONE) == []
    tick(MORNING)
    assert len(texts_to(sim, PHONE)) == 1


def test_win_back_stopped_by_an_opt_out_after_the_scan(sim, flows, funded, person, read, asleep):
    flows("win_back")
    contact = person(PHONE, last_order_at=NOON - 91 * DAY)
    with time_machine.travel(NOON, tick=False):
        scans.run_daily(funded.id)
        _db.session.commit()
    opt_out(_db, contact.id)
    tick(NOON + timedelta(minutes=1))
    assert texts_to(sim, PHONE) == []
    assert read.runs()[0].skip_reason == "opted_out"


def test_birthday_stopped_by_an_opt_out_before_its_hour(sim, flows, funded, person, read):
    flows("birthday", send_hour=10)
    contact = person(PHONE, birth_date=date(1990, 12, 8))
    with time_machine.travel(NOON.replace(hour=12), tick=False):  # 07:00 New York
        scans.run_daily(funded.id)
        _db.session.commit()
    opt_out(_db, contact.id)
    tick(NOON.replace(hour=15))  # 10:00 New York
    assert texts_to(sim, PHONE) == []
    assert read.runs()[0].skip_reason == "opted_out"


def test_birthday_at_an_hour_inside_quiet_hours_waits_for_the_morning(
    sim, flows, funded, person, quiet, read
):
    flows("birthday", send_hour=6)  # 06:00 New York: before the 08:00 opening
    person(PHONE, birth_date=date(1990, 12, 8))
    with time_machine.travel(NOON.replace(hour=5), tick=False):  # 00:00 New York
        scans.run_daily(funded.id)
        _db.session.commit()
    tick(NOON.replace(hour=11))  # 06:00 New York
    assert texts_to(sim, PHONE) == []
    tick(MORNING)
    assert len(texts_to(sim, PHONE)) == 1
