"""Credits: one balance row per shop and an append-only ledger that always sums to it.

Every change is one conditional UPDATE (it can never drive a column negative,
and on PostgreSQL it row-locks the balance) plus one ledger entry carrying the
balances after it. Idempotency keys make retried tasks harmless.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update

from astronote.errors import AstronoteError
from astronote.extensions import db
from astronote.models import CreditBalance, CreditLedgerEntry, LedgerKind, now_utc
from astronote.services.sql import insert


class InsufficientCredits(AstronoteError):
    status = 402

    def __init__(self, needed: int, available: int):
        super().__init__(
            f"This send needs {needed:,} credits but only {available:,} are available. "
            "Buy more on the Credits page, or narrow the audience."
        )
        self.needed, self.available = needed, available


class LedgerConflict(AstronoteError):
    status = 409


@dataclass(frozen=True)
class Balance:
    available: int
    reserved: int


def balance(shop_id: int) -> Balance:
    query = select(CreditBalance.available, CreditBalance.reserved).filter_by(shop_id=shop_id)
    row = db.session.execute(query).one_or_none()
    return Balance(row.available, row.reserved) if row else Balance(0, 0)


def _ensure_row(shop_id: int) -> None:
    stmt = insert(CreditBalance.__table__).values(shop_id=shop_id, available=0, reserved=0)
    db.session.execute(stmt.on_conflict_do_nothing(index_elements=["shop_id"]))


def _existing(shop_id: int, key: str) -> CreditLedgerEntry | None:
    query = select(CreditLedgerEntry).filter_by(shop_id=shop_id, idempotency_key=key)
    return db.session.execute(query).scalar_one_or_none()


def _post(
    shop_id: int,
    kind: LedgerKind,
    available: int,
    reserved: int,
    key: str,
    campaign_id: int | None = None,
    note: str | None = None,
) -> CreditLedgerEntry:
    _ensure_row(shop_id)
    # Lock first (PostgreSQL), so the idempotency check and the change are serialised per shop.
    db.session.execute(select(CreditBalance.shop_id).filter_by(shop_id=shop_id).with_for_update())
    if (entry := _existing(shop_id, key)) is not None:
        return entry
    table = CreditBalance.__table__
    row = db.session.execute(
        update(table)
        .where(
            table.c.shop_id == shop_id,
            table.c.available + available >= 0,
            table.c.reserved + reserved >= 0,
        )
        .values(available=table.c.available + available, reserved=table.c.reserved + reserved)
        .returning(table.c.available, table.c.reserved)
    ).one_or_none()
    if row is None:
        current = balance(shop_id)
        if current.available + available < 0:
            raise InsufficientCredits(-available, current.available)
        raise LedgerConflict(f"{kind} of {-reserved} exceeds the {current.reserved} reserved")
    entry = CreditLedgerEntry(
        shop_id=shop_id,
        kind=kind.value,
        available_delta=available,
        reserved_delta=reserved,
        available_after=row.available,
        reserved_after=row.reserved,
        idempotency_key=key,
        campaign_id=campaign_id,
        note=note,
        created_at=now_utc(),
    )
    db.session.add(entry)
    db.session.flush()
    return entry


def grant(shop_id: int, amount: int, key: str, note: str) -> CreditLedgerEntry:
    return _post(shop_id, LedgerKind.GRANT, amount, 0, key, note=note)


def reserve(shop_id: int, amount: int, key: str, campaign_id: int | None = None):
    return _post(shop_id, LedgerKind.RESERVE, -amount, amount, key, campaign_id)


def consume(shop_id: int, amount: int, key: str, campaign_id: int | None = None):
    return _post(shop_id, LedgerKind.CONSUME, 0, -amount, key, campaign_id)


def release(shop_id: int, amount: int, key: str, campaign_id: int | None = None):
    return _post(shop_id, LedgerKind.RELEASE, amount, -amount, key, campaign_id)


def refund(shop_id: int, amount: int, key: str, note: str, campaign_id: int | None = None):
    return _post(shop_id, LedgerKind.REFUND, amount, 0, key, campaign_id, note)


def total_for(shop_id: int, campaign_id: int, kind: LedgerKind) -> int:
    """How much of the campaign's reservation went this way (consume or release)."""
    query = select(func.coalesce(func.sum(func.abs(CreditLedgerEntry.reserved_delta)), 0)).where(
        CreditLedgerEntry.shop_id == shop_id,
        CreditLedgerEntry.campaign_id == campaign_id,
        CreditLedgerEntry.kind == kind.value,
    )
    return db.session.execute(query).scalar_one()


def consumed_for(shop_id: int, campaign_id: int) -> int:
    return total_for(shop_id, campaign_id, LedgerKind.CONSUME)


def ledger_totals(shop_id: int) -> Balance:
    """What the ledger sums to; equals `balance()` by construction (tests prove it)."""
    query = select(
        func.coalesce(func.sum(CreditLedgerEntry.available_delta), 0),
        func.coalesce(func.sum(CreditLedgerEntry.reserved_delta), 0),
    ).where(CreditLedgerEntry.shop_id == shop_id)
    available, reserved = db.session.execute(query).one()
    return Balance(available, reserved)
