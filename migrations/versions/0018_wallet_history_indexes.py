"""History by wallet: (wallet_id, created_at, id) indexes on purchases, spends and adjustments

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 14:00:00

An organization's History, CSV and usage read its wallet's lines newest first (teams,
DESIGN §19): these indexes serve that keyset order as the (user_id, created_at, id) ones
serve a person's own.
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

TABLES = ("credit_purchases", "credit_spends", "credit_adjustments")


def upgrade():
    for table in TABLES:
        op.create_index(f"ix_{table}_wallet_created", table, ["wallet_id", "created_at", "id"])


def downgrade():
    for table in TABLES:
        op.drop_index(f"ix_{table}_wallet_created", table_name=table)
