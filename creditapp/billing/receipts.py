"""What the success page and the receipt link show about one of the user's purchases.

A purchase is seen in its wallet's context: a person's own purchase on their personal pages,
an organization's by its owners and admins in its context (`wallet_id`; the view checks the
role), whoever of them bought it.

A purchase that is settled (paid and read back, failed, or expired) is answered from the
database alone. Only one still in flight asks Stripe, and the view rations those calls per
person (`ratelimits.stripe_read_allowed`), because every Stripe call spends the account-wide
rate limit that checkout creation and webhooks share.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
import stripe

from creditapp.billing import checkout, purchase_payments
from creditapp.billing.payment_methods import MethodSummary
from creditapp.models import CreditPurchase, User, personal_wallet, spendable, sql_now
from creditapp.platform import stripe_client
from creditapp.platform.transactions import read

log = logging.getLogger("creditapp.billing")

purchases = CreditPurchase.__table__
users = User.__table__
FINAL = ("completed", "failed", "expired")
LAST_ID = 2**63 - 1  # the largest id a purchase can have (BIGINT): a larger one is no purchase


@dataclass(frozen=True)
class Confirmation:
    """What the success page shows about one of the user's purchases."""

    session_id: str
    status: str
    credits: int
    payment_status: str | None
    amount: int = 0
    currency: str = "usd"
    receipt_url: str | None = None
    balance: int | None = None
    payment_method: MethodSummary | None = None
    recorded: bool = False  # the payment was read back from Stripe after crediting
    purchase_id: int | None = None
    subtotal: int | None = None  # before tax; None: no invoice or tax known
    tax: int | None = None
    invoice_number: str | None = None
    invoice_url: str | None = None  # Stripe's hosted invoice page
    invoice_pdf_url: str | None = None
    paid_at: datetime | None = None  # when it was credited (the invoice's date if it has one)
    source: str = "checkout"

    @property
    def shows_tax(self) -> bool:
        """Subtotal and tax apart: known, and either invoiced or taxed (else the total alone)."""
        known = self.subtotal is not None and self.tax is not None
        return known and (self.invoice_number is not None or bool(self.tax))

    @property
    def processing(self) -> bool:
        """Paid with a delayed method (a bank debit) that has not settled yet."""
        return self.status == "pending" and self.payment_status == "unpaid"

    @property
    def settled(self) -> bool:
        """Nothing left to ask Stripe: failed, expired, or paid and read back."""
        return self.status in FINAL and (self.status != "completed" or self.recorded)


# What the success page shows of a purchase, with the balance after it.
CONFIRMATION = sa.select(
    purchases.c.status,
    purchases.c.credits_purchased,
    purchases.c.amount_paid,
    purchases.c.currency,
    purchases.c.stripe_payment_intent_id,
    purchases.c.receipt_url,
    purchases.c.payment_method,
    purchases.c.payment_recorded_at,
    purchases.c.id,
    purchases.c.stripe_checkout_session_id,
    purchases.c.source,
    purchases.c.completed_at,
    purchases.c.amount_subtotal,
    purchases.c.amount_tax,
    purchases.c.invoice_number,
    purchases.c.invoice_url,
    purchases.c.invoice_pdf_url,
    purchases.c.invoiced_at,
    spendable(purchases.c.wallet_id, sql_now()).label("credits"),
)


def _owned(user_id: int, wallet_id: int | None) -> tuple[sa.ColumnElement, ...]:
    """Purchases as seen in a context: the person's own purchases into their own wallet, or
    (`wallet_id`) any purchase into the organization's wallet."""
    if wallet_id is None:
        return (purchases.c.user_id == user_id, purchases.c.wallet_id == personal_wallet(user_id))
    return (purchases.c.wallet_id == wallet_id,)


def _visible(user_id: int, session_id: str, wallet_id: int | None) -> tuple[sa.ColumnElement, ...]:
    """The purchase of this session as seen in a context (`_owned`)."""
    return (purchases.c.stripe_checkout_session_id == session_id, *_owned(user_id, wallet_id))


def _confirmation(row: sa.Row, payment_status: str | None = None) -> Confirmation:
    """The receipt of one purchase row (`CONFIRMATION`)."""
    return Confirmation(
        row.stripe_checkout_session_id or "",
        row.status,
        row.credits_purchased,
        payment_status,
        amount=row.amount_paid,
        currency=row.currency,
        receipt_url=row.receipt_url,
        balance=row.credits,
        payment_method=MethodSummary.from_json(row.payment_method),
        recorded=row.payment_recorded_at is not None,
        purchase_id=row.id,
        subtotal=row.amount_subtotal,
        tax=row.amount_tax,
        invoice_number=row.invoice_number,
        invoice_url=row.invoice_url,
        invoice_pdf_url=row.invoice_pdf_url,
        paid_at=row.invoiced_at or row.completed_at,
        source=row.source,
    )


def stored_confirmation(
    user_id: int, session_id: str, payment_status: str | None = None, wallet_id: int | None = None
) -> Confirmation | None:
    """The purchase as the database knows it (no Stripe call); None when it is not the user's
    (or, with `wallet_id`, not the organization's).

    A pending purchase that knows its PaymentIntent is a delayed payment on its way.
    """
    mine = _visible(user_id, session_id, wallet_id)
    with read() as session:
        row = session.execute(CONFIRMATION.where(*mine)).one_or_none()
    if row is None:
        return None
    if payment_status is None and row.status == "pending" and row.stripe_payment_intent_id:
        payment_status = "unpaid"
    return _confirmation(row, payment_status)


def completed_receipt(user_id: int, purchase_id: int, wallet_id: int | None = None) -> Confirmation | None:
    """One of the user's completed purchases (or, with `wallet_id`, the organization's) as its
    receipt page shows it (no Stripe call)."""
    if not 0 < purchase_id <= LAST_ID:
        return None
    with read() as session:
        row = session.execute(
            CONFIRMATION.where(
                purchases.c.id == purchase_id,
                purchases.c.status == "completed",
                *_owned(user_id, wallet_id),
            )
        ).one_or_none()
    return None if row is None else _confirmation(row)


def confirm_checkout(user_id: int, session_id: str, wallet_id: int | None = None) -> Confirmation | None:
    """Ask Stripe about the user's session (or the organization's: `wallet_id`) and fulfil it
    if the webhook has not yet.

    None when the session is not theirs. Stripe being unreachable, or failing while the
    payment is read back, is not an error here: the webhook credits and reads it, and the
    page keeps polling.
    """
    # The read ends before Stripe is called: no transaction (and no pooled connection) may
    # stay open while an HTTP call runs.
    with read() as db_session:
        found = db_session.execute(
            sa.select(purchases.c.id, purchases.c.user_id).where(*_visible(user_id, session_id, wallet_id))
        ).one_or_none()
    if found is None:
        return None
    purchase_id, buyer = found
    payment_status = None
    try:
        session = (
            stripe_client.client()
            .v1.checkout.sessions.retrieve(
                session_id,
                params={
                    "expand": ["payment_intent.latest_charge", "payment_intent.payment_method", "invoice"]
                },
            )
            .to_dict()
        )
    except stripe.InvalidRequestError:
        return None
    except stripe.StripeError as exc:
        log.warning("could not retrieve checkout session %s: %s", session_id, exc.__class__.__name__)
    else:
        if session.get("client_reference_id") != str(buyer):
            return None
        payment_status = session.get("payment_status")
        try:
            checkout.fulfil_session(purchase_id, session)
        except stripe.StripeError as exc:
            log.warning("payment of purchase %s not read back yet: %s", purchase_id, exc.__class__.__name__)
    return stored_confirmation(user_id, session_id, payment_status, wallet_id)


@dataclass(frozen=True)
class StoredReceipt:
    """One of the user's completed purchases as its receipt link needs it."""

    purchase_id: int
    receipt_url: str | None
    payment_intent_id: str | None


def stored_receipt(user_id: int, purchase_id: int) -> StoredReceipt | None:
    """The user's completed purchase and its stored receipt URL (no Stripe call); None: no such purchase.

    Only a purchase into their own wallet: one they made for an organization is the
    organization's (a buyer removed from it loses it with the rest).
    """
    if not 0 < purchase_id <= LAST_ID:
        return None
    with read() as session:
        row = session.execute(
            sa.select(purchases.c.receipt_url, purchases.c.stripe_payment_intent_id).where(
                purchases.c.id == purchase_id,
                purchases.c.user_id == user_id,
                purchases.c.wallet_id == personal_wallet(user_id),
                purchases.c.status == "completed",
            )
        ).one_or_none()
    if row is None:
        return None
    return StoredReceipt(purchase_id, row.receipt_url, row.stripe_payment_intent_id)


def read_receipt(receipt: StoredReceipt) -> str | None:
    """The receipt URL from Stripe, kept for next time; raises `stripe.StripeError`."""
    if receipt.receipt_url or not receipt.payment_intent_id:
        return receipt.receipt_url
    return purchase_payments.read_receipt(receipt.purchase_id, receipt.payment_intent_id)
