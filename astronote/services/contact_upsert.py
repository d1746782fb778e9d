"""Write a batch of imported contacts with a handful of set-based statements.

No per-row ORM objects: one lookup, one INSERT ... ON CONFLICT DO NOTHING, one
executemany UPDATE, then bulk inserts for consent history and tags.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import bindparam, func, select, update

from astronote.extensions import db
from astronote.models import ConsentEvent, ConsentSource, ConsentState, Contact, ContactTag, now_utc
from astronote.services.contact_rows import ContactRecord, RowError
from astronote.services.sql import insert

PROFILE_FIELDS = ("first_name", "last_name", "email", "gender", "birth_date")
contacts = Contact.__table__


@dataclass
class BatchOutcome:
    created: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)


def _existing(shop_id: int, phones: list[str]) -> dict[str, tuple]:
    query = select(contacts.c.phone, contacts.c.id, contacts.c.consent_state, contacts.c.last_import_id)
    query = query.where(contacts.c.shop_id == shop_id, contacts.c.phone.in_(phones))
    return {row.phone: tuple(row)[1:] for row in db.session.execute(query)}


def _insert_new(shop_id: int, import_id: int, records: list[ContactRecord], now) -> dict[str, int]:
    if not records:
        return {}
    rows = [
        {
            "shop_id": shop_id,
            "phone": r.phone,
            **{name: getattr(r, name) for name in PROFILE_FIELDS},
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
    profile = [name for name in PROFILE_FIELDS if name in present]
    values = {name: func.coalesce(bindparam(f"v_{name}"), contacts.c[name]) for name in profile}
    values["last_import_id"] = import_id
    values["updated_at"] = now
    if "consent" in present:
        values["consent_state"] = func.coalesce(bindparam("v_consent"), contacts.c.consent_state)
        values["consent_source"] = func.coalesce(bindparam("v_source"), contacts.c.consent_source)
        values["consent_updated_at"] = func.coalesce(bindparam("v_at"), contacts.c.consent_updated_at)
    stmt = update(contacts).where(contacts.c.id == bindparam("b_id")).values(values)
    params = []
    for record, contact_id, changed in records:
        row = {"b_id": contact_id, **{f"v_{n}": getattr(record, n) for n in profile}}
        if "consent" in present:
            row.update(v_consent=record.consent if changed else None,
                       v_source=ConsentSource.IMPORT.value if changed else None,
                       v_at=now if changed else None)
        params.append(row)
    db.session.connection().execute(stmt, params)


def _history(shop_id: int, evidence: str, changes: list[tuple[int, str, int]], now) -> None:
    if changes:
        db.session.execute(
            ConsentEvent.__table__.insert(),
            [
                {"shop_id": shop_id, "contact_id": cid, "state": state, "occurred_at": now,
                 "source": ConsentSource.IMPORT.value,
                 "evidence": f"{evidence}, line {line}"}
                for cid, state, line in changes
            ],
        )


def _tags(shop_id: int, pairs: list[tuple[int, str]]) -> None:
    if pairs:
        stmt = insert(ContactTag.__table__).on_conflict_do_nothing()
        db.session.execute(stmt, [{"contact_id": c, "tag": t, "shop_id": shop_id} for c, t in pairs])


def write_batch(
    shop_id: int,
    import_id: int,
    present: set[str],
    batch: list[ContactRecord],
    evidence: str | None = None,
):
    """Upsert one batch (unique phones); rows already written by this import are duplicates."""
    now = now_utc()
    outcome = BatchOutcome()
    existing = _existing(shop_id, [r.phone for r in batch])
    fresh = [r for r in batch if r.phone not in existing]
    ids = _insert_new(shop_id, import_id, fresh, now)
    raced = [r for r in fresh if r.phone not in ids]
    if raced:  # created concurrently (a webhook, a merchant) since the lookup
        existing.update(_existing(shop_id, [r.phone for r in raced]))
    outcome.created = len(ids)
    updates, changes, tag_pairs = [], [], []
    for record in batch:
        if record.phone in ids:
            contact_id, changed = ids[record.phone], record.consent is not None
        else:
            contact_id, old_consent, last_import = existing[record.phone]
            if last_import == import_id:
                outcome.errors.append(RowError(record.line, record.phone, "Duplicate phone: this number appears earlier in the file."))
                continue
            changed = record.consent is not None and record.consent != old_consent
            updates.append((record, contact_id, changed))
        if changed:
            changes.append((contact_id, record.consent, record.line))
        tag_pairs.extend((contact_id, tag) for tag in record.tags)
    _update_existing(import_id, present, updates, now)
    outcome.updated = len(updates)
    evidence = evidence or f"CSV import #{import_id} (merchant attested consent)"
    _history(shop_id, evidence, changes, now)
    _tags(shop_id, tag_pairs)
    return outcome
