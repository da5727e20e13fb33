"""What a Stripe PaymentMethod is, as we store and show it, whether top-ups may charge it, and
the Stripe Customer a saved method belongs to.

Checkout can pay with (and save) more than cards: Link, and bank debits such as ACH
(`us_bank_account`) and SEPA. We keep a small summary of each (its type; brand and last 4
for a card, the e-mail for Link, the bank and last 4 for a bank debit), never the object.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from creditapp.models import Organization, User
from creditapp.platform import stripe_client
from creditapp.platform.transactions import read, write

users = User.__table__
organizations = Organization.__table__

# Automatic top-ups charge these off-session and learn the outcome at once. Stripe can also
# charge a saved bank debit off-session, but it settles days later and may fail after that,
# so it cannot refill a balance that is running out (docs/using.md, Automatic top-up).
TOP_UP_TYPES = frozenset({"card", "link"})

BRANDS = {
    "amex": "American Express",
    "cartes_bancaires": "Cartes Bancaires",
    "diners": "Diners Club",
    "discover": "Discover",
    "eftpos_au": "eftpos",
    "jcb": "JCB",
    "mastercard": "Mastercard",
    "unionpay": "UnionPay",
    "visa": "Visa",
}
TYPE_NAMES = {
    "card": "Card",
    "link": "Link",
    "us_bank_account": "US bank account",
    "sepa_debit": "SEPA Direct Debit",
    "bacs_debit": "Bacs Direct Debit",
    "acss_debit": "Canadian pre-authorized debit",
    "au_becs_debit": "BECS Direct Debit",
}


@dataclass(frozen=True)
class MethodSummary:
    """A payment method as a person recognises it; stored as JSON on purchases and settings."""

    type: str
    brand: str | None = None  # cards
    last4: str | None = None  # cards and bank accounts
    email: str | None = None  # Link
    bank_name: str | None = None  # bank debits

    @classmethod
    def from_stripe(cls, method: dict[str, Any]) -> MethodSummary:
        """The summary of a PaymentMethod object (any type; unknown ones keep only their type)."""
        kind = str(method.get("type") or "unknown")
        details = method.get(kind) if isinstance(method.get(kind), dict) else {}
        return cls(
            kind,
            brand=details.get("brand") if kind == "card" else None,
            last4=details.get("last4"),
            email=details.get("email") if kind == "link" else None,
            bank_name=details.get("bank_name"),
        )

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> MethodSummary | None:
        """The summary stored in a JSON column (None when nothing is stored)."""
        if not data or not data.get("type"):
            return None
        fields = ("brand", "last4", "email", "bank_name")
        return cls(str(data["type"]), **{name: data.get(name) for name in fields})

    def to_json(self) -> dict[str, Any]:
        """What the JSON column stores."""
        found = {"brand": self.brand, "last4": self.last4, "email": self.email, "bank_name": self.bank_name}
        return {"type": self.type, **{key: value for key, value in found.items() if value}}

    @property
    def can_top_up(self) -> bool:
        """Whether automatic top-ups may charge it (TOP_UP_TYPES)."""
        return self.type in TOP_UP_TYPES

    @property
    def label(self) -> str:
        """`Visa ending in 4242`, `Link (ann@example.com)`, `STRIPE TEST BANK account ending in 6789`."""
        if self.type == "card":
            brand = BRANDS.get(self.brand or "", (self.brand or "Card").replace("_", " ").title())
            return f"{brand} ending in {self.last4}" if self.last4 else brand
        if self.type == "link":
            return f"Link ({self.email})" if self.email else "Link"
        name = TYPE_NAMES.get(self.type, self.type.replace("_", " ").capitalize())
        if self.last4:
            bank = f"{self.bank_name} account" if self.bank_name else f"{name} account"
            return f"{bank} ending in {self.last4}" + (f" ({name})" if self.bank_name else "")
        return name


def customer_for(user_id: int, email: str) -> str:
    """The person's Stripe Customer, created the first time a card is saved."""
    return _customer_of(
        users, user_id, "user", lambda row: {"email": email, "metadata": {"user_id": str(user_id)}}
    )


def organization_customer(org_id: int) -> str:
    """The organization's own Stripe Customer, created the first time it buys or saves a card."""
    return _customer_of(
        organizations, org_id, "org", lambda row: {"name": row.name, "metadata": {"org_id": str(org_id)}}
    )


def _customer_of(table: sa.Table, row_id: int, kind: str, params: Callable[[sa.Row], dict[str, Any]]) -> str:
    """The Stripe Customer stored on a person's or an organization's row, created once.

    Two first requests at once end with one Customer: both ask Stripe with the same
    idempotency key (from the row's id and creation time, so never reused after a database
    reset), Stripe creates it once and answers both with it, and only the first to store it
    is kept (and returned to both).
    """
    with read() as session:  # ended before Stripe is asked
        row = session.execute(sa.select(table).where(table.c.id == row_id)).one()
    if row.stripe_customer_id:
        return row.stripe_customer_id
    customer = stripe_client.client().v1.customers.create(
        params=params(row),
        options={"idempotency_key": f"customer-{kind}-{row_id}-{row.created_at.timestamp():.6f}"},
    )
    with write() as session:
        session.execute(
            sa.update(table)
            .where(table.c.id == row_id, table.c.stripe_customer_id.is_(None))
            .values(stripe_customer_id=customer.id)
        )
        return session.execute(sa.select(table.c.stripe_customer_id).where(table.c.id == row_id)).scalar_one()
