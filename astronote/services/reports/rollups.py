"""The rollup write API: add deltas to a (shop, local day, source) row in one upsert.

See the package docstring for the contract. Both functions flush only (the caller
commits) and group their input in Python first, so a batch of any size is one
INSERT ... ON CONFLICT DO UPDATE SET col = col + excluded.col.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Integer, String, select, true

from astronote.extensions import db
from astronote.models import ReportDaily
from astronote.models.report import COUNTERS, SOURCE_KINDS
from astronote.services.reports import days
from astronote.services.sql import insert, values_table

table = ReportDaily.__table__
KEY = ("shop_id", "day", "source_kind", "source_id")
ALIASES = {"automation": "flow"}  # services/links names flows by their table
COLUMNS = {
    "shop_id": Integer,
    "day": Date,
    "source_kind": String,
    "source_id": BigInteger,
    **{name: BigInteger for name in COUNTERS},
}


def _kind(source_kind: str) -> str:
    kind = ALIASES.get(source_kind, source_kind)
    if kind not in SOURCE_KINDS:
        raise ValueError(f"unknown source kind {source_kind!r}")
    return kind


def _checked(deltas: dict) -> dict[str, int]:
    unknown = set(deltas) - set(COUNTERS)
    if unknown:
        raise ValueError(f"unknown counters {sorted(unknown)}")
    return {name: int(value) for name, value in deltas.items() if value}


def upsert(grouped: dict[tuple, dict[str, int]], counters=COUNTERS) -> None:
    """Add grouped deltas, {(shop, day, kind, id): {counter: delta}}: one statement."""
    rows = [
        (*key, *(deltas.get(name, 0) for name in COUNTERS))
        for key, deltas in sorted(grouped.items())  # one lock order for every writer
        if any(deltas.values())
    ]
    if not rows:
        return
    v = values_table("d", COLUMNS, rows)
    statement = insert(table).from_select(
        list(COLUMNS), select(*(v.c[name] for name in COLUMNS)).where(true())
    )
    db.session.execute(add_on_conflict(statement, counters))


def add_on_conflict(statement, counters=COUNTERS):
    """ON CONFLICT (key) DO UPDATE SET col = col + excluded.col for `counters`."""
    return statement.on_conflict_do_update(
        index_elements=[table.c[name] for name in KEY],
        set_={name: table.c[name] + statement.excluded[name] for name in counters},
    )


def bump(shop_id: int, at: datetime | date, source_kind: str, source_id: int | None, **deltas):
    """Add `deltas` (counter=int, may be negative) to one source's day. Flushes only."""
    bump_many(
        [dict(shop_id=shop_id, at=at, source_kind=source_kind, source_id=source_id, **deltas)]
    )


def bump_many(rows) -> None:
    """Set-based bump: rows are mappings with shop_id, at (a UTC datetime, or the local
    date already), source_kind, source_id and counter deltas. Flushes only."""
    rows = list(rows)
    zone = days.zones(r["shop_id"] for r in rows if not _is_day(r["at"]))
    grouped: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        row = dict(row)
        shop_id, at = row.pop("shop_id"), row.pop("at")
        kind, source_id = _kind(row.pop("source_kind")), row.pop("source_id") or 0
        day = at if _is_day(at) else days.day_of(at, zone.get(shop_id))
        for name, value in _checked(row).items():
            grouped[(shop_id, day, kind, 0 if kind == "other" else source_id)][name] += value
    upsert(grouped)


def _is_day(at) -> bool:
    return isinstance(at, date) and not isinstance(at, datetime)
