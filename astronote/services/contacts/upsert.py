"""Write a batch of imported contacts: COPY on PostgreSQL, portable SQL elsewhere.

Both paths give the same result, row for row (`upsert_generic`, `upsert_pg`).
"""

from __future__ import annotations

from astronote.services.contacts.csv_rows import ContactRecord
from astronote.services.contacts.upsert_generic import UpsertOutcome, write_generic
from astronote.services.contacts.upsert_pg import write_staged
from astronote.services.sql import on_postgres


def import_evidence(import_id: int) -> str:
    return f"CSV import #{import_id} (merchant attested consent)"


def write_batch(
    shop_id: int,
    import_id: int,
    present: set[str],
    batch: list[ContactRecord],
    evidence: str | None = None,
) -> UpsertOutcome:
    """Upsert one batch (unique phones); rows already written by this import are duplicates."""
    outcome = UpsertOutcome()
    evidence = evidence or import_evidence(import_id)
    write = write_staged if on_postgres() else write_generic
    write(shop_id, import_id, present, batch, evidence, outcome)
    return outcome
