"""Message templates, library usage counts, and the runs index of the flow results.

- `message_templates`: a shop's own saved messages by use case, with a usage count.
- `library_template_uses`: per shop, how often each library template was used.
- `ix_automation_runs_outcome`: (shop, created_at, flow, status, skip reason), so the
  flow results count triggered and skipped runs from the index alone.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NOW = sa.func.now()


def _shop_id(**options):
    return sa.Column(
        "shop_id", sa.Integer(), sa.ForeignKey("shops.id", ondelete="CASCADE"), **options
    )


def upgrade():
    op.create_table(
        "message_templates",
        sa.Column("id", BigId, primary_key=True),
        _shop_id(nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("use_case", sa.String(32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.UniqueConstraint("shop_id", "name", name="uq_message_templates_shop_name"),
    )
    op.create_index(
        "ix_message_templates_shop_use_case",
        "message_templates",
        ["shop_id", "use_case", "name"],
    )
    op.create_table(
        "library_template_uses",
        _shop_id(primary_key=True),
        sa.Column("template_key", sa.String(40), primary_key=True),
        sa.Column("uses", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_index(
        "ix_automation_runs_outcome",
        "automation_runs",
        ["shop_id", "created_at", "flow", "status", "skip_reason"],
    )


def downgrade():
    op.drop_index("ix_automation_runs_outcome", table_name="automation_runs")
    op.drop_table("library_template_uses")
    op.drop_index("ix_message_templates_shop_use_case", table_name="message_templates")
    op.drop_table("message_templates")
