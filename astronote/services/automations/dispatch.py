"""The dispatcher: due runs become messages, exactly once, through the one-off send path.

A batch of due runs is claimed in one transaction: FOR UPDATE SKIP LOCKED keeps
PostgreSQL workers apart, and a conditional UPDATE (still `scheduled`) RETURNING the
ids keeps SQLite workers apart (its writers are serialised: a rival's claim, once
committed, leaves nothing for ours to match). Each claimed run is then checked again
(`guards`) and queued as `single.queue_single` would (consent, credits reserved), or
ended with its reason: a batch at a time (`queueing`), or set-based in SQL for flows
that need nothing from their trigger (`bulk`). The batch commits, then the caller
enqueues the messages' send tasks (`tasks.automations`).

A run's status: scheduled → queued (message_id) | skipped | cancelled (skip_reason).
Transaction owner: commits each batch.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError

from astronote.extensions import db
from astronote.models import Automation, AutomationRun, RunStatus, Shop, now_utc
from astronote.services.automations import bulk, queueing
from astronote.services.credits import InsufficientCredits
from astronote.services.sql import in_list

runs = AutomationRun.__table__
log = logging.getLogger("astronote.automations")
BATCH = 1000


def dispatch(now: datetime | None = None, shop_id: int | None = None, limit: int = BATCH):
    """Move one batch of due runs on; returns the ids of the messages to send (committed)."""
    now = now or now_utc()
    claimed = _claim(now, shop_id, limit)
    if not claimed:
        db.session.commit()
        return []
    try:
        message_ids = _decide(claimed, now)
        db.session.commit()
        return message_ids
    except DBAPIError:
        raise  # the database's fault (connection, deadlock): the whole batch goes again later
    except Exception as exc:
        # The shop ran out of credits mid-batch, or one run cannot be sent: go again one run
        # per transaction, so only the runs at fault are skipped, never the whole batch.
        db.session.rollback()
        if not isinstance(exc, InsufficientCredits):
            log.warning("automation batch failed (%s); going run by run", exc, exc_info=True)
        return [m for run_id in claimed for m in _one(run_id, now)]


def dispatch_all(now: datetime | None = None, shop_id: int | None = None, batches: int = 50):
    """Batches until nothing is due (or `batches` ran); yields each batch's message ids."""
    for _ in range(batches):
        message_ids = dispatch(now, shop_id)
        yield message_ids
        if not message_ids and not _any_due(now or now_utc(), shop_id):
            return


def _due(now: datetime, shop_id: int | None):
    where = (runs.c.status == RunStatus.SCHEDULED.value) & (runs.c.due_at <= now)
    return where & (runs.c.shop_id == shop_id) if shop_id is not None else where


def _any_due(now: datetime, shop_id: int | None) -> bool:
    query = select(runs.c.id).where(_due(now, shop_id)).limit(1)
    found = db.session.execute(query).first() is not None
    db.session.commit()
    return found


def _claim(now: datetime, shop_id: int | None, limit: int) -> list[int]:
    query = (
        select(runs.c.id)
        .where(_due(now, shop_id))
        .order_by(runs.c.due_at, runs.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list(db.session.execute(query).scalars())
    if not ids:
        return []
    claim = (
        update(runs)
        .where(in_list(runs.c.id, ids), runs.c.status == RunStatus.SCHEDULED.value)
        .values(finished_at=now)
        .returning(runs.c.id)
    )
    return sorted(db.session.execute(claim).scalars())


def _one(run_id: int, now: datetime) -> list[int]:
    """One run in its own transaction; if its message does not fit the credits, skipped."""
    claim = (
        update(runs)
        .where(runs.c.id == run_id, runs.c.status == RunStatus.SCHEDULED.value)
        .values(finished_at=now)
    )
    if db.session.execute(claim).rowcount != 1:
        db.session.commit()
        return []
    try:
        message_ids = _decide([run_id], now)
        db.session.commit()
        return message_ids
    except DBAPIError:
        raise
    except Exception as exc:
        db.session.rollback()
        reason = "no_credits"
        if not isinstance(exc, InsufficientCredits):  # a bug or bad data: never retried blind
            log.exception("automation run %s could not be sent", run_id)
            reason = "error"
        _finish(run_id, RunStatus.SKIPPED.value, now, reason=reason, only_scheduled=True)
        db.session.commit()
        return []


def _decide(run_ids: list[int], now: datetime) -> list[int]:
    """Check and queue the claimed runs (loaded in a handful of queries). Flush only.

    Runs of flows that need nothing from their trigger go set-based, per shop and flow
    (`bulk`); the others (order, checkout, shipment placeholders) are rendered in Python
    and written a batch at a time (`queueing`).
    """
    session = db.session
    fresh = {"populate_existing": True}  # never a copy an earlier read left in the session
    query = select(AutomationRun).where(in_list(AutomationRun.id, run_ids)).order_by(runs.c.id)
    batch = list(session.execute(query.execution_options(**fresh)).scalars())
    shop_ids = {r.shop_id for r in batch}
    shops = {s.id: s for s in session.execute(select(Shop).where(Shop.id.in_(shop_ids))).scalars()}
    flows = session.execute(select(Automation).where(Automation.shop_id.in_(shop_ids))).scalars()
    automations = {(a.shop_id, a.flow): a for a in flows}
    groups: dict[tuple[int, str], list[int]] = {}
    singles = []
    for run in batch:
        if run.flow in bulk.FLOWS and bulk.eligible(shops.get(run.shop_id)):
            groups.setdefault((run.shop_id, run.flow), []).append(run.id)
        else:
            singles.append(run)
    message_ids = []
    for (shop_id, flow), ids in groups.items():
        automation = automations.get((shop_id, flow))
        message_ids += bulk.dispatch_group(shops[shop_id], automation, flow, ids, now)
    return sorted(message_ids + queueing.queue_runs(singles, shops, automations, now))


def _finish(run_id: int, status: str, now, reason=None, message_id=None, only_scheduled=False):
    stmt = update(runs).where(runs.c.id == run_id)
    if only_scheduled:
        stmt = stmt.where(runs.c.status == RunStatus.SCHEDULED.value)
    values = {"status": status, "skip_reason": reason, "message_id": message_id}
    db.session.execute(stmt.values(finished_at=now, **values))
