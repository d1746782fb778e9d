"""Revenue attribution: attributed orders, refunds, and each shop's windows.

- `order_attributions`: one row per attributed order (unique shop + Shopify order id:
  an order counts once), the message and source it is credited to, why, the amount and
  what was refunded of it.
- `order_refunds`: one row per refunds/create (key shop + refund id: a refund counts once).
- `shops.attribution_click_days` (5) and `shops.attribution_delivery_hours` (24).

The lookups use existing indexes: message_clicks (shop, contact, last_clicked_at) and
messages (shop, contact_id, sent_at) WHERE sent_at IS NOT NULL.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TZ = sa.DateTime(timezone=True)


def _shop_id(**options):
    return sa.Column(
        "shop_id", sa.Integer(), sa.ForeignKey("shops.id", ondelete="CASCADE"), **options
    )


def upgrade():
    op.create_table(
        "order_attributions",
        sa.Column("id", BigId, primary_key=True),
        _shop_id(nullable=False),
        sa.Column("shopify_order_id", BigId, nullable=False),
        sa.Column("order_id", BigId, nullable=True),
        sa.Column("contact_id", BigId, nullable=True),
        sa.Column("message_id", BigId, nullable=False),
        sa.Column("source_kind", sa.String(8), nullable=False),
        sa.Column("source_id", BigId, nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("refunded_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("ordered_at", TZ, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("shop_id", "shopify_order_id", name="uq_order_attributions_order"),
    )
    op.create_table(
        "order_refunds",
        _shop_id(primary_key=True),
        sa.Column("shopify_refund_id", BigId, primary_key=True),
        sa.Column("shopify_order_id", BigId, nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("refunded_at", TZ, nullable=False),
    )
    op.create_index("ix_order_refunds_shop_order", "order_refunds", ["shop_id", "shopify_order_id"])
    with op.batch_alter_table("shops") as batch_op:
        batch_op.add_column(
            sa.Column("attribution_click_days", sa.Integer(), nullable=False, server_default="5")
        )
        batch_op.add_column(
            sa.Column(
                "attribution_delivery_hours", sa.Integer(), nullable=False, server_default="24"
            )
        )


def downgrade():
    with op.batch_alter_table("shops") as batch_op:
        batch_op.drop_column("attribution_delivery_hours")
        batch_op.drop_column("attribution_click_days")
    op.drop_index("ix_order_refunds_shop_order", table_name="order_refunds")
    op.drop_table("order_refunds")
    op.drop_table("order_attributions")
