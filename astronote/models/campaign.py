"""Campaigns and their per-recipient messages: the unit of exactly-once sending."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, func, text
from sqlalchemy.orm import Mapped, mapped_column

from astronote.models.base import Base, BigId, TimestampMixin, now_utc


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class MessageStatus(enum.StrEnum):
    """queued → submitting → accepted → delivered | failed; or skipped/unknown.

    `submitting` is written and committed *before* the provider call, so a
    crash leaves evidence: a submitting row may have been sent and becomes
    `unknown` (never resent). `claimed` is no longer written: releases before
    2026-11-28 claimed a whole batch first; such rows were never sent and the
    reconciler requeues them.
    """

    QUEUED = "queued"
    CLAIMED = "claimed"
    SUBMITTING = "submitting"
    ACCEPTED = "accepted"
    DELIVERED = "delivered"
    FAILED = "failed"
    UNKNOWN = "unknown"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


PENDING_STATES = (MessageStatus.QUEUED, MessageStatus.CLAIMED, MessageStatus.SUBMITTING)
FINAL_STATES = (
    MessageStatus.DELIVERED,
    MessageStatus.FAILED,
    MessageStatus.UNKNOWN,
    MessageStatus.SKIPPED,
    MessageStatus.CANCELLED,
)


IN_FLIGHT = "status IN ('claimed', 'submitting')"
SENT = "sent_at IS NOT NULL"
PROVIDER_ID = "provider_message_id IS NOT NULL"
SINGLE_QUEUED = "campaign_id IS NULL AND status = 'queued'"


def _where(condition: str) -> dict:
    return {"postgresql_where": text(condition), "sqlite_where": text(condition)}


class Campaign(TimestampMixin, Base):
    __tablename__ = "campaigns"
    __table_args__ = (
        Index("ix_campaigns_shop_id_id", "shop_id", "id"),
        Index("ix_campaigns_status_scheduled", "status", "scheduled_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    audience: Mapped[dict] = mapped_column(JSON, default=dict)
    discount_code: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=CampaignStatus.DRAFT)
    scheduled_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    recipient_count: Mapped[int] = mapped_column(default=0)
    reserved_credits: Mapped[int] = mapped_column(default=0)  # over all runs
    send_run: Mapped[int] = mapped_column(default=0)  # 1 = first send, +1 per retry-failed
    credits_settled: Mapped[bool] = mapped_column(default=True)
    failure_reason: Mapped[str | None] = mapped_column(Text)


class Message(Base):
    """One SMS to one recipient. Campaign messages, test sends and automations alike."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("campaign_id", "contact_id", name="uq_messages_campaign_contact"),
        Index("ix_messages_campaign_status_id", "campaign_id", "status", "id"),
        # Partial indexes: every message changes status four times on its way out, and
        # each change would otherwise touch every index. These only hold the rows
        # their queries look for (in flight, sent, with a provider id).
        Index("ix_messages_provider_id", "provider_message_id", **_where(PROVIDER_ID)),
        Index("ix_messages_shop_phone_sent", "shop_id", "phone", "sent_at", **_where(SENT)),
        Index("ix_messages_status_claimed", "status", "claimed_at", **_where(IN_FLIGHT)),
        Index("ix_messages_shop_contact_sent", "shop_id", "contact_id", "sent_at", **_where(SENT)),
        # One-off messages (automations, replies) waiting: the sweeper finds lost or deferred ones.
        Index("ix_messages_single_queued", "not_before", **_where(SINGLE_QUEUED)),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    # Loose references, no foreign keys (migration 0007): a snapshot writes a row per
    # recipient, and a key check per row cost more than the insert. The shop's key
    # (kept) takes the messages along; a deleted contact's messages keep its old id.
    campaign_id: Mapped[int | None] = mapped_column(BigId)
    contact_id: Mapped[int | None] = mapped_column(BigId)
    kind: Mapped[str] = mapped_column(String(16), default="campaign")  # campaign|test|automation
    phone: Mapped[str] = mapped_column(String(16))
    first_name: Mapped[str | None] = mapped_column(String(100))  # snapshot for rendering
    last_name: Mapped[str | None] = mapped_column(String(100))
    body: Mapped[str | None] = mapped_column(Text)  # the rendered text, as sent
    segments: Mapped[int] = mapped_column(default=0)
    # What it costs: segments x the destination's credits per segment (NULL before 0010: segments).
    credits: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(16), default=MessageStatus.QUEUED)
    skip_reason: Mapped[str | None] = mapped_column(String(32))
    claim_token: Mapped[str | None] = mapped_column(String(32))
    claimed_at: Mapped[datetime | None]
    not_before: Mapped[datetime | None]  # deferred by quiet hours until this UTC time
    attempts: Mapped[int] = mapped_column(default=0)
    provider_message_id: Mapped[str | None] = mapped_column(String(64))
    delivery_status: Mapped[str | None] = mapped_column(String(32))  # raw provider word
    error: Mapped[str | None] = mapped_column(String(500))
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    report_at: Mapped[datetime | None]  # event time of the report applied last
    created_at: Mapped[datetime] = mapped_column(default=now_utc, server_default=func.now())


class UnmatchedDeliveryReport(Base):
    """A report whose message id we do not (yet) know: kept, and matched again later."""

    __tablename__ = "unmatched_delivery_reports"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider_message_id: Mapped[str | None] = mapped_column(String(64), index=True)
    reference: Mapped[str | None] = mapped_column(String(64))
    raw_status: Mapped[str | None] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
