"""Abandoned checkout end to end: signed checkouts/* deliveries, one reminder after the
delay with the recovery link; cancelled by a completed checkout or any order since; the
US rule (one message within 48 h); quiet hours defer it; an opt-out stops it."""

from datetime import timedelta

import time_machine

from tests.automations.conftest import NOON, opt_out, texts_to, tick
from tests.fakes import shopify_webhooks as payloads

PHONE = "+12125550123"
HOUR = timedelta(hours=1)


def _abandon(shopify, token="tok-1", at=NOON, **fields):
    with time_machine.travel(at, tick=False):
        shopify.deliver(
            "checkouts/create", payloads.checkout(token, PHONE, 77, updated_at=at, **fields)
        )


def test_one_reminder_after_the_delay_with_the_recovery_link(sim, flows, shopify, person, read):
    flows("abandoned_checkout")
    person(PHONE, customer_id=77)
    _abandon(shopify)
    tick(NOON + timedelta(minutes=59))
    assert texts_to(sim, PHONE) == []  # not before the hour
    tick(NOON + HOUR)
    [text] = texts_to(sim, PHONE)
    assert "/checkouts/ac/tok-1/recover?key=example-secret-token" in text
    assert text.startswith("Ann, you left something in your cart at Alpha")
    [run] = read.runs("abandoned_checkout")
    assert run.status == "queued" and read.message(run.message_id).kind == "automation"
    # A redelivery, the same event under a new id, and later minutes send nothing more.
    shopify.redeliver_last()
    shopify.resend_as_new()
    tick(NOON + 3 * HOUR)
    assert len(texts_to(sim, PHONE)) == 1 and len(read.runs()) == 1


def test_a_checkout_updated_later_moves_the_reminder(sim, flows, shopify, person, read):
    flows("abandoned_checkout")
    person(PHONE, customer_id=77)
    _abandon(shopify)
    later = NOON + timedelta(minutes=40)
    with time_machine.travel(later, tick=False):
        shopify.deliver("checkouts/update", payloads.checkout("tok-1", PHONE, 77, updated_at=later))
    tick(NOON + HOUR)
    assert texts_to(sim, PHONE) == []
    tick(later + HOUR)
    assert len(texts_to(sim, PHONE)) == 1


def test_cancelled_when_the_checkout_completes(sim, flows, shopify, person, read):
    flows("abandoned_checkout")
    person(PHONE, customer_id=77)
    _abandon(shopify)
    with time_machine.travel(NOON + timedelta(minutes=20), tick=False):
        order = payloads.order(9001, PHONE, 77, checkout_token="tok-1")
        shopify.deliver("orders/create", order)
    tick(NOON + 2 * HOUR)
    assert texts_to(sim, PHONE) == []
    [run] = read.runs("abandoned_checkout")
    assert (run.status, run.skip_reason) == ("cancelled", "checkout_completed")


def test_cancelled_when_the_customer_ordered_through_another_checkout(
    sim, flows, shopify, person, read
):
    flows("abandoned_checkout")
    person(PHONE, customer_id=77)
    person("+12125550999", customer_id=78)
    _abandon(shopify)
    with time_machine.travel(NOON + timedelta(minutes=5), tick=False):
        shopify.deliver(
            "checkouts/create", payloads.checkout("tok-2", "+12125550999", 78, updated_at=NOON)
        )
    with time_machine.travel(NOON + timedelta(minutes=20), tick=False):
        shopify.deliver("orders/create", payloads.order(9001, PHONE, 77, checkout_token="other"))
    tick(NOON + 2 * HOUR)
    assert texts_to(sim, PHONE) == []
    assert len(texts_to(sim, "+12125550999")) == 1  # another customer's order cancels nothing
    runs = {r.trigger_key: r for r in read.runs("abandoned_checkout")}
    assert runs["checkout:tok-1"].skip_reason == "ordered"


def test_a_completed_checkout_update_schedules_nothing(sim, flows, shopify, person, read):
    flows("abandoned_checkout")
    person(PHONE, customer_id=77)
    _abandon(shopify, completed_at=NOON)
    assert read.runs() == []


def test_us_numbers_get_their_one_reminder_within_48_hours_or_never(
    sim, flows, shopify, person, read
):
    flows("abandoned_checkout")
    person(PHONE, customer_id=77)
    _abandon(shopify)
    tick(NOON + timedelta(hours=49))  # the worker was down for two days
    assert texts_to(sim, PHONE) == []
    [run] = read.runs("abandoned_checkout")
    assert (run.status, run.skip_reason) == ("skipped", "expired")


def test_quiet_hours_defer_the_reminder_to_the_morning(sim, flows, shopify, person, read, quiet):
    flows("abandoned_checkout")
    person(PHONE, customer_id=77)
    evening = NOON.replace(hour=1, minute=30)  # 20:30 in New York: due 21:30, in quiet hours
    _abandon(shopify, at=evening)
    tick(evening + HOUR)
    assert texts_to(sim, PHONE) == []
    [run] = read.runs()  # the run waits, so every check runs again at the real send time
    assert run.status == "scheduled" and run.due_at == NOON.replace(hour=13)
    tick(NOON.replace(hour=13, minute=1))  # 08:01 in New York: the sweeper sends it
    assert len(texts_to(sim, PHONE)) == 1
    tick(NOON.replace(hour=13, minute=5))
    assert len(texts_to(sim, PHONE)) == 1


def test_an_opt_out_between_trigger_and_send_stops_it(sim, flows, shopify, person, read, db):
    flows("abandoned_checkout")
    contact = person(PHONE, customer_id=77)
    _abandon(shopify)
    opt_out(db, contact.id)
    tick(NOON + 2 * HOUR)
    assert texts_to(sim, PHONE) == []
    assert read.runs()[0].skip_reason == "opted_out"


def test_an_order_delivered_before_its_checkout_still_cancels_it(sim, flows, shopify, person, read):
    flows("abandoned_checkout")
    person(PHONE, customer_id=None)  # a guest: matched by phone only
    with time_machine.travel(NOON, tick=False):
        order = payloads.order(9001, PHONE, None, checkout_token="tok-1", created_at=NOON)
        shopify.deliver("orders/create", order)
    _abandon(shopify, at=NOON + timedelta(minutes=1))  # Shopify's deliveries out of order
    tick(NOON + 2 * HOUR)
    assert texts_to(sim, PHONE) == []
    assert read.runs()[0].skip_reason == "checkout_completed"
