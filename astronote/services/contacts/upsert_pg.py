"""PostgreSQL fast path of upsert.write_batch: COPY, not row-by-row INSERTs.

The batch usually arrives prepared (contact_copy): ids taken from the sequence
and binary COPY rows for each record, should it be new. One lookup on the
unique index splits it. New contacts are COPYed straight into `contacts` inside
a savepoint, then their tags and consent history (nothing can conflict with a
row that did not exist). Updates go through a temporary staging table: COPY,
one UPDATE ... FROM and one INSERT ... ON CONFLICT for their tags. Should a
phone appear concurrently (a webhook, a merchant) the COPY fails on the unique
constraint, the savepoint is rolled back and the batch takes the generic path,
which resolves such races row by row. Semantics are those of the generic path:
empty cells and missing columns never erase, consent history only for real
changes, first line wins.

Lookups and COPY run on the driver connection: with thousands of rows per
batch, SQLAlchemy's per-row handling would leave the server idle while the
writer thread waits for the GIL behind the parser.
"""

from __future__ import annotations

from psycopg.errors import UniqueViolation
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Integer,
    MetaData,
    Numeric,
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
from astronote.models import ConsentSource, ContactTag
from astronote.services.contacts import upsert_generic as generic
from astronote.services.contacts.copy_rows import (
    CONTACT_COLUMNS,
    EVENT_COLUMNS,
    SIGNATURE,
    TAG_COLUMNS,
    TRAILER,
    PreparedBatch,
    defaults,
    int8,
    prepare,
    row,
    text_field,
    timestamp,
)

FIELDS = generic.UPDATABLE
STAGE_TYPES = {"birth_date": Date, "orders_count": Integer, "amount_spent": Numeric(14, 2)}
# A LATERAL lookup per phone: always the unique index. A plain `phone = ANY(...)`
# with thousands of values is costed as a (parallel) scan of the whole table.
# The phones travel as one comma-joined string: adapting a list of ten thousand
# strings costs the writer more than the server spends on the lookup.
EXISTING = (
    "SELECT c.phone, c.id, c.consent_state, c.last_import_id "
    "FROM unnest(string_to_array(%s, ',')) AS p(phone) CROSS JOIN LATERAL "
    "(SELECT * FROM contacts WHERE shop_id = %s AND phone = p.phone) AS c"
)
stage = Table(
    "contact_import_stage",
    MetaData(),  # not part of the app's schema: never migrated, never reflected
    Column("contact_id", BigInteger),
    Column("changed", Boolean),
    *(Column(name, STAGE_TYPES.get(name, String)) for name in FIELDS),
    Column("consent", String),
    Column("tags", String),  # comma-joined: a tag never contains a comma
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)


def _driver():
    return db.session.connection().connection.driver_connection


def _existing(shop_id: int, phones: list[str]) -> dict[str, tuple]:
    rows = _driver().execute(EXISTING, (",".join(phones), shop_id)).fetchall()
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


def _copy_rows(table: str, columns: tuple[str, ...], rows: bytes) -> None:
    """One binary COPY of rows already encoded (contact_copy)."""
    if rows:
        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
        with _driver().cursor() as cursor, cursor.copy(statement) as copy:
            copy.write(SIGNATURE + rows + TRAILER)


def _merge_updates(shop_id: int, import_id: int, present: set[str], updates: list, now) -> None:
    connection = db.session.connection()
    stage.create(connection)
    rows = (
        (cid, changed, r.first_name, r.last_name, r.email, r.gender, r.birth_date,
         r.orders_count, r.amount_spent, r.consent, ",".join(r.tags) if r.tags else None)
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
    prepared = isinstance(batch, PreparedBatch) and batch.shop_id == shop_id
    if not (prepared and batch.import_id == import_id):
        batch = prepare(shop_id, import_id, evidence, batch)
    found = _existing(shop_id, [r.phone for r in batch])
    fresh, updates = range(len(batch)), []  # the common case: every phone is new
    if found:
        records, updates = generic.classify(batch, found, import_id, outcome)
        position = {r.phone: i for i, r in enumerate(batch)}
        fresh = [position[r.phone] for r in records]
    if fresh:
        columns = CONTACT_COLUMNS + defaults()[0]
        try:
            with db.session.begin_nested():
                _copy_rows("contacts", columns, b"".join(batch.contacts[i] for i in fresh))
        except (UniqueViolation, IntegrityError):
            # A phone was created concurrently since the lookup: resolve row by row.
            outcome.errors.clear()
            generic.write_generic(shop_id, import_id, present, list(batch), evidence, outcome)
            return
    if updates:
        _merge_updates(shop_id, import_id, present, updates, batch.now)
    events = [batch.events[i] for i in fresh]
    shop, source, now = int8(shop_id), text_field(ConsentSource.IMPORT.value), timestamp(batch.now)
    events += [
        row(shop, int8(cid), text_field(r.consent), source,
            text_field(f"{evidence}, line {r.line}"), now)
        for r, cid, changed in updates
        if changed
    ]  # fmt: skip
    _copy_rows("consent_events", EVENT_COLUMNS, b"".join(events))
    _copy_rows("contact_tags", TAG_COLUMNS, b"".join(batch.tags[i] for i in fresh))
    outcome.created, outcome.updated = len(fresh), len(updates)
