"""credit_spends.request_fingerprint: an idempotency key is bound to one request

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 16:05:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("credit_spends", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_fingerprint", sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table("credit_spends", schema=None) as batch_op:
        batch_op.drop_column("request_fingerprint")
