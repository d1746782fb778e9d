"""Reads of the rollup: totals, a series and per-source rows for a period.

A period is read as whole months from report_monthly and only its ragged edges (at
most two partial months) from report_daily, both by primary-key range: a shop's two
years are ~1,500 monthly rows plus a few thousand daily ones, never its messages.
A series is daily up to DAILY_SERIES days, monthly beyond (a chart of 730 points is
neither readable nor cheap).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from sqlalchemy import func, select, union_all

from astronote.extensions import db
from astronote.models import Campaign, ReportDaily, ReportMonthly
from astronote.models.report import COUNTERS
from astronote.services.reports.figures import Figures
from astronote.services.reports.periods import Period

t, m = ReportDaily.__table__, ReportMonthly.__table__
SUMS = [func.coalesce(func.sum(t.c[name]), 0).label(name) for name in COUNTERS]
DAILY_SERIES = 92  # days; longer periods chart by month


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def split(period: Period) -> tuple[list[tuple[date, date]], tuple[date, date] | None]:
    """(day ranges read from report_daily, (first, last) month read from report_monthly)."""
    first = period.start if period.start.day == 1 else _next_month(period.start)
    ends_a_month = _next_month(period.end) - timedelta(days=1) == period.end
    last = _month_start(period.end)
    if not ends_a_month:
        last = _month_start(last - timedelta(days=1))
    if last < first:
        return [(period.start, period.end)], None
    edges = []
    if period.start < first:
        edges.append((period.start, first - timedelta(days=1)))
    if _next_month(last) <= period.end:
        edges.append((_next_month(last), period.end))
    return edges, (first, last)


def _filters(table, kind, source_id) -> list:
    conditions = []
    if kind is not None:
        conditions.append(table.c.source_kind == kind)
    if source_id is not None:
        conditions.append(table.c.source_id == source_id)
    return conditions


def rows(shop_id: int, period: Period, kind=None, source_id=None, *extra):
    """The period's rollup rows: (source_kind, source_id, last_day, bucket, counters...),
    `bucket` being the day (daily edges) or the month (whole months)."""
    edges, months = split(period)
    parts = [
        select(
            t.c.source_kind, t.c.source_id, t.c.day.label("last_day"), t.c.day.label("bucket"),
            *(t.c[n] for n in COUNTERS),
        ).where(
            t.c.shop_id == shop_id, t.c.day >= a, t.c.day <= b,
            *_filters(t, kind, source_id), *(c(t) for c in extra),
        )
        for a, b in edges
    ]  # fmt: skip
    if months:
        parts.append(
            select(
                m.c.source_kind, m.c.source_id, m.c.last_day, m.c.month.label("bucket"),
                *(m.c[n] for n in COUNTERS),
            ).where(
                m.c.shop_id == shop_id, m.c.month >= months[0], m.c.month <= months[1],
                *_filters(m, kind, source_id), *(c(m) for c in extra),
            )
        )  # fmt: skip
    return (union_all(*parts) if len(parts) > 1 else parts[0]).subquery("r")


def _sums(r):
    return [func.coalesce(func.sum(r.c[name]), 0).label(name) for name in COUNTERS]


def first_day(shop_id: int, kind: str | None = None, source_id: int | None = None) -> date | None:
    """The shop's (or one source's) first rollup day: where "all time" starts."""
    query = select(func.min(t.c.day)).where(t.c.shop_id == shop_id)
    if kind is not None:
        query = query.where(t.c.source_kind == kind, t.c.source_id == source_id)
    return db.session.execute(query).scalar_one()


def active_days(shop_id: int, kind: str, source_id: int) -> tuple[date | None, date | None]:
    """One source's first and last rollup day (its index: two ends of one range)."""
    query = select(func.min(t.c.day), func.max(t.c.day)).where(
        t.c.shop_id == shop_id, t.c.source_kind == kind, t.c.source_id == source_id
    )
    return tuple(db.session.execute(query).one())


def totals(shop_id: int, period: Period, kind=None, source_id=None) -> Figures:
    r = rows(shop_id, period, kind, source_id)
    return Figures.of(db.session.execute(select(*_sums(r))).one()._mapping)


def monthly(period: Period) -> bool:
    return period.days > DAILY_SERIES


def series(shop_id: int, period: Period, kind=None, source_id=None) -> list[tuple[date, Figures]]:
    """One entry per day (per month for long periods), quiet ones as zeros."""
    if monthly(period):
        r = rows(shop_id, period, kind, source_id)
        query = select(r.c.bucket, *_sums(r)).group_by(r.c.bucket)
        found: dict[date, Figures] = defaultdict(Figures)
        for row in db.session.execute(query):
            found[_month_start(row.bucket)].add(Figures.of(row._mapping))
        buckets, month = [], _month_start(period.start)
        while month <= period.end:
            buckets.append(month)
            month = _next_month(month)
        return [(b, found.get(b) or Figures()) for b in buckets]
    query = (
        select(t.c.day, *SUMS)
        .where(t.c.shop_id == shop_id, t.c.day >= period.start, t.c.day <= period.end)
        .where(*_filters(t, kind, source_id))
        .group_by(t.c.day)
    )
    days_found = {row.day: Figures.of(row._mapping) for row in db.session.execute(query)}
    return [
        (day, days_found.get(day) or Figures())
        for day in (period.start + timedelta(days=n) for n in range(period.days))
    ]


def latest_campaigns(shop_id: int, limit: int) -> list[tuple]:
    """The shop's newest campaigns with their all-time figures: one statement."""
    c = Campaign.__table__
    latest = (
        select(c.c.id, c.c.name, c.c.status)
        .where(c.c.shop_id == shop_id)
        .order_by(c.c.id.desc())
        .limit(limit)
        .subquery("latest")
    )
    sums = (
        select(t.c.source_id, *SUMS)
        .where(
            t.c.shop_id == shop_id,
            t.c.source_kind == "campaign",
            t.c.source_id.in_(select(latest.c.id)),
        )
        .group_by(t.c.source_id)
        .subquery("sums")
    )
    query = (
        select(latest, *(sums.c[n] for n in COUNTERS))
        .select_from(latest.outerjoin(sums, sums.c.source_id == latest.c.id))
        .order_by(latest.c.id.desc())
    )
    return [(row, Figures.of(row._mapping)) for row in db.session.execute(query)]


def campaign_totals(shop_id: int, campaign_ids: list[int]) -> dict[int, Figures]:
    """All-time figures of a few campaigns (the dashboard's latest): one grouped read."""
    if not campaign_ids:
        return {}
    query = (
        select(t.c.source_id, *SUMS)
        .where(
            t.c.shop_id == shop_id,
            t.c.source_kind == "campaign",
            t.c.source_id.in_(campaign_ids),
        )
        .group_by(t.c.source_id)
    )
    return {row.source_id: Figures.of(row._mapping) for row in db.session.execute(query)}
