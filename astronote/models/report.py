"""Reports: one row per shop, local day and source, kept up to date incrementally.

The dashboard and the reports read only this table: a shop's whole history is a few
tens of thousands of rows (days x sources), never its millions of messages.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from astronote.models.automation import AutomationRun
from astronote.models.base import Base, BigId

SOURCE_KINDS = ("campaign", "flow", "other")


class ReportDaily(Base):
    """Counters of one source on one day in the shop's time zone (its own calendar).

    `source_id`: campaigns.id, automations.id, or 0 for 'other' (test sends, replies,
    keyword answers, opt-outs we cannot trace to a message). Money in the shop's
    currency, integer minor units.
    """

    __tablename__ = "report_daily"
    __table_args__ = (
        # A campaign's or flow's own report: its days, without the shop's other sources.
        Index("ix_report_daily_source", "shop_id", "source_kind", "source_id", "day"),
    )

    shop_id: Mapped[int] = mapped_column(
        ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(primary_key=True)
    source_kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    source_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sent: Mapped[int] = mapped_column(default=0, server_default="0")
    delivered: Mapped[int] = mapped_column(default=0, server_default="0")
    failed: Mapped[int] = mapped_column(default=0, server_default="0")
    clicks: Mapped[int] = mapped_column(default=0, server_default="0")
    unique_clicks: Mapped[int] = mapped_column(default=0, server_default="0")
    orders: Mapped[int] = mapped_column(default=0, server_default="0")
    revenue_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    refunds_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    opt_outs: Mapped[int] = mapped_column(default=0, server_default="0")
    new_subscribers: Mapped[int] = mapped_column(default=0, server_default="0")
    credits: Mapped[int] = mapped_column(default=0, server_default="0")


class ReportMonthly(Base):
    """The same counters per calendar month (`month`: its first day), kept by database
    triggers on report_daily (migration 0014), so every write stays one statement.

    Long periods read whole months here and only their ragged edges from report_daily:
    a shop's two years are ~1,500 rows, not ~36,000. `last_day`: the month's latest day
    with a row (the reports' "latest activity").
    """

    __tablename__ = "report_monthly"

    shop_id: Mapped[int] = mapped_column(
        ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True
    )
    month: Mapped[date] = mapped_column(primary_key=True)
    source_kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    source_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    last_day: Mapped[date]
    sent: Mapped[int] = mapped_column(default=0, server_default="0")
    delivered: Mapped[int] = mapped_column(default=0, server_default="0")
    failed: Mapped[int] = mapped_column(default=0, server_default="0")
    clicks: Mapped[int] = mapped_column(default=0, server_default="0")
    unique_clicks: Mapped[int] = mapped_column(default=0, server_default="0")
    orders: Mapped[int] = mapped_column(default=0, server_default="0")
    revenue_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    refunds_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    opt_outs: Mapped[int] = mapped_column(default=0, server_default="0")
    new_subscribers: Mapped[int] = mapped_column(default=0, server_default="0")
    credits: Mapped[int] = mapped_column(default=0, server_default="0")


COUNTERS = (
    "sent",
    "delivered",
    "failed",
    "clicks",
    "unique_clicks",
    "orders",
    "revenue_cents",
    "refunds_cents",
    "opt_outs",
    "new_subscribers",
    "credits",
)

# The rollup hooks find a one-off message's flow through its run (messages do not name
# their flow). Declared here, with the reports that need it, on the runs' table.
RUN_MESSAGE_INDEX = Index(
    "ix_automation_runs_message_id",
    AutomationRun.__table__.c.message_id,
    postgresql_where=text("message_id IS NOT NULL"),
    sqlite_where=text("message_id IS NOT NULL"),
)
