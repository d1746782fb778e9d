"""Partial indexes on messages: only rows in flight, sent, or with a provider id.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

PARTIAL = {
    "ix_messages_provider_id": (["provider_message_id"], "provider_message_id IS NOT NULL"),
    "ix_messages_shop_phone_sent": (["shop_id", "phone", "sent_at"], "sent_at IS NOT NULL"),
    "ix_messages_status_claimed": (["status", "claimed_at"], "status IN ('claimed', 'submitting')"),
    "ix_messages_shop_contact_sent": (["shop_id", "contact_id", "sent_at"], "sent_at IS NOT NULL"),
}


def upgrade():
    for name, (columns, condition) in PARTIAL.items():
        op.drop_index(name, table_name="messages")
        op.create_index(
            name,
            "messages",
            columns,
            postgresql_where=sa.text(condition),
            sqlite_where=sa.text(condition),
        )


def downgrade():
    for name, (columns, _condition) in PARTIAL.items():
        op.drop_index(name, table_name="messages")
        op.create_index(name, "messages", columns)
