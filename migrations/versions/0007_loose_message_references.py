"""Messages: campaign and contact become loose references (no foreign-key triggers).

A campaign snapshot inserts a row per recipient, and each foreign key costs a
trigger per row: at 1,000,000 recipients 12 of the snapshot's 16 seconds went
to the three checks of `messages`. Two of them protect nothing:

- campaign_id: campaigns are never deleted except with their shop, whose own
  foreign key (kept) takes the messages along;
- contact_id: the snapshot copies it from the contact row it just read, and a
  deleted contact's messages stay as the merchant's record of what was sent. The
  old ON DELETE SET NULL also cost a scan of all messages per deleted contact
  (no index leads with contact_id). customers/redact clears it explicitly.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

LOOSE = {
    "fk_messages_campaign_id_campaigns": ("campaign_id", "campaigns", "CASCADE"),
    "fk_messages_contact_id_contacts": ("contact_id", "contacts", "SET NULL"),
}
# SQLite rebuilds the table in batch mode; its partial indexes are recreated as they were.
PARTIAL = {
    "ix_messages_provider_id": (["provider_message_id"], "provider_message_id IS NOT NULL"),
    "ix_messages_shop_phone_sent": (["shop_id", "phone", "sent_at"], "sent_at IS NOT NULL"),
    "ix_messages_status_claimed": (["status", "claimed_at"], "status IN ('claimed', 'submitting')"),
    "ix_messages_shop_contact_sent": (["shop_id", "contact_id", "sent_at"], "sent_at IS NOT NULL"),
}


def _restore_partial_indexes():
    if op.get_bind().dialect.name != "sqlite":
        return  # PostgreSQL altered the table in place: its indexes are untouched
    for name, (columns, condition) in PARTIAL.items():
        op.execute(f"DROP INDEX IF EXISTS {name}")
        op.create_index(name, "messages", columns, sqlite_where=sa.text(condition))


def upgrade():
    with op.batch_alter_table("messages") as batch_op:
        for name in LOOSE:
            batch_op.drop_constraint(name, type_="foreignkey")
    _restore_partial_indexes()


def downgrade():
    with op.batch_alter_table("messages") as batch_op:
        for name, (column, table, on_delete) in LOOSE.items():
            batch_op.create_foreign_key(name, table, [column], ["id"], ondelete=on_delete)
    _restore_partial_indexes()
