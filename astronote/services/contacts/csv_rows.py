"""Turn one CSV row into a clean contact record, or an error message for the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from astronote.services.contacts import fields
from astronote.services.contacts.phones import InvalidPhone, normalize_phone


@dataclass(slots=True)
class ContactRecord:
    line: int
    phone: str
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    gender: str | None = None
    birth_date: date | None = None
    consent: str | None = None
    tags: list[str] = field(default_factory=list)


class RowError(ValueError):
    def __init__(self, line: int, phone: str | None, message: str):
        super().__init__(message)
        self.line = line
        self.phone = phone
        self.message = message


def parse_row(line: int, row: list[str], columns: dict[str, int], width: int, region: str):
    """Return a ContactRecord, or raise RowError with a reason fit for the report."""
    raw_phone = row[columns["phone"]].strip() if columns["phone"] < len(row) else ""
    if len(row) != width:
        raise RowError(line, raw_phone, f"Row has {len(row)} columns; the header has {width}.")
    try:
        phone = normalize_phone(raw_phone, region)
        values = {
            name: fields.CLEANERS[name](row[index])
            for name, index in columns.items()
            if name != "phone"
        }
    except (InvalidPhone, fields.FieldError) as exc:
        raise RowError(line, raw_phone[:64], str(exc)) from None
    return ContactRecord(line, phone, **values)
