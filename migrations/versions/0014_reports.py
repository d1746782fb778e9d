"""Reports: the daily rollup per shop, local day and source; a run's message index.

- `report_daily`: counters per (shop, day in the shop's zone, source kind, source id),
  bumped by the send, delivery-report, click, order and consent paths (services/reports).
  Correct for new data without a backfill; `flask astronote reports backfill` fills
  history from the base tables once (docs/REPORTS.md in the package docstring).
- `ix_automation_runs_message_id`: finds a one-off message's flow run (partial).

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
COUNTERS = (
    "sent",
    "delivered",
    "failed",
    "clicks",
    "unique_clicks",
    "orders",
    "opt_outs",
    "new_subscribers",
    "credits",
)
MONEY = ("revenue_cents", "refunds_cents")
HAS_MESSAGE = sa.text("message_id IS NOT NULL")


def upgrade():
    op.create_table(
        "report_daily",
        sa.Column(
            "shop_id",
            sa.Integer(),
            sa.ForeignKey("shops.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("source_kind", sa.String(8), primary_key=True),
        sa.Column("source_id", BigId, primary_key=True),
        *(sa.Column(n, sa.Integer(), nullable=False, server_default="0") for n in COUNTERS),
        *(sa.Column(n, sa.BigInteger(), nullable=False, server_default="0") for n in MONEY),
    )
    op.create_index(
        "ix_report_daily_source", "report_daily", ["shop_id", "source_kind", "source_id", "day"]
    )
    op.create_index(
        "ix_automation_runs_message_id",
        "automation_runs",
        ["message_id"],
        postgresql_where=HAS_MESSAGE,
        sqlite_where=HAS_MESSAGE,
    )


def downgrade():
    op.drop_index("ix_automation_runs_message_id", table_name="automation_runs")
    op.drop_index("ix_report_daily_source", table_name="report_daily")
    op.drop_table("report_daily")
