"""Storefront contact-form submissions: when the merchant marked one handled.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("storefront_submissions", sa.Column("handled_at", sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("storefront_submissions") as batch_op:
        batch_op.drop_column("handled_at")
