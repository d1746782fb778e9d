"""Tags and consent history: drop the shop foreign keys that contacts already provide.

Their rows cascade from contacts, and contacts cascade from shops, so the second
path to shops added nothing but a check per row: on a 1,000,000-row import about
1.8 million of them, a sixth of the server's time. `shop_id` stays (indexed) for
shop-scoped queries.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

REDUNDANT = {
    "contact_tags": "fk_contact_tags_shop_id_shops",
    "consent_events": "fk_consent_events_shop_id_shops",
}


def upgrade():
    # Batch mode: SQLite can only drop a constraint by rebuilding the table.
    for table, constraint in REDUNDANT.items():
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_constraint(constraint, type_="foreignkey")


def downgrade():
    for table, constraint in REDUNDANT.items():
        with op.batch_alter_table(table) as batch_op:
            batch_op.create_foreign_key(constraint, "shops", ["shop_id"], ["id"], ondelete="CASCADE")
