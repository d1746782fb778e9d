"""Billing through Shopify: one-time credit packs and usage top-ups (`billing_purchases`),
the plan (`billing_subscriptions`) and each shop's billing settings."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from astronote.models.base import Base, BigId, now_utc


class PurchaseKind(enum.StrEnum):
    PACK = "pack"  # appPurchaseOneTimeCreate: the merchant approves it on Shopify
    TOPUP = "topup"  # appUsageRecordCreate on the plan's usage line item


class PurchaseStatus(enum.StrEnum):
    PENDING = "pending"  # created at Shopify, waiting for the merchant (or for our charge)
    ACTIVE = "active"  # paid: its credits were granted
    DECLINED = "declined"
    EXPIRED = "expired"
    CAPPED = "capped"  # a top-up refused: "Total price exceeds balance remaining"
    FAILED = "failed"  # a top-up Shopify refused for another reason


FINAL_PURCHASE_STATES = frozenset(
    {PurchaseStatus.ACTIVE, PurchaseStatus.DECLINED, PurchaseStatus.EXPIRED}
)
# At most one top-up in flight per shop: the database refuses a second pending one.
PENDING_TOPUP = text("kind = 'topup' AND status = 'pending'")


class BillingPurchase(Base):
    __tablename__ = "billing_purchases"
    __table_args__ = (
        UniqueConstraint("shop_id", "shopify_id", name="uq_billing_purchases_shop_shopify_id"),
        UniqueConstraint("shop_id", "idempotency_key", name="uq_billing_purchases_shop_key"),
        Index("ix_billing_purchases_shop_id_id", "shop_id", "id"),
        Index(
            "uq_billing_purchases_one_pending_topup",
            "shop_id",
            unique=True,
            postgresql_where=PENDING_TOPUP,
            sqlite_where=PENDING_TOPUP,
        ),
        # The sweeper's look-up: pending purchases by age.
        Index("ix_billing_purchases_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))
    # The purchase's GID (gid://shopify/AppPurchaseOneTime/1) or the usage record's GID.
    shopify_id: Mapped[str | None] = mapped_column(String(120))
    # The key every credit grant and usage charge of this purchase carries.
    idempotency_key: Mapped[str] = mapped_column(String(120))
    pack_code: Mapped[str | None] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(255))
    credits: Mapped[int]
    price_cents: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), default=PurchaseStatus.PENDING.value)
    test: Mapped[bool] = mapped_column(default=False)
    error: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(default=now_utc, onupdate=now_utc)


class BillingSubscription(Base):
    """The plan: a recurring price with included credits plus a capped usage line item."""

    __tablename__ = "billing_subscriptions"
    __table_args__ = (
        UniqueConstraint("shop_id", "shopify_id", name="uq_billing_subscriptions_shop_shopify_id"),
        Index("ix_billing_subscriptions_status_period", "status", "current_period_end"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    shopify_id: Mapped[str] = mapped_column(String(120))  # gid://shopify/AppSubscription/1
    name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))  # Shopify's status, lower case
    included_credits: Mapped[int]
    price_cents: Mapped[int]
    capped_cents: Mapped[int]
    balance_used_cents: Mapped[int] = mapped_column(default=0)
    currency: Mapped[str] = mapped_column(String(3))
    usage_line_item_id: Mapped[str | None] = mapped_column(String(160))
    current_period_end: Mapped[datetime | None]
    approaching_cap_at: Mapped[datetime | None]  # app_subscriptions/approaching_capped_amount
    test: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(default=now_utc, onupdate=now_utc)


class BillingSettings(Base):
    """Per-shop billing choices; a shop without a row has the defaults."""

    __tablename__ = "billing_settings"

    shop_id: Mapped[int] = mapped_column(
        ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True
    )
    low_balance_threshold: Mapped[int] = mapped_column(default=500, server_default="500")
    auto_topup: Mapped[bool] = mapped_column(default=False, server_default="0")
