"""Exactly once: two racing dispatchers, a replayed sweeper, a lost send task, and a shop
that runs out of credits in the middle of a batch."""

from collections import Counter
from datetime import timedelta

import time_machine

from astronote.extensions import db as _db
from astronote.services import credits
from astronote.services.automations import triggers
from astronote.tasks import automations as automation_tasks
from tests.automations.conftest import NOON, race, texts_to
from tests.fakes import shopify_webhooks as payloads

PHONE = "+12125550123"


def _due_runs(funded, person, n, flow="order_confirmation"):
    contacts = [person(f"+1212555{2000 + i:04d}") for i in range(n)]
    for i, contact in enumerate(contacts):
        triggers.schedule(
            funded.id, flow, f"order:{i}", contact.id, context={"order_number": f"#{i}"}
        )
    _db.session.commit()
    return contacts


def test_two_racing_dispatchers_send_each_run_once(app, sim, flows, funded, person, read, asleep):
    flows("order_confirmation")
    contacts = _due_runs(funded, person, 60)

    def worker():
        for _ in range(3):
            automation_tasks.dispatch_due_runs.call_local()

    race(app, 2, worker)
    runs = read.runs()
    assert {r.status for r in runs} == {"queued"}
    assert len({r.message_id for r in runs}) == 60
    assert len(read.messages()) == 60
    assert Counter(m["destination"] for m in sim.accepted) == Counter(
        {c.phone: 1 for c in contacts}
    )


def test_a_lost_send_task_is_swept_once(sim, flows, shopify, person, read, monkeypatch):
    flows("order_confirmation")
    person(PHONE, customer_id=77)
    lost = []
    monkeypatch.setattr(automation_tasks, "send_single", lambda message_id: lost.append(message_id))
    with time_machine.travel(NOON, tick=False):
        shopify.deliver("orders/create", payloads.order(9001, PHONE, 77))
    monkeypatch.undo()
    assert len(lost) == 1 and texts_to(sim, PHONE) == []
    with time_machine.travel(NOON + timedelta(minutes=1), tick=False):
        automation_tasks.sweep_waiting_messages()  # within the grace: left to its task
    assert texts_to(sim, PHONE) == []
    with time_machine.travel(NOON + timedelta(minutes=3), tick=False):
        automation_tasks.sweep_waiting_messages()
        automation_tasks.sweep_waiting_messages()  # a replayed sweep
        from astronote.tasks.campaigns import send_single

        send_single(lost[0])  # and the lost task turning up after all
    assert len(texts_to(sim, PHONE)) == 1
    assert read.message(lost[0]).status == "accepted"


def test_runs_that_do_not_fit_the_credits_are_skipped(sim, flows, funded, person, read, asleep):
    flows("order_confirmation")
    _due_runs(funded, person, 3)
    available = credits.balance(funded.id).available
    credits.reserve(funded.id, available - 2, "test-hold")  # room for two one-credit messages
    _db.session.commit()
    automation_tasks.dispatch_due_runs()
    runs = read.runs()
    assert Counter((r.status, r.skip_reason) for r in runs) == Counter(
        {("queued", None): 2, ("skipped", "no_credits"): 1}
    )
    assert len(sim.accepted) == 2
    assert credits.ledger_totals(funded.id) == credits.balance(funded.id)


def test_a_message_costs_its_destinations_price(sim, flows, funded, person, read):
    flows("order_confirmation")
    greek = person("+306912345678")  # Greece: 3 credits a segment
    triggers.schedule(funded.id, "order_confirmation", "order:1", greek.id, context={})
    _db.session.commit()  # wakes the dispatcher
    [run] = read.runs()
    message = read.message(run.message_id)
    assert message.segments == 1 and message.credits == 3
    assert texts_to(sim, greek.phone) != []


def test_a_run_that_cannot_be_sent_is_skipped_alone(sim, flows, funded, person, read, monkeypatch):
    from astronote.services.sending import single

    flows("order_confirmation")
    _due_runs(funded, person, 3)  # asleep is not used: the commit already sent them
    assert len(sim.accepted) == 3
    real = single.text_for

    def broken_for_one(shop, contact, body, kind, discount_code=None, context=None):
        if context.get("order_number") == "#x1":
            raise RuntimeError("a bug in rendering")
        return real(shop, contact, body, kind, discount_code, context)

    monkeypatch.setattr(single, "text_for", broken_for_one)
    for i in range(3):
        contact = person(f"+1212555{4000 + i:04d}")
        triggers.schedule(
            funded.id, "order_confirmation", f"o{i}", contact.id, context={"order_number": f"#x{i}"}
        )
    _db.session.commit()
    outcomes = Counter((r.status, r.skip_reason) for r in read.runs())
    assert outcomes == Counter({("queued", None): 5, ("skipped", "error"): 1})
    assert len(sim.accepted) == 5


def test_the_webhook_sweeper_replaying_a_lost_delivery_sends_once(
    sim, flows, shopify, person, read, monkeypatch
):
    from astronote.tasks import periodic
    from astronote.views import webhooks as webhook_view

    flows("order_confirmation")
    person(PHONE, customer_id=77)
    monkeypatch.setattr(webhook_view, "enqueue_safely", lambda task, *args: False)  # lost
    with time_machine.travel(NOON, tick=False):
        shopify.deliver("orders/create", payloads.order(9001, PHONE, 77))
        shopify.redeliver_last()  # Shopify retried: recorded once
    monkeypatch.undo()
    assert texts_to(sim, PHONE) == []
    with time_machine.travel(NOON + timedelta(minutes=3), tick=False):
        periodic.sweep_webhook_events()
        periodic.sweep_webhook_events()  # the sweep runs again
        shopify.resend_as_new()  # and the event arrives once more under a new id
    assert len(texts_to(sim, PHONE)) == 1
    assert len(read.runs()) == 1


def test_a_message_stranded_for_days_expires_instead_of_going(
    sim, flows, shopify, person, read, monkeypatch, funded
):
    flows("order_confirmation")
    person(PHONE, customer_id=77)
    monkeypatch.setattr(automation_tasks, "send_single", lambda message_id: None)  # lost
    with time_machine.travel(NOON, tick=False):
        shopify.deliver("orders/create", payloads.order(9001, PHONE, 77))
    monkeypatch.undo()
    held = credits.balance(funded.id).reserved
    assert held == 1
    with time_machine.travel(NOON + timedelta(days=3, minutes=1), tick=False):
        automation_tasks.sweep_waiting_messages()
    assert texts_to(sim, PHONE) == []
    message = read.message(read.runs()[0].message_id)
    assert (message.status, message.skip_reason) == ("skipped", "expired")
    assert credits.balance(funded.id).reserved == 0
    assert credits.ledger_totals(funded.id) == credits.balance(funded.id)
