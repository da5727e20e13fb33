"""users.auth_version and revoked_sessions: signing out revokes the session and remember-me cookies

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 08:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("auth_version", sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "revoked_sessions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_revoked_sessions_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revoked_sessions")),
    )


def downgrade():
    op.drop_table("revoked_sessions")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("auth_version")
