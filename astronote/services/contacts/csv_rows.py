"""Turn one CSV row into a clean contact record, or an error message for the report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

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
    orders_count: int | None = None
    amount_spent: Decimal | None = None


class RowError(ValueError):
    def __init__(self, line: int, phone: str | None, message: str):
        super().__init__(message)
        self.line = line
        self.phone = phone
        self.message = message


@dataclass(frozen=True, slots=True)
class Layout:
    """Where each field sits in the file's rows, worked out once per import."""

    width: int
    phone: int
    fallback: int | None  # Shopify's "Default Address Phone", read when "Phone" is empty
    cells: tuple[tuple[str, int, Callable], ...]  # (record attribute, column, cleaner)

    @property
    def present(self) -> set[str]:
        """The record attributes the file carries: only these may update a contact."""
        return {"phone", *(name for name, _, _ in self.cells)}


def layout(columns: dict[str, int], width: int) -> Layout:
    cells = [
        (name, index, fields.CLEANERS[name])
        for name, index in columns.items()
        if name in fields.CLEANERS
    ]
    if "consent" not in columns and "sms_marketing" in columns:
        cells.append(("consent", columns["sms_marketing"], fields.clean_sms_marketing))
    return Layout(width, columns["phone"], columns.get("phone_fallback"), tuple(cells))


def _other_phone(row: list[str], plan: Layout, raw: str) -> str:
    """The rare cases, kept out of the per-row path: an empty or apostrophe-led phone."""
    if not raw and plan.fallback is not None and plan.fallback < len(row):
        raw = row[plan.fallback].strip()
    # Shopify's export writes numbers as '+1415..., so spreadsheets keep them as text.
    return raw[1:].lstrip() if raw.startswith("'") else raw


def parse_row(line: int, row: list[str], plan: Layout, region: str) -> ContactRecord:
    """Return a ContactRecord, or raise RowError with a reason fit for the report."""
    raw_phone = row[plan.phone].strip() if plan.phone < len(row) else ""
    if not raw_phone or raw_phone[0] == "'":
        raw_phone = _other_phone(row, plan, raw_phone)
    if len(row) != plan.width:
        message = f"Row has {len(row)} columns; the header has {plan.width}."
        raise RowError(line, raw_phone[:64], message)  # the report's phone is varchar(64)
    try:
        phone = normalize_phone(raw_phone, region)
        values = {name: clean(row[index]) for name, index, clean in plan.cells}
    except (InvalidPhone, fields.FieldError) as exc:
        raise RowError(line, raw_phone[:64], str(exc)) from None
    return ContactRecord(line, phone, **values)
