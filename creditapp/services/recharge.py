"""Automatic top-ups: charging the saved card (settings and saving a card: `recharge_settings`).

A top-up starts inside the transaction that took the balance below the threshold
(`ledger.triggers`); this module does the rest with no transaction open while Stripe
answers. `charge` (a queue task) creates and confirms an off-session PaymentIntent with an
idempotency key derived from the purchase, so a repeated message or a sweep re-run gets
Stripe's first answer again, never a second charge. The purchase is credited by whichever
of that answer and the `payment_intent.succeeded` webhook arrives first, through the
ledger's conditional completion; a decline, an authentication request or
`payment_intent.payment_failed` fails it once (`ledger.recharges.fail_recharge`).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
import stripe

from creditapp import ledger, stripe_client
from creditapp.extensions import db
from creditapp.ledger import recharges as ledger_recharges
from creditapp.ledger.triggers import settings_table
from creditapp.models import CreditPurchase, User, utcnow

log = logging.getLogger("creditapp.recharge")

purchases = CreditPurchase.__table__
users = User.__table__
MESSAGES = {
    "card_declined": "Your card was declined.",
    "authentication_required": (
        "Your bank asks you to confirm this payment, which cannot be done while you are away."
    ),
    "no_card": "The saved card was removed.",
}


# --- charging ---------------------------------------------------------------------------------


def charge(purchase_id: int) -> str:
    """Create and confirm the top-up's off-session PaymentIntent; returns what happened."""
    row = db.session.execute(
        sa.select(
            purchases.c.user_id,
            purchases.c.status,
            purchases.c.source,
            purchases.c.amount_paid,
            purchases.c.currency,
            purchases.c.credits_purchased,
            purchases.c.created_at,
            users.c.stripe_customer_id,
            settings_table.c.payment_method_id,
        )
        .join(users, users.c.id == purchases.c.user_id)
        .outerjoin(settings_table, settings_table.c.user_id == purchases.c.user_id)
        .where(purchases.c.id == purchase_id)
    ).one_or_none()
    db.session.commit()  # no transaction open while Stripe answers
    if row is None or row.source != "auto_recharge" or row.status != "pending":
        return "not_pending"
    if not row.payment_method_id or not row.stripe_customer_id:
        ledger_recharges.fail_recharge(purchase_id, "no_card", MESSAGES["no_card"], count=False)
        return "no_card"
    metadata = {"purchase_id": str(purchase_id), "user_id": str(row.user_id), "source": "auto_recharge"}
    params = {
        "amount": row.amount_paid,
        "currency": row.currency,
        "customer": row.stripe_customer_id,
        "payment_method": row.payment_method_id,
        "off_session": True,
        "confirm": True,
        "description": f"Automatic top-up: {row.credits_purchased} credits",
        "metadata": metadata,
    }
    # From the purchase: its id alone could repeat after a database reset and replay an old answer.
    key = f"auto-recharge-{purchase_id}-{row.created_at.timestamp():.6f}"
    try:
        intent = stripe_client.client().v1.payment_intents.create(
            params=params, options={"idempotency_key": key}
        )
    except stripe.CardError as exc:
        failed = exc.error.payment_intent if exc.error is not None else None
        if failed is not None:
            ledger_recharges.record_intent(purchase_id, failed.id)
        code = exc.code or "card_declined"
        ledger_recharges.fail_recharge(purchase_id, code, MESSAGES.get(code, MESSAGES["card_declined"]))
        return code
    except stripe.InvalidRequestError as exc:
        # The card cannot be used (detached at Stripe, say): a failure like a decline.
        ledger_recharges.fail_recharge(
            purchase_id, exc.code or "invalid_request", "Stripe refused the payment."
        )
        return "refused"
    except stripe.StripeError as exc:
        # Stripe unreachable: the purchase stays pending and the sweep runs this again with the
        # same idempotency key (Stripe answers as it did, or charges now).
        log.warning(
            "auto top-up %s: Stripe unavailable (%s); the sweep retries", purchase_id, exc.__class__.__name__
        )
        return "retry"
    return settle(purchase_id, intent.to_dict())


def settle(purchase_id: int, intent: dict[str, Any]) -> str:
    """Apply a PaymentIntent's state to its top-up (the worker's answer or a webhook's)."""
    ledger_recharges.record_intent(purchase_id, intent["id"])
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
        ledger_recharges.fail_recharge(purchase_id, code, MESSAGES.get(code, MESSAGES["card_declined"]))
        return code
    return status or "unknown"  # processing: its webhook finishes it


def purchase_for_intent(intent: dict[str, Any]) -> int | None:
    """The pending top-up this PaymentIntent pays for (by its id, else by our metadata)."""
    found = db.session.execute(
        sa.select(purchases.c.id).where(
            purchases.c.stripe_payment_intent_id == intent["id"],
            purchases.c.source == "auto_recharge",
            purchases.c.status == "pending",
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
                purchases.c.status == "pending",
                sa.or_(
                    purchases.c.stripe_payment_intent_id.is_(None),
                    purchases.c.stripe_payment_intent_id == intent["id"],
                ),
            )
        ).scalar_one_or_none()
    db.session.commit()
    return found


def lost(older_than: timedelta) -> list[int]:
    """Top-ups still pending after `older_than` (a lost message, Stripe down): for the sweep."""
    rows = db.session.execute(
        sa.select(purchases.c.id)
        .where(
            purchases.c.source == "auto_recharge",
            purchases.c.status == "pending",
            purchases.c.created_at < utcnow() - older_than,
        )
        .order_by(purchases.c.id)
        .limit(1000)
    ).scalars()
    found = list(rows)
    db.session.commit()
    return found
