"""API keys always name their wallet; organization keys are listed by wallet

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 13:40:00

Keys made since 0012 were written without `wallet_id` (they spent from their maker's own
wallet): they get that wallet, and the column becomes NOT NULL, so every key says which
wallet it spends from (a person's own, or an organization's, DESIGN §19). The index serves
an organization's key list.
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.execute(
        "UPDATE api_keys SET wallet_id = (SELECT users.wallet_id FROM users WHERE users.id = api_keys.user_id)"
        " WHERE wallet_id IS NULL"
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.alter_column("wallet_id", existing_type=BigId, nullable=False)
    op.create_index("ix_api_keys_wallet_created", "api_keys", ["wallet_id", "created_at"])


def downgrade():
    op.drop_index("ix_api_keys_wallet_created", table_name="api_keys")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.alter_column("wallet_id", existing_type=BigId, nullable=True)
