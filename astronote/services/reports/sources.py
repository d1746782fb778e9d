"""The reports list: per campaign and flow in a period, sorted by a whitelisted column,
names joined in, bounded (the page) or streamed (the CSV)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Float, cast, func, literal, select

from astronote.extensions import db
from astronote.models import Automation, Campaign
from astronote.models.report import COUNTERS
from astronote.services.automations.catalogue import FLOWS
from astronote.services.reports.figures import Figures
from astronote.services.reports.periods import Period
from astronote.services.reports.queries import rows

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


def _sort_key(sort: str, sums: dict, r):
    if sort == "last_day":
        return func.max(r.c.last_day)
    if sort == "delivered_rate":
        return cast(sums["delivered"], Float) / func.nullif(sums["sent"], 0)
    if sort == "ctr":
        base = func.coalesce(func.nullif(sums["delivered"], 0), sums["sent"])
        return cast(sums["unique_clicks"], Float) / func.nullif(base, 0)
    if sort == "revenue":
        return sums["revenue_cents"] - sums["refunds_cents"]
    return sums[sort]


def sources_query(
    shop_id: int, period: Period, sort: str, descending: bool, kind: str = "", limit=None
):
    """Per campaign and flow in the period, sorted by a whitelisted column (SORTS), with
    the campaign's name or the flow's key joined in: one statement."""
    r = rows(shop_id, period, kind or None, None, lambda x: x.c.source_kind != literal("other"))
    sums = {name: func.coalesce(func.sum(r.c[name]), 0) for name in COUNTERS}
    key = _sort_key(sort, sums, r)
    ordered = key.desc().nulls_last() if descending else key.asc().nulls_first()
    grouped = (
        select(
            r.c.source_kind,
            r.c.source_id,
            func.max(r.c.last_day).label("last_day"),
            key.label("sort_key"),
            *(value.label(name) for name, value in sums.items()),
        )
        .group_by(r.c.source_kind, r.c.source_id)
        .order_by(ordered, r.c.source_kind, r.c.source_id.desc())
        .limit(limit)
        .subquery("g")
    )
    c, a = Campaign.__table__, Automation.__table__
    named = grouped.outerjoin(
        c,
        (grouped.c.source_kind == "campaign") & (c.c.id == grouped.c.source_id)
        & (c.c.shop_id == shop_id),
    ).outerjoin(
        a,
        (grouped.c.source_kind == "flow") & (a.c.id == grouped.c.source_id)
        & (a.c.shop_id == shop_id),
    )  # fmt: skip
    outer = grouped.c.sort_key.desc().nulls_last() if descending else grouped.c.sort_key.asc()
    if not descending:
        outer = outer.nulls_first()
    return (
        select(grouped, c.c.name.label("campaign_name"), a.c.flow.label("flow_key"))
        .select_from(named)
        .order_by(outer, grouped.c.source_kind, grouped.c.source_id.desc())
    )


def name_of(row) -> str:
    if row.campaign_name is not None:
        return row.campaign_name
    if row.flow_key is not None:
        return FLOWS[row.flow_key].title if row.flow_key in FLOWS else row.flow_key
    return f"Deleted {row.source_kind} #{row.source_id}"


def sources(shop_id: int, period: Period, sort: str, descending: bool, kind="", limit=100):
    query = sources_query(shop_id, period, sort, descending, kind, limit)
    return [
        SourceRow(r.source_kind, r.source_id, name_of(r), r.last_day, Figures.of(r._mapping))
        for r in db.session.execute(query)
    ]
