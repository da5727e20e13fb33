"""Checkout and money movements: sessions, payment outcomes, refunds and disputes."""

from __future__ import annotations

from typing import Any

from . import stripe_objects
from .catalog import merge_metadata
from .errors import StripeError, invalid_param, missing_param
from .forms import as_list
from .stripe_state import Store

SESSION_PARAMS = {
    "mode", "line_items", "client_reference_id", "metadata", "customer_email", "success_url",
    "cancel_url", "payment_intent_data", "expires_at", "expand", "allow_promotion_codes",
    "locale", "submit_type", "billing_address_collection", "payment_method_types", "ui_mode",
    "customer_creation", "automatic_tax", "invoice_creation", "consent_collection",
    "custom_text", "phone_number_collection", "tax_id_collection", "currency",
}  # fmt: skip
REFUND_PARAMS = {"charge", "payment_intent", "amount", "reason", "metadata", "expand"}
REFUND_REASONS = {"duplicate", "fraudulent", "requested_by_customer"}
DEFAULT_EMAIL = "customer@example.com"


def create_session(store: Store, params: dict[str, Any], page_url: str) -> dict[str, Any]:
    """Create an open payment-mode Checkout Session for the given Prices."""
    unknown = sorted(set(params) - SESSION_PARAMS)
    if unknown:
        raise StripeError(
            f"Received unknown parameter: {unknown[0]}", code="parameter_unknown", param=unknown[0]
        )
    if not params.get("mode"):
        raise missing_param("mode")
    if params["mode"] != "payment":
        raise invalid_param("mode", "The local Stripe emulator supports only mode=payment.")
    if not params.get("success_url"):
        raise missing_param("success_url")
    items = [_line_item(store, index, raw) for index, raw in enumerate(as_list(params.get("line_items")))]
    if not items:
        raise missing_param("line_items", "`line_items` is required in `payment` mode.")
    if len({item["currency"] for item in items}) > 1:
        raise invalid_param("line_items", "All line items must share one currency.")
    intent_data = params.get("payment_intent_data") or {}
    if not isinstance(intent_data, dict):
        raise invalid_param("payment_intent_data", "Invalid hash")
    session = stripe_objects.checkout_session(
        {**params, "metadata": merge_metadata({}, params.get("metadata") or {})}, items, page_url
    )
    store.add(session)
    store.line_items[session["id"]] = items
    store.session_extras[session["id"]] = {
        "metadata": merge_metadata({}, intent_data.get("metadata") or {}),
        "description": intent_data.get("description"),
    }
    return session


def _line_item(store: Store, index: int, raw: Any) -> dict[str, Any]:
    param = f"line_items[{index}]"
    if not isinstance(raw, dict):
        raise invalid_param(param, "Invalid object")
    if "price_data" in raw:
        raise invalid_param(f"{param}[price_data]", "The emulator supports only `price` ids.")
    if not raw.get("price"):
        raise missing_param(f"{param}[price]")
    price = store.get("price", raw["price"], param=f"{param}[price]", status=400)
    if not price["active"]:
        raise invalid_param(
            f"{param}[price]",
            "The price specified is inactive. This field only accepts active prices.",
        )
    if raw.get("quantity") is None:
        raise missing_param(f"{param}[quantity]")
    quantity = _positive_int(raw["quantity"], f"{param}[quantity]")
    product = store.objects["product"].get(price["product"], {})
    return stripe_objects.line_item(price, product.get("name", ""), quantity)


def pay(
    store: Store,
    session_id: str,
    outcome: str,
    *,
    discount_percent: Any = None,
    email: str | None = None,
) -> dict[str, Any]:
    """Apply a hosted-checkout outcome (``succeeded``/``async_pending``/``declined``)."""
    session = store.get("checkout.session", session_id)
    if session["status"] != "open":
        raise StripeError(
            f"This Checkout Session is {session['status']} and can no longer be paid.",
            code="checkout_session_not_open",
        )
    if outcome not in {"succeeded", "async_pending", "declined"}:
        raise invalid_param("outcome", "outcome must be succeeded, async_pending or declined.")
    if outcome == "declined":
        return session
    if discount_percent not in (None, ""):
        _apply_discount(session, discount_percent)
    session["customer_details"] = {
        "address": None,
        "email": email or session["customer_email"] or DEFAULT_EMAIL,
        "name": None,
        "phone": None,
        "tax_exempt": "none",
        "tax_ids": [],
    }
    session["status"] = "complete"
    if session["amount_total"] == 0:
        session["payment_status"] = "no_payment_required"
    else:
        extras = store.session_extras.get(session_id, {})
        intent = store.add(
            stripe_objects.payment_intent(
                session["amount_total"],
                session["currency"],
                extras.get("metadata", {}),
                "succeeded" if outcome == "succeeded" else "processing",
                extras.get("description"),
            )
        )
        session["payment_intent"] = intent["id"]
        if outcome == "succeeded":
            _charge(store, intent, session)
            session["payment_status"] = "paid"
    store.emit("checkout.session.completed", session)
    return session


def _apply_discount(session: dict[str, Any], value: Any) -> None:
    try:
        percent = int(value)
    except (TypeError, ValueError):
        percent = -1
    if not 0 <= percent <= 100:
        raise invalid_param("discount_percent", "discount_percent must be between 0 and 100.")
    if percent == 0:
        return
    discount = round(session["amount_subtotal"] * percent / 100)
    session["amount_total"] = session["amount_subtotal"] - discount
    session["total_details"]["amount_discount"] = discount
    session["discounts"] = [{"coupon": f"EMULATOR{percent}OFF", "promotion_code": None}]


def _charge(store: Store, intent: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
    email = (session["customer_details"] or {}).get("email")
    charge = store.add(stripe_objects.charge(intent, email))
    intent.update(status="succeeded", amount_received=intent["amount"], latest_charge=charge["id"])
    return charge


def settle(store: Store, session_id: str, outcome: str) -> dict[str, Any]:
    """Finish a delayed payment: ``succeeded`` charges it, ``failed`` leaves it unpaid."""
    session = store.get("checkout.session", session_id)
    intent = store.objects["payment_intent"].get(session["payment_intent"] or "")
    if intent is None or intent["status"] != "processing":
        raise StripeError("This Checkout Session has no delayed payment awaiting settlement.")
    if outcome == "succeeded":
        _charge(store, intent, session)
        session["payment_status"] = "paid"
        store.emit("checkout.session.async_payment_succeeded", session)
    elif outcome == "failed":
        intent["status"] = "requires_payment_method"
        intent["last_payment_error"] = {
            "code": "payment_method_provider_decline",
            "message": "The delayed payment failed.",
            "type": "card_error",
        }
        store.emit("checkout.session.async_payment_failed", session)
    else:
        raise invalid_param("outcome", "outcome must be succeeded or failed.")
    return session


def expire(store: Store, session_id: str, request: dict[str, Any] | None = None) -> dict[str, Any]:
    """Expire an open Checkout Session."""
    session = store.get("checkout.session", session_id)
    if session["status"] != "open":
        raise StripeError(
            'Only Checkout Sessions with a status in ["open"] can be expired. '
            f'This Checkout Session has a status of "{session["status"]}".'
        )
    session["status"] = "expired"
    store.emit("checkout.session.expired", session, request=request)
    return session


def refund(store: Store, params: dict[str, Any], request: dict[str, Any] | None) -> dict[str, Any]:
    """Refund all or part of a charge, found by ``charge`` or ``payment_intent``."""
    unknown = sorted(set(params) - REFUND_PARAMS)
    if unknown:
        raise StripeError(
            f"Received unknown parameter: {unknown[0]}", code="parameter_unknown", param=unknown[0]
        )
    charge = _refundable_charge(store, params.get("charge"), params.get("payment_intent"))
    remaining = charge["amount"] - charge["amount_refunded"]
    if remaining == 0:
        raise StripeError(f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded")
    amount = remaining if params.get("amount") is None else _positive_int(params["amount"], "amount")
    if amount > remaining:
        raise StripeError(
            f"Refund amount ({_money(amount, charge)}) is greater than unrefunded amount "
            f"on charge ({_money(remaining, charge)})",
            code="amount_too_large",
            param="amount",
        )
    reason = params.get("reason")
    if reason is not None and reason not in REFUND_REASONS:
        raise invalid_param("reason", f"Invalid reason: must be one of {sorted(REFUND_REASONS)}")
    created = store.add(
        stripe_objects.refund(charge, amount, reason, merge_metadata({}, params.get("metadata") or {}))
    )
    previous = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] == charge["amount"]
    charge["refunds"]["data"].insert(0, dict(created))
    store.emit("charge.refunded", charge, request=request, previous_attributes=previous)
    return created


def _refundable_charge(store: Store, charge_id: Any, intent_id: Any) -> dict[str, Any]:
    if not charge_id and not intent_id:
        raise missing_param(
            "charge",
            "One of the following params should be provided for this request: payment_intent or charge.",
        )
    if intent_id:
        intent = store.get("payment_intent", intent_id, param="payment_intent", status=400)
        if intent["status"] != "succeeded" or not intent["latest_charge"]:
            raise StripeError(
                f"This PaymentIntent ({intent_id}) does not have a successful charge to refund.",
                code="charge_not_refundable",
                param="payment_intent",
            )
        if charge_id and charge_id != intent["latest_charge"]:
            raise invalid_param("charge", "The charge does not belong to this PaymentIntent.")
        charge_id = intent["latest_charge"]
    return store.get("charge", charge_id, param="charge", status=400)


def open_dispute(
    store: Store, charge_id: str, amount: Any = None, reason: str = "fraudulent"
) -> dict[str, Any]:
    """Open a dispute (``needs_response``) on a charge, for its full amount by default."""
    charge = store.get("charge", charge_id)
    if charge["disputed"]:
        raise StripeError(f"Charge {charge_id} already has a dispute.", code="charge_disputed")
    amount = charge["amount"] if amount is None else _positive_int(amount, "amount")
    if amount > charge["amount"]:
        raise invalid_param("amount", "A dispute cannot exceed the charge amount.")
    dispute = store.add(stripe_objects.dispute(charge, amount, reason))
    charge["disputed"] = True
    store.emit("charge.dispute.created", dispute)
    return dispute


def close_dispute(
    store: Store, dispute_id: str, outcome: str, request: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Close an open dispute as ``won`` or ``lost``."""
    dispute = store.get("dispute", dispute_id)
    if outcome not in {"won", "lost"}:
        raise invalid_param("outcome", "outcome must be won or lost.")
    if dispute["status"] not in {"needs_response", "under_review", "warning_needs_response"}:
        raise StripeError(f"Dispute {dispute_id} is already closed ({dispute['status']}).")
    previous = {"status": dispute["status"]}
    dispute["status"] = outcome
    store.emit("charge.dispute.closed", dispute, request=request, previous_attributes=previous)
    return dispute


def _positive_int(value: Any, param: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise invalid_param(param, f"Invalid integer: {value}") from None
    if number <= 0 or isinstance(value, bool):
        raise invalid_param(param, "This value must be greater than 0.")
    return number


def _money(amount: int, charge: dict[str, Any]) -> str:
    symbol = "$" if charge["currency"] == "usd" else charge["currency"].upper() + " "
    return f"{symbol}{amount / 100:.2f}"
