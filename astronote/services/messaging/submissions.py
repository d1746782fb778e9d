"""The storefront contact form's submissions, for the merchant: a keyset-paged list,
newest first, a "handled" mark, and a CSV export. Every query is scoped to the shop."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import select

from astronote.extensions import db
from astronote.models import Shop, StorefrontSubmission, now_utc
from astronote.services.contacts.export import csv_safe
from astronote.services.scoped import get_owned

PAGE_SIZE = 50
EXPORT_BATCH = 1000
COLUMNS = ("received_at", "name", "email", "phone", "message", "handled_at")


@dataclass(frozen=True)
class SubmissionPage:
    rows: list[StorefrontSubmission]
    next_cursor: int | None


def _newest_first(shop: Shop, after_id: int | None, size: int):
    query = select(StorefrontSubmission).where(StorefrontSubmission.shop_id == shop.id)
    if after_id is not None:
        query = query.where(StorefrontSubmission.id < after_id)
    return query.order_by(StorefrontSubmission.id.desc()).limit(size)


def list_page(shop: Shop, after_id: int | None = None, size: int = PAGE_SIZE) -> SubmissionPage:
    """One page, newest first: `WHERE id < :cursor ORDER BY id DESC`, never OFFSET."""
    rows = list(db.session.execute(_newest_first(shop, after_id, size + 1)).scalars())
    has_more = len(rows) > size
    rows = rows[:size]
    return SubmissionPage(rows, rows[-1].id if has_more else None)


def export_lines(shop: Shop) -> Iterator[str]:
    """Every submission as CSV, newest first, in keyset batches (flat memory at any size).
    Storefront visitors write these fields, so formulas are neutralised (CSV injection)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    after: int | None = None
    while batch := list(db.session.execute(_newest_first(shop, after, EXPORT_BATCH)).scalars()):
        for row in batch:
            handled = row.handled_at.isoformat() if row.handled_at else None
            values = (row.created_at.isoformat(), row.name, row.email, row.phone, row.message)
            values += (handled,)
            writer.writerow([csv_safe(v) for v in values])
        after = batch[-1].id
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def set_handled(shop: Shop, submission_id: int, handled: bool) -> StorefrontSubmission:
    """Mark one submission handled (or open again); another shop's id is not found."""
    row = get_owned(StorefrontSubmission, shop.id, submission_id, "submission")
    row.handled_at = (row.handled_at or now_utc()) if handled else None
    return row
