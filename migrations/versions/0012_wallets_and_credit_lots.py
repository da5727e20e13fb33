"""Wallets, and credits that come in lots (§17)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 10:00:00

A balance moves from `users.credits` to a `wallets` row (every user gets a personal wallet,
with the same id as the user when migrated), and every credit in it belongs to a lot.
Purchases, spends, adjustments, API keys and top-up settings name the wallet they move.

Existing credits become lots rebuilt from each user's ledger (`rebuild_lots`): every balance
is what it was and `flask credits audit` is clean afterwards. Lots made here never expire:
they were granted under terms without expiry.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)
LIVE = "remaining > 0 AND voided_at IS NULL"
EXPIRING = "remaining > 0 AND voided_at IS NULL AND expires_at IS NOT NULL"


def upgrade():
    op.create_table(
        "wallets",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("balance", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("owed", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.CheckConstraint("owed >= 0", name=op.f("ck_wallets_owed_not_negative")),
    )
    op.create_table(
        "credit_lots",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("wallet_id", sa.BigInteger(), sa.ForeignKey("wallets.id"), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("remaining", sa.BigInteger(), nullable=False),
        sa.Column("priority", sa.Integer(), server_default="50", nullable=False),
        sa.Column("effective_at", WHEN, nullable=False),
        sa.Column("expires_at", WHEN, nullable=True),
        sa.Column("voided_at", WHEN, nullable=True),
        sa.Column("purchase_id", sa.BigInteger(), sa.ForeignKey("credit_purchases.id"), nullable=True),
        sa.Column("granted_by", sa.BigInteger(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("reason", sa.String(1000), server_default="", nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.CheckConstraint(
            "source IN ('signup_bonus', 'purchase', 'top_up', 'grant', 'migration')",
            name=op.f("ck_credit_lots_source"),
        ),
        sa.CheckConstraint("category IN ('paid', 'promotional')", name=op.f("ck_credit_lots_category")),
        sa.CheckConstraint("amount > 0", name=op.f("ck_credit_lots_amount_positive")),
        sa.CheckConstraint("remaining >= 0", name=op.f("ck_credit_lots_remaining_not_negative")),
        sa.CheckConstraint("priority >= 0 AND priority <= 100", name=op.f("ck_credit_lots_priority_range")),
        sa.UniqueConstraint("purchase_id", name=op.f("uq_credit_lots_purchase_id")),
    )
    op.create_index(
        "ix_credit_lots_wallet_live",
        "credit_lots",
        ["wallet_id", "priority", "expires_at"],
        postgresql_where=sa.text(LIVE),
        sqlite_where=sa.text(LIVE),
    )
    op.create_index(
        "ix_credit_lots_expiring",
        "credit_lots",
        ["expires_at"],
        postgresql_where=sa.text(EXPIRING),
        sqlite_where=sa.text(EXPIRING),
    )
    op.create_index("ix_credit_lots_wallet_created", "credit_lots", ["wallet_id", "created_at", "id"])
    op.create_table(
        "credit_lot_draws",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("spend_id", sa.BigInteger(), sa.ForeignKey("credit_spends.id"), nullable=False),
        sa.Column("lot_id", sa.BigInteger(), sa.ForeignKey("credit_lots.id"), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_credit_lot_draws_amount_not_negative")),
    )
    op.create_index("ix_credit_lot_draws_spend_id", "credit_lot_draws", ["spend_id"])
    op.create_index("ix_credit_lot_draws_lot_id", "credit_lot_draws", ["lot_id"])

    with op.batch_alter_table("credit_adjustments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("wallet_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("lot_id", sa.BigInteger(), nullable=True))
        batch_op.drop_constraint(op.f("ck_credit_adjustments_reason"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_credit_adjustments_reason"),
            "reason IN ('signup_bonus', 'admin', 'refund', 'dispute', 'dispute_won', 'expired', 'voided')",
        )
        batch_op.create_foreign_key(
            op.f("fk_credit_adjustments_wallet_id_wallets"), "wallets", ["wallet_id"], ["id"]
        )
        batch_op.create_foreign_key(
            op.f("fk_credit_adjustments_lot_id_credit_lots"), "credit_lots", ["lot_id"], ["id"]
        )
    op.create_table(
        "credit_lot_entries",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("lot_id", sa.BigInteger(), sa.ForeignKey("credit_lots.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column(
            "adjustment_id", sa.BigInteger(), sa.ForeignKey("credit_adjustments.id"), nullable=True
        ),
        sa.Column("purchase_id", sa.BigInteger(), sa.ForeignKey("credit_purchases.id"), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.CheckConstraint(
            "kind IN ('expired', 'voided', 'clawback', 'debit', 'owed')", name=op.f("ck_credit_lot_entries_kind")
        ),
    )
    op.create_index("ix_credit_lot_entries_lot", "credit_lot_entries", ["lot_id", "id"])
    op.create_index("ix_credit_lot_entries_adjustment_id", "credit_lot_entries", ["adjustment_id"])
    op.create_index("ix_credit_lot_entries_purchase_id", "credit_lot_entries", ["purchase_id"])

    for table in ("users", "credit_purchases", "credit_spends", "api_keys", "auto_recharge_settings"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("wallet_id", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("credit_spends", schema=None) as batch_op:
        batch_op.add_column(sa.Column("credits_held", sa.Integer(), nullable=True))

    rebuild_lots(op.get_bind())

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column("wallet_id", existing_type=sa.BigInteger(), nullable=False)
        batch_op.create_unique_constraint(op.f("uq_users_wallet_id"), ["wallet_id"])
        batch_op.create_foreign_key(op.f("fk_users_wallet_id_wallets"), "wallets", ["wallet_id"], ["id"])
        batch_op.drop_column("credits")
    for table in ("credit_purchases", "credit_spends", "credit_adjustments"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column("wallet_id", existing_type=sa.BigInteger(), nullable=False)
            if table != "credit_adjustments":
                batch_op.create_foreign_key(op.f(f"fk_{table}_wallet_id_wallets"), "wallets", ["wallet_id"], ["id"])
            batch_op.create_index(op.f(f"ix_{table}_wallet_id"), ["wallet_id"])
    for table in ("api_keys", "auto_recharge_settings"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_foreign_key(op.f(f"fk_{table}_wallet_id_wallets"), "wallets", ["wallet_id"], ["id"])


def rebuild_lots(bind: sa.Connection) -> None:
    """One wallet per user (same id), holding the user's balance; its lots from the ledger."""
    bind.execute(
        sa.text("INSERT INTO wallets (id, balance, owed, created_at) SELECT id, credits, 0, created_at FROM users")
    )
    if bind.dialect.name == "postgresql":
        bind.execute(
            sa.text("SELECT setval(pg_get_serial_sequence('wallets', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM wallets")
        )
    for table in ("users", "credit_purchases", "credit_spends", "credit_adjustments", "api_keys", "auto_recharge_settings"):
        column = "id" if table == "users" else "user_id"
        bind.execute(sa.text(f"UPDATE {table} SET wallet_id = {column}"))
    bind.execute(sa.text("UPDATE credit_spends SET credits_held = credits_spent"))
    # One lot per wallet holding what it has and what is on hold now (paid, no expiry); the
    # held spends draw from it.
    bind.execute(
        sa.text(
            "INSERT INTO credit_lots (wallet_id, source, category, amount, remaining, priority,"
            " effective_at, reason, created_at)"
            " SELECT w.id, 'migration', 'paid', w.total, w.remaining, 50, CURRENT_TIMESTAMP,"
            " 'credits held before lots existed', CURRENT_TIMESTAMP FROM ("
            "   SELECT u.id, CASE WHEN u.credits > 0 THEN u.credits ELSE 0 END AS remaining,"
            "   CASE WHEN u.credits > 0 THEN u.credits ELSE 0 END"
            "   + COALESCE((SELECT SUM(s.credits_spent) FROM credit_spends s"
            "     WHERE s.user_id = u.id AND s.status = 'held'), 0) AS total"
            "   FROM users u) w WHERE w.total > 0"
        )
    )
    bind.execute(sa.text("UPDATE wallets SET owed = -balance WHERE balance < 0"))
    bind.execute(
        sa.text(
            "INSERT INTO credit_lot_draws (spend_id, lot_id, amount)"
            " SELECT s.id, l.id, s.credits_spent FROM credit_spends s"
            " JOIN credit_lots l ON l.wallet_id = s.wallet_id WHERE s.status = 'held'"
        )
    )


def downgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("credits", sa.BigInteger(), server_default="0", nullable=False))
    op.execute("UPDATE users SET credits = (SELECT balance FROM wallets WHERE wallets.id = users.wallet_id)")
    for table in ("api_keys", "auto_recharge_settings", "credit_purchases", "credit_spends"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(f"fk_{table}_wallet_id_wallets"), type_="foreignkey")
            if table in ("credit_purchases", "credit_spends"):
                batch_op.drop_index(op.f(f"ix_{table}_wallet_id"))
            batch_op.drop_column("wallet_id")
    with op.batch_alter_table("credit_spends", schema=None) as batch_op:
        batch_op.drop_column("credits_held")
    op.drop_table("credit_lot_entries")
    # Expiries and voids become admin adjustments: 0011 knows no other reason for them.
    op.execute("UPDATE credit_adjustments SET reason = 'admin' WHERE reason IN ('expired', 'voided')")
    with op.batch_alter_table("credit_adjustments", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("fk_credit_adjustments_lot_id_credit_lots"), type_="foreignkey")
        batch_op.drop_constraint(op.f("fk_credit_adjustments_wallet_id_wallets"), type_="foreignkey")
        batch_op.drop_index(op.f("ix_credit_adjustments_wallet_id"))
        batch_op.drop_column("lot_id")
        batch_op.drop_column("wallet_id")
        batch_op.drop_constraint(op.f("ck_credit_adjustments_reason"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_credit_adjustments_reason"), "reason IN ('signup_bonus', 'admin', 'refund', 'dispute', 'dispute_won')"
        )
    op.drop_table("credit_lot_draws")
    op.drop_table("credit_lots")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("fk_users_wallet_id_wallets"), type_="foreignkey")
        batch_op.drop_constraint(op.f("uq_users_wallet_id"), type_="unique")
        batch_op.drop_column("wallet_id")
    op.drop_table("wallets")
