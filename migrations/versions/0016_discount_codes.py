"""Unique discount codes per recipient.

- `campaign_discounts`: a campaign's Shopify discount (kind, value, expiry) and progress.
- `discount_codes`: one code per message (the message id is the key: never two).
- `discount_code_batches`: the bulk calls, 250 codes each, and their state.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NOW = sa.func.now()
TZ = sa.DateTime(timezone=True)


def upgrade():
    op.create_table(
        "campaign_discounts",
        sa.Column(
            "campaign_id",
            BigId,
            sa.ForeignKey("campaigns.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "shop_id",
            sa.Integer(),
            sa.ForeignKey("shops.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("ends_at", TZ, nullable=False),
        sa.Column("prefix", sa.String(8), nullable=False),
        sa.Column("discount_gid", sa.String(120), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("codes_total", sa.Integer(), nullable=False),
        sa.Column("codes_created", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("lease_until", TZ, nullable=True),
        sa.Column("created_at", TZ, nullable=False, server_default=NOW),
        sa.Column("updated_at", TZ, nullable=False, server_default=NOW),
    )
    op.create_index("ix_campaign_discounts_shop_id", "campaign_discounts", ["shop_id"])
    op.create_table(
        "discount_codes",
        sa.Column("message_id", BigId, primary_key=True),
        sa.Column(
            "campaign_id",
            BigId,
            sa.ForeignKey("campaigns.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("batch_no", sa.Integer(), nullable=False),
        sa.UniqueConstraint("campaign_id", "code", name="uq_discount_codes_campaign_code"),
    )
    op.create_index(
        "ix_discount_codes_campaign_batch", "discount_codes", ["campaign_id", "batch_no"]
    )
    op.create_table(
        "discount_code_batches",
        sa.Column(
            "campaign_id",
            BigId,
            sa.ForeignKey("campaigns.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("batch_no", sa.Integer(), primary_key=True),
        sa.Column("bulk_gid", sa.String(120), nullable=True),
        sa.Column("state", sa.String(12), nullable=False),
    )


def downgrade():
    op.drop_table("discount_code_batches")
    op.drop_index("ix_discount_codes_campaign_batch", table_name="discount_codes")
    op.drop_table("discount_codes")
    op.drop_index("ix_campaign_discounts_shop_id", table_name="campaign_discounts")
    op.drop_table("campaign_discounts")
