"""Receipts and payment methods stored on purchases; saved payment methods of any type

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-10 10:00:00

A purchase keeps its charge's receipt URL and a summary of what paid for it, read from
Stripe once after crediting, so its receipt pages are answered from the database.
`auto_recharge_settings.payment_method` holds the saved method of any type (Link, bank
debits), not only cards.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade():
    with op.batch_alter_table("credit_purchases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("receipt_url", sa.String(length=2048), nullable=True))
        batch_op.add_column(sa.Column("payment_method", Json, nullable=True))
        batch_op.add_column(sa.Column("payment_recorded_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("auto_recharge_settings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payment_method", Json, nullable=True))
    # Saved cards from before: the same summary, from the columns that held them.
    settings = sa.table(
        "auto_recharge_settings",
        sa.column("payment_method_id", sa.String),
        sa.column("card_brand", sa.String),
        sa.column("card_last4", sa.String),
        sa.column("payment_method", Json),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(settings.c.payment_method_id, settings.c.card_brand, settings.c.card_last4).where(
            settings.c.payment_method_id.is_not(None)
        )
    ).all()
    for row in rows:
        summary = {"type": "card", "brand": row.card_brand, "last4": row.card_last4}
        bind.execute(
            sa.update(settings)
            .where(settings.c.payment_method_id == row.payment_method_id)
            .values(payment_method={k: v for k, v in summary.items() if v})
        )


def downgrade():
    with op.batch_alter_table("auto_recharge_settings", schema=None) as batch_op:
        batch_op.drop_column("payment_method")
    with op.batch_alter_table("credit_purchases", schema=None) as batch_op:
        batch_op.drop_column("payment_recorded_at")
        batch_op.drop_column("payment_method")
        batch_op.drop_column("receipt_url")
