"""Looking a charge up at Stripe: we store PaymentIntents, not charges (the staff search uses it)."""

from __future__ import annotations

import logging

import stripe

from creditapp.platform import stripe_client

log = logging.getLogger("creditapp.billing")
CHARGE_PREFIXES = ("ch_", "py_")


def payment_intent_for_charge(charge_id: str) -> str | None:
    """The PaymentIntent a charge belongs to, asked of Stripe; None when Stripe has no such charge."""
    if not charge_id.startswith(CHARGE_PREFIXES):
        return None
    try:
        charge = stripe_client.client().v1.charges.retrieve(charge_id).to_dict()
    except stripe.InvalidRequestError:
        return None
    except stripe.StripeError as exc:  # Stripe is down: the search finds what the database has
        log.warning("charge %s could not be read from Stripe: %s", charge_id, exc)
        return None
    intent = charge.get("payment_intent")
    return intent if isinstance(intent, str) else (intent or {}).get("id")
