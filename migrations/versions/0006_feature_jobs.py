"""feature_jobs: paid work run by queue workers, one row per hold

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 08:30:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

OPEN = "status IN ('queued', 'running')"


def upgrade():
    op.create_table(
        "feature_jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("feature", sa.String(length=64), nullable=False),
        sa.Column(
            "params",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("spend_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.String(length=500), nullable=True),
        sa.Column("result_key", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("available_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed', 'canceled')",
            name=op.f("ck_feature_jobs_status"),
        ),
        sa.ForeignKeyConstraint(
            ["spend_id"], ["credit_spends.id"], name=op.f("fk_feature_jobs_spend_id_credit_spends")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_feature_jobs_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feature_jobs")),
        sa.UniqueConstraint("spend_id", name=op.f("uq_feature_jobs_spend_id")),
    )
    op.create_index("ix_feature_jobs_user_created", "feature_jobs", ["user_id", "created_at"])
    op.create_index(
        "ix_feature_jobs_open_deadline",
        "feature_jobs",
        ["deadline_at"],
        postgresql_where=sa.text(OPEN),
        sqlite_where=sa.text(OPEN),
    )
    op.create_index(
        "ix_feature_jobs_stored_finished",
        "feature_jobs",
        ["finished_at"],
        postgresql_where=sa.text("result_key IS NOT NULL"),
        sqlite_where=sa.text("result_key IS NOT NULL"),
    )


def downgrade():
    op.drop_index("ix_feature_jobs_stored_finished", table_name="feature_jobs")
    op.drop_index("ix_feature_jobs_open_deadline", table_name="feature_jobs")
    op.drop_index("ix_feature_jobs_user_created", table_name="feature_jobs")
    op.drop_table("feature_jobs")
