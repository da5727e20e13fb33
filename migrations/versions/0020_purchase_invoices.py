"""Invoices and tax on purchases

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 13:40:00

A purchase keeps what its invoice says (DESIGN §21): the amounts before and after tax
(minor units), the Stripe Invoice's id and number, its hosted page and PDF links, and when it
was issued. All are empty for a purchase made before invoices, or with `STRIPE_INVOICES=0`.
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("credit_purchases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("amount_subtotal", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("amount_tax", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("stripe_invoice_id", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("invoice_number", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("invoice_url", sa.String(length=2048), nullable=True))
        batch_op.add_column(sa.Column("invoice_pdf_url", sa.String(length=2048), nullable=True))
        batch_op.add_column(sa.Column("invoiced_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint("uq_credit_purchases_stripe_invoice_id", ["stripe_invoice_id"])


def downgrade():
    with op.batch_alter_table("credit_purchases", schema=None) as batch_op:
        batch_op.drop_constraint("uq_credit_purchases_stripe_invoice_id", type_="unique")
        batch_op.drop_column("invoiced_at")
        batch_op.drop_column("invoice_pdf_url")
        batch_op.drop_column("invoice_url")
        batch_op.drop_column("invoice_number")
        batch_op.drop_column("stripe_invoice_id")
        batch_op.drop_column("amount_tax")
        batch_op.drop_column("amount_subtotal")
