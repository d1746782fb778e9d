"""Reads of the rollup: totals, a daily series and per-source rows for a period.

Every query is an indexed range of the shop's rollup rows: (shop, day) for the shop's
totals and series, (shop, kind, source, day) for one source. A shop's whole history is
days x sources rows, not its messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Float, cast, func, literal, select

from astronote.extensions import db
from astronote.models import Automation, Campaign, ReportDaily
from astronote.models.report import COUNTERS
from astronote.services.automations.catalogue import FLOWS
from astronote.services.reports.figures import Figures
from astronote.services.reports.periods import Period

t = ReportDaily.__table__
SUMS = [func.coalesce(func.sum(t.c[name]), 0).label(name) for name in COUNTERS]


def _where(shop_id: int, period: Period, kind: str | None = None, source_id: int | None = None):
    conditions = [t.c.shop_id == shop_id, t.c.day >= period.start, t.c.day <= period.end]
    if kind is not None:
        conditions.append(t.c.source_kind == kind)
    if source_id is not None:
        conditions.append(t.c.source_id == source_id)
    return conditions


def first_day(shop_id: int, kind: str | None = None, source_id: int | None = None) -> date | None:
    """The shop's (or one source's) first rollup day: where "all time" starts."""
    query = select(func.min(t.c.day)).where(t.c.shop_id == shop_id)
    if kind is not None:
        query = query.where(t.c.source_kind == kind, t.c.source_id == source_id)
    return db.session.execute(query).scalar_one()


def totals(shop_id: int, period: Period, kind=None, source_id=None) -> Figures:
    row = db.session.execute(select(*SUMS).where(*_where(shop_id, period, kind, source_id)))
    return Figures.of(row.one()._mapping)


def series(shop_id: int, period: Period, kind=None, source_id=None) -> list[tuple[date, Figures]]:
    """One entry per day of the period, days without activity as zeros."""
    query = (
        select(t.c.day, *SUMS)
        .where(*_where(shop_id, period, kind, source_id))
        .group_by(t.c.day)
        .order_by(t.c.day)
    )
    found = {row.day: Figures.of(row._mapping) for row in db.session.execute(query)}
    return [
        (day, found.get(day) or Figures())
        for day in (period.start + timedelta(days=n) for n in range(period.days))
    ]


SORTS = {
    "last_day": "Latest activity",
    "sent": "Sent",
    "delivered_rate": "Delivered %",
    "failed": "Failed",
    "clicks": "Clicks",
    "ctr": "CTR",
    "revenue": "Revenue",
    "opt_outs": "Opt-outs",
    "credits": "Cost (credits)",
}
KINDS = {"": "Campaigns and flows", "campaign": "Campaigns", "flow": "Flows"}


@dataclass
class SourceRow:
    kind: str
    source_id: int
    name: str
    last_day: date
    figures: Figures


def _sort_key(sort: str, sums: dict):
    if sort == "last_day":
        return func.max(t.c.day)
    if sort == "delivered_rate":
        return cast(sums["delivered"], Float) / func.nullif(sums["sent"], 0)
    if sort == "ctr":
        base = func.coalesce(func.nullif(sums["delivered"], 0), sums["sent"])
        return cast(sums["unique_clicks"], Float) / func.nullif(base, 0)
    if sort == "revenue":
        return sums["revenue_cents"] - sums["refunds_cents"]
    return sums[sort]


def sources_query(shop_id: int, period: Period, sort: str, descending: bool, kind: str = ""):
    """Per campaign and flow in the period, sorted by a whitelisted column (SORTS)."""
    sums = {name: func.coalesce(func.sum(t.c[name]), 0) for name in COUNTERS}
    key = _sort_key(sort, sums)
    ordered = key.desc().nulls_last() if descending else key.asc().nulls_first()
    query = (
        select(
            t.c.source_kind,
            t.c.source_id,
            func.max(t.c.day).label("last_day"),
            *(value.label(name) for name, value in sums.items()),
        )
        .where(*_where(shop_id, period, kind or None), t.c.source_kind != literal("other"))
        .group_by(t.c.source_kind, t.c.source_id)
    )
    return query.order_by(ordered, t.c.source_kind, t.c.source_id.desc())


def sources(shop_id: int, period: Period, sort: str, descending: bool, kind="", limit=100):
    rows = db.session.execute(sources_query(shop_id, period, sort, descending, kind).limit(limit))
    rows = rows.all()
    names = source_names(shop_id, [(r.source_kind, r.source_id) for r in rows])
    return [
        SourceRow(
            r.source_kind,
            r.source_id,
            names.get((r.source_kind, r.source_id), f"Deleted {r.source_kind} #{r.source_id}"),
            r.last_day,
            Figures.of(r._mapping),
        )
        for r in rows
    ]


def source_names(shop_id: int, keys) -> dict[tuple[str, int], str]:
    """Campaign names and flow titles for (kind, id) pairs: two keyed reads, shop-scoped."""
    campaigns = [i for k, i in keys if k == "campaign"]
    flows = [i for k, i in keys if k == "flow"]
    names: dict[tuple[str, int], str] = {}
    if campaigns:
        query = select(Campaign.id, Campaign.name).where(
            Campaign.shop_id == shop_id, Campaign.id.in_(campaigns)
        )
        names.update({("campaign", i): name for i, name in db.session.execute(query)})
    if flows:
        query = select(Automation.id, Automation.flow).where(
            Automation.shop_id == shop_id, Automation.id.in_(flows)
        )
        for i, flow in db.session.execute(query):
            names[("flow", i)] = FLOWS[flow].title if flow in FLOWS else flow
    return names


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
