"""What the flow results read (services/automations/stats.py).

`AutomationRunDaily`: runs per (shop, UTC day, flow, stage, status, skip reason), kept by
database triggers on automation_runs and messages (migration 0018), so the engine's
writers stay as they are. The runs index serves the period's first, partial day.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from astronote.models.automation import AutomationRun
from astronote.models.base import Base

runs = AutomationRun.__table__
RUN_OUTCOME_INDEX = Index(
    "ix_automation_runs_outcome",
    runs.c.shop_id,
    runs.c.created_at,
    runs.c.flow,
    runs.c.status,
    runs.c.skip_reason,
)


class AutomationRunDaily(Base):
    """How many runs created on `day` (UTC, by `created_at`) stand where now.

    stage 'run': the run's own status and skip reason (every run counts once here);
    stage 'send': runs whose one-off message was skipped or cancelled at send time, by
    the message's status and reason. `skip_reason` '' is none (key columns are NOT NULL).
    UTC days, unlike report_daily's local ones: SQLite has no zones and a shop may move.
    """

    __tablename__ = "automation_run_daily"

    shop_id: Mapped[int] = mapped_column(
        ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(primary_key=True)
    flow: Mapped[str] = mapped_column(String(32), primary_key=True)
    stage: Mapped[str] = mapped_column(String(8), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    skip_reason: Mapped[str] = mapped_column(String(32), primary_key=True)
    runs: Mapped[int] = mapped_column(default=0, server_default="0")
