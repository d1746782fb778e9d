"""Order confirmation (transactional) end to end: signed orders/create → SMS in the simulator."""

from datetime import timedelta

import time_machine

from astronote.tasks.automations import dispatch_due_runs
from tests.automations.conftest import NOON, texts_to
from tests.fakes import shopify_webhooks as payloads

PHONE = "+12125550123"


def test_an_order_is_confirmed_once_with_its_number_and_total(sim, flows, shopify, person, read):
    flows("order_confirmation")
    person(PHONE, customer_id=77)
    with time_machine.travel(NOON, tick=False):
        shopify.deliver(
            "orders/create", payloads.order(9001, PHONE, 77, number=1042, total="59.90")
        )
    [text] = texts_to(sim, PHONE)
    assert "#1042" in text and "59.90 USD" in text and "{{" not in text
    [run] = read.runs("order_confirmation")
    assert run.status == "queued" and run.trigger_key == "order:9001"
    message = read.message(run.message_id)
    assert message.kind == "transactional" and message.status == "accepted"
    assert message.credits == 1
    # Shopify retries the same delivery, then sends the same event under a new id.
    shopify.redeliver_last()
    shopify.resend_as_new()
    dispatch_due_runs()
    assert len(texts_to(sim, PHONE)) == 1
    assert len(read.runs("order_confirmation")) == 1


def test_transactional_goes_to_a_contact_who_never_subscribed_but_not_after_stop(
    sim, flows, shopify, person, read
):
    flows("order_confirmation")
    person(PHONE, consent="not_subscribed", customer_id=77)
    person("+12125550124", consent="unsubscribed", customer_id=78)
    shopify.deliver("orders/create", payloads.order(9001, PHONE, 77))
    shopify.deliver("orders/create", payloads.order(9002, "+12125550124", 78))
    assert len(texts_to(sim, PHONE)) == 1
    assert texts_to(sim, "+12125550124") == []
    stopped = read.runs("order_confirmation")[1]
    assert (stopped.status, stopped.skip_reason, stopped.message_id) == (
        "skipped",
        "opted_out",
        None,
    )


def test_a_flow_switched_off_schedules_nothing(sim, flows, shopify, person, read):
    flows("cross_sell")  # another flow on: rows exist, confirmation off
    person(PHONE, customer_id=77)
    shopify.deliver("orders/create", payloads.order(9001, PHONE, 77))
    assert texts_to(sim, PHONE) == []
    assert [r.flow for r in read.runs()] == ["cross_sell"]


def test_an_opt_out_between_trigger_and_send_stops_it(
    sim, flows, shopify, person, read, asleep, db
):
    flows("order_confirmation")
    contact = person(PHONE, customer_id=77)
    with time_machine.travel(NOON, tick=False):
        shopify.deliver("orders/create", payloads.order(9001, PHONE, 77))
        assert read.runs()[0].status == "scheduled"  # the worker has not got to it yet
        contact = db.session.get(type(contact), contact.id)
        contact.consent_state = "unsubscribed"
        db.session.commit()
    with time_machine.travel(NOON + timedelta(minutes=1), tick=False):
        dispatch_due_runs()
    assert texts_to(sim, PHONE) == []
    assert read.runs()[0].skip_reason == "opted_out"


def test_quiet_hours_exempt_transactional_unless_the_shop_says_otherwise(
    sim, flows, shopify, person, read, quiet, db
):
    flows("order_confirmation")
    person(PHONE, customer_id=77)
    night = NOON.replace(hour=7)  # 02:00 in New York
    with time_machine.travel(night, tick=False):
        shopify.deliver("orders/create", payloads.order(9001, PHONE, 77))
        assert len(texts_to(sim, PHONE)) == 1  # exempt by default
        quiet.transactional_ignores_quiet_hours = False
        db.session.commit()
        shopify.deliver("orders/create", payloads.order(9002, PHONE, 77, number=1002))
        assert len(texts_to(sim, PHONE)) == 1
        deferred = read.runs()[1]
        assert deferred.status == "scheduled" and deferred.due_at.hour == 13  # 08:00 NY
