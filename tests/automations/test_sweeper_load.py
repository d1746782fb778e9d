"""The one-off sweeper does not enqueue a waiting message again every minute while its
task is still pending in a backlog; a task lost for longer is enqueued again."""

from datetime import timedelta

import time_machine

from astronote.tasks import automations as automation_tasks
from tests.automations.conftest import NOON, texts_to
from tests.fakes import shopify_webhooks as payloads

PHONE = "+12125550123"
MINUTE = timedelta(minutes=1)


def test_a_pending_message_is_enqueued_once_per_ten_minutes(
    sim, flows, shopify, person, read, monkeypatch
):
    flows("order_confirmation")
    person(PHONE, customer_id=77)
    pending = []  # the queue holds the tasks (a backlog): nothing runs them yet
    monkeypatch.setattr(automation_tasks, "send_single", lambda message_id: pending.append(1))
    with time_machine.travel(NOON, tick=False):
        shopify.deliver("orders/create", payloads.order(9001, PHONE, 77))
    assert len(pending) == 1  # the wake-up's own task
    for minute in range(3, 13):
        with time_machine.travel(NOON + minute * MINUTE, tick=False):
            automation_tasks.sweep_waiting_messages()
    assert len(pending) == 2  # once at 3 minutes, not again before 13
    with time_machine.travel(NOON + 14 * MINUTE, tick=False):
        automation_tasks.sweep_waiting_messages()
    assert len(pending) == 3  # still queued ten minutes on: that task was lost too
    assert texts_to(sim, PHONE) == []
