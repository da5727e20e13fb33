"""feature_jobs: typed results, partial text, progress and the stop flag (the feature kit)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-09 10:00:00

A feature's result is no longer always a PNG: `result_type` is the stored result's content
type (every result stored before this one was an image generation's PNG, so those rows say
`image/png`). While a job runs, `partial_text` holds the text a person watches arrive
(`ctx.partial`), `progress` and `progress_message` what `ctx.progress` reported, and
`stop_requested_at` when the person pressed Stop (a running job's cancel).
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("feature_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("result_type", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("partial_text", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("progress", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("progress_message", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("stop_requested_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE feature_jobs SET result_type = 'image/png' WHERE result_key IS NOT NULL")


def downgrade():
    with op.batch_alter_table("feature_jobs", schema=None) as batch_op:
        batch_op.drop_column("stop_requested_at")
        batch_op.drop_column("progress_message")
        batch_op.drop_column("progress")
        batch_op.drop_column("partial_text")
        batch_op.drop_column("result_type")
