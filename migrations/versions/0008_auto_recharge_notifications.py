"""Automatic top-ups with saved cards, low-balance alerts and the e-mail outbox

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 09:30:00

`credit_purchases.source` tells Checkout purchases from automatic top-ups; a partial unique
index allows one pending top-up per user. `auto_recharge_settings` holds the saved card and
the rules; `notifications` is the outbox of e-mails, written with the change that causes them.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
IN_FLIGHT = "source = 'auto_recharge' AND status = 'pending'"
UNSENT = "status IN ('pending', 'sending')"


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stripe_customer_id", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("low_balance_alert_level", sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(op.f("uq_users_stripe_customer_id"), ["stripe_customer_id"])
    with op.batch_alter_table("credit_purchases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("source", sa.String(length=16), server_default="checkout", nullable=False)
        )
        batch_op.create_check_constraint(
            op.f("ck_credit_purchases_source"), "source IN ('checkout', 'auto_recharge')"
        )
    op.create_index(
        "uq_credit_purchases_recharge_in_flight",
        "credit_purchases",
        ["user_id"],
        unique=True,
        postgresql_where=sa.text(IN_FLIGHT),
        sqlite_where=sa.text(IN_FLIGHT),
    )
    op.create_table(
        "auto_recharge_settings",
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("threshold", sa.Integer(), server_default="100", nullable=False),
        sa.Column("stripe_price_id", sa.String(length=255), nullable=True),
        sa.Column("pack_credits", sa.Integer(), nullable=True),
        sa.Column("pack_amount", sa.Integer(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("monthly_cap", sa.Integer(), server_default="3", nullable=False),
        sa.Column("payment_method_id", sa.String(length=255), nullable=True),
        sa.Column("card_brand", sa.String(length=32), nullable=True),
        sa.Column("card_last4", sa.String(length=4), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("disabled_reason", sa.String(length=255), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("threshold >= 0", name=op.f("ck_auto_recharge_settings_threshold_not_negative")),
        sa.CheckConstraint("monthly_cap >= 1", name=op.f("ck_auto_recharge_settings_cap_positive")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_auto_recharge_settings_user_id_users")),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_auto_recharge_settings")),
    )
    op.create_table(
        "notifications",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("dedupe_key", sa.String(length=255), nullable=False),
        sa.Column("to_address", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'failed')", name=op.f("ck_notifications_status")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_notifications_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_notifications_dedupe_key")),
    )
    op.create_index(op.f("ix_notifications_user_id"), "notifications", ["user_id"])
    op.create_index(
        "ix_notifications_unsent_created",
        "notifications",
        ["created_at"],
        postgresql_where=sa.text(UNSENT),
        sqlite_where=sa.text(UNSENT),
    )


def downgrade():
    op.drop_index("ix_notifications_unsent_created", table_name="notifications")
    op.drop_index(op.f("ix_notifications_user_id"), table_name="notifications")
    op.drop_table("notifications")
    op.drop_table("auto_recharge_settings")
    op.drop_index("uq_credit_purchases_recharge_in_flight", table_name="credit_purchases")
    with op.batch_alter_table("credit_purchases", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_credit_purchases_source"), type_="check")
        batch_op.drop_column("source")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("uq_users_stripe_customer_id"), type_="unique")
        batch_op.drop_column("low_balance_alert_level")
        batch_op.drop_column("stripe_customer_id")
