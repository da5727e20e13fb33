"""Clawbacks follow Stripe's current state: amounts held back, read tickets, no unique move

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-01 08:30:00

A clawback is now moved to a target derived from the charge's current refunds and
disputes, so one Stripe object may cause several moves (up and down): the unique
(reason, stripe_object_id) goes. `credits_refunded` (refund credits counted apart from
disputes) is replaced by `amount_disputed`; existing purchases start at 0 there, and
the next event or `flask credits reconcile` re-reads Stripe and re-derives the target.

Rolling back: since this revision one Stripe object may own several moves (a refund that
failed writes a `refund` row taking credits and one giving them back), which the unique
(reason, stripe_object_id) of 0003 forbids. The downgrade merges each such group into its
first row, carrying the group's net amount (so every balance still equals its ledger
sum), and rebuilds `credits_refunded` from the refund rows, as 0003's code kept it.
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")


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
    merge_moves_of_one_stripe_object()
    # 0003's code kept the credits refunds took apart from disputes: rebuild it from the rows.
    op.execute(
        "UPDATE credit_purchases SET credits_refunded = COALESCE((SELECT -SUM(a.amount) "
        "FROM credit_adjustments a WHERE a.purchase_id = credit_purchases.id AND a.reason = 'refund'), 0) "
        "WHERE EXISTS (SELECT 1 FROM credit_adjustments a WHERE a.purchase_id = credit_purchases.id "
        "AND a.reason = 'refund')"
    )
    op.execute("UPDATE credit_purchases SET credits_refunded = 0 WHERE credits_refunded < 0")
    with op.batch_alter_table("credit_adjustments", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_credit_adjustments_reason_object", ["reason", "stripe_object_id"])


def merge_moves_of_one_stripe_object():
    """Fold every (reason, stripe_object_id) group of several rows into its first row.

    The first row keeps its id, user, purchase and date and takes the group's net amount;
    the others go. Balances are untouched and still equal their ledger sums.
    """
    conn = op.get_bind()
    adjustments = sa.table(
        "credit_adjustments",
        sa.column("id", sa.BigInteger),
        sa.column("amount", sa.BigInteger),
        sa.column("reason", sa.String),
        sa.column("stripe_object_id", sa.String),
        sa.column("note", sa.String),
    )
    groups = conn.execute(
        sa.select(
            adjustments.c.reason,
            adjustments.c.stripe_object_id,
            sa.func.min(adjustments.c.id).label("first_id"),
            sa.func.sum(adjustments.c.amount).label("net"),
            sa.func.count().label("moves"),
        )
        .where(adjustments.c.stripe_object_id.is_not(None))
        .group_by(adjustments.c.reason, adjustments.c.stripe_object_id)
        .having(sa.func.count() > 1)
    ).all()
    for group in groups:
        conn.execute(
            sa.update(adjustments)
            .where(adjustments.c.id == group.first_id)
            .values(
                amount=group.net,
                note=f"net of {group.moves} moves for {group.stripe_object_id} "
                "(merged when migration 0005 was rolled back)",
            )
        )
        conn.execute(
            sa.delete(adjustments).where(
                adjustments.c.reason == group.reason,
                adjustments.c.stripe_object_id == group.stripe_object_id,
                adjustments.c.id != group.first_id,
            )
        )
    if groups:
        log.info(f"0005 downgrade: merged the moves of {len(groups)} Stripe objects into one row each")
