"""Organizations buy packs and top up: settings by wallet, e-mails about a wallet

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 14:00:00

An organization's wallet has automatic top-up settings of its own, so
`auto_recharge_settings` is keyed by the wallet it fills (`wallet_id`, the primary key;
`user_id` is who saved them), and "one top-up in flight" is per wallet. An organization has
a low-balance alert level of its own, and an outbox e-mail about a wallet's balance names
that wallet (`notifications.wallet_id`), so a top-up's outcome finds the e-mails that wait
on it, whoever they go to (docs/teams.md).
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
IN_FLIGHT = "source = 'auto_recharge' AND status = 'pending'"


def upgrade():
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("low_balance_alert_level", sa.Integer(), nullable=True))

    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("wallet_id", BigId, nullable=True))
        batch_op.create_foreign_key(op.f("fk_notifications_wallet_id_wallets"), "wallets", ["wallet_id"], ["id"])
        batch_op.create_index(op.f("ix_notifications_wallet_id"), ["wallet_id"], unique=False)
    # Low-balance e-mails still waiting on a top-up are about their person's own wallet.
    op.execute(
        "UPDATE notifications SET wallet_id = (SELECT wallet_id FROM users WHERE users.id = notifications.user_id) "
        "WHERE kind = 'low_balance'"
    )

    op.execute(
        "UPDATE auto_recharge_settings SET wallet_id = "
        "(SELECT wallet_id FROM users WHERE users.id = auto_recharge_settings.user_id) WHERE wallet_id IS NULL"
    )
    with op.batch_alter_table("auto_recharge_settings", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("pk_auto_recharge_settings"), type_="primary")
        batch_op.alter_column("wallet_id", existing_type=BigId, nullable=False)
        batch_op.create_primary_key(op.f("pk_auto_recharge_settings"), ["wallet_id"])
        batch_op.create_index(op.f("ix_auto_recharge_settings_user_id"), ["user_id"], unique=False)

    op.drop_index("uq_credit_purchases_recharge_in_flight", table_name="credit_purchases")
    op.create_index(
        "uq_credit_purchases_recharge_in_flight",
        "credit_purchases",
        ["wallet_id"],
        unique=True,
        postgresql_where=sa.text(IN_FLIGHT),
        sqlite_where=sa.text(IN_FLIGHT),
    )


def downgrade():
    op.drop_index("uq_credit_purchases_recharge_in_flight", table_name="credit_purchases")
    # Organizations' top-ups and settings have no place in the older schema.
    op.execute(
        "DELETE FROM auto_recharge_settings WHERE wallet_id NOT IN (SELECT wallet_id FROM users)"
    )
    op.create_index(
        "uq_credit_purchases_recharge_in_flight",
        "credit_purchases",
        ["user_id"],
        unique=True,
        postgresql_where=sa.text(IN_FLIGHT),
        sqlite_where=sa.text(IN_FLIGHT),
    )
    with op.batch_alter_table("auto_recharge_settings", schema=None) as batch_op:
        batch_op.drop_index(op.f("ix_auto_recharge_settings_user_id"))
        batch_op.drop_constraint(op.f("pk_auto_recharge_settings"), type_="primary")
        batch_op.alter_column("wallet_id", existing_type=BigId, nullable=True)
        batch_op.create_primary_key(op.f("pk_auto_recharge_settings"), ["user_id"])

    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index(op.f("ix_notifications_wallet_id"))
        batch_op.drop_constraint(op.f("fk_notifications_wallet_id_wallets"), type_="foreignkey")
        batch_op.drop_column("wallet_id")

    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_column("low_balance_alert_level")
