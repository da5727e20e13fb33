"""Buying credits: start a Checkout Session, fulfil a paid one (reconciling: `reconcile`).

Balances change only through `creditapp.ledger`; this module creates the pending
purchase rows and talks to Stripe. Functions take plain ids and values.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
import stripe
from flask import current_app

from creditapp import ledger
from creditapp.billing import invoices, payment_methods, purchase_payments
from creditapp.billing.packs import Pack
from creditapp.models import CreditPurchase, User, personal_wallet, utcnow
from creditapp.platform import stripe_client
from creditapp.platform.transactions import write
from creditapp.teams.organizations import OrganizationView

log = logging.getLogger("creditapp.billing")

purchases = CreditPurchase.__table__
users = User.__table__
PAID = ("paid", "no_payment_required")


class CheckoutUnavailable(Exception):
    """Stripe could not create the Checkout Session; the purchase was marked failed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def start_checkout(
    user_id: int,
    email: str,
    pack: Pack,
    base_url: str,
    save_card: bool = False,
    org: OrganizationView | None = None,
) -> str:
    """Create the pending purchase and its Checkout Session; returns the session URL.

    `save_card` pays as the person's Stripe Customer with `setup_future_usage=off_session`,
    so the card can pay automatic top-ups later (stored when the session is fulfilled).
    With `org` (its owner or admin buying), the credits go to the organization's wallet and it
    pays as the organization's own Customer; a saved card is the organization's.
    """
    config = current_app.config
    customer = None
    # Stripe keeps the name and address given at Checkout on a Customer (for the next invoice).
    if org is not None or save_card or config["STRIPE_AUTOMATIC_TAX"]:
        try:
            if org is not None:
                customer = payment_methods.organization_customer(org.id)
            else:
                customer = payment_methods.customer_for(user_id, email)
        except stripe.StripeError as exc:
            log.error("customer for user %s failed: %s", user_id, exc.__class__.__name__)
            what = "save your card" if save_card else "start the checkout"
            raise CheckoutUnavailable(502, f"Stripe could not {what}. Nothing was charged.") from exc
    # Committed before calling Stripe: whatever happens next, the webhook and
    # `reconcile` can find this row through the session metadata.
    created_at = utcnow()
    with write() as session:
        purchase_id = session.execute(
            sa.insert(purchases)
            .values(
                user_id=user_id,
                wallet_id=org.wallet_id if org is not None else personal_wallet(user_id),
                stripe_price_id=pack.price_id,
                credits_purchased=pack.credits,
                amount_paid=pack.unit_amount,
                currency=pack.currency,
                status="pending",
                created_at=created_at,
            )
            .returning(purchases.c.id)
        ).scalar_one()
    metadata = {"purchase_id": str(purchase_id), "user_id": str(user_id)}
    context = ""
    if org is not None:
        metadata["org_id"] = str(org.id)
        context = f"org={org.id}"  # Stripe sends the buyer back to the organization's receipt
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [{"price": pack.price_id, "quantity": 1}],
        "client_reference_id": str(user_id),
        "metadata": metadata,
        "payment_intent_data": {"metadata": metadata},
        "customer_email": email,
        "success_url": f"{base_url}/checkout/success?session_id={{CHECKOUT_SESSION_ID}}"
        + (f"&{context}" if context else ""),
        "cancel_url": f"{base_url}/checkout/cancel" + (f"?{context}" if context else ""),
    }
    if customer is not None:
        # Stripe takes one of customer and customer_email; the Customer carries the e-mail.
        del params["customer_email"]
        params["customer"] = customer
    if customer is not None and save_card:
        params["metadata"] = {**metadata, "save_card": "1"}
        params["payment_intent_data"] = {"metadata": metadata, "setup_future_usage": "off_session"}
    params.update(invoices.checkout_params(config, metadata, customer))
    try:
        # Derived from the purchase: its id alone would repeat after a database reset (or in
        # another environment sharing the Stripe account) and replay an old session.
        key = f"checkout-purchase-{purchase_id}-{created_at.timestamp():.6f}"
        session = stripe_client.client().v1.checkout.sessions.create(
            params=params, options={"idempotency_key": key}
        )
    except stripe.StripeError as exc:
        ledger.mark_purchase(purchase_id, "failed")
        log.error("checkout session for purchase %s failed: %s", purchase_id, exc.__class__.__name__)
        if isinstance(exc, stripe.APIConnectionError):
            raise CheckoutUnavailable(503, "Stripe could not be reached. Nothing was charged.") from exc
        raise CheckoutUnavailable(502, "Stripe refused to start the checkout. Nothing was charged.") from exc
    with write() as db_session:
        db_session.execute(
            sa.update(purchases)
            .where(purchases.c.id == purchase_id)
            .values(stripe_checkout_session_id=session.id)
        )
    return session.url


def fulfil_session(purchase_id: int, session: dict[str, Any]) -> bool:
    """Credit the purchase if the session is paid, then read its payment back; True when this call credited.

    Raises `stripe.StripeError` when that read fails (the credit stays: crediting is idempotent).
    A session completed but unpaid (a delayed method) records its PaymentIntent on the
    pending purchase: that is how History tells a payment in progress from a checkout
    that was abandoned.
    """
    intent = session.get("payment_intent")
    if isinstance(intent, dict):
        intent = intent.get("id")
    if session.get("payment_status") not in PAID:
        if session.get("status") == "complete" and intent:
            _note_processing(purchase_id, intent)
        return False
    credited = ledger.complete_purchase(
        purchase_id, intent or None, int(session.get("amount_total") or 0), session.get("currency") or "usd"
    )
    # On every paid delivery, not only the one that credited: until the payment has been read
    # back (and the method saved, if asked) this tries again, and raises if Stripe fails.
    purchase_payments.record(purchase_id, session)
    return credited


def _note_processing(purchase_id: int, payment_intent_id: str) -> None:
    """Record the PaymentIntent of a pending purchase whose payment is on its way (no credits move)."""
    with write() as session:
        session.execute(
            sa.update(purchases)
            .where(
                purchases.c.id == purchase_id,
                purchases.c.status == "pending",
                purchases.c.stripe_payment_intent_id.is_(None),
            )
            .values(stripe_payment_intent_id=payment_intent_id)
        )
