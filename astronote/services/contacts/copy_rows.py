"""Binary COPY rows for new contacts, built on the thread that parses the CSV.

An import on PostgreSQL runs two threads: one parses, one writes. The server
does most of the work, but only while the writer feeds it; every millisecond
the writer spends formatting rows (and queuing for the GIL behind the parser)
leaves the server idle. So the parser also formats: it takes ids from the
contacts sequence for the whole batch and encodes each record's contact row,
tag rows and consent-history row in COPY's binary format (cheaper for the
server to read than text, and no slower to build). The writer then only looks
up which phones already exist and sends the rows of the new ones, joined.

Ids taken for rows that turn out to be updates or duplicates are simply never
used: sequences have gaps anyway.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache
from struct import Struct

from psycopg.types.numeric import dump_decimal_to_numeric_binary
from sqlalchemy import text
from sqlalchemy.dialects import postgresql

from astronote.extensions import db
from astronote.models import ConsentSource, ConsentState, Contact, now_utc
from astronote.services.contacts.csv_rows import ContactRecord

CONTACT_COLUMNS = (
    "id", "shop_id", "phone", "first_name", "last_name", "email", "gender", "birth_date",
    "consent_state", "consent_source", "consent_updated_at", "last_import_id",
    "created_at", "updated_at", "orders_count", "amount_spent",
)  # fmt: skip
EVENT_COLUMNS = ("shop_id", "contact_id", "state", "source", "evidence", "occurred_at")
TAG_COLUMNS = ("contact_id", "tag", "shop_id")
# Ids in order; the CTE resolves the sequence once, not once per row.
IDS = text(
    "WITH s AS MATERIALIZED (SELECT pg_get_serial_sequence('contacts', 'id')::regclass AS seq) "
    "SELECT nextval(s.seq) FROM s, generate_series(1, :n) ORDER BY 1"
)
SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # header, no flags, no extension
TRAILER = b"\xff\xff"
NULL = b"\xff\xff\xff\xff"
_LENGTH, _FIELDS = Struct(">i"), Struct(">h")
_INT = {"bigint": Struct(">iq"), "integer": Struct(">ii"), "smallint": Struct(">ih")}
_SIZE = {"bigint": 8, "integer": 4, "smallint": 2}
_EPOCH, _EPOCH_DAY = datetime(2000, 1, 1, tzinfo=UTC), date(2000, 1, 1)  # PostgreSQL's
_MICROSECOND = timedelta(microseconds=1)


def text_field(value: str | None) -> bytes:
    if value is None:
        return NULL
    data = value.encode()
    return _LENGTH.pack(len(data)) + data


def int8(value: int) -> bytes:
    return _INT["bigint"].pack(8, value)


def date_field(value: date | None) -> bytes:
    return NULL if value is None else _INT["integer"].pack(4, (value - _EPOCH_DAY).days)


def int4(value: int) -> bytes:
    return _INT["integer"].pack(4, value)


def numeric(value: Decimal) -> bytes:
    data = dump_decimal_to_numeric_binary(value)  # psycopg's own encoder: base-10000 digits
    return _LENGTH.pack(len(data)) + data


ZERO_ORDERS, ZERO_SPENT = int4(0), numeric(Decimal("0.00"))  # the columns' defaults


def timestamp(value: datetime) -> bytes:
    return _INT["bigint"].pack(8, (value - _EPOCH) // _MICROSECOND)


def row(*fields: bytes) -> bytes:
    return _FIELDS.pack(len(fields)) + b"".join(fields)


def _encode(column, value) -> bytes:
    """A scalar column default in binary COPY form, by the column's PostgreSQL type."""
    name = column.type.compile(dialect=postgresql.dialect()).lower().split("(")[0]
    if value is None:
        return NULL
    if name in _INT:
        return _INT[name].pack(_SIZE[name], int(value))
    if name == "boolean":
        return b"\x00\x00\x00\x01" + (b"\x01" if value else b"\x00")
    if name in ("varchar", "text"):
        return text_field(str(value))
    raise TypeError(f"no binary COPY encoding for default of {column.name} ({name})")


@cache
def defaults() -> tuple[tuple[str, ...], bytes]:
    """Columns COPY would otherwise leave out that carry a Python-side scalar default,
    and their encoded values: what an ORM insert would have written."""
    columns = [
        c
        for c in Contact.__table__.columns
        if c.name not in CONTACT_COLUMNS and c.default is not None and c.default.is_scalar
    ]
    return tuple(c.name for c in columns), b"".join(_encode(c, c.default.arg) for c in columns)


class PreparedBatch(list):
    """A batch of ContactRecords, with an id and binary COPY rows for each should it be new."""

    shop_id: int
    import_id: int
    now: datetime
    contacts: list[bytes]  # one row per record
    tags: list[bytes]  # zero or more rows per record, joined
    events: list[bytes]  # a row when the record carries consent, else b""


def prepare(shop_id: int, import_id: int, evidence: str, records: list[ContactRecord]):
    batch = PreparedBatch(records)
    batch.shop_id, batch.import_id, batch.now = shop_id, import_id, now_utc()
    ids = list(db.session.execute(IDS, {"n": len(records)}).scalars()) if records else []
    extra_columns, extra = defaults()
    fields = _FIELDS.pack(len(CONTACT_COLUMNS) + len(extra_columns))
    now, shop, imported = timestamp(batch.now), int8(shop_id), int8(import_id)
    source, unknown = text_field(ConsentSource.IMPORT.value), ConsentState.NOT_SUBSCRIBED.value
    batch.contacts, batch.tags, batch.events = [], [], []
    for cid, r in zip(ids, records, strict=True):
        contact, consent = int8(cid), r.consent
        batch.contacts.append(
            b"".join((
                fields, contact, shop, text_field(r.phone), text_field(r.first_name),
                text_field(r.last_name), text_field(r.email), text_field(r.gender),
                date_field(r.birth_date), text_field(consent or unknown),
                source if consent else NULL, now if consent else NULL, imported, now, now,
                ZERO_ORDERS if r.orders_count is None else int4(r.orders_count),
                ZERO_SPENT if r.amount_spent is None else numeric(r.amount_spent), extra,
            ))
        )  # fmt: skip
        batch.tags.append(b"".join(row(contact, text_field(tag), shop) for tag in r.tags))
        batch.events.append(
            row(shop, contact, text_field(consent), source,
                text_field(f"{evidence}, line {r.line}"), now)
            if consent else b""
        )  # fmt: skip
    return batch
