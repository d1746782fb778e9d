"""Revenue attribution: which message earned an order, once per order and per refund."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from astronote.models.base import Base, BigId, now_utc


class AttributionReason:
    DISCOUNT_CODE = "discount_code"  # the message's own code, or its campaign's or flow's
    CLICK = "click"  # the contact's latest click within the click window
    DELIVERY = "delivery"  # the latest message delivered within the delivery window


class OrderAttribution(Base):
    """One attributed order. The unique key is what makes an order count exactly once:
    webhook redeliveries, re-emitted events and the sweeper all insert the same key."""

    __tablename__ = "order_attributions"
    __table_args__ = (
        UniqueConstraint("shop_id", "shopify_order_id", name="uq_order_attributions_order"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    shopify_order_id: Mapped[int] = mapped_column(BigId)
    order_id: Mapped[int | None] = mapped_column(BigId)  # orders.id (loose)
    contact_id: Mapped[int | None] = mapped_column(BigId)
    message_id: Mapped[int] = mapped_column(BigId)
    source_kind: Mapped[str] = mapped_column(String(8))  # campaign | flow
    source_id: Mapped[int] = mapped_column(BigId)
    reason: Mapped[str] = mapped_column(String(16))
    amount_cents: Mapped[int] = mapped_column(BigInteger)  # shop currency, minor units
    refunded_cents: Mapped[int] = mapped_column(BigInteger, default=0)  # never above amount
    currency: Mapped[str] = mapped_column(String(3))
    ordered_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=now_utc)


class OrderRefund(Base):
    """One refunds/create, kept whether or not its order was attributed (a refund may
    arrive before its order): the key makes each refund count once."""

    __tablename__ = "order_refunds"
    __table_args__ = (Index("ix_order_refunds_shop_order", "shop_id", "shopify_order_id"),)

    shop_id: Mapped[int] = mapped_column(
        ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True
    )
    shopify_refund_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shopify_order_id: Mapped[int] = mapped_column(BigId)
    amount_cents: Mapped[int] = mapped_column(BigInteger)  # shop currency, minor units
    refunded_at: Mapped[datetime]
