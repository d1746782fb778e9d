"""One batch of clicks in a few set-based statements: the raw rows, the per-message and
per-source rollups, and the reports' daily rollup.

Unique clicks are decided by the database, not by a read before the write: the
per-message upsert returns each row's new total, and a total equal to this batch's
count means the row was just created, i.e. the message's first click. Concurrent
writers (two web processes) are serialised per row by the upsert itself.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, Integer, String, select, text, true

from astronote.extensions import db
from astronote.models import LinkClick, LinkSourceStats, Message, MessageClick, now_utc
from astronote.models.base import UTCDateTime
from astronote.services.reports import rollups as daily
from astronote.services.sql import in_list, insert, on_postgres, values_table

if TYPE_CHECKING:
    from astronote.services.links.clicks import Click

BATCH = 2000  # rows per statement: within SQLite's parameter limit (32,766)
NOT_COUNTED_KINDS = ("test",)  # a merchant trying their own test message


def _valid(batch: list[Click]) -> tuple[list[Click], dict[int, int | None]]:
    """The clicks whose message still exists in the set's shop, and each one's contact."""
    ids = sorted({c.message_id for c in batch})
    found: dict[int, tuple[int, int | None, str]] = {}
    for start in range(0, len(ids), BATCH):
        query = select(Message.id, Message.shop_id, Message.contact_id, Message.kind).where(
            in_list(Message.id, ids[start : start + BATCH])
        )
        found.update({row[0]: row[1:] for row in db.session.execute(query)})
    kept = [
        c
        for c in batch
        if c.message_id in found
        and found[c.message_id][0] == c.shop_id
        and found[c.message_id][2] not in NOT_COUNTED_KINDS
    ]
    return kept, {i: row[1] for i, row in found.items()}


def _chunks(rows: list):
    for start in range(0, len(rows), BATCH):
        yield rows[start : start + BATCH]


def _insert_from(table, name: str, columns: dict, rows: list[tuple]):
    """INSERT INTO table (columns) SELECT * FROM (rows): one parameter per column on
    PostgreSQL (unnest of arrays), so the statement compiles once for any batch size."""
    v = values_table(name, columns, rows)
    # SQLite reads "SELECT ... FROM v ON CONFLICT" as a join without the WHERE.
    chosen = select(*(v.c[key] for key in columns)).where(true())
    return insert(table).from_select(list(columns), chosen)


MESSAGE_COLUMNS = {
    "message_id": BigInteger,
    "shop_id": Integer,
    "contact_id": BigInteger,
    "source_kind": String,
    "source_id": BigInteger,
    "clicks": Integer,
    "first_clicked_at": UTCDateTime,
    "last_clicked_at": UTCDateTime,
}
CLICK_COLUMNS = {
    "shop_id": Integer,
    "message_id": BigInteger,
    "link_set_id": BigInteger,
    "link_index": Integer,
    "contact_id": BigInteger,
    "clicked_at": UTCDateTime,
}


def _per_message(clicks: list[Click], contacts: dict[int, int | None]) -> set[int]:
    """Upsert the per-message totals; returns the messages clicked for the first time."""
    grouped: dict[int, list[Click]] = defaultdict(list)
    for c in clicks:
        grouped[c.message_id].append(c)
    rows = [
        (
            message_id,
            group[0].shop_id,
            contacts.get(message_id),
            group[0].source_kind,
            group[0].source_id,
            len(group),
            min(c.at for c in group),
            max(c.at for c in group),
        )
        for message_id, group in sorted(grouped.items())  # one lock order for every writer
    ]
    table = MessageClick.__table__
    first = set()
    for part in _chunks(rows):
        statement = _insert_from(table, "m", MESSAGE_COLUMNS, part)
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.message_id],
            set_={
                "clicks": table.c.clicks + statement.excluded.clicks,
                "last_clicked_at": statement.excluded.last_clicked_at,
            },
        ).returning(table.c.message_id, table.c.clicks)
        for message_id, total in db.session.execute(statement):
            if total == len(grouped[message_id]):
                first.add(message_id)
    return first


def _per_source(clicks: list[Click], first: set[int]) -> None:
    totals: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    source_of = {}
    for c in clicks:
        source_of[c.message_id] = key = (c.shop_id, c.source_kind, c.source_id)
        totals[key][0] += 1
    for message_id in first:
        totals[source_of[message_id]][1] += 1
    table, now = LinkSourceStats.__table__, now_utc()
    statement = insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.shop_id, table.c.source_kind, table.c.source_id],
        set_={
            "clicks": table.c.clicks + statement.excluded.clicks,
            "unique_clicks": table.c.unique_clicks + statement.excluded.unique_clicks,
            "updated_at": statement.excluded.updated_at,
        },
    )
    rows = [
        dict(shop_id=s, source_kind=k, source_id=i, clicks=n, unique_clicks=u, updated_at=now)
        for (s, k, i), (n, u) in sorted(totals.items())
    ]
    db.session.execute(statement, rows)  # a handful of rows: executemany of one statement


def _per_day(clicks: list[Click], first: set[int]) -> None:
    """The reports' daily rollup (services/reports): clicks on the click's local day, a
    unique click on the day of the message's first click (its earliest in the batch).

    Grouped by minute first: every zone's offset is a whole number of minutes, so a
    minute never straddles a local midnight, and a batch becomes a row or two."""
    earliest: dict[int, Click] = {}
    for c in sorted((c for c in clicks if c.message_id in first), key=lambda c: c.at):
        earliest.setdefault(c.message_id, c)
    counts: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for column, chosen in ((0, clicks), (1, earliest.values())):
        for c in chosen:
            minute = c.at.replace(second=0, microsecond=0)
            counts[(c.shop_id, c.source_kind, c.source_id, minute)][column] += 1
    daily.bump_many(
        dict(shop_id=s, source_kind=k, source_id=i, at=at, clicks=n, unique_clicks=u)
        for (s, k, i, at), (n, u) in counts.items()
    )


def write(batch: list[Click]) -> int:
    """Write a batch of clicks and its rollups in the caller's transaction (it commits)."""
    if on_postgres():
        # Analytics: not worth a disk flush per batch; a crash loses at most this batch.
        db.session.execute(text("SET LOCAL synchronous_commit = off"))
    clicks, contacts = _valid(batch)
    if not clicks:
        return 0
    raw = [
        (c.shop_id, c.message_id, c.set_id, c.index, contacts.get(c.message_id), c.at)
        for c in clicks
    ]
    for part in _chunks(raw):
        db.session.execute(_insert_from(LinkClick.__table__, "c", CLICK_COLUMNS, part))
    first = _per_message(clicks, contacts)
    _per_source(clicks, first)
    _per_day(clicks, first)
    return len(clicks)
