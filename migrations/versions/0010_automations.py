"""Automations: per-shop flow settings and their runs; what each message costs.

- `automations`: one row per shop and flow (switch, message, delay, discount code).
- `automation_runs`: one row per trigger of a flow step. Its unique key (shop, flow,
  trigger, step) is what makes a flow fire once however often the trigger arrives; a
  partial index holds only the scheduled runs the dispatcher looks for.
- `messages.credits`: segments x the destination's price, fixed when the message is
  queued, so settling and refunds never re-price. NULL on older rows means `segments`.
- `ix_messages_single_queued`: one-off messages still waiting (lost tasks, quiet hours),
  for the sweeper that sends them when due, whatever happened to their Huey task.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
SCHEDULED = sa.text("status = 'scheduled'")
SINGLE_QUEUED = sa.text("campaign_id IS NULL AND status = 'queued'")


def upgrade():
    op.create_table(
        "automations",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("shop_id", sa.Integer(), sa.ForeignKey("shops.id", ondelete="CASCADE"), nullable=False),
        sa.Column("flow", sa.String(32), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("discount_code", sa.String(64)),
        sa.Column("delay_minutes", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("send_hour", sa.Integer()),
        sa.Column("include_imports", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("shop_id", "flow", name="uq_automations_shop_flow"),
    )
    op.create_table(
        "automation_runs",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("shop_id", sa.Integer(), sa.ForeignKey("shops.id", ondelete="CASCADE"), nullable=False),
        sa.Column("flow", sa.String(32), nullable=False),
        sa.Column("trigger_key", sa.String(120), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("contact_id", BigId),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("skip_reason", sa.String(32)),
        sa.Column("message_id", BigId),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("shop_id", "flow", "trigger_key", "step", name="uq_automation_runs_key"),
    )
    op.create_index(
        "ix_automation_runs_due",
        "automation_runs",
        ["due_at"],
        postgresql_where=SCHEDULED,
        sqlite_where=SCHEDULED,
    )
    op.create_index(
        "ix_automation_runs_shop_flow_id", "automation_runs", ["shop_id", "flow", "id"]
    )
    op.add_column("messages", sa.Column("credits", sa.Integer(), nullable=True))
    op.create_index(
        "ix_messages_single_queued",
        "messages",
        ["not_before"],
        postgresql_where=SINGLE_QUEUED,
        sqlite_where=SINGLE_QUEUED,
    )


def downgrade():
    op.drop_index("ix_messages_single_queued", table_name="messages")
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_column("credits")
    op.drop_index("ix_automation_runs_shop_flow_id", table_name="automation_runs")
    op.drop_index("ix_automation_runs_due", table_name="automation_runs")
    op.drop_table("automation_runs")
    op.drop_table("automations")
