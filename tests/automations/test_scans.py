"""Win-back and birthday: daily scans (one INSERT … SELECT each) that schedule each
customer once per window, safely when scans overlap, then go through the dispatcher."""

from datetime import UTC, date, datetime, timedelta

import time_machine

from astronote.extensions import db as _db
from astronote.services.automations import scans
from astronote.tasks.automations import dispatch_due_runs, run_daily_scans
from tests.automations.conftest import NOON, race, texts_to
from tests.fakes import shopify_webhooks as payloads

PHONE = "+12125550123"
DAY = timedelta(days=1)


def _scan(shop, at=NOON):
    with time_machine.travel(at, tick=False):
        counts = scans.run_daily(shop.id)
        _db.session.commit()  # runs due now wake the dispatcher
    return counts


def test_win_back_once_per_quiet_spell(sim, flows, funded, person, read, shopify):
    flows("win_back", discount_code="BACK15")
    person(PHONE, customer_id=77, last_order_at=NOON - 91 * DAY)
    person("+12125550124", last_order_at=NOON - 30 * DAY)  # still a regular
    person("+12125550125", last_order_at=NOON - 400 * DAY)  # lapsed long before: left alone
    person("+12125550126", consent="not_subscribed", last_order_at=NOON - 91 * DAY)
    assert _scan(funded) == {"win_back": 1}
    [text] = texts_to(sim, PHONE)
    assert text.startswith("We miss you at Alpha, Ann! Come back for 15% off with BACK15")
    assert len(sim.accepted) == 1
    assert _scan(funded, NOON + DAY) == {"win_back": 0}  # the next day's scan
    assert len(texts_to(sim, PHONE)) == 1
    # They come back, then lapse again: a new spell, a new win-back.
    with time_machine.travel(NOON + 2 * DAY, tick=False):
        shopify.deliver("orders/create", payloads.order(9001, PHONE, 77))
    assert _scan(funded, NOON + 93 * DAY) == {"win_back": 1}
    assert len(texts_to(sim, PHONE)) == 2
    assert len({r.trigger_key for r in read.runs("win_back")}) == 2


def test_win_back_cancelled_by_an_order_before_it_goes(
    sim, flows, funded, person, read, shopify, asleep
):
    flows("win_back")
    person(PHONE, customer_id=77, last_order_at=NOON - 91 * DAY)
    assert _scan(funded) == {"win_back": 1}
    with time_machine.travel(NOON + timedelta(minutes=1), tick=False):
        shopify.deliver("orders/create", payloads.order(9001, PHONE, 77))
    with time_machine.travel(NOON + timedelta(minutes=2), tick=False):
        dispatch_due_runs()
    assert texts_to(sim, PHONE) == []
    assert (read.runs()[0].status, read.runs()[0].skip_reason) == ("cancelled", "ordered")


def test_birthday_on_the_day_at_the_shops_hour(sim, flows, funded, person, read):
    flows("birthday", send_hour=10, discount_code="CAKE")
    person(PHONE, birth_date=date(1990, 12, 8))
    person("+12125550124", birth_date=date(1990, 12, 9))
    morning = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)  # 07:00 in New York
    assert _scan(funded, morning) == {"birthday": 1}
    with time_machine.travel(morning + timedelta(hours=2, minutes=59), tick=False):
        dispatch_due_runs()  # 09:59 New York
    assert texts_to(sim, PHONE) == []
    with time_machine.travel(morning + 3 * timedelta(hours=1), tick=False):
        dispatch_due_runs()  # 10:00 New York
    [text] = texts_to(sim, PHONE)
    assert text.startswith("Happy birthday, Ann! A treat from Alpha: CAKE")
    assert _scan(funded, morning + timedelta(hours=5)) == {"birthday": 0}
    assert _scan(funded, morning + 365 * DAY) == {"birthday": 1}  # next year


def test_a_29_february_birthday_is_kept_on_the_28th(sim, flows, funded, person):
    flows("birthday")
    person(PHONE, birth_date=date(2000, 2, 29))
    assert _scan(funded, datetime(2027, 2, 28, 16, 0, tzinfo=UTC)) == {"birthday": 1}
    assert _scan(funded, datetime(2028, 2, 28, 16, 0, tzinfo=UTC)) == {"birthday": 0}
    assert _scan(funded, datetime(2028, 2, 29, 16, 0, tzinfo=UTC)) == {"birthday": 1}


def test_overlapping_scans_schedule_each_customer_once(app, sim, flows, funded, person, read):
    flows("win_back", "birthday")
    lapsed = NOON - 91 * DAY
    for i in range(40):
        person(f"+1212555{1000 + i:04d}", last_order_at=lapsed, birth_date=date(1980, 12, 8))

    def scan():
        with time_machine.travel(NOON, tick=False):
            counts = scans.run_daily(funded.id)
            _db.session.commit()
            return counts

    counts = race(app, 3, scan)
    assert sum(c["win_back"] for c in counts) == 40
    assert sum(c["birthday"] for c in counts) == 40
    assert len(read.runs("win_back")) == len(read.runs("birthday")) == 40
    with time_machine.travel(NOON.replace(hour=16), tick=False):  # 11:00 New York
        dispatch_due_runs()
    assert len(sim.accepted) == 80 and len(set(m["destination"] for m in sim.accepted)) == 40


def test_the_hourly_task_scans_only_shops_with_scanned_flows_on(
    sim, flows, funded, person, make_shop, read
):
    person(PHONE, last_order_at=NOON - 91 * DAY)
    with time_machine.travel(NOON, tick=False):
        assert run_daily_scans.call_local() == 0
    flows("win_back")
    make_shop("other.myshopify.com")
    with time_machine.travel(NOON, tick=False):
        assert scans.shops_to_scan() == [funded.id]
        assert run_daily_scans.call_local() == 1
    assert len(texts_to(sim, PHONE)) == 1


BIRTHDAY = date(1985, 12, 8)
TEN_NY = datetime(2026, 12, 8, 15, 0, tzinfo=UTC)  # 10:00 in New York


def _birthdays_at_ten(funded):
    _scan(funded, TEN_NY - timedelta(hours=3))
    with time_machine.travel(TEN_NY, tick=False):
        dispatch_due_runs()


def test_scanned_messages_are_rendered_and_priced_exactly(sim, flows, funded, person, read, db):
    from sqlalchemy import func, select

    from astronote.models import CreditLedgerEntry
    from astronote.services.billing.pricing import country_of, per_segment
    from astronote.services.messaging.segments import segment_count

    flows("birthday", body="{{first_name}} {{last_name}}, happy birthday from {{shop_name}}!")
    person(PHONE, first_name="Ann", last_name=None, birth_date=BIRTHDAY)
    person("+306912345678", first_name="Ζωή", last_name="Ηλιού", birth_date=BIRTHDAY)
    person("+447911123456", first_name="B" * 100, last_name="C" * 60, birth_date=BIRTHDAY)
    person("+12125550124", first_name=None, birth_date=BIRTHDAY)
    _birthdays_at_ten(funded)
    messages = read.messages()
    assert len(messages) == 4 and {m.status for m in messages} == {"accepted"}
    by_phone = {m.phone: m for m in messages}
    assert by_phone[PHONE].body.startswith("Ann , happy birthday from Alpha!\nReply STOP")
    assert by_phone["+306912345678"].body.startswith("Ζωή Ηλιού, happy birthday")
    # No name: the text the per-run path renders (stripped), no stray leading space.
    assert by_phone["+12125550124"].body.startswith(", happy birthday from Alpha!")
    for m in messages:
        assert m.segments == segment_count(m.body)
        assert m.credits == m.segments * per_segment(country_of(m.phone))
    assert by_phone["+447911123456"].segments == 2 and by_phone["+306912345678"].credits == 3
    reserved = db.session.execute(
        select(func.sum(CreditLedgerEntry.reserved_delta)).where(
            CreditLedgerEntry.idempotency_key.like("automations:birthday:%")
        )
    ).scalar_one()
    assert reserved == sum(m.credits for m in messages)


def test_a_batch_beyond_the_credits_sends_what_fits(sim, flows, funded, person, read, db):
    from collections import Counter

    from astronote.services import credits

    flows("birthday")
    for i in range(3):
        person(f"+1212555{3000 + i:04d}", birth_date=BIRTHDAY)
    credits.reserve(funded.id, credits.balance(funded.id).available - 2, "test-hold")
    db.session.commit()
    _birthdays_at_ten(funded)
    outcomes = Counter((r.status, r.skip_reason) for r in read.runs())
    assert outcomes == Counter({("queued", None): 2, ("skipped", "no_credits"): 1})
    assert len(sim.accepted) == 2
    assert credits.ledger_totals(funded.id) == credits.balance(funded.id)


def test_personal_opt_out_links_go_run_by_run(sim, flows, funded, person, read, db):
    funded.opt_out_mode = "link"
    db.session.commit()
    flows("birthday")
    person(PHONE, birth_date=BIRTHDAY)
    person("+12125550124", birth_date=BIRTHDAY)
    _birthdays_at_ten(funded)
    links = {m["text"].rsplit("Opt out: ", 1)[1] for m in sim.accepted}
    assert len(sim.accepted) == 2 and len(links) == 2
