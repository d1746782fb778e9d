"""Credits: a per-shop balance row and the append-only ledger that always sums to it."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from astronote.models.base import Base, BigId


class LedgerKind(enum.StrEnum):
    GRANT = "grant"  # purchased or granted credits: available +n
    RESERVE = "reserve"  # held for a send: available -n, reserved +n
    CONSUME = "consume"  # an accepted message: reserved -n (spent)
    RELEASE = "release"  # unused reservation back: reserved -n, available +n
    REFUND = "refund"  # spent credits returned: available +n


class CreditBalance(Base):
    __tablename__ = "credit_balances"
    __table_args__ = (
        CheckConstraint("available >= 0", name="available_not_negative"),
        CheckConstraint("reserved >= 0", name="reserved_not_negative"),
    )

    shop_id: Mapped[int] = mapped_column(
        ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True
    )
    available: Mapped[int] = mapped_column(default=0)
    reserved: Mapped[int] = mapped_column(default=0)


class CreditLedgerEntry(Base):
    __tablename__ = "credit_ledger"
    __table_args__ = (
        UniqueConstraint("shop_id", "idempotency_key", name="uq_credit_ledger_shop_key"),
        Index("ix_credit_ledger_shop_id_id", "shop_id", "id"),
        # The credits page's ledger filtered by kind, in keyset pages (0011).
        Index("ix_credit_ledger_shop_kind_id", "shop_id", "kind", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    available_delta: Mapped[int]
    reserved_delta: Mapped[int]
    available_after: Mapped[int]
    reserved_after: Mapped[int]
    idempotency_key: Mapped[str] = mapped_column(String(120))
    campaign_id: Mapped[int | None] = mapped_column(BigId)
    note: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime]
