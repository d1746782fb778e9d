"""The credits page: balance, purchase history, the ledger in keyset pages and as CSV,
and the shop's billing settings (low-balance threshold, auto top-up)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import select

from astronote.errors import ValidationFailed
from astronote.extensions import db
from astronote.models import BillingPurchase, BillingSettings, CreditLedgerEntry, LedgerKind
from astronote.services import credits
from astronote.services.billing import plans
from astronote.services.contacts.export import csv_safe

PAGE = 50
CSV_CHUNK = 5000
KINDS = tuple(k.value for k in LedgerKind)
MAX_THRESHOLD = 10_000_000


@dataclass(frozen=True)
class Page:
    rows: list
    next_after: int | None  # the id to continue after, or None on the last page


def settings_of(shop_id: int) -> BillingSettings:
    """The shop's settings row, or unsaved defaults."""
    found = db.session.get(BillingSettings, shop_id)
    return found or BillingSettings(shop_id=shop_id, low_balance_threshold=500, auto_topup=False)


def low_balance(shop_id: int) -> tuple[int, int] | None:
    """(available, threshold) when the balance is below the shop's threshold; else None."""
    threshold = settings_of(shop_id).low_balance_threshold
    available = credits.balance(shop_id).available
    return (available, threshold) if threshold and available < threshold else None


def update_settings(shop_id: int, form) -> BillingSettings:
    raw = (form.get("low_balance_threshold") or "").strip().replace(",", "")
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_THRESHOLD:
        raise ValidationFailed(
            {"low_balance_threshold": f"Enter a whole number from 0 to {MAX_THRESHOLD:,}."}
        )
    row = db.session.get(BillingSettings, shop_id)
    if row is None:
        row = BillingSettings(shop_id=shop_id)
        db.session.add(row)
    row.low_balance_threshold = int(raw)
    # Top-ups are usage charges on the plan: without an active one the switch stays off.
    plan = plans.current(shop_id)
    wants = form.get("auto_topup") in ("1", "on", "true")
    row.auto_topup = wants and plan is not None and plan.status == "active"
    db.session.flush()
    return row


def purchases(shop_id: int, after: int | None, limit: int = 20) -> Page:
    query = select(BillingPurchase).where(BillingPurchase.shop_id == shop_id)
    if after is not None:
        query = query.where(BillingPurchase.id < after)
    rows = list(
        db.session.execute(query.order_by(BillingPurchase.id.desc()).limit(limit + 1)).scalars()
    )
    return Page(rows[:limit], rows[limit - 1].id if len(rows) > limit else None)


def parse_kind(raw: str | None) -> str | None:
    """A ledger filter from the query string; an unknown kind is a clear 400."""
    if not raw:
        return None
    if raw not in KINDS:
        raise ValidationFailed({"kind": "Choose one of: " + ", ".join(KINDS) + "."})
    return raw


def _ledger_query(shop_id: int, kind: str | None, after: int | None):
    # Served by ix_credit_ledger_shop_id_id: shop_id = ? AND id < ? ORDER BY id DESC.
    query = select(CreditLedgerEntry).where(CreditLedgerEntry.shop_id == shop_id)
    if kind is not None:
        query = query.where(CreditLedgerEntry.kind == kind)
    if after is not None:
        query = query.where(CreditLedgerEntry.id < after)
    return query.order_by(CreditLedgerEntry.id.desc())


def ledger(shop_id: int, kind: str | None, after: int | None, limit: int = PAGE) -> Page:
    rows = list(db.session.execute(_ledger_query(shop_id, kind, after).limit(limit + 1)).scalars())
    return Page(rows[:limit], rows[limit - 1].id if len(rows) > limit else None)


CSV_HEADER = ("id", "created_at", "kind", "available_delta", "reserved_delta",
              "available_after", "reserved_after", "campaign_id", "note")  # fmt: skip
CSV_COLUMNS = [getattr(CreditLedgerEntry, name) for name in CSV_HEADER]


def ledger_csv(shop_id: int, kind: str | None) -> Iterator[str]:
    """The whole ledger, newest first, read in keyset chunks of plain rows (no ORM
    objects: constant memory and about 100,000 rows a second)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    after = None
    while True:
        query = _ledger_query(shop_id, kind, after).with_only_columns(*CSV_COLUMNS)
        rows = db.session.connection().execute(query.limit(CSV_CHUNK)).all()  # Core: no ORM
        # Text is neutralised against spreadsheet formulas; the numbers are ints.
        writer.writerows(
            (r[0], r[1].isoformat(), r[2], r[3], r[4], r[5], r[6], r[7] or "", csv_safe(r[8]))
            for r in rows
        )
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(rows) < CSV_CHUNK:
            return
        after = rows[-1][0]
