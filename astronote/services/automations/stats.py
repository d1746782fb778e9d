"""What each flow did: triggered and skipped from the runs rollup, the rest from report_daily.

A run is one trigger. It ends as a message (queued, then sent, delivered or failed), or
skipped/cancelled with a reason; a message can itself be skipped at send time (frequency
cap, an opt-out in between, too late). Sent, delivered, failed and credits are the
reports rollup's (`report_daily`, source 'flow', days in the shop's zone). Triggered and
skipped come from `automation_run_daily` (migration 0018: database triggers keep runs per
UTC day, flow, status and reason, and the runs whose message was skipped at send time).
A period is the shop's last N calendar days, today included, as on the reports pages: its
whole UTC days are read from that rollup, the hours before the first UTC midnight (the
local day starts off UTC midnight) from the runs index, so the figures stay exact.

Cost (bench/automations_stats.py, PostgreSQL, 1,000,000 runs in one shop): a few hundred
rollup rows plus at most a day of runs from the index; see docs/PERFORMANCE.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select, text

from astronote.extensions import db
from astronote.models import (
    PENDING_STATES,
    Automation,
    AutomationRun,
    Message,
    MessageStatus,
    ReportDaily,
    RunStatus,
    Shop,
)
from astronote.models.flow_stats import AutomationRunDaily
from astronote.services.automations.catalogue import FLOWS
from astronote.services.reports import days as local_days
from astronote.services.sql import on_postgres
from astronote.services.timezones import zone_of

runs, messages = AutomationRun.__table__, Message.__table__
automations, daily = Automation.__table__, ReportDaily.__table__
run_daily = AutomationRunDaily.__table__
ROLLUP_COUNTERS = ("sent", "delivered", "failed", "credits")
SKIPPED_MESSAGES = (MessageStatus.SKIPPED, MessageStatus.CANCELLED)
PERIODS = {"7": 7, "30": 30, "90": 90, "all": None}
DEFAULT_PERIOD = "30"
PENDING = tuple(s.value for s in PENDING_STATES)
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


def first_day(shop: Shop, period: str) -> date | None:
    """The period's first local day (None: all time); "7" is today and the 6 days before."""
    days = PERIODS.get(period)
    return local_days.today(shop.timezone) - timedelta(days - 1) if days else None


def _start_of(shop: Shop, day: date | None) -> datetime | None:
    """The UTC moment the local day begins: runs are kept by their UTC creation time."""
    if day is None:
        return None
    return datetime.combine(day, time(), zone_of(shop.timezone)[0]).astimezone(UTC)


def _edge(start: datetime) -> tuple[date, datetime, datetime, int]:
    """Where the rollup's UTC days meet the local period: (first rollup day, edge from,
    edge to, sign). The shorter side of the UTC day the period starts in is counted from
    the runs index: the hours after `start` added (sign 1), or the hours of that UTC day
    before `start` taken away from the whole day (sign -1). At most 12 hours of runs."""
    midnight = _utc_midnight(start.date())
    if start - midnight <= timedelta(hours=12):
        return start.date(), midnight, start, -1
    following = midnight + timedelta(days=1)
    return following.date(), start, following, 1


def _utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def _flow_rows(shop_id: int, day: date | None):
    """Sent, delivered, failed and credits per flow from the rollup (a few rows a day)."""
    query = (
        select(
            automations.c.flow,
            *(func.coalesce(func.sum(daily.c[name]), 0) for name in ROLLUP_COUNTERS),
        )
        .select_from(daily.join(automations, automations.c.id == daily.c.source_id))
        .where(daily.c.shop_id == shop_id, daily.c.source_kind == "flow")
        .where(automations.c.shop_id == shop_id)
        .group_by(automations.c.flow)
    )
    return query.where(daily.c.day >= day) if day is not None else query


def _rolled_up_runs(shop_id: int, day: date | None):
    """Runs by flow, stage and how they stand, from whole UTC days of the runs rollup."""
    columns = (run_daily.c.flow, run_daily.c.stage, run_daily.c.status, run_daily.c.skip_reason)
    total = func.sum(run_daily.c.runs)
    query = (
        select(*columns, total)
        .where(run_daily.c.shop_id == shop_id)
        .group_by(*columns)
        .having(total != 0)
    )
    return query.where(run_daily.c.day >= day) if day is not None else query


def _run_rows(shop_id: int, start: datetime, end: datetime):
    """Runs created in [start, end) by flow and how they ended: the outcome index alone."""
    columns = (runs.c.flow, runs.c.status, runs.c.skip_reason)
    return (
        select(*columns, func.count())
        .where(runs.c.shop_id == shop_id, runs.c.created_at >= start, runs.c.created_at < end)
        .group_by(*columns)
    )


def _send_time_skips(shop_id: int, start: datetime, end: datetime):
    """Runs created in [start, end) whose one-off message was skipped or cancelled."""
    return (
        select(runs.c.flow, messages.c.status, messages.c.skip_reason, func.count())
        .select_from(runs.join(messages, messages.c.id == runs.c.message_id))
        .where(runs.c.shop_id == shop_id, runs.c.created_at >= start, runs.c.created_at < end)
        .where(messages.c.shop_id == shop_id, messages.c.status.in_(SKIPPED_MESSAGES))
        .group_by(runs.c.flow, messages.c.status, messages.c.skip_reason)
    )


def _count(result: dict[str, FlowStats], flow, stage, status, reason, n) -> None:
    if flow not in result:
        return
    if stage == "run":
        result[flow].triggered += n
        if status not in (RunStatus.SKIPPED, RunStatus.CANCELLED):
            return
    result[flow].skip(reason or status, n)


def _run_counts(shop_id: int, start: datetime | None):
    """(flow, stage, status, reason, n) rows: the rollup's whole days, then the edge."""
    if start is None:
        yield from db.session.execute(_rolled_up_runs(shop_id, None))
        return
    day, since, until, sign = _edge(start)
    yield from db.session.execute(_rolled_up_runs(shop_id, day))
    if since < until:
        for flow, status, reason, n in db.session.execute(_run_rows(shop_id, since, until)):
            yield flow, "run", status, reason, sign * n
        for flow, status, reason, n in db.session.execute(_send_time_skips(shop_id, since, until)):
            yield flow, "send", status, reason, sign * n


def outcomes(shop: Shop, period: str = "all") -> dict[str, FlowStats]:
    """Per flow, in catalogue order: what it triggered, sent and skipped in the period."""
    result = {key: FlowStats() for key in FLOWS}
    if on_postgres():  # small reads: compiling them or starting workers costs more
        db.session.execute(text("SET LOCAL jit = off"))
        db.session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
    day = first_day(shop, period)
    for flow, sent, delivered, failed, credits in db.session.execute(_flow_rows(shop.id, day)):
        if flow in result:
            totals = (int(sent), int(delivered), int(failed), int(credits))
            stats = result[flow]
            stats.sent, stats.delivered, stats.failed, stats.credits = totals
    for flow, stage, status, reason, n in _run_counts(shop.id, _start_of(shop, day)):
        _count(result, flow, stage, status, reason, int(n))
    for stats in result.values():  # an edge taken away can leave a reason at nought
        stats.reasons = {reason: n for reason, n in stats.reasons.items() if n}
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
