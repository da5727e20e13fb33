"""Checkout: sessions, hosted-page outcomes, delayed payments settling, expiry."""

from __future__ import annotations

from typing import Any

from . import checkout_billing, customers, invoice_objects, invoices, objects, payment_objects
from .errors import StripeError, invalid_param, missing_param
from .state import Store

DEFAULT_EMAIL = "customer@example.com"


def create_session(store: Store, params: dict[str, Any], page_url: str) -> dict[str, Any]:
    """Create an open payment-mode Checkout Session for the given Prices."""
    if not params.get("mode"):
        raise missing_param("mode")
    if params["mode"] != "payment":
        raise invalid_param(
            "mode", f"The local Stripe stand-in does not implement mode={params['mode']}, only payment."
        )
    if not params.get("success_url"):
        raise missing_param("success_url")
    items = [_line_item(store, index, raw) for index, raw in enumerate(params.get("line_items") or [])]
    if not items:
        raise missing_param("line_items", "`line_items` is required in `payment` mode.")
    if len({item["currency"] for item in items}) > 1:
        raise invalid_param("line_items", "All line items must share one currency.")
    expires_at = params.get("expires_at")
    created = objects.now()
    if expires_at is not None and not created + 30 * 60 <= expires_at <= created + objects.DAY:
        raise invalid_param(
            "expires_at",
            "The `expires_at` timestamp must be between 30 minutes and 24 hours after the "
            "Checkout Session is created.",
        )
    intent_data = params.get("payment_intent_data") or {}
    if params.get("customer") and params.get("customer_creation"):
        raise invalid_param(
            "customer_creation", "You may only specify one of these parameters: customer, customer_creation."
        )
    if params.get("customer") and params.get("customer_email"):
        raise invalid_param(
            "customer_email", "You may only specify one of these parameters: customer, customer_email."
        )
    customer = None
    if params.get("customer"):
        customer = store.get("customer", params["customer"], param="customer", status=400)
    checkout_billing.check_params(params, customer)
    session = objects.checkout_session(params, items, page_url)
    session["customer"] = params.get("customer")
    store.add(session)
    store.line_items[session["id"]] = items
    store.session_extras[session["id"]] = {
        "metadata": intent_data.get("metadata") or {},
        "description": intent_data.get("description"),
        "setup_future_usage": intent_data.get("setup_future_usage"),
        "customer_update": params.get("customer_update") or {},
        "invoice_data": (params.get("invoice_creation") or {}).get("invoice_data") or {},
    }
    return session


def _line_item(store: Store, index: int, raw: Any) -> dict[str, Any]:
    param = f"line_items[{index}]"
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
    quantity = raw["quantity"]
    product = store.objects["product"].get(price["product"], {})
    return objects.line_item(price, product.get("name", ""), quantity)


def pay(
    store: Store,
    session_id: str,
    outcome: str,
    *,
    discount_percent: Any = None,
    email: str | None = None,
    card: str | None = None,
    method: str | None = None,
    billing: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Apply a hosted-checkout outcome (``succeeded``/``async_pending``/``declined``).

    ``billing`` is what the person typed on the page: ``name``, ``address`` (``line1``,
    ``line2``, ``postal_code``, ``city``, ``state``, ``country``) and ``tax_id`` (an EU VAT
    number). The address is required with ``billing_address_collection=required`` (its
    country is, with automatic tax); the VAT number is taken with ``tax_id_collection``.

    ``method`` is what the person paid with (``customers.METHOD_TYPES``, a card by default)
    and ``card`` which test card (``customers.CARDS``); a session for a Customer with
    ``setup_future_usage`` saves it on that Customer. A bank debit is never paid at once: its
    payment is ``processing`` until settled, as at Stripe.
    """
    card = customers.check_card_choice(card)
    kind = customers.check_method_choice(method)
    if kind in customers.BANK_DEBITS and outcome == "succeeded":
        outcome = "async_pending"
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
    entered = checkout_billing.read_billing(session, billing)
    if discount_percent not in (None, ""):
        _apply_discount(session, discount_percent)
    # A session for a Customer is paid as that Customer, with its e-mail, as at Stripe.
    customer = store.objects["customer"].get(session["customer"] or "") or {}
    session["customer_details"] = {
        "address": invoice_objects.address(entered["address"]),
        "email": email or session["customer_email"] or customer.get("email") or DEFAULT_EMAIL,
        "name": entered["name"],
        "phone": None,
        "tax_exempt": "none",
        "tax_ids": [{"type": "eu_vat", "value": entered["tax_id"]}] if entered["tax_id"] else [],
    }
    checkout_billing.apply_tax(store, session, entered)
    checkout_billing.keep_on_customer(store, session)
    session["status"] = "complete"
    if session["amount_total"] == 0:
        session["payment_status"] = "no_payment_required"
    else:
        extras = store.session_extras.get(session_id, {})
        intent = store.add(
            payment_objects.payment_intent(
                session["amount_total"],
                session["currency"],
                extras.get("metadata", {}),
                "succeeded" if outcome == "succeeded" else "processing",
                extras.get("description"),
            )
        )
        saving = session["customer"] if extras.get("setup_future_usage") else None
        email = session["customer_details"]["email"]
        paid_with = store.add(customers.payment_method(kind, card, saving, email))
        intent.update(
            customer=session["customer"],
            payment_method=paid_with["id"],
            payment_method_types=[kind],
            setup_future_usage=extras.get("setup_future_usage"),
        )
        if saving:
            store.emit("payment_method.attached", paid_with)
        session["payment_intent"] = intent["id"]
        if outcome == "succeeded":
            _charge(store, intent, session)
            _invoice(store, session, intent)
            session["payment_status"] = "paid"
    store.emit("checkout.session.completed", session)
    return session


def _invoice(store: Store, session: dict[str, Any], intent: dict[str, Any]) -> None:
    """With ``invoice_creation``, the paid session gets its invoice (``invoice`` on the session)."""
    if not session["invoice_creation"]["enabled"]:
        return
    pages = session["url"].rsplit("/c/pay/", 1)[0]
    invoice_data = store.session_extras.get(session["id"], {}).get("invoice_data") or {}
    session["invoice"] = invoices.for_checkout(store, session, intent, pages, invoice_data)["id"]


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
    receipts = session["url"].rsplit("/c/pay/", 1)[0] + "/c/receipts"
    charge = store.add(payment_objects.charge(intent, email, receipts))
    method = store.objects["payment_method"].get(intent["payment_method"] or "")
    charge["customer"] = intent["customer"]
    charge["payment_method_details"] = customers.charge_details(method, charge["created"])
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
        _invoice(store, session, intent)
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
