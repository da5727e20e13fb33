"""Automatic top-ups: saving a card, the settings page's rules, charging a saved card.

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
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
import stripe

from creditapp import ledger, stripe_client
from creditapp.extensions import db
from creditapp.ledger import recharges as ledger_recharges
from creditapp.ledger.triggers import month_start, settings_table
from creditapp.models import CreditPurchase, User, utcnow
from creditapp.services.packs import Pack
from creditapp.sql import conflict_insert

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


class RechargeRefused(Exception):
    """The settings cannot be saved as asked (no card, a value out of range); nothing changed."""


@dataclass(frozen=True)
class RechargeSettings:
    """What the auto top-up page shows."""

    enabled: bool
    threshold: int
    stripe_price_id: str | None
    pack_credits: int | None
    pack_amount: int | None
    currency: str | None
    monthly_cap: int
    card_brand: str | None
    card_last4: str | None
    consecutive_failures: int
    disabled_reason: str | None
    this_month: int  # top-ups pending or completed this calendar month (UTC)

    @property
    def has_card(self) -> bool:
        return self.card_last4 is not None


DEFAULTS = RechargeSettings(False, 100, None, None, None, None, 3, None, None, 0, None, 0)


# --- the settings page ------------------------------------------------------------------------


def settings_for(user_id: int) -> RechargeSettings:
    """The person's auto top-up settings (the defaults when never set)."""
    row = db.session.execute(
        sa.select(settings_table).where(settings_table.c.user_id == user_id)
    ).one_or_none()
    count = db.session.execute(
        sa.select(sa.func.count())
        .select_from(purchases)
        .where(
            purchases.c.user_id == user_id,
            purchases.c.source == "auto_recharge",
            purchases.c.status.in_(("pending", "completed")),
            purchases.c.created_at >= month_start(utcnow()),
        )
    ).scalar_one()
    db.session.commit()
    if row is None:
        return DEFAULTS
    return RechargeSettings(
        row.enabled,
        row.threshold,
        row.stripe_price_id,
        row.pack_credits,
        row.pack_amount,
        row.currency,
        row.monthly_cap,
        row.card_brand,
        row.card_last4,
        row.consecutive_failures,
        row.disabled_reason,
        count,
    )


def update_settings(user_id: int, enabled: bool, threshold: int, pack: Pack, monthly_cap: int) -> None:
    """Save threshold, pack and cap; switching on needs a saved card and clears a past switch-off."""
    if not 0 <= threshold <= 1_000_000:
        raise RechargeRefused("The threshold must be between 0 and 1,000,000 credits.")
    if not 1 <= monthly_cap <= 100:
        raise RechargeRefused("The monthly cap must be between 1 and 100 top-ups.")
    current = settings_for(user_id)
    if enabled and not current.has_card:
        raise RechargeRefused("Save a card first: buy a pack with “Save this card for automatic top-ups”.")
    values: dict[str, Any] = {
        "enabled": enabled,
        "threshold": threshold,
        "stripe_price_id": pack.price_id,
        "pack_credits": pack.credits,
        "pack_amount": pack.unit_amount,
        "currency": pack.currency,
        "monthly_cap": monthly_cap,
        "updated_at": utcnow(),
    }
    if enabled:
        values.update(consecutive_failures=0, disabled_reason=None)
    _upsert(user_id, values)


def remove_card(user_id: int) -> bool:
    """Detach the saved card at Stripe and forget it; auto top-up goes off. False: no card."""
    method = db.session.execute(
        sa.select(settings_table.c.payment_method_id).where(settings_table.c.user_id == user_id)
    ).scalar_one_or_none()
    db.session.commit()
    if method is None:
        return False
    try:
        stripe_client.client().v1.payment_methods.detach(method)
    except stripe.InvalidRequestError as exc:
        # Already detached (or gone): forgetting it here is all that is left to do.
        log.info("payment method %s was not attached: %s", method, exc.code)
    _upsert(user_id, {"payment_method_id": None, "card_brand": None, "card_last4": None, "enabled": False})
    return True


def _upsert(user_id: int, values: dict[str, Any]) -> None:
    db.session.execute(
        conflict_insert(settings_table)
        .values(user_id=user_id, **{"updated_at": utcnow(), **values})
        .on_conflict_do_update(index_elements=["user_id"], set_=values)
    )
    db.session.commit()


# --- saving a card at Checkout ------------------------------------------------------------------


def customer_for(user_id: int, email: str) -> str:
    """The person's Stripe Customer, created the first time a card is saved."""
    row = db.session.execute(
        sa.select(users.c.stripe_customer_id, users.c.created_at).where(users.c.id == user_id)
    ).one()
    db.session.commit()
    if row.stripe_customer_id:
        return row.stripe_customer_id
    customer = stripe_client.client().v1.customers.create(
        params={"email": email, "metadata": {"user_id": str(user_id)}},
        options={"idempotency_key": f"customer-user-{user_id}-{row.created_at.timestamp():.6f}"},
    )
    db.session.execute(
        sa.update(users)
        .where(users.c.id == user_id, users.c.stripe_customer_id.is_(None))
        .values(stripe_customer_id=customer.id)
    )
    db.session.commit()
    return db.session.execute(sa.select(users.c.stripe_customer_id).where(users.c.id == user_id)).scalar_one()


def save_card_from_session(user_id: int, session: dict[str, Any]) -> bool:
    """After a paid Checkout that asked to save the card: store its brand and last 4."""
    if (session.get("metadata") or {}).get("save_card") != "1" or not session.get("customer"):
        return False
    intent = session.get("payment_intent")
    intent_id = intent.get("id") if isinstance(intent, dict) else intent
    if not intent_id:
        return False
    db.session.commit()  # no transaction open while Stripe answers
    paid = stripe_client.client().v1.payment_intents.retrieve(
        intent_id, params={"expand": ["payment_method"]}
    )
    method = paid.payment_method
    if method is None or getattr(method, "customer", None) != session["customer"]:
        return False
    card = method.card
    _upsert(
        user_id,
        {
            "payment_method_id": method.id,
            "card_brand": card.brand,
            "card_last4": card.last4,
            "consecutive_failures": 0,
        },
    )
    return True


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
