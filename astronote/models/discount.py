"""Unique discount codes per recipient: the campaign's Shopify discount, one code per
message, and the bulk calls (250 codes each) that create them in Shopify."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from astronote.models.base import Base, BigId, TimestampMixin


class DiscountState:
    PREPARING = "preparing"  # codes are being written and created in Shopify
    READY = "ready"  # every code exists in Shopify: the send may go


class CampaignDiscount(TimestampMixin, Base):
    """A campaign's unique codes: what the discount gives, until when, and progress."""

    __tablename__ = "campaign_discounts"

    campaign_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "percentage" or "amount"
    value: Mapped[int]  # whole percent, or the amount in the shop currency's minor units
    ends_at: Mapped[datetime]
    prefix: Mapped[str] = mapped_column(String(8))  # random per campaign: codes never collide
    discount_gid: Mapped[str | None] = mapped_column(String(120))
    state: Mapped[str] = mapped_column(String(16), default=DiscountState.PREPARING)
    codes_total: Mapped[int] = mapped_column(default=0)
    codes_created: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    lease_until: Mapped[datetime | None]  # one worker prepares at a time


class DiscountCode(Base):
    """One message's own code; batch_no groups the codes of one bulk call."""

    __tablename__ = "discount_codes"
    __table_args__ = (
        UniqueConstraint("campaign_id", "code", name="uq_discount_codes_campaign_code"),
        Index("ix_discount_codes_campaign_batch", "campaign_id", "batch_no"),
    )

    message_id: Mapped[int] = mapped_column(BigId, primary_key=True)  # one code per message
    # Gone with the campaign (and so with the shop, on shop/redact).
    campaign_id: Mapped[int] = mapped_column(BigId, ForeignKey("campaigns.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(32))
    batch_no: Mapped[int]


class DiscountCodeBatch(Base):
    """One `discountRedeemCodeBulkAdd` call: pending, submitted (polled), done or failed."""

    __tablename__ = "discount_code_batches"

    campaign_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    batch_no: Mapped[int] = mapped_column(primary_key=True)
    bulk_gid: Mapped[str | None] = mapped_column(String(120))
    state: Mapped[str] = mapped_column(String(12), default="pending")
