"""Two-way SMS: inbound messages, the numbers that route them, storefront submissions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from astronote.models.base import Base, BigId, now_utc


class ShopSenderNumber(Base):
    """A number (or sender) we send from, owned by exactly one shop: routes replies to it."""

    __tablename__ = "shop_sender_numbers"

    number: Mapped[str] = mapped_column(String(16), primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)


class InboundMessage(Base):
    """A reply as received, with its raw payload. shop_id NULL means unrouted."""

    __tablename__ = "inbound_messages"
    __table_args__ = (
        Index("ix_inbound_shop_contact_at", "shop_id", "contact_id", "received_at"),
        Index("ix_inbound_shop_unread", "shop_id", "read_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    provider_message_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    from_number: Mapped[str] = mapped_column(String(32))
    to_number: Mapped[str | None] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text, default="")
    keyword: Mapped[str | None] = mapped_column(String(16))
    routed_by: Mapped[str] = mapped_column(String(16), default="unrouted")
    payload: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=now_utc)
    read_at: Mapped[datetime | None]


class StorefrontSubmission(Base):
    """The public contact form, as submitted (validated, rate-limited)."""

    __tablename__ = "storefront_submissions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    ip_address: Mapped[str | None] = mapped_column(String(45))
    created_at: Mapped[datetime] = mapped_column(default=now_utc)
    handled_at: Mapped[datetime | None]  # the merchant marked it dealt with
