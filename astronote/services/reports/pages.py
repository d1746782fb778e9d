"""What the dashboard and the report pages show, assembled from the rollup reads.

Views call one function here per page; the bench calls the same functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from astronote.errors import ValidationFailed
from astronote.models import Automation, Campaign, Shop
from astronote.services import credits
from astronote.services.automations.catalogue import FLOWS
from astronote.services.contacts import counts as contact_counts
from astronote.services.messaging import inbox
from astronote.services.reports import charts, periods, queries, sources
from astronote.services.reports.figures import Figures, money_plain
from astronote.services.scoped import get_owned

LATEST_CAMPAIGNS = 5
LIST_LIMIT = 100


@dataclass
class ReportPage:
    period: periods.Period
    totals: Figures
    charts: list[charts.Chart]
    rows: list[sources.SourceRow] = field(default_factory=list)
    sort: str = "last_day"
    descending: bool = True
    kind: str = ""
    source: Campaign | Automation | None = None
    title: str = ""
    extra: dict = field(default_factory=dict)


def _charts(shop: Shop, period, kind=None, source_id=None) -> tuple[list[charts.Chart], Figures]:
    """Messages and clicks, and revenue, per day or month: the same series the tables
    hold; and the period's totals, their sum (the series covers the period exactly)."""
    daily = queries.series(shop.id, period, kind, source_id)
    totals = Figures()
    for _, figures in daily:
        totals.add(figures)
    days = [d for d, _ in daily]
    monthly = queries.monthly(period)
    per = "month" if monthly else "day"
    messages = charts.line_chart(
        "messages-chart",
        f"Messages and clicks per {per}",
        days,
        {
            "Sent": [f.sent for _, f in daily],
            "Delivered": [f.delivered for _, f in daily],
            "Failed": [f.failed for _, f in daily],
            "Unique clicks": [f.unique_clicks for _, f in daily],
        },
        zone=shop.timezone,
        y_title="Messages",
        monthly=monthly,
    )
    revenue = charts.line_chart(
        "revenue-chart",
        f"Attributed revenue per {per} ({shop.currency})",
        days,
        {"Revenue": [float(money_plain(f.revenue, shop.currency)) for _, f in daily]},
        zone=shop.timezone,
        y_title=f"Revenue ({shop.currency})",
        fmt=lambda v: f"{v:,.2f}",
        integers=False,
        first_style=2,
        monthly=monthly,
    )
    return [messages, revenue], totals


def period_of(shop: Shop, args, kind=None, source_id=None, first=None) -> periods.Period:
    if args.get("period") == "all" and first is None:
        first = queries.first_day(shop.id, kind, source_id)
    return periods.parse(args, shop.timezone, first)


def dashboard(shop: Shop, args) -> ReportPage:
    """The home page: the period's figures and charts, latest campaigns, unread replies."""
    first = queries.first_day(shop.id)
    period = period_of(shop, args, first=first)
    latest = queries.latest_campaigns(shop.id, LATEST_CAMPAIGNS)
    contacts = contact_counts.totals(shop.id)
    shown, totals = _charts(shop, period)
    return ReportPage(
        period,
        totals,
        shown,
        extra={
            "latest": latest,
            "unread": inbox.unread_total(shop),
            "balance": credits.balance(shop.id),
            "contacts": contacts,
            "new_shop": contacts["all"] == 0 or first is None,
        },
    )


def parse_list(args) -> tuple[str, bool, str]:
    """Sorting and the kind filter of the reports list; unknown values are field errors."""
    errors = {}
    sort = args.get("sort") or "last_day"
    if sort not in sources.SORTS:
        errors["sort"] = "Sort by one of the table's columns."
    direction = args.get("dir") or "desc"
    if direction not in ("asc", "desc"):
        errors["dir"] = "Sort ascending (asc) or descending (desc)."
    kind = args.get("kind") or ""
    if kind not in sources.KINDS:
        errors["kind"] = "Show campaigns, flows, or both."
    if errors:
        raise ValidationFailed(errors)
    return sort, direction == "desc", kind


def report_list(shop: Shop, args) -> ReportPage:
    period = period_of(shop, args)
    sort, descending, kind = parse_list(args)
    rows = sources.sources(shop.id, period, sort, descending, kind, LIST_LIMIT)
    shown, totals = _charts(shop, period, kind or None)
    page = ReportPage(period, totals, shown)
    page.rows, page.sort, page.descending, page.kind = rows, sort, descending, kind
    return page


def source_report(shop: Shop, kind: str, source_id: int, args) -> ReportPage:
    """One campaign's or flow's report; another shop's id is not found (404)."""
    if kind == "campaign":
        source = get_owned(Campaign, shop.id, source_id, "campaign")
        title = source.name
    else:
        source = get_owned(Automation, shop.id, source_id, "flow")
        title = FLOWS[source.flow].title if source.flow in FLOWS else source.flow
    args = args if args.get("period") else {**args, "period": "all"}
    first, last = queries.active_days(shop.id, kind, source_id)
    period = periods.parse(args, shop.timezone, first, last)  # all time: its active days
    shown, totals = _charts(shop, period, kind, source_id)
    page = ReportPage(period, totals, shown)
    page.kind, page.source, page.title = kind, source, title
    return page


def campaign_figures(shop_id: int, campaign_id: int) -> Figures:
    """A campaign's all-time figures (its page shows the same as its report)."""
    return queries.campaign_totals(shop_id, [campaign_id]).get(campaign_id) or Figures()
