"""api_keys, and which key made each spend

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 09:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
HAS_KEY = "api_key_id IS NOT NULL"


def upgrade():
    op.create_table(
        "api_keys",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("user_id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=32), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.String(length=64), nullable=False),
        sa.Column("monthly_credit_limit", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "monthly_credit_limit IS NULL OR monthly_credit_limit > 0",
            name=op.f("ck_api_keys_limit_positive"),
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_api_keys_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    op.create_index("ix_api_keys_user_created", "api_keys", ["user_id", "created_at"])
    with op.batch_alter_table("credit_spends") as batch:
        batch.add_column(sa.Column("api_key_id", BIG_ID, nullable=True))
        batch.create_foreign_key(
            op.f("fk_credit_spends_api_key_id_api_keys"), "api_keys", ["api_key_id"], ["id"]
        )
    op.create_index(
        "ix_credit_spends_api_key_created",
        "credit_spends",
        ["api_key_id", "created_at"],
        postgresql_where=sa.text(HAS_KEY),
        sqlite_where=sa.text(HAS_KEY),
    )


def downgrade():
    op.drop_index("ix_credit_spends_api_key_created", table_name="credit_spends")
    with op.batch_alter_table("credit_spends") as batch:
        batch.drop_constraint(op.f("fk_credit_spends_api_key_id_api_keys"), type_="foreignkey")
        batch.drop_column("api_key_id")
    op.drop_index("ix_api_keys_user_created", table_name="api_keys")
    op.drop_table("api_keys")
