"""Invoices as Stripe makes them: from a paid Checkout Session, or through the Invoices API.

- **Checkout** (``invoice_creation[enabled]=true``): when the payment succeeds, the session's
  Customer (created at completion when the session had none) gets an Invoice for the line
  items, already paid, with the session's discount and tax: ``invoice.created``,
  ``invoice.finalized``, ``invoice.paid``, ``invoice.payment_succeeded``; the session's
  ``invoice`` names it.
- **API**: ``POST /v1/invoices`` makes a draft (``pending_invoice_items_behavior=include``
  takes the Customer's pending invoice items; by default, as since API 2022-08-01, it takes
  none), ``POST /v1/invoiceitems`` with ``invoice`` adds a line, ``/finalize`` numbers it and
  computes tax (``automatic_tax[enabled]``: from the Customer's address and VAT number),
  ``/pay`` charges ``payment_method`` (``off_session=true``: the saved card's test behaviour
  decides, as for PaymentIntents) and sends ``invoice.paid`` + ``invoice.payment_succeeded``,
  or answers 402 and sends ``invoice.payment_failed`` (``invoice.payment_action_required``
  when the card needs authentication).

A finalized invoice has a ``number`` (the Customer's ``invoice_prefix``-0001, -0002…), a
``hosted_invoice_url`` (``/i/<id>``) and an ``invoice_pdf`` (``/i/<id>/pdf``, a real PDF).
"""

from __future__ import annotations

import copy
from typing import Any

from . import invoice_objects, invoice_totals
from .errors import StripeError, invalid_param, missing_param, state_error
from .intents import CardError
from .intents import create as create_intent
from .objects import now
from .state import Store

ONE_OF = "amount, price, unit_amount"


def create_item(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """Create an invoice item: a ``price`` × ``quantity``, or an ``amount`` and ``currency``."""
    customer = store.get("customer", params["customer"], param="customer", status=400)
    price_id = params.get("price") or (params.get("pricing") or {}).get("price")
    price = store.get("price", price_id, param="price", status=400) if price_id else None
    invoice = None
    if params.get("invoice"):
        invoice = store.get("invoice", params["invoice"], param="invoice", status=400)
        if invoice["status"] != "draft":
            raise state_error(
                f"You can only add invoice items to draft invoices; this one is {invoice['status']}.",
                "invoice_not_editable",
            )
        if invoice["customer"] != customer["id"]:
            raise invalid_param("invoice", "The invoice belongs to another customer than `customer`.")
    quantity = params.get("quantity")
    quantity = 1 if quantity is None else quantity
    if price is not None and (params.get("amount") is not None or params.get("unit_amount") is not None):
        raise invalid_param("price", f"You may only specify one of these parameters: {ONE_OF}.")
    if price is not None:
        currency = price["currency"]
        amount = price["unit_amount"] * quantity
    else:
        if params.get("amount") is not None and params.get("unit_amount") is not None:
            raise invalid_param("unit_amount", f"You may only specify one of these parameters: {ONE_OF}.")
        if params.get("amount") is None and params.get("unit_amount") is None:
            raise missing_param("amount", "Missing required param: amount (or price, or unit_amount).")
        if not params.get("currency"):
            raise missing_param("currency")
        currency = params["currency"].lower()
        amount = params["amount"] if params.get("amount") is not None else params["unit_amount"] * quantity
    if invoice is not None and invoice["currency"] != currency:
        raise invalid_param("currency", "The invoice item's currency must be the invoice's currency.")
    item = store.add(
        invoice_objects.invoice_item(
            customer["id"],
            amount,
            currency,
            quantity,
            description=params.get("description") or _product_name(store, price),
            metadata=params.get("metadata") or {},
            price=price,
            invoice_id=invoice["id"] if invoice else None,
        )
    )
    if invoice is not None:
        _add_line(invoice, item)
    store.emit("invoiceitem.created", item)
    return item


def create_invoice(store: Store, params: dict[str, Any]) -> dict[str, Any]:
    """Create a draft invoice for a Customer."""
    if not params.get("customer"):
        raise missing_param("customer")
    customer = store.get("customer", params["customer"], param="customer", status=400)
    if params.get("collection_method") == "send_invoice":
        raise invalid_param(
            "collection_method",
            "The local Stripe stand-in does not implement collection_method=send_invoice (it "
            "needs days_until_due or due_date), only charge_automatically.",
        )
    method = params.get("default_payment_method")
    if method:
        store.get("payment_method", method, param="default_payment_method", status=400)
    pending = [
        item
        for item in store.objects["invoiceitem"].values()
        if item["customer"] == customer["id"] and item["invoice"] is None
    ]
    include = params.get("pending_invoice_items_behavior") == "include"
    currency = (params.get("currency") or (pending[0]["currency"] if include and pending else "usd")).lower()
    invoice = store.add(
        invoice_objects.invoice(
            customer,
            currency,
            automatic_tax=bool((params.get("automatic_tax") or {}).get("enabled")),
            auto_advance=bool(params.get("auto_advance")),
            description=params.get("description"),
            footer=params.get("footer"),
            metadata=params.get("metadata") or {},
            default_payment_method=method,
        )
    )
    if include:
        for item in pending:
            if item["currency"] == currency:
                item["invoice"] = invoice["id"]
                _add_line(invoice, item)
    store.emit("invoice.created", invoice)
    return invoice


def finalize(
    store: Store,
    invoice_id: str,
    pages: str,
    *,
    auto_advance: bool | None = None,
    request: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Finalize a draft: snapshot the buyer, compute tax, give it a number and its pages."""
    invoice = store.get("invoice", invoice_id, param="invoice")
    if invoice["status"] != "draft":
        raise state_error(
            f"This invoice is already finalized, you can't re-finalize a non-draft invoice "
            f"(status: {invoice['status']}).",
            "invoice_not_editable",
        )
    customer = store.get("customer", invoice["customer"])
    buyer = {
        "name": customer.get("name"),
        "email": customer.get("email"),
        "address": customer.get("address"),
        "tax_ids": copy.deepcopy(store.customer_tax_ids.get(customer["id"], [])),
    }
    country = (customer.get("address") or {}).get("country")
    if invoice["automatic_tax"]["enabled"] and not country:
        raise StripeError(
            "The customer's location isn't recognized: automatic tax needs the Customer's "
            "address (at least its country) before the invoice can be finalized.",
            code="customer_tax_location_invalid",
            param="customer",
        )
    if auto_advance is not None:
        invoice["auto_advance"] = auto_advance
    invoice_totals.snapshot_buyer(invoice, buyer)
    invoice_totals.price_lines(invoice, discounts=None, tax_for=invoice_totals.tax_for(invoice, buyer))
    _finish(store, customer, invoice, pages, request)
    if invoice["amount_due"] == 0:
        _mark_paid(store, invoice, None)
    return invoice


def pay(store: Store, invoice_id: str, params: dict[str, Any], pages: str, receipts: str) -> dict[str, Any]:
    """Pay an open invoice (a draft is finalized first) with a payment method, or the default one."""
    invoice = store.get("invoice", invoice_id, param="invoice")
    method_id = params.get("payment_method")
    if method_id:
        store.get("payment_method", method_id, param="payment_method", status=400)
    if invoice["status"] == "draft":
        finalize(store, invoice_id, pages)
    if invoice["status"] == "paid":
        raise state_error("Invoice is already paid.")
    if invoice["status"] != "open":
        raise state_error(f"You can only pay an open invoice; this one is {invoice['status']}.")
    customer = store.get("customer", invoice["customer"])
    method_id = (
        method_id
        or invoice["default_payment_method"]
        or customer["invoice_settings"]["default_payment_method"]
    )
    if not method_id:
        raise state_error(
            "This invoice cannot be paid: the customer has no default payment method and "
            "none was given (`payment_method`)."
        )
    invoice["attempted"] = True
    invoice["attempt_count"] += 1
    try:
        intent = create_intent(
            store,
            {
                "amount": invoice["amount_due"],
                "currency": invoice["currency"],
                "customer": customer["id"],
                "payment_method": method_id,
                "confirm": True,
                "off_session": bool(params.get("off_session")),
                "description": f"Payment for Invoice {invoice['number']}",
                "metadata": {},
            },
            receipts,
        )
    except CardError as exc:
        kind = "invoice.payment_action_required" if exc.code == "authentication_required" else ""
        if kind:
            store.emit(kind, invoice)
        store.emit("invoice.payment_failed", invoice)
        raise
    _mark_paid(store, invoice, intent)
    return invoice


def for_checkout(
    store: Store, session: dict[str, Any], intent: dict[str, Any], pages: str, invoice_data: dict[str, Any]
) -> dict[str, Any]:
    """Make the paid invoice of a Checkout Session (its Customer, lines, discount and tax)."""
    customer = store.get("customer", session["customer"])
    details = session["customer_details"] or {}
    invoice = store.add(
        invoice_objects.invoice(
            customer,
            session["currency"],
            automatic_tax=session["automatic_tax"]["enabled"],
            auto_advance=False,
            description=invoice_data.get("description"),
            footer=invoice_data.get("footer"),
            metadata=invoice_data.get("metadata") or {},
        )
    )
    for line in store.line_items.get(session["id"], []):
        item = store.add(
            invoice_objects.invoice_item(
                customer["id"],
                line["amount_subtotal"],
                line["currency"],
                line["quantity"],
                description=line["description"],
                metadata={},
                price=line["price"],
                invoice_id=invoice["id"],
            )
        )
        _add_line(invoice, item)
    store.emit("invoice.created", invoice)
    buyer = {
        "name": details.get("name"),
        "email": details.get("email"),
        "address": details.get("address"),
        "tax_ids": copy.deepcopy(details.get("tax_ids") or []),
    }
    invoice_totals.snapshot_buyer(invoice, buyer)
    discounts = [line["amount_discount"] for line in store.line_items.get(session["id"], [])]
    tax_for = invoice_totals.tax_for(invoice, buyer)
    invoice_totals.price_lines(invoice, discounts=discounts, tax_for=tax_for)
    _finish(store, customer, invoice, pages, None)
    _mark_paid(store, invoice, intent)
    return invoice


def _product_name(store: Store, price: dict[str, Any] | None) -> str | None:
    if price is None:
        return None
    return store.objects["product"].get(price["product"], {}).get("name")


def _add_line(invoice: dict[str, Any], item: dict[str, Any]) -> None:
    invoice["lines"]["data"].append(invoice_objects.line_from_item(item, invoice["id"]))
    invoice_totals.price_lines(invoice, discounts=None, tax_for=None)


def _finish(
    store: Store,
    customer: dict[str, Any],
    invoice: dict[str, Any],
    pages: str,
    request: dict[str, Any] | None,
) -> None:
    """Number the invoice, give it its pages, open it and send ``invoice.finalized``."""
    sequence = customer["next_invoice_sequence"]
    customer["next_invoice_sequence"] = sequence + 1
    finalized = now()
    invoice.update(
        number=f"{customer['invoice_prefix']}-{sequence:04d}",
        status="open",
        effective_at=finalized,
        ending_balance=0,
        hosted_invoice_url=f"{pages}/i/{invoice['id']}",
        invoice_pdf=f"{pages}/i/{invoice['id']}/pdf",
    )
    invoice["status_transitions"]["finalized_at"] = finalized
    store.emit("invoice.finalized", invoice, request=request)


def _mark_paid(store: Store, invoice: dict[str, Any], intent: dict[str, Any] | None) -> None:
    invoice.update(
        status="paid",
        attempted=True,
        amount_paid=invoice["amount_due"],
        amount_remaining=0,
    )
    invoice["attempt_count"] = max(invoice["attempt_count"], 1)
    invoice["status_transitions"]["paid_at"] = now()
    if intent is not None:
        store.add(invoice_objects.invoice_payment(invoice, intent))
    store.emit("invoice.paid", invoice)
    store.emit("invoice.payment_succeeded", invoice)
