"""Contacts: one E.164 phone per shop, with consent state and tags."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from astronote.models.base import Base, BigId, TimestampMixin


class ConsentState(enum.StrEnum):
    """Mirrors Shopify's SMS marketing states; only SUBSCRIBED may get marketing."""

    SUBSCRIBED = "subscribed"
    PENDING = "pending"
    NOT_SUBSCRIBED = "not_subscribed"
    UNSUBSCRIBED = "unsubscribed"


class ConsentSource(enum.StrEnum):
    SHOPIFY = "shopify"
    IMPORT = "import"
    MERCHANT = "merchant"
    KEYWORD = "keyword"
    UNSUBSCRIBE_PAGE = "unsubscribe_page"
    STOREFRONT_FORM = "storefront_form"


class Gender(enum.StrEnum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"


class Contact(TimestampMixin, Base):
    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("shop_id", "phone", name="uq_contacts_shop_phone"),
        # Keyset pagination walks (shop_id, id) newest first, optionally per consent state.
        Index("ix_contacts_shop_id_id", "shop_id", "id"),
        Index("ix_contacts_shop_consent_id", "shop_id", "consent_state", "id"),
        Index("ix_contacts_shop_customer", "shop_id", "shopify_customer_id"),
        # Prefix-search indexes (lower(name), email, phone with text_pattern_ops on
        # PostgreSQL) are dialect-specific and live in the migration only.
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(String(16))
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))
    gender: Mapped[str | None] = mapped_column(String(16))
    birth_date: Mapped[date | None]
    consent_state: Mapped[str] = mapped_column(String(20), default=ConsentState.NOT_SUBSCRIBED)
    consent_source: Mapped[str | None] = mapped_column(String(32))
    consent_updated_at: Mapped[datetime | None]
    shopify_customer_id: Mapped[int | None] = mapped_column(BigId)
    first_order_at: Mapped[datetime | None]
    last_order_at: Mapped[datetime | None]
    orders_count: Mapped[int] = mapped_column(default=0, server_default="0")
    # Lifetime spend in the shop's currency (Shopify's amountSpent, or an export's Total Spent).
    # Server default only: new rows need no Python-side value (COPY writes it explicitly).
    amount_spent: Mapped[Decimal] = mapped_column(Numeric(14, 2), server_default="0")
    # The import that last wrote this row; detects a phone repeated within one file.
    last_import_id: Mapped[int | None] = mapped_column(BigId)

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)


class ContactTag(Base):
    __tablename__ = "contact_tags"
    __table_args__ = (Index("ix_contact_tags_shop_tag_contact", "shop_id", "tag", "contact_id"),)

    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(64), primary_key=True)
    # No foreign key to shops: the row goes with its contact, which goes with its shop
    # (migration 0006). One check per tag less on a bulk import.
    shop_id: Mapped[int] = mapped_column(BigId)


class ConsentEvent(Base):
    """Append-only consent history: who changed what, when, and the evidence."""

    __tablename__ = "consent_events"
    __table_args__ = (Index("ix_consent_events_contact_at", "contact_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(BigId, index=True)  # no shop FK: see ContactTag
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(32))
    evidence: Mapped[str | None] = mapped_column(String(500))
    occurred_at: Mapped[datetime]


class ShopContactCount(Base):
    """Per-shop contact totals by consent state, kept in step by the services.

    An exact COUNT(*) over a million rows costs tens of milliseconds on every
    page view; these counters make the list header O(1).
    """

    __tablename__ = "shop_contact_counts"

    shop_id: Mapped[int] = mapped_column(
        ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True
    )
    consent_state: Mapped[str] = mapped_column(String(20), primary_key=True)
    total: Mapped[int] = mapped_column(default=0)
