"""The staff console: users.is_staff and the admin_actions trail

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 11:30:00

`users.is_staff` is set by `flask staff add` (STAFF_EMAILS makes staff without it).
`admin_actions` records every staff action: who, what, on what, with which parameters and
reason; its unique `idempotency_token` makes a double-submitted confirmation act once.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("is_staff", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        "admin_actions",
        sa.Column("id", BigId, nullable=False),
        sa.Column("actor_user_id", BigId, nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=32), nullable=False),
        sa.Column("target_id", sa.String(length=255), nullable=False),
        sa.Column("customer_user_id", BigId, nullable=True),
        sa.Column("parameters", Json, nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("idempotency_token", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=1000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["actor_user_id"], ["users.id"], name=op.f("fk_admin_actions_actor_user_id_users")),
        sa.ForeignKeyConstraint(
            ["customer_user_id"], ["users.id"], name=op.f("fk_admin_actions_customer_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_actions")),
        sa.UniqueConstraint("idempotency_token", name=op.f("uq_admin_actions_idempotency_token")),
    )
    with op.batch_alter_table("admin_actions", schema=None) as batch_op:
        batch_op.create_index("ix_admin_actions_created", ["created_at", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_admin_actions_customer_user_id"), ["customer_user_id"], unique=False)


def downgrade():
    op.drop_table("admin_actions")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("is_staff")
