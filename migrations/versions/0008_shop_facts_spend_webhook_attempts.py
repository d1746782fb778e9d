"""Shop currency and country, contacts' lifetime spend, webhook processing attempts.

- `shops.currency`, `shops.country`: read from Shopify at install and on `shop/update`
  (with `iana_timezone`), so amounts and defaults follow the shop, not UTC/USD.
- `contacts.amount_spent`: Shopify's `amountSpent` from the customer sync, or an export's
  `Total Spent`, beside the existing `orders_count`.
- `webhook_events.attempts`: a delivery that keeps failing is retried a bounded number of
  times, then marked `dead` for an operator to see and replay.

Plain ADD COLUMN with server defaults: no table rebuild on SQLite, no rewrite on PostgreSQL.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("shops", sa.Column("currency", sa.String(3), nullable=False, server_default="USD"))
    op.add_column("shops", sa.Column("country", sa.String(2), nullable=True))
    op.add_column(
        "contacts",
        sa.Column("amount_spent", sa.Numeric(14, 2), nullable=False, server_default="0"),
    )
    op.add_column(
        "webhook_events", sa.Column("attempts", sa.Integer(), nullable=False, server_default="0")
    )


def downgrade():
    # Batch mode: SQLite drops a column by rebuilding the table.
    for table, column in (
        ("webhook_events", "attempts"),
        ("contacts", "amount_spent"),
        ("shops", "country"),
        ("shops", "currency"),
    ):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column(column)
