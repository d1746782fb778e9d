"""Billing through Shopify: credit packs, usage top-ups, the plan and billing settings.

- `billing_purchases`: one row per credit pack (appPurchaseOneTimeCreate) or usage top-up
  (appUsageRecordCreate). Unique per shop on the Shopify GID and on the idempotency key,
  which is also the credit ledger's key for the grant: a purchase grants exactly once.
- `billing_subscriptions`: the plan with included credits and its capped usage line item;
  (status, current_period_end) serves the period-end sweeper.
  A partial unique index allows one pending top-up per shop (never two charges in flight).
- `billing_settings`: the low-balance threshold and the auto top-up switch, per shop.
- `ix_credit_ledger_shop_kind_id`: the credits page's ledger filtered by kind, in keyset pages.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
PENDING_TOPUP = sa.text("kind = 'topup' AND status = 'pending'")


def _shop_id():
    return sa.Column(
        "shop_id", sa.Integer(), sa.ForeignKey("shops.id", ondelete="CASCADE"), nullable=False
    )


def _stamps():
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade():
    op.create_table(
        "billing_purchases",
        sa.Column("id", BigId, primary_key=True),
        _shop_id(),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("shopify_id", sa.String(120)),
        sa.Column("idempotency_key", sa.String(120), nullable=False),
        sa.Column("pack_code", sa.String(32)),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("credits", sa.Integer(), nullable=False),
        sa.Column("price_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("test", sa.Boolean(), nullable=False),
        sa.Column("error", sa.String(255)),
        *_stamps(),
        sa.UniqueConstraint("shop_id", "shopify_id", name="uq_billing_purchases_shop_shopify_id"),
        sa.UniqueConstraint("shop_id", "idempotency_key", name="uq_billing_purchases_shop_key"),
    )
    op.create_index("ix_billing_purchases_shop_id_id", "billing_purchases", ["shop_id", "id"])
    op.create_index(
        "uq_billing_purchases_one_pending_topup",
        "billing_purchases",
        ["shop_id"],
        unique=True,
        postgresql_where=PENDING_TOPUP,
        sqlite_where=PENDING_TOPUP,
    )
    op.create_index(
        "ix_billing_purchases_status_created", "billing_purchases", ["status", "created_at"]
    )
    op.create_table(
        "billing_subscriptions",
        sa.Column("id", BigId, primary_key=True),
        _shop_id(),
        sa.Column("shopify_id", sa.String(120), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("included_credits", sa.Integer(), nullable=False),
        sa.Column("price_cents", sa.Integer(), nullable=False),
        sa.Column("capped_cents", sa.Integer(), nullable=False),
        sa.Column("balance_used_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("usage_line_item_id", sa.String(160)),
        sa.Column("current_period_end", sa.DateTime(timezone=True)),
        sa.Column("approaching_cap_at", sa.DateTime(timezone=True)),
        sa.Column("test", sa.Boolean(), nullable=False),
        *_stamps(),
        sa.UniqueConstraint(
            "shop_id", "shopify_id", name="uq_billing_subscriptions_shop_shopify_id"
        ),
    )
    op.create_index(
        "ix_billing_subscriptions_status_period",
        "billing_subscriptions",
        ["status", "current_period_end"],
    )
    op.create_table(
        "billing_settings",
        sa.Column(
            "shop_id",
            sa.Integer(),
            sa.ForeignKey("shops.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("low_balance_threshold", sa.Integer(), nullable=False, server_default="500"),
        sa.Column("auto_topup", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


    op.create_index("ix_credit_ledger_shop_kind_id", "credit_ledger", ["shop_id", "kind", "id"])


def downgrade():
    op.drop_index("ix_credit_ledger_shop_kind_id", "credit_ledger")
    op.drop_table("billing_settings")
    op.drop_index("ix_billing_subscriptions_status_period", "billing_subscriptions")
    op.drop_table("billing_subscriptions")
    op.drop_index("ix_billing_purchases_status_created", "billing_purchases")
    op.drop_index("uq_billing_purchases_one_pending_topup", "billing_purchases")
    op.drop_index("ix_billing_purchases_shop_id_id", "billing_purchases")
    op.drop_table("billing_purchases")
