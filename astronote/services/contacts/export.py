"""Stream a shop's contacts, and an import's error report, as CSV in keyset batches:
flat memory at any size, spreadsheet formulas neutralised."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from astronote.extensions import db
from astronote.models import Contact, ContactImport, Shop
from astronote.services.contacts.csv_import import error_rows
from astronote.services.contacts.listing import ContactFilters, filtered, tags_for

BATCH = 5000
COLUMNS = (
    "phone",
    "first_name",
    "last_name",
    "email",
    "gender",
    "birth_date",
    "consent",
    "consent_source",
    "consent_updated_at",
    "tags",
    "created_at",
)


def _line(values) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue()


def csv_safe(value) -> str:
    """Neutralise spreadsheet formulas (CSV injection) in merchant-visible exports;
    an E.164 phone keeps its leading +."""
    text = "" if value is None else str(value)
    if text.startswith("+") and text[1:].isdigit():
        return text
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def export_rows(shop: Shop, filters: ContactFilters) -> Iterator[str]:
    yield _line(COLUMNS)
    ids_query = filtered(shop, filters)
    after: int | None = None
    while True:
        # Plain rows, not ORM objects: nothing accumulates in the session's identity map.
        columns = Contact.__table__.c
        query = ids_query.with_only_columns(*columns).order_by(Contact.id.desc()).limit(BATCH)
        if after is not None:
            query = query.where(Contact.id < after)
        batch = db.session.execute(query).all()
        if not batch:
            return
        tags = tags_for([c.id for c in batch])
        for c in batch:
            yield _line(
                [
                    c.phone,
                    csv_safe(c.first_name),
                    csv_safe(c.last_name),
                    csv_safe(c.email),
                    c.gender or "",
                    c.birth_date or "",
                    c.consent_state,
                    c.consent_source or "",
                    c.consent_updated_at.isoformat() if c.consent_updated_at else "",
                    csv_safe(",".join(tags.get(c.id, []))),
                    c.created_at.isoformat(),
                ]
            )
        after = batch[-1].id


def import_error_lines(job: ContactImport) -> Iterator[str]:
    """The report of an import's refused rows. Phones and messages quote the merchant's
    file verbatim, so a cell such as `=HYPERLINK(...)` must not become a formula."""
    yield _line(("line", "phone", "error"))
    after = 0
    while batch := error_rows(job, after_line=after):
        yield "".join(_line((e.row_number, csv_safe(e.phone), csv_safe(e.message))) for e in batch)
        after = batch[-1].row_number
