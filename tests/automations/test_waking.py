"""The wake-up: enqueued after the commit that scheduled a run due now, never before it
and never after a rollback; a lost wake-up is caught by the every-minute dispatcher."""

from datetime import timedelta

import time_machine

from astronote.services.automations import triggers, waking
from astronote.tasks import automations as automation_tasks
from tests.automations.conftest import NOON, texts_to


def test_woken_only_after_the_commit(flows, funded, person, db, monkeypatch):
    flows("order_confirmation", "cross_sell")
    contact = person()
    woken = []
    monkeypatch.setattr(waking, "wake", lambda shop_ids: woken.append(shop_ids))
    triggers.schedule(funded.id, "order_confirmation", "order:1", contact.id)
    assert woken == []  # not while the run is uncommitted: a worker would not see it
    db.session.commit()
    assert woken == [[funded.id]]
    triggers.schedule(funded.id, "order_confirmation", "order:2", contact.id)
    db.session.rollback()
    db.session.commit()
    assert woken == [[funded.id]]  # a rolled-back trigger wakes nobody
    triggers.schedule(funded.id, "cross_sell", "order:3", contact.id)  # due in 14 days
    db.session.commit()
    assert woken == [[funded.id]]


def test_a_failing_queue_never_fails_the_commit(sim, flows, funded, person, db, monkeypatch):
    flows("order_confirmation")
    contact = person()

    def queue_down(task, *args):
        raise ConnectionError("redis is down")

    monkeypatch.setattr("astronote.tasks.enqueue_safely", queue_down)
    with time_machine.travel(NOON, tick=False):
        triggers.schedule(funded.id, "order_confirmation", "order:1", contact.id)
        db.session.commit()  # the wake-up fails: logged, the commit stands
    monkeypatch.undo()
    assert texts_to(sim, contact.phone) == []
    with time_machine.travel(NOON + timedelta(minutes=1), tick=False):
        automation_tasks.dispatch_due_runs()  # the every-minute pass picks it up
    assert len(texts_to(sim, contact.phone)) == 1
