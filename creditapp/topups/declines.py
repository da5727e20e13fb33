"""What an off-session top-up charge that Stripe refused or could not answer does.

Both ways of charging a top-up (a bare PaymentIntent, or an Invoice paid off-session) end
here on an error: a declined card fails the top-up with the person's reason, a card or
Customer Stripe cannot use fails it like a decline, and Stripe being unreachable leaves the
purchase pending for the sweep to run again with the same idempotency keys.
"""

from __future__ import annotations

import logging

import stripe

from creditapp.ledger import topups as ledger_topups

log = logging.getLogger("creditapp.recharge")

MESSAGES = {
    "card_declined": "Your card was declined.",
    "authentication_required": (
        "Your bank asks you to confirm this payment, which cannot be done while you are away."
    ),
}


def message(code: str) -> str:
    """What the person is told of a declined top-up, by Stripe's code."""
    return MESSAGES.get(code, MESSAGES["card_declined"])


def answer(purchase_id: int, exc: stripe.StripeError) -> str:
    """Record what Stripe's error means for the top-up; returns the outcome (`charging.charge`'s)."""
    if isinstance(exc, stripe.CardError):
        failed = exc.error.payment_intent if exc.error is not None else None
        if failed is not None:
            ledger_topups.record_intent(purchase_id, failed.id)
        code = exc.code or "card_declined"
        ledger_topups.fail_topup(purchase_id, code, message(code))
        return code
    if isinstance(exc, stripe.InvalidRequestError):
        # The card or the Customer cannot be used (detached at Stripe, no address for the tax).
        log.warning("auto top-up %s: Stripe refused it: %s", purchase_id, exc.code)
        ledger_topups.fail_topup(purchase_id, exc.code or "invalid_request", "Stripe refused the payment.")
        return "refused"
    # Stripe unreachable: the purchase stays pending and the sweep runs this again with the
    # same idempotency keys (Stripe answers as it did, or charges now).
    log.warning(
        "auto top-up %s: Stripe unavailable (%s); the sweep retries", purchase_id, exc.__class__.__name__
    )
    return "retry"
