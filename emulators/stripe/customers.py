"""Customers and their saved payment methods (PaymentMethods), with Stripe's test-card behaviours.

A payment method is saved when a Checkout payment for a Customer sets
``payment_intent_data[setup_future_usage]``. What the person paid with is chosen on the
hosted Checkout page: a card, Link, or a bank debit (``METHOD_TYPES``). The card decides how
later off-session charges behave, as Stripe's test cards do: 4242 always succeeds, …0341
pays on the page but declines off-session charges (``card_declined``), …3184 needs
authentication off-session (``authentication_required``).
"""

from __future__ import annotations

import time
from typing import Any

from . import payment_objects
from .errors import StripeError, invalid_param
from .objects import new_id, now
from .state import Store

# The card choice on the hosted page -> (last4, its off-session behaviour, the label shown).
CARDS: dict[str, tuple[str, str, str]] = {
    "4242": ("4242", "succeeds", "Visa 4242 4242 4242 4242 (always succeeds)"),
    "0341": ("0341", "declines_off_session", "Visa 4000 0000 0000 0341 (declines later charges)"),
    "3184": ("3184", "authentication_off_session", "Visa 4000 0027 6000 3184 (needs authentication later)"),
}
DEFAULT_CARD = "4242"
# What the hosted page can pay with. Bank debits are delayed methods: their payment stays
# ``processing`` until it settles (``/_emulator/sessions/<id>/settle``), as at Stripe.
METHOD_TYPES = ("card", "link", "us_bank_account", "sepa_debit")
BANK_DEBITS = ("us_bank_account", "sepa_debit")
DEFAULT_METHOD = "card"


def create_customer(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """Create a Customer."""
    return store.add(
        {
            "id": new_id("cus_", 14),
            "object": "customer",
            "address": None,
            "balance": 0,
            "created": now(),
            "currency": None,
            "default_source": None,
            "delinquent": False,
            "description": params.get("description"),
            "discount": None,
            "email": params.get("email"),
            "invoice_prefix": new_id("", 8).upper(),
            "invoice_settings": {
                "custom_fields": None,
                "default_payment_method": None,
                "footer": None,
                "rendering_options": None,
            },
            "livemode": False,
            "metadata": dict(params.get("metadata") or {}),
            "name": params.get("name"),
            "next_invoice_sequence": 1,
            "phone": None,
            "preferred_locales": [],
            "shipping": None,
            "tax_exempt": "none",
            "test_clock": None,
        }
    )


def payment_method(kind: str, card: str, customer: str | None, email: str | None) -> dict[str, Any]:
    """Return a PaymentMethod of type ``kind`` (for a card, one of the test cards in CARDS)."""
    created = now()
    method: dict[str, Any] = {
        "id": new_id("pm_"),
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": {"address": None, "email": email, "name": None, "phone": None},
        "created": created,
        "customer": customer,
        "livemode": False,
        "metadata": {},
        "type": kind,
    }
    if kind == "card":
        last4 = CARDS[card][0]
        method["card"] = {
            "brand": "visa",
            "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"},
            "country": "US",
            "display_brand": "visa",
            "exp_month": 12,
            "exp_year": time.gmtime(created).tm_year + 3,
            "fingerprint": f"emulatorVisa{last4}",
            "funding": "credit",
            "generated_from": None,
            "last4": last4,
            "networks": {"available": ["visa"], "preferred": None},
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
        }
    elif kind == "link":
        method["link"] = {"email": email}
    else:
        method[kind] = dict(BANK_ACCOUNTS[kind], fingerprint=f"emulator{kind}")
    return method


# Stripe's test bank accounts: ACH 000123456789 at routing 110000000, and the IBAN DE89…3000.
BANK_ACCOUNTS: dict[str, dict[str, Any]] = {
    "us_bank_account": {
        "account_holder_type": "individual",
        "account_type": "checking",
        "bank_name": "STRIPE TEST BANK",
        "financial_connections_account": None,
        "last4": "6789",
        "networks": {"preferred": "ach", "supported": ["ach"]},
        "routing_number": "110000000",
        "status_details": None,
    },
    "sepa_debit": {
        "bank_code": "37040044",
        "branch_code": "",
        "country": "DE",
        "generated_from": None,
        "last4": "3000",
    },
}


def charge_details(method: dict[str, Any] | None, created: int) -> dict[str, Any]:
    """Return a Charge's ``payment_method_details`` for what paid it (a 4242 card when unknown)."""
    kind = method["type"] if method else "card"
    if kind == "card":
        details = payment_objects.card_details(created)
        if method is not None:
            details["card"]["last4"] = method["card"]["last4"]
        return details
    if kind == "link":
        return {"type": "link", "link": {"country": "US"}}
    account = method[kind]
    if kind == "us_bank_account":
        fields = ("account_holder_type", "account_type", "bank_name", "fingerprint", "last4")
        fields += ("routing_number",)
        return {
            "type": kind,
            kind: {**{name: account[name] for name in fields}, "payment_reference": None},
        }
    fields = ("bank_code", "branch_code", "country", "fingerprint", "last4")
    return {"type": kind, kind: {**{name: account[name] for name in fields}, "mandate": None}}


def behaviour(payment_method: dict[str, Any]) -> str:
    """How off-session charges on this card end (see CARDS)."""
    last4 = (payment_method.get("card") or {}).get("last4")
    return next((kind for card_last4, kind, _label in CARDS.values() if card_last4 == last4), "succeeds")


def detach(store: Store, payment_method_id: str) -> dict[str, Any]:
    """Detach a PaymentMethod from its Customer; it can no longer be charged."""
    method = store.get("payment_method", payment_method_id)
    if method["customer"] is None:
        raise StripeError(
            "The payment method you provided is not attached to a customer so detachment is impossible.",
            code="payment_method_unexpected_state",
        )
    method["customer"] = None
    store.emit("payment_method.detached", method, previous_attributes={"customer": None})
    return method


def check_card_choice(card: Any) -> str:
    """The hosted page's card choice, defaulting to the card that always succeeds."""
    if card in (None, ""):
        return DEFAULT_CARD
    if card not in CARDS:
        raise invalid_param("card", f"card must be one of {', '.join(CARDS)}.")
    return card


def check_method_choice(method: Any) -> str:
    """The hosted page's payment method type, defaulting to a card."""
    if method in (None, ""):
        return DEFAULT_METHOD
    if method not in METHOD_TYPES:
        raise invalid_param("method", f"method must be one of {', '.join(METHOD_TYPES)}.")
    return method
