"""Automatic top-ups: charging the saved card (its settings and the saved card: `topups.settings`).

A top-up starts inside the transaction that took the balance below the threshold
(`ledger.triggers`); this module does the rest with no transaction open while Stripe
answers. `charge` (a queue task) creates and confirms an off-session PaymentIntent with an
idempotency key derived from the purchase, so a repeated message or a sweep re-run gets
Stripe's first answer again, never a second charge. The purchase is credited by whichever
of that answer and the `payment_intent.succeeded` webhook arrives first, through the
ledger's conditional completion; a decline, an authentication request or
`payment_intent.payment_failed` fails it once (`ledger.topups.fail_topup`).

With `STRIPE_INVOICES` on (the default) the charge goes through a Stripe Invoice instead of a
bare PaymentIntent (`topups.invoicing`): same turn, same keys derived from the purchase, same
settling, and an invoice for the person.

Settings win over a queued message: right before Stripe is asked, the top-up must still be
allowed (`ledger.topups.take_charge_turn`), else it is canceled, nothing charged. A top-up
that may have reached Stripe already, or that is older than Stripe keeps idempotency keys, is
never sent again: `recover` settles it from Stripe's record (or cancels it when Stripe has none).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
import stripe
from flask import current_app

from creditapp import ledger
from creditapp.billing import invoices
from creditapp.extensions import db
from creditapp.ledger import topups as ledger_topups
from creditapp.models import CreditPurchase, utcnow, wallet_customer
from creditapp.platform import stripe_client
from creditapp.platform.transactions import read
from creditapp.topups import declines, invoicing

log = logging.getLogger("creditapp.recharge")

purchases = CreditPurchase.__table__


# --- charging ---------------------------------------------------------------------------------

# Stripe keeps an idempotency key for 24 hours. A top-up created longer ago than this is never
# sent to Stripe again (a new key could charge twice): it is settled from Stripe's record.
IDEMPOTENCY_WINDOW = timedelta(hours=24)
# How long one attempt can still be on its way to Stripe: the client's timeout, three tries,
# and slack. Within it, `recover` does not take "Stripe has no PaymentIntent" for an answer.
ATTEMPT_IN_FLIGHT = timedelta(minutes=5)
# The top-ups a PaymentIntent's news can still change: pending, and canceled (credited if paid).
OPEN_TO_STRIPE = ("pending", "canceled")


def charge(purchase_id: int) -> str:
    """Create and confirm the top-up's off-session PaymentIntent; returns what happened.

    First, under the trigger's locks, the top-up must still be allowed (auto top-up on, a card,
    the cap): one that may no longer run is canceled, nothing charged (`ledger.topups`).
    """
    turn = ledger_topups.take_charge_turn(purchase_id, utcnow() - IDEMPOTENCY_WINDOW)
    if turn.outcome != "charge":
        return recover(purchase_id) if turn.outcome == "ask_stripe" else turn.outcome
    if current_app.config["STRIPE_INVOICES"]:
        # Through an Invoice for the pack (DESIGN §21): same keys, same outcomes, and an invoice.
        return invoicing.charge(purchase_id, turn, settle)
    # No transaction is open from here on: Stripe may take its time.
    metadata = {"purchase_id": str(purchase_id), "user_id": str(turn.user_id), "source": "auto_recharge"}
    params = {
        "amount": turn.amount,
        "currency": turn.currency,
        "customer": turn.customer_id,
        "payment_method": turn.payment_method_id,
        "off_session": True,
        "confirm": True,
        "description": f"Automatic top-up: {turn.credits} credits",
        "metadata": metadata,
    }
    # From the purchase: its id alone could repeat after a database reset and replay an old answer.
    key = f"auto-recharge-{purchase_id}-{turn.created_at.timestamp():.6f}"
    try:
        intent = stripe_client.client().v1.payment_intents.create(
            params=params, options={"idempotency_key": key}
        )
    except stripe.StripeError as exc:
        return declines.answer(purchase_id, exc)
    return settle(purchase_id, intent.to_dict())


def recover(purchase_id: int) -> str:
    """Settle a pending top-up from Stripe's record alone, never creating a PaymentIntent.

    For a top-up that may no longer be charged but may have reached Stripe before (switched off
    after an attempt whose answer was lost), or that is older than Stripe keeps idempotency keys.
    Stripe has its PaymentIntent: settled by its state. Stripe has none: canceled. Stripe
    unreachable: left pending for the next sweep.
    """
    with read() as session:  # ended before Stripe is asked
        row = session.execute(
            sa.select(
                purchases.c.status,
                purchases.c.stripe_payment_intent_id,
                purchases.c.charge_attempted_at,
                purchases.c.stripe_invoice_id,
                wallet_customer(purchases.c.wallet_id).label("stripe_customer_id"),
            ).where(purchases.c.id == purchase_id, purchases.c.source == "auto_recharge")
        ).one_or_none()
    if row is None or row.status != "pending":
        return "not_pending"
    try:
        if row.stripe_invoice_id and not row.stripe_payment_intent_id:
            # Charged through an Invoice: its PaymentIntent, if it was paid, is the one to settle by.
            invoice = stripe_client.client().v1.invoices.retrieve(row.stripe_invoice_id).to_dict()
            invoicing.keep(purchase_id, invoices.from_invoice(invoice))
            intent = invoices.paid_by(invoice)
        else:
            intent = _find_intent(purchase_id, row.stripe_payment_intent_id, row.stripe_customer_id)
    except stripe.StripeError as exc:
        log.warning("auto top-up %s: Stripe unavailable (%s); the sweep retries", purchase_id, exc)
        return "retry"
    if intent is None:
        if row.charge_attempted_at is not None and row.charge_attempted_at > utcnow() - ATTEMPT_IN_FLIGHT:
            return "retry"  # that attempt may still be on its way to Stripe: not found yet is not none
        canceled = ledger_topups.cancel_topup(purchase_id, row.charge_attempted_at)
        return "canceled" if canceled else "not_pending"
    return settle(purchase_id, intent)


def _find_intent(purchase_id: int, intent_id: str | None, customer_id: str | None) -> dict[str, Any] | None:
    """The top-up's PaymentIntent at Stripe: by its recorded id, else by our metadata among
    the Customer's PaymentIntents; None when Stripe has none."""
    client = stripe_client.client()
    if intent_id:
        return client.v1.payment_intents.retrieve(intent_id).to_dict()
    if not customer_id:
        return None
    found = client.v1.payment_intents.list(params={"customer": customer_id, "limit": 100})
    for intent in found.auto_paging_iter():
        found_intent = intent.to_dict()
        metadata = found_intent.get("metadata") or {}
        if metadata.get("source") == "auto_recharge" and metadata.get("purchase_id") == str(purchase_id):
            return found_intent
    return None


def settle(purchase_id: int, intent: dict[str, Any]) -> str:
    """Apply a PaymentIntent's state to its top-up (the worker's answer or a webhook's)."""
    ledger_topups.record_intent(purchase_id, intent["id"])
    status = intent.get("status")
    if status == "succeeded":
        amount = int(intent.get("amount_received") or intent.get("amount") or 0)
        ledger.complete_purchase(purchase_id, intent["id"], amount, intent.get("currency") or "usd")
        return "succeeded"
    if status in ("requires_action", "requires_payment_method", "canceled"):
        error = intent.get("last_payment_error") or {}
        code = error.get("code") or (
            "authentication_required" if status == "requires_action" else "card_declined"
        )
        ledger_topups.fail_topup(purchase_id, code, declines.message(code))
        return code
    return status or "unknown"  # processing: its webhook finishes it


def purchase_for_intent(intent: dict[str, Any]) -> int | None:
    """The pending (or canceled) top-up this PaymentIntent pays for (by its id, else by our
    metadata): a canceled one whose charge Stripe took after all is credited when it succeeds.

    A lookup in the caller's transaction (its `read()`).
    """
    found = db.session.execute(
        sa.select(purchases.c.id).where(
            purchases.c.stripe_payment_intent_id == intent["id"],
            purchases.c.source == "auto_recharge",
            purchases.c.status.in_(OPEN_TO_STRIPE),
        )
    ).scalar_one_or_none()
    metadata = intent.get("metadata") or {}
    if found is None and metadata.get("source") == "auto_recharge":
        try:
            purchase_id, user_id = int(metadata["purchase_id"]), int(metadata["user_id"])
        except (KeyError, TypeError, ValueError):
            purchase_id = user_id = 0
        found = db.session.execute(
            sa.select(purchases.c.id).where(
                purchases.c.id == purchase_id,
                purchases.c.user_id == user_id,
                purchases.c.source == "auto_recharge",
                purchases.c.status.in_(OPEN_TO_STRIPE),
                sa.or_(
                    purchases.c.stripe_payment_intent_id.is_(None),
                    purchases.c.stripe_payment_intent_id == intent["id"],
                ),
            )
        ).scalar_one_or_none()
    return found
