"""Shopify-side records: webhook deliveries, compliance actions, orders, checkouts, syncs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from astronote.models.base import Base, BigId, TimestampMixin, now_utc


class WebhookEvent(Base):
    """One Shopify delivery, keyed by X-Shopify-Webhook-Id so a replay is a no-op."""

    __tablename__ = "webhook_events"
    __table_args__ = (Index("ix_webhook_events_status_received", "status", "received_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    webhook_id: Mapped[str] = mapped_column(String(100), unique=True)
    topic: Mapped[str] = mapped_column(String(100))
    shop_domain: Mapped[str] = mapped_column(String(255), index=True)
    api_version: Mapped[str | None] = mapped_column(String(20))
    triggered_at: Mapped[datetime | None]
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="received")
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")  # bounded, then "dead"
    received_at: Mapped[datetime] = mapped_column(default=now_utc)
    processed_at: Mapped[datetime | None]


class ComplianceRecord(Base):
    """What a GDPR webhook asked for and what we did, without the personal data itself."""

    __tablename__ = "compliance_records"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_domain: Mapped[str] = mapped_column(String(255), index=True)
    topic: Mapped[str] = mapped_column(String(100))
    webhook_id: Mapped[str | None] = mapped_column(String(100))
    shopify_customer_id: Mapped[int | None] = mapped_column(BigId)
    action: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=now_utc)


class CustomerDataExport(Base):
    """A customers/data_request answer the merchant downloads from Settings."""

    __tablename__ = "customer_data_exports"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    shopify_customer_id: Mapped[int | None] = mapped_column(BigId)
    data_request_id: Mapped[str | None] = mapped_column(String(64))
    contacts_found: Mapped[int] = mapped_column(default=0)
    document: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=now_utc)


class Order(Base):
    """The order facts automations and revenue attribution need (no line-item PII)."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("shop_id", "shopify_order_id", name="uq_orders_shop_order"),
        Index("ix_orders_shop_contact", "shop_id", "contact_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    shopify_order_id: Mapped[int] = mapped_column(BigId)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    shopify_customer_id: Mapped[int | None] = mapped_column(BigId)
    name: Mapped[str | None] = mapped_column(String(64))
    checkout_token: Mapped[str | None] = mapped_column(String(64), index=True)
    total_price: Mapped[float | None] = mapped_column(Numeric(14, 2))
    currency: Mapped[str | None] = mapped_column(String(3))
    landing_site: Mapped[str | None] = mapped_column(String(500))
    ordered_at: Mapped[datetime]


class AbandonedCheckout(TimestampMixin, Base):
    __tablename__ = "abandoned_checkouts"
    __table_args__ = (
        UniqueConstraint("shop_id", "checkout_token", name="uq_checkouts_shop_token"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    checkout_token: Mapped[str] = mapped_column(String(64))
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), index=True
    )
    shopify_customer_id: Mapped[int | None] = mapped_column(BigId)
    recovery_url: Mapped[str | None] = mapped_column(String(1000))
    subtotal_price: Mapped[float | None] = mapped_column(Numeric(14, 2))
    currency: Mapped[str | None] = mapped_column(String(3))
    line_item_count: Mapped[int] = mapped_column(default=0)
    checkout_updated_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]


class CustomerSync(TimestampMixin, Base):
    """A pull of the shop's Shopify customers (with phones) into contacts."""

    __tablename__ = "customer_syncs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    pages: Mapped[int] = mapped_column(default=0)
    seen: Mapped[int] = mapped_column(default=0)
    imported: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    cursor: Mapped[str | None] = mapped_column(String(500))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None]
