"""PostgreSQL fast path of contact_upsert.write_batch: COPY, then set-based merges.

The classified batch is COPYed into a temporary staging table (dropped at
commit), then five statements do the work whatever the batch size: INSERT new
contacts ... ON CONFLICT DO NOTHING, UPDATE the existing ones FROM the stage,
INSERT consent history and tags from the stage joined to contacts. Semantics
are those of the generic path: empty cells and missing columns never erase,
consent history only for real changes, first line wins.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert

from astronote.extensions import db
from astronote.models import ConsentEvent, ConsentSource, ConsentState, ContactTag, now_utc
from astronote.services.contact_upsert import PROFILE_FIELDS, classify, contacts, reclassify_raced

NEW, UPDATE, SKIP = "n", "u", "s"
STAGE_FIELDS = ("line", "kind", "contact_id", "changed", "phone", *PROFILE_FIELDS, "consent", "tags")
stage = Table(
    "contact_import_stage",
    MetaData(),  # not part of the app's schema: never migrated, never reflected
    Column("line", Integer),
    Column("kind", String(1)),
    Column("contact_id", BigInteger),
    Column("changed", Boolean),
    Column("phone", String),
    *(Column(name, String) for name in PROFILE_FIELDS if name != "birth_date"),
    Column("birth_date", Date),
    Column("consent", String),
    Column("tags", String),  # comma-joined: tags never contain a comma
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)


def _stage_row(record, kind: str, contact_id, changed: bool) -> tuple:
    return (record.line, kind, contact_id, changed, record.phone,
            *(getattr(record, name) for name in PROFILE_FIELDS),
            record.consent, ",".join(record.tags) if record.tags else None)


def _copy(rows: list[tuple]) -> None:
    """COPY the rows into the stage on the session's own connection and transaction."""
    driver = db.session.connection().connection.driver_connection
    columns = ", ".join(STAGE_FIELDS)
    with driver.cursor() as cursor, cursor.copy(f"COPY {stage.name} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _insert_new(shop_id: int, import_id: int, now) -> set[str]:
    has_consent = stage.c.consent.is_not(None)
    at = contacts.c.created_at.type
    query = select(
        literal(shop_id, BigInteger()), stage.c.phone, *(stage.c[name] for name in PROFILE_FIELDS),
        func.coalesce(stage.c.consent, ConsentState.NOT_SUBSCRIBED.value),
        case((has_consent, ConsentSource.IMPORT.value)),
        case((has_consent, literal(now, at))),
        literal(import_id, BigInteger()), literal(now, at), literal(now, at),
    ).where(stage.c.kind == NEW).order_by(stage.c.line)
    names = ["shop_id", "phone", *PROFILE_FIELDS, "consent_state", "consent_source",
             "consent_updated_at", "last_import_id", "created_at", "updated_at"]
    stmt = insert(contacts).from_select(names, query)
    stmt = stmt.on_conflict_do_nothing(index_elements=["shop_id", "phone"]).returning(contacts.c.phone)
    return set(db.session.execute(stmt).scalars())


def _update_existing(import_id: int, present: set[str], now) -> None:
    values = {name: func.coalesce(stage.c[name], contacts.c[name])
              for name in PROFILE_FIELDS if name in present}
    values["last_import_id"] = import_id
    values["updated_at"] = now
    if "consent" in present:
        changed = stage.c.changed
        values["consent_state"] = case((changed, stage.c.consent), else_=contacts.c.consent_state)
        values["consent_source"] = case((changed, ConsentSource.IMPORT.value),
                                        else_=contacts.c.consent_source)
        values["consent_updated_at"] = case((changed, literal(now, contacts.c.created_at.type)),
                                            else_=contacts.c.consent_updated_at)
    stmt = update(contacts).where(contacts.c.id == stage.c.contact_id, stage.c.kind == UPDATE)
    db.session.execute(stmt.values(values))


def _history_and_tags(shop_id: int, evidence: str, now) -> None:
    joined = stage.join(contacts, and_(contacts.c.shop_id == shop_id,
                                       contacts.c.phone == stage.c.phone))
    written = stage.c.kind.in_((NEW, UPDATE))
    events = select(
        literal(shop_id, BigInteger()), contacts.c.id, stage.c.consent,
        literal(ConsentSource.IMPORT.value), literal(f"{evidence}, line ") + cast(stage.c.line, String),
        literal(now, ConsentEvent.__table__.c.occurred_at.type),
    ).select_from(joined).where(written, stage.c.changed).order_by(stage.c.line)
    db.session.execute(
        ConsentEvent.__table__.insert().from_select(
            ["shop_id", "contact_id", "state", "source", "evidence", "occurred_at"], events
        )
    )
    tags = select(
        contacts.c.id, func.unnest(func.string_to_array(stage.c.tags, ",")),
        literal(shop_id, BigInteger()),
    ).select_from(joined).where(written, stage.c.tags.is_not(None))
    stmt = insert(ContactTag.__table__).from_select(["contact_id", "tag", "shop_id"], tags)
    db.session.execute(stmt.on_conflict_do_nothing())


def write_staged(shop_id: int, import_id: int, present: set[str], batch, evidence: str,
                 outcome) -> None:
    from astronote.services.contact_upsert import existing

    now = now_utc()
    fresh, updates = classify(batch, existing(shop_id, [r.phone for r in batch]), import_id,
                              outcome)
    connection = db.session.connection()
    stage.create(connection)
    _copy([_stage_row(r, NEW, None, r.consent is not None) for r in fresh]
          + [_stage_row(r, UPDATE, cid, changed) for r, cid, changed in updates])
    inserted = _insert_new(shop_id, import_id, now) if fresh else set()
    raced = [r for r in fresh if r.phone not in inserted]
    if raced:  # created concurrently since the lookup: updates, or duplicates to skip
        more = reclassify_raced(shop_id, import_id, raced, outcome)
        kinds = {r.phone: (UPDATE, cid, changed) for r, cid, changed in more}
        db.session.execute(
            update(stage).where(stage.c.phone == bindparam("p"))
            .values(kind=bindparam("k"), contact_id=bindparam("cid"), changed=bindparam("ch")),
            [dict(zip(("p", "k", "cid", "ch"), (r.phone, *kinds.get(r.phone, (SKIP, None, False)))))
             for r in raced],
        )
        updates += more
    if updates:
        _update_existing(import_id, present, now)
    _history_and_tags(shop_id, evidence, now)
    stage.drop(connection)
    outcome.created, outcome.updated = len(inserted), len(updates)
