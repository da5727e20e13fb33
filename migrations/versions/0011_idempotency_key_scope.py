"""credit_spends.idempotency_scope: an Idempotency-Key replays only for the credential that used it

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 10:00:00

Keys were unique per user, so one API key could replay another key's request (and read its
job back). They are now unique per (user, scope): the API key, or the browser sign-in. Spends
made by an API key before this keep that key as their scope; older browser spends keep "".
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("credit_spends", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("idempotency_scope", sa.String(length=64), server_default="", nullable=False)
        )
    op.execute(
        "UPDATE credit_spends SET idempotency_scope = 'key:' || CAST(api_key_id AS VARCHAR) "
        "WHERE api_key_id IS NOT NULL AND idempotency_key IS NOT NULL"
    )
    with op.batch_alter_table("credit_spends", schema=None) as batch_op:
        batch_op.drop_constraint("uq_credit_spends_user_key", type_="unique")
        batch_op.create_unique_constraint(
            "uq_credit_spends_user_scope_key", ["user_id", "idempotency_scope", "idempotency_key"]
        )


def downgrade():
    # Keys unique per user again: where two scopes used one key string, the later spends
    # forget their key (their money is untouched; only their replay is lost).
    op.execute(
        "UPDATE credit_spends SET idempotency_key = NULL WHERE idempotency_key IS NOT NULL AND id NOT IN ("
        "SELECT MIN(id) FROM credit_spends WHERE idempotency_key IS NOT NULL "
        "GROUP BY user_id, idempotency_key)"
    )
    with op.batch_alter_table("credit_spends", schema=None) as batch_op:
        batch_op.drop_constraint("uq_credit_spends_user_scope_key", type_="unique")
        batch_op.create_unique_constraint("uq_credit_spends_user_key", ["user_id", "idempotency_key"])
        batch_op.drop_column("idempotency_scope")
