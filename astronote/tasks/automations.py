"""Automation tasks: wake-ups, the every-minute dispatcher and sweeper, the hourly scans.

Due times live in `automation_runs` (and `messages.not_before`), not in Huey's schedule:
whatever the queue loses in a restart, the periodic tasks find again.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from huey import crontab

from astronote.extensions import db
from astronote.models import now_utc
from astronote.services.automations import dispatch, scans
from astronote.services.sending import single as single_send
from astronote.tasks import app_periodic_task, app_task, enqueue_safely
from astronote.tasks.campaigns import send_single

log = logging.getLogger("astronote.automations")
SWEEP_GRACE = timedelta(minutes=2)
# A backlog of waiting messages older than the grace would otherwise be enqueued again
# every minute until its tasks ran: this worker's enqueues are remembered for a while
# (sends are exactly once anyway; this only spares the queue). A message still queued
# after that had its task lost and goes again. Per process, bounded by the sweep's limit.
REENQUEUE_AFTER = timedelta(minutes=10)
_enqueued: dict[int, object] = {}


def _run(shop_id: int | None) -> int:
    sent = 0
    for message_ids in dispatch.dispatch_all(shop_id=shop_id):
        for message_id in message_ids:  # each batch is committed before its sends go
            enqueue_safely(send_single, message_id)
        sent += len(message_ids)
    return sent


@app_task(retries=2, retry_delay=10)
def dispatch_shop(shop_id: int) -> int:
    """Woken after a commit that scheduled a run due now (services/automations/waking)."""
    return _run(shop_id)


@app_periodic_task(crontab(minute="*"))
def dispatch_due_runs() -> int:
    """Every minute: every shop's due runs (delays, restarts, lost wake-ups)."""
    return _run(None)


@app_periodic_task(crontab(minute="*"))
def sweep_waiting_messages() -> int:
    """Every minute: one-off messages still queued once due (quiet hours over, lost task);
    those days late are expired instead."""
    now = now_utc()
    expired = single_send.expire_stale(now)
    db.session.commit()
    if expired:
        log.warning("%s one-off messages expired unsent", expired)
    ids = single_send.waiting_ids(now, SWEEP_GRACE)
    db.session.commit()
    _forget_outside(now - REENQUEUE_AFTER, now)
    ids = [i for i in ids if i not in _enqueued]
    for message_id in ids:
        if enqueue_safely(send_single, message_id):
            _enqueued[message_id] = now
    return len(ids)


def _forget_outside(start, end) -> None:
    """Keep only the enqueues in [start, end] (the clock may also go back: tests, NTP)."""
    for message_id in [i for i, at in _enqueued.items() if not start <= at <= end]:
        del _enqueued[message_id]


@app_periodic_task(crontab(minute="5"))
def run_daily_scans() -> int:
    """Hourly (idempotent): win-back, birthdays (each at its shop's local hour), imports."""
    total = 0
    for shop_id in scans.shops_to_scan():
        try:
            total += sum(scans.run_daily(shop_id).values())
            db.session.commit()  # runs due now wake the dispatcher (waking)
        except Exception:
            db.session.rollback()
            log.exception("daily automation scans failed for shop %s", shop_id)
    return total
