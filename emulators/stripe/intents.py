"""PaymentIntents created through the API: off-session charges of a saved card.

``confirm=true`` with a Customer's saved PaymentMethod charges it at once. The card decides
the outcome (``customers.CARDS``): succeeded (a Charge; ``charge.succeeded`` and
``payment_intent.succeeded``), declined (a failed Charge, ``charge.failed`` and
``payment_intent.payment_failed``, a 402 ``card_declined``), or authentication required
(``requires_action``, ``payment_intent.requires_action``, a 402 ``authentication_required``).
"""

from __future__ import annotations

import copy
from typing import Any

from . import customers, payment_objects
from .errors import StripeError, invalid_param, missing_param
from .state import Store


class CardError(StripeError):
    """A 402 ``card_error`` carrying the PaymentIntent, as Stripe's body does."""

    def __init__(self, message: str, code: str, extra: dict[str, Any]) -> None:
        super().__init__(message, status=402, type="card_error", code=code)
        self.extra = extra

    def body(self) -> dict[str, Any]:
        """Stripe's error body, with ``decline_code``, ``charge``, ``payment_intent``…"""
        body = super().body()
        body["error"].update(self.extra)
        return body


def create(store: Store, params: dict[str, Any], receipts: str) -> dict[str, Any]:
    """Create a PaymentIntent; with ``confirm`` charge its PaymentMethod now."""
    for name in ("amount", "currency"):
        if params.get(name) in (None, ""):
            raise missing_param(name)
    customer_id = params.get("customer")
    if customer_id:
        store.get("customer", customer_id, param="customer", status=400)
    method = None
    if params.get("payment_method"):
        method = store.get("payment_method", params["payment_method"], param="payment_method", status=400)
        if method["customer"] != customer_id:
            raise invalid_param(
                "payment_method",
                "The provided PaymentMethod does not belong to the Customer given: attach it "
                "to that Customer first, or pass the Customer it is attached to.",
            )
    if params.get("confirm") and method is None:
        raise invalid_param(
            "confirm",
            "The local Stripe stand-in does not implement confirming a PaymentIntent without a "
            "saved `payment_method` (it has no card form for the API).",
        )
    intent = store.add(
        payment_objects.payment_intent(
            params["amount"],
            params["currency"].lower(),
            params.get("metadata") or {},
            "requires_payment_method" if method is None else "requires_confirmation",
            params.get("description"),
        )
    )
    intent.update(
        customer=customer_id or None,
        payment_method=method["id"] if method else None,
        confirmation_method=params.get("confirmation_method") or "automatic",
        capture_method="automatic_async",
        payment_method_types=[method["type"] if method else "card"],
    )
    store.emit("payment_intent.created", intent)
    if not params.get("confirm"):
        return intent
    outcome = customers.behaviour(method) if params.get("off_session") else "succeeds"
    if outcome == "succeeds":
        charge = store.add(payment_objects.charge(intent, method["billing_details"]["email"], receipts))
        charge.update(customer=customer_id or None, payment_method=method["id"])
        charge["payment_method_details"] = customers.charge_details(method, charge["created"])
        intent.update(status="succeeded", amount_received=intent["amount"], latest_charge=charge["id"])
        store.emit("charge.succeeded", charge)
        store.emit("payment_intent.succeeded", intent)
        return intent
    if outcome == "declines_off_session":
        charge = store.add(payment_objects.charge(intent, method["billing_details"]["email"], receipts))
        charge.update(
            customer=customer_id or None,
            payment_method=method["id"],
            status="failed",
            paid=False,
            captured=False,
            amount_captured=0,
            balance_transaction=None,
            failure_code="card_declined",
            failure_message="Your card was declined.",
        )
        charge["outcome"].update(
            network_status="declined_by_network",
            reason="generic_decline",
            seller_message="The bank did not return any further details with this decline.",
            type="issuer_declined",
        )
        charge["payment_method_details"] = customers.charge_details(method, charge["created"])
        error = {
            "charge": charge["id"],
            "code": "card_declined",
            "decline_code": "generic_decline",
            "message": "Your card was declined.",
            "payment_method": copy.deepcopy(method),
            "type": "card_error",
        }
        intent.update(status="requires_payment_method", latest_charge=charge["id"], last_payment_error=error)
        store.emit("charge.failed", charge)
        store.emit("payment_intent.payment_failed", intent)
        raise CardError(
            "Your card was declined.",
            "card_declined",
            {
                "decline_code": "generic_decline",
                "charge": charge["id"],
                "payment_intent": copy.deepcopy(intent),
            },
        )
    # Needs authentication: off-session nobody is there to authenticate.
    error = {
        "code": "authentication_required",
        "decline_code": "authentication_required",
        "message": "Your card was declined. This transaction requires authentication.",
        "payment_method": copy.deepcopy(method),
        "type": "card_error",
    }
    intent.update(
        status="requires_action",
        last_payment_error=error,
        next_action={"type": "use_stripe_sdk", "use_stripe_sdk": {}},
    )
    store.emit("payment_intent.requires_action", intent)
    raise CardError(
        error["message"],
        "authentication_required",
        {"decline_code": "authentication_required", "payment_intent": copy.deepcopy(intent)},
    )
