"""PostgreSQL fast path of contact_upsert.write_batch: COPY, not row-by-row INSERTs.

New contacts get ids from the table's sequence and are COPYed straight into
`contacts` inside a savepoint; their tags and consent history are COPYed too
(nothing can conflict with a row that did not exist). Updates go through a
temporary staging table: COPY, then one UPDATE ... FROM and one INSERT ...
ON CONFLICT for their tags. Should a phone appear concurrently (a webhook, a
merchant) the COPY fails on the unique constraint, the savepoint is rolled back
and the batch takes the generic path, which resolves such races row by row.
Semantics are those of the generic path: empty cells and missing columns never
erase, consent history only for real changes, first line wins.

The lookups run on the driver connection: with thousands of phones per batch,
SQLAlchemy's per-row result handling would starve the server while the parser
thread holds the GIL.
"""

from __future__ import annotations

from functools import cache

from psycopg.errors import UniqueViolation
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    MetaData,
    String,
    Table,
    case,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError

from astronote.extensions import db
from astronote.models import ConsentEvent, ConsentSource, ConsentState, ContactTag, now_utc
from astronote.services import contact_upsert as generic

FIELDS = generic.PROFILE_FIELDS
NEW_CONTACT = (
    "id", "shop_id", "phone", "first_name", "last_name", "email", "gender", "birth_date",
    "consent_state", "consent_source", "consent_updated_at", "last_import_id",
    "created_at", "updated_at",
)  # fmt: skip
EVENT = ("shop_id", "contact_id", "state", "source", "evidence", "occurred_at")
# A LATERAL lookup per phone: always the unique index. A plain `phone = ANY(...)`
# with thousands of values is costed as a (parallel) scan of the whole table.
EXISTING = (
    "SELECT c.phone, c.id, c.consent_state, c.last_import_id "
    "FROM unnest(%s::text[]) AS p(phone) CROSS JOIN LATERAL "
    "(SELECT * FROM contacts WHERE shop_id = %s AND phone = p.phone) AS c"
)
# Ids for new contacts, in order. The CTE resolves the sequence once, not once per row.
IDS = (
    "WITH s AS MATERIALIZED (SELECT pg_get_serial_sequence('contacts', 'id')::regclass AS seq) "
    "SELECT nextval(s.seq) FROM s, generate_series(1, %s) ORDER BY 1"
)
stage = Table(
    "contact_import_stage",
    MetaData(),  # not part of the app's schema: never migrated, never reflected
    Column("contact_id", BigInteger),
    Column("changed", Boolean),
    *(Column(name, Date if name == "birth_date" else String) for name in FIELDS),
    Column("consent", String),
    Column("tags", String),  # comma-joined: a tag never contains a comma
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)


def _driver():
    return db.session.connection().connection.driver_connection


def _existing(shop_id: int, phones: list[str]) -> dict[str, tuple]:
    rows = _driver().execute(EXISTING, (phones, shop_id)).fetchall()
    return {row[0]: row[1:] for row in rows}


def _copy(table: Table, columns: tuple[str, ...], rows) -> None:
    """Binary COPY on the session's own connection, inside its transaction.

    Binary, because text COPY spends more CPU formatting and parsing timestamps
    and dates than on anything else in the row.
    """
    dialect = postgresql.dialect()
    types = [table.c[name].type.compile(dialect=dialect).lower().split("(")[0] for name in columns]
    statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
    with _driver().cursor() as cursor, cursor.copy(statement) as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


@cache
def _scalar_defaults() -> dict:
    """Python-side scalar defaults an ORM insert would add for columns COPY leaves out."""
    return {
        c.name: c.default.arg
        for c in generic.contacts.columns
        if c.name not in NEW_CONTACT and c.default is not None and c.default.is_scalar
    }


def _copy_new(shop_id: int, import_id: int, fresh: list, now) -> list[int]:
    ids = [row[0] for row in _driver().execute(IDS, (len(fresh),))]
    extra = _scalar_defaults()
    defaults = tuple(extra.values())
    source, unknown = ConsentSource.IMPORT.value, ConsentState.NOT_SUBSCRIBED.value
    rows = (
        (cid, shop_id, r.phone, r.first_name, r.last_name, r.email, r.gender, r.birth_date,
         r.consent or unknown, source if r.consent else None, now if r.consent else None,
         import_id, now, now, *defaults)
        for cid, r in zip(ids, fresh, strict=True)
    )  # fmt: skip
    _copy(generic.contacts, NEW_CONTACT + tuple(extra), rows)
    return ids


def _merge_updates(shop_id: int, import_id: int, present: set[str], updates: list, now) -> None:
    connection = db.session.connection()
    stage.create(connection)
    rows = (
        (cid, changed, r.first_name, r.last_name, r.email, r.gender, r.birth_date, r.consent,
         ",".join(r.tags) if r.tags else None)
        for r, cid, changed in updates
    )  # fmt: skip
    _copy(stage, tuple(c.name for c in stage.columns), rows)
    contacts = generic.contacts
    values = {
        name: func.coalesce(stage.c[name], contacts.c[name]) for name in FIELDS if name in present
    }
    values["last_import_id"] = import_id
    values["updated_at"] = now
    if "consent" in present:
        changed, at = stage.c.changed, literal(now, contacts.c.updated_at.type)
        values["consent_state"] = case((changed, stage.c.consent), else_=contacts.c.consent_state)
        values["consent_source"] = case(
            (changed, ConsentSource.IMPORT.value), else_=contacts.c.consent_source
        )
        values["consent_updated_at"] = case((changed, at), else_=contacts.c.consent_updated_at)
    db.session.execute(update(contacts).where(contacts.c.id == stage.c.contact_id).values(values))
    tags = select(
        stage.c.contact_id,
        func.unnest(func.string_to_array(stage.c.tags, ",")),
        literal(shop_id, BigInteger()),
    ).where(stage.c.tags.is_not(None))
    stmt = postgresql.insert(ContactTag.__table__).from_select(
        ["contact_id", "tag", "shop_id"], tags
    )
    db.session.execute(stmt.on_conflict_do_nothing())
    stage.drop(connection)


def write_staged(shop_id, import_id, present, batch, evidence, outcome) -> None:
    now = now_utc()
    found = _existing(shop_id, [r.phone for r in batch])
    fresh, updates = generic.classify(batch, found, import_id, outcome)
    ids: list[int] = []
    if fresh:
        try:
            with db.session.begin_nested():
                ids = _copy_new(shop_id, import_id, fresh, now)
        except (UniqueViolation, IntegrityError):
            # A phone was created concurrently since the lookup: resolve row by row.
            outcome.errors.clear()
            generic.write_generic(shop_id, import_id, present, batch, evidence, outcome)
            return
    if updates:
        _merge_updates(shop_id, import_id, present, updates, now)
    created = list(zip(ids, fresh, strict=True))
    changes = [(cid, r) for cid, r in created if r.consent is not None]
    changes += [(cid, r) for r, cid, changed in updates if changed]
    changes.sort(key=lambda change: change[1].line)
    source = ConsentSource.IMPORT.value
    events = ((shop_id, cid, r.consent, source, f"{evidence}, line {r.line}", now)
              for cid, r in changes)  # fmt: skip
    _copy(ConsentEvent.__table__, EVENT, events)
    tags = ((cid, tag, shop_id) for cid, r in created for tag in r.tags)
    _copy(ContactTag.__table__, ("contact_id", "tag", "shop_id"), tags)
    outcome.created, outcome.updated = len(fresh), len(updates)
