"""Tracked short links: link sets, clicks and the two click rollups.

- `link_sets`: one row per source (campaign, automation) and link list; unique on
  (shop, source, hash of the list), so preparing the same body twice finds the row.
- `link_clicks`: one row per counted click, (shop, message) indexed for attribution.
- `message_clicks`: per message totals; a row means the message was clicked (unique).
  (shop, contact, last click) finds a contact's latest click within a window.
- `link_source_stats`: per campaign or flow totals, updated by each click batch.

Revision ID: 0013
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0011"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _shop_id(**kwargs):
    return sa.Column(
        "shop_id",
        sa.Integer(),
        sa.ForeignKey("shops.id", ondelete="CASCADE"),
        nullable=False,
        **kwargs,
    )


def _when(name: str):
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade():
    op.create_table(
        "link_sets",
        sa.Column("id", BigId, primary_key=True),
        _shop_id(),
        sa.Column("source_kind", sa.String(16), nullable=False),
        sa.Column("source_id", BigId, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("urls_hash", sa.String(64), nullable=False),
        sa.Column("urls", sa.JSON(), nullable=False),
        _when("created_at"),
        sa.UniqueConstraint(
            "shop_id", "source_kind", "source_id", "urls_hash", name="uq_link_sets_source_urls"
        ),
    )
    op.create_table(
        "link_clicks",
        sa.Column("id", BigId, primary_key=True),
        _shop_id(),
        sa.Column("message_id", BigId, nullable=False),
        sa.Column("link_set_id", BigId, nullable=False),
        sa.Column("link_index", sa.Integer(), nullable=False),
        sa.Column("contact_id", BigId),
        _when("clicked_at"),
    )
    op.create_index("ix_link_clicks_shop_message", "link_clicks", ["shop_id", "message_id"])
    op.create_table(
        "message_clicks",
        sa.Column("message_id", BigId, primary_key=True),
        _shop_id(),
        sa.Column("contact_id", BigId),
        sa.Column("source_kind", sa.String(16), nullable=False),
        sa.Column("source_id", BigId, nullable=False),
        sa.Column("clicks", sa.Integer(), nullable=False),
        _when("first_clicked_at"),
        _when("last_clicked_at"),
    )
    op.create_index(
        "ix_message_clicks_shop_contact_last",
        "message_clicks",
        ["shop_id", "contact_id", "last_clicked_at"],
    )
    op.create_table(
        "link_source_stats",
        _shop_id(primary_key=True),
        sa.Column("source_kind", sa.String(16), primary_key=True),
        sa.Column("source_id", BigId, primary_key=True),
        sa.Column("clicks", sa.Integer(), nullable=False),
        sa.Column("unique_clicks", sa.Integer(), nullable=False),
        _when("updated_at"),
    )


def downgrade():
    op.drop_table("link_source_stats")
    op.drop_index("ix_message_clicks_shop_contact_last", table_name="message_clicks")
    op.drop_table("message_clicks")
    op.drop_index("ix_link_clicks_shop_message", table_name="link_clicks")
    op.drop_table("link_clicks")
    op.drop_table("link_sets")
