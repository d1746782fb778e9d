"""Automations: a shop's flow settings, and one run per trigger (the exactly-once key)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column

from astronote.models.base import Base, BigId, TimestampMixin, now_utc


class RunStatus(enum.StrEnum):
    """scheduled → queued (a message exists) | skipped (a guard said no) | cancelled."""

    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class Automation(TimestampMixin, Base):
    """One flow's settings in one shop; rows are created from the catalogue on first use."""

    __tablename__ = "automations"
    __table_args__ = (UniqueConstraint("shop_id", "flow", name="uq_automations_shop_flow"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    flow: Mapped[str] = mapped_column(String(32))
    enabled: Mapped[bool] = mapped_column(default=False, server_default=false())
    body: Mapped[str] = mapped_column(Text)
    discount_code: Mapped[str | None] = mapped_column(String(64))
    delay_minutes: Mapped[int] = mapped_column(default=0, server_default="0")
    send_hour: Mapped[int | None]  # birthday: the local hour it goes out
    include_imports: Mapped[bool] = mapped_column(default=False, server_default=false())


class AutomationRun(Base):
    """One trigger of one flow step: the unique key is what makes a flow fire once.

    Webhook redeliveries, overlapping scans and racing workers all insert the same key
    (ON CONFLICT DO NOTHING); the dispatcher moves a due run on exactly once.
    """

    __tablename__ = "automation_runs"
    __table_args__ = (
        UniqueConstraint("shop_id", "flow", "trigger_key", "step", name="uq_automation_runs_key"),
        Index(
            "ix_automation_runs_due",
            "due_at",
            postgresql_where=text("status = 'scheduled'"),
            sqlite_where=text("status = 'scheduled'"),
        ),
        Index("ix_automation_runs_shop_flow_id", "shop_id", "flow", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    flow: Mapped[str] = mapped_column(String(32))
    trigger_key: Mapped[str] = mapped_column(String(120))
    step: Mapped[int] = mapped_column(default=0, server_default="0")
    contact_id: Mapped[int | None] = mapped_column(BigId)
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default=RunStatus.SCHEDULED)
    skip_reason: Mapped[str | None] = mapped_column(String(32))
    message_id: Mapped[int | None] = mapped_column(BigId)
    context: Mapped[dict] = mapped_column(JSON, default=dict)  # placeholder values
    created_at: Mapped[datetime] = mapped_column(default=now_utc)
    finished_at: Mapped[datetime | None]
