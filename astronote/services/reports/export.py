"""CSV of the reports list: every campaign and flow of the period, streamed in chunks.

Names are the merchant's own text, so formulas are neutralised (CSV injection); the
numbers are plain (money in major units, rates as percentages with one decimal).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from astronote.extensions import db
from astronote.models import Shop
from astronote.services.contacts.export import csv_safe
from astronote.services.reports import sources
from astronote.services.reports.figures import Figures, money_plain
from astronote.services.reports.periods import Period

CHUNK = 500


def _line(values) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue()


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}"


def headers(currency: str) -> list[str]:
    return [
        "type", "id", "name", "last_activity", "sent", "delivered", "delivered_pct", "failed",
        "clicks", "unique_clicks", "ctr_pct", "orders", f"revenue_{currency.lower()}",
        f"refunds_{currency.lower()}", "opt_outs", "cost_credits",
    ]  # fmt: skip


def _values(kind: str, source_id: int, name: str, last_day, f: Figures, currency: str) -> list:
    return [
        kind, source_id, csv_safe(name), last_day.isoformat(), f.sent, f.delivered,
        _rate(f.delivery_rate), f.failed, f.clicks, f.unique_clicks, _rate(f.ctr), f.orders,
        money_plain(f.revenue, currency), money_plain(f.refunds_cents, currency), f.opt_outs,
        f.credits,
    ]  # fmt: skip


def rows(shop: Shop, period: Period, sort: str, descending: bool, kind: str) -> Iterator[str]:
    yield _line(headers(shop.currency))
    query = sources.sources_query(shop.id, period, sort, descending, kind)
    result = db.session.execute(query.execution_options(yield_per=CHUNK))
    for r in result:
        name, figures = sources.name_of(r), Figures.of(r._mapping)
        yield _line(_values(r.source_kind, r.source_id, name, r.last_day, figures, shop.currency))
