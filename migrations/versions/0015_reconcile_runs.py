"""Reconcile's runs: the reconcile_runs table

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 12:00:00

`flask credits reconcile` writes a row when it starts and completes it when it ends
(`outcome` ok or failed, what it checked and settled, or its error); a run that crashed
keeps `finished_at` empty. The staff operations page shows the last one.
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")


def upgrade():
    op.create_table(
        "reconcile_runs",
        sa.Column("id", BigId, nullable=False),
        sa.Column("since_hours", sa.Float(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("sessions_checked", sa.Integer(), nullable=True),
        sa.Column("sessions_credited", sa.Integer(), nullable=True),
        sa.Column("charges_checked", sa.Integer(), nullable=True),
        sa.Column("charges_moved", sa.Integer(), nullable=True),
        sa.Column("session_outcomes", Json, nullable=True),
        sa.Column("charge_outcomes", Json, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('ok', 'failed')", name=op.f("ck_reconcile_runs_outcome")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconcile_runs")),
    )
    with op.batch_alter_table("reconcile_runs", schema=None) as batch_op:
        batch_op.create_index("ix_reconcile_runs_started", ["started_at", "id"], unique=False)


def downgrade():
    op.drop_table("reconcile_runs")
