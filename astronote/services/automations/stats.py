"""What each flow did, read set-based: one GROUP BY over the shop's runs and their messages.

A run is one trigger. It ends as a message (queued, then sent, delivered or failed), or
skipped/cancelled with a reason; a message can itself be skipped at send time (frequency
cap, an opt-out in between). Sent means handed to the carrier (`sent_at`, when credits
are consumed); credits are the message's own price, NULL meaning one per segment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, select, text

from astronote.extensions import db
from astronote.models import PENDING_STATES, AutomationRun, Message, MessageStatus, RunStatus, Shop
from astronote.models import now_utc as now
from astronote.services.automations.catalogue import FLOWS
from astronote.services.sql import on_postgres

runs, messages = AutomationRun.__table__, Message.__table__
PERIODS = {"7": 7, "30": 30, "90": 90, "all": None}
DEFAULT_PERIOD = "30"
PENDING = tuple(s.value for s in PENDING_STATES)
SENT_STATES = (MessageStatus.ACCEPTED, MessageStatus.DELIVERED, MessageStatus.UNKNOWN)
REASONS = {  # run reasons (services/automations/guards.py, dispatch.py) and message ones
    "frequency_cap": "Frequency cap",
    "unsubscribed": "Unsubscribed before sending",
    "not_subscribed": "Not subscribed",
    "opted_out": "Opted out",
    "not_sent": "Never sent (refunded)",
    "redacted": "Customer data erased",
    "no_credits": "Not enough credits",
    "no_contact": "Contact deleted",
    "expired": "Too late to send",
    "ordered": "Customer ordered meanwhile",
    "checkout_completed": "Checkout completed",
    "flow_off": "Flow switched off",
    "shop_inactive": "App uninstalled",
    "error": "Could not be queued",
    "removed": "Message removed",
    "cancelled": "Cancelled",
}


def reason_label(reason: str) -> str:
    return REASONS.get(reason) or reason.replace("_", " ").capitalize()


@dataclass
class FlowStats:
    triggered: int = 0
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    skipped: int = 0
    credits: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def delivery_rate(self) -> int | None:
        """Whole percent of sent messages delivered; None before anything was sent."""
        return self.delivered * 100 // self.sent if self.sent else None

    def skip(self, reason: str, n: int) -> None:
        self.skipped += n
        self.reasons[reason] = self.reasons.get(reason, 0) + n


@dataclass
class Waiting:
    count: int = 0
    next_due: datetime | None = None


def since(period: str) -> datetime | None:
    days = PERIODS.get(period)
    return now() - timedelta(days=days) if days else None


def _message_of_run(shop_id: int, start: datetime | None):
    """The run's one-off message. The shop and one-off conditions change no result; they
    let the planner skip campaign messages and other shops' rows. With a period, only
    messages from the period's first one on can match: a primary-key range, not a scan."""
    condition = and_(
        messages.c.id == runs.c.message_id,
        messages.c.shop_id == shop_id,
        messages.c.campaign_id.is_(None),
    )
    if start is None:
        return condition
    period = runs.alias("period_runs")  # its own scan: not correlated with the outer one
    first = select(func.min(period.c.message_id)).where(
        period.c.shop_id == shop_id, period.c.created_at >= start
    )
    return and_(condition, messages.c.id >= first.scalar_subquery())


def _outcome_query(shop_id: int, start: datetime | None):
    sent = case((messages.c.sent_at.is_not(None), 1), else_=0).label("sent")
    price = func.coalesce(messages.c.credits, messages.c.segments)
    run_columns = (runs.c.flow, runs.c.status, runs.c.skip_reason)
    columns = (*run_columns, messages.c.status, messages.c.skip_reason, sent)
    query = (
        select(*columns, func.count(), func.coalesce(func.sum(price), 0))
        .select_from(runs.outerjoin(messages, _message_of_run(shop_id, start)))
        .where(runs.c.shop_id == shop_id)
        .group_by(*columns)
    )
    return query.where(runs.c.created_at >= start) if start is not None else query


def _count(stats: FlowStats, row) -> None:
    flow, run_status, run_reason, status, reason, sent, n, price = row
    stats.triggered += n
    if run_status in (RunStatus.SKIPPED, RunStatus.CANCELLED):
        stats.skip(run_reason or run_status, n)
    elif run_status != RunStatus.QUEUED or status in PENDING:
        return  # still waiting: counted by `waiting`
    elif status is None:
        stats.skip("removed", n)  # erased with the customer's data
    elif status in (MessageStatus.SKIPPED, MessageStatus.CANCELLED):
        stats.skip(reason or status, n)
    if sent:
        stats.sent += n
        stats.credits += price
    elif status in SENT_STATES:
        stats.sent += n  # unknown before the provider answered: it may have gone
    stats.delivered += n if status == MessageStatus.DELIVERED else 0
    stats.failed += n if status == MessageStatus.FAILED else 0


def outcomes(shop: Shop, period: str = "all") -> dict[str, FlowStats]:
    """Per flow, in catalogue order: the runs triggered in the period and how they ended."""
    result = {key: FlowStats() for key in FLOWS}
    if on_postgres():  # JIT compiling this aggregate cost ~300 ms of ~1 s at 1M runs
        db.session.execute(text("SET LOCAL jit = off"))
    for row in db.session.execute(_outcome_query(shop.id, since(period))):
        if row[0] in result:
            _count(result[row[0]], row)
    return result


def waiting(shop: Shop) -> dict[str, Waiting]:
    """Per flow, what goes next: runs not yet due, and their messages not yet sent.

    Two small reads: scheduled runs (the partial due index holds only those), and queued
    runs whose one-off message still waits (a quiet-hours deferral, a worker's queue)."""
    scheduled = (
        select(runs.c.flow, func.count(), func.min(runs.c.due_at))
        .where(runs.c.shop_id == shop.id, runs.c.status == RunStatus.SCHEDULED)
        .group_by(runs.c.flow)
    )
    held = (
        select(runs.c.flow, func.count())
        .select_from(runs.join(messages, messages.c.id == runs.c.message_id))
        .where(runs.c.shop_id == shop.id, runs.c.status == RunStatus.QUEUED)
        .where(messages.c.shop_id == shop.id, messages.c.campaign_id.is_(None))
        .where(messages.c.status.in_(PENDING))
        .group_by(runs.c.flow)
    )
    result = {key: Waiting() for key in FLOWS}
    for flow, count, due in db.session.execute(scheduled):
        if flow in result:
            result[flow] = Waiting(count, due)
    for flow, count in db.session.execute(held):
        if flow in result:
            result[flow].count += count
    return result
