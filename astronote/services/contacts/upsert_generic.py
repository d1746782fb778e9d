"""The portable way to write a batch of imported contacts, and the classification both
backends share: one lookup sorts the batch into new rows, updates, and phones this
import already wrote. An executemany INSERT ... ON CONFLICT, an UPDATE and bulk
inserts for consent history and tags then write it; `upsert_pg` does the same
work with COPY. No per-row ORM objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import bindparam, func, select, update

from astronote.extensions import db
from astronote.models import ConsentEvent, ConsentSource, ConsentState, Contact, ContactTag, now_utc
from astronote.services.contacts.csv_rows import ContactRecord, RowError
from astronote.services.sql import insert

PROFILE_FIELDS = ("first_name", "last_name", "email", "gender", "birth_date")
STATS_FIELDS = ("orders_count", "amount_spent")  # Shopify's Total Orders and Total Spent
UPDATABLE = PROFILE_FIELDS + STATS_FIELDS  # an empty cell or a missing column keeps the value
DUPLICATE = "Duplicate phone: this number appears earlier in the file."
LOOKUP_CHUNK = 1000
contacts = Contact.__table__


@dataclass
class UpsertOutcome:
    created: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)


def existing(shop_id: int, phones: list[str]) -> dict[str, tuple]:
    """phone -> (id, consent_state, last_import_id) for the phones the shop already has."""
    columns = (contacts.c.phone, contacts.c.id, contacts.c.consent_state, contacts.c.last_import_id)
    found = {}
    for start in range(0, len(phones), LOOKUP_CHUNK):  # within SQLite's parameter limit
        chunk = phones[start : start + LOOKUP_CHUNK]
        query = select(*columns).where(contacts.c.shop_id == shop_id, contacts.c.phone.in_(chunk))
        found.update((row.phone, tuple(row)[1:]) for row in db.session.execute(query))
    return found


def classify(batch: list[ContactRecord], found: dict, import_id: int, outcome: UpsertOutcome):
    """Split into new records and (record, contact id, consent changed) updates.

    A phone whose row this import already wrote is a duplicate of an earlier
    line (first wins): it becomes a row error.
    """
    fresh, updates = [], []
    for record in batch:
        row = found.get(record.phone)
        if row is None:
            fresh.append(record)
        elif row[2] == import_id:
            outcome.errors.append(RowError(record.line, record.phone, DUPLICATE))
        else:
            changed = record.consent is not None and record.consent != row[1]
            updates.append((record, row[0], changed))
    return fresh, updates


def reclassify_raced(shop_id: int, import_id: int, raced: list, outcome: UpsertOutcome) -> list:
    """Rows created concurrently (a webhook, a merchant) since the lookup become updates."""
    vanished, updates = classify(
        raced, existing(shop_id, [r.phone for r in raced]), import_id, outcome
    )
    if vanished:  # inserted, then deleted, meanwhile: let the task retry from its checkpoint
        raise RuntimeError(f"contact {vanished[0].phone} changed during the import; retrying")
    return updates


def _insert_new(shop_id: int, import_id: int, records: list[ContactRecord], now) -> dict[str, int]:
    if not records:
        return {}
    rows = [
        {
            "shop_id": shop_id,
            "phone": r.phone,
            **{name: getattr(r, name) for name in PROFILE_FIELDS},
            "orders_count": r.orders_count or 0,  # the column defaults, as on COPY
            "amount_spent": r.amount_spent if r.amount_spent is not None else Decimal(0),
            "consent_state": r.consent or ConsentState.NOT_SUBSCRIBED.value,
            "consent_source": ConsentSource.IMPORT.value if r.consent else None,
            "consent_updated_at": now if r.consent else None,
            "last_import_id": import_id,
            "created_at": now,
            "updated_at": now,
        }
        for r in records
    ]
    stmt = insert(contacts).on_conflict_do_nothing(index_elements=["shop_id", "phone"])
    result = db.session.execute(stmt.returning(contacts.c.id, contacts.c.phone), rows)
    return {phone: contact_id for contact_id, phone in result}


def _update_existing(import_id: int, present: set[str], records: list, now) -> None:
    if not records:
        return
    profile = [name for name in UPDATABLE if name in present]
    values = {
        name: func.coalesce(bindparam(f"v_{name}", type_=contacts.c[name].type), contacts.c[name])
        for name in profile
    }
    values["last_import_id"] = import_id
    values["updated_at"] = now
    if "consent" in present:
        values["consent_state"] = func.coalesce(bindparam("v_consent"), contacts.c.consent_state)
        values["consent_source"] = func.coalesce(bindparam("v_source"), contacts.c.consent_source)
        values["consent_updated_at"] = func.coalesce(
            bindparam("v_at"), contacts.c.consent_updated_at
        )
    stmt = update(contacts).where(contacts.c.id == bindparam("b_id")).values(values)
    params = []
    for record, contact_id, changed in records:
        row = {"b_id": contact_id, **{f"v_{n}": getattr(record, n) for n in profile}}
        if "consent" in present:
            row.update(
                v_consent=record.consent if changed else None,
                v_source=ConsentSource.IMPORT.value if changed else None,
                v_at=now if changed else None,
            )
        params.append(row)
    db.session.connection().execute(stmt, params)


def _history(shop_id: int, evidence: str, changes: list[tuple[int, str, int]], now) -> None:
    if changes:
        db.session.execute(
            ConsentEvent.__table__.insert(),
            [
                {
                    "shop_id": shop_id,
                    "contact_id": cid,
                    "state": state,
                    "occurred_at": now,
                    "source": ConsentSource.IMPORT.value,
                    "evidence": f"{evidence}, line {line}",
                }
                for cid, state, line in sorted(changes, key=lambda change: change[2])
            ],
        )


def _tags(shop_id: int, pairs: list[tuple[int, str]]) -> None:
    if pairs:
        stmt = insert(ContactTag.__table__).on_conflict_do_nothing()
        db.session.execute(
            stmt, [{"contact_id": c, "tag": t, "shop_id": shop_id} for c, t in pairs]
        )


def write_generic(shop_id, import_id, present, batch, evidence, outcome) -> None:
    now = now_utc()
    fresh, updates = classify(
        batch, existing(shop_id, [r.phone for r in batch]), import_id, outcome
    )
    ids = _insert_new(shop_id, import_id, fresh, now)
    raced = [r for r in fresh if r.phone not in ids]
    if raced:
        updates += reclassify_raced(shop_id, import_id, raced, outcome)
    _update_existing(import_id, present, updates, now)
    changes, tag_pairs = [], []
    for record in fresh:
        if record.phone in ids:
            if record.consent is not None:
                changes.append((ids[record.phone], record.consent, record.line))
            tag_pairs.extend((ids[record.phone], tag) for tag in record.tags)
    for record, contact_id, changed in updates:
        if changed:
            changes.append((contact_id, record.consent, record.line))
        tag_pairs.extend((contact_id, tag) for tag in record.tags)
    outcome.created, outcome.updated = len(ids), len(updates)
    _history(shop_id, evidence, changes, now)
    _tags(shop_id, tag_pairs)
