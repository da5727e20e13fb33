"""Automatic top-ups that may no longer run are canceled; low-balance e-mails wait on a top-up

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 09:00:00

`credit_purchases.status` gains `canceled` (a top-up switched off, over its cap or without a
card by the time it was charged: nothing charged) and `charge_attempted_at` (when the top-up's
PaymentIntent was last sent to Stripe). `notifications.status` gains `deferred` (a low-balance
e-mail waiting on the top-up in flight) and `dropped` (the top-up refilled the balance).

Pending top-ups written before this revision may have reached Stripe already: the upgrade
marks them attempted, so they are only ever settled from what Stripe says, never canceled blind.
A downgrade refuses while a row uses a new status (the old constraints could not hold it).
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

PURCHASES_OLD = "status IN ('pending', 'completed', 'failed', 'expired')"
PURCHASES_NEW = "status IN ('pending', 'completed', 'failed', 'expired', 'canceled')"
NOTIFICATIONS_OLD = "status IN ('pending', 'sending', 'sent', 'failed')"
NOTIFICATIONS_NEW = "status IN ('pending', 'sending', 'sent', 'failed', 'deferred', 'dropped')"


def upgrade():
    with op.batch_alter_table("credit_purchases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("charge_attempted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(op.f("ck_credit_purchases_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_credit_purchases_status"), PURCHASES_NEW)
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_notifications_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_notifications_status"), NOTIFICATIONS_NEW)
    op.execute(
        "UPDATE credit_purchases SET charge_attempted_at = created_at "
        "WHERE source = 'auto_recharge' AND status = 'pending'"
    )


def downgrade():
    bind = op.get_bind()
    used = bind.execute(
        sa.text(
            "SELECT (SELECT count(*) FROM credit_purchases WHERE status = 'canceled') + "
            "(SELECT count(*) FROM notifications WHERE status IN ('deferred', 'dropped'))"
        )
    ).scalar_one()
    if used:
        raise RuntimeError(
            f"cannot downgrade below 0009: {used} row(s) are canceled top-ups or deferred/dropped "
            "e-mails, which revision 0008 cannot store; delete or change them first"
        )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_notifications_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_notifications_status"), NOTIFICATIONS_OLD)
    with op.batch_alter_table("credit_purchases", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_credit_purchases_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_credit_purchases_status"), PURCHASES_OLD)
        batch_op.drop_column("charge_attempted_at")
