"""Clawbacks follow Stripe's current state: amounts held back, read tickets, no unique move

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-01 08:30:00

A clawback is now moved to a target derived from the charge's current refunds and
disputes, so one Stripe object may cause several moves (up and down): the unique
(reason, stripe_object_id) goes. `credits_refunded` (refund credits counted apart from
disputes) is replaced by `amount_disputed`; existing purchases start at 0 there, and
the next event or `flask credits reconcile` re-reads Stripe and re-derives the target.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("credit_adjustments", schema=None) as batch_op:
        batch_op.drop_constraint("uq_credit_adjustments_reason_object", type_="unique")
    with op.batch_alter_table("credit_purchases", schema=None) as batch_op:
        batch_op.drop_column("credits_refunded")
        batch_op.add_column(sa.Column("amount_disputed", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("clawback_checks", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("clawback_check_applied", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade():
    with op.batch_alter_table("credit_purchases", schema=None) as batch_op:
        batch_op.drop_column("clawback_check_applied")
        batch_op.drop_column("clawback_checks")
        batch_op.drop_column("amount_disputed")
        batch_op.add_column(sa.Column("credits_refunded", sa.Integer(), server_default="0", nullable=False))
    with op.batch_alter_table("credit_adjustments", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_credit_adjustments_reason_object", ["reason", "stripe_object_id"])
