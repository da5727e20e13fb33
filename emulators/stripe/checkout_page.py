"""The hosted Checkout page at a session's ``url``, plus the same actions as JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, jsonify, redirect, render_template_string, request

from ..context import current
from . import customers, invoice_pages, payments, tax
from .errors import StripeError

bp = Blueprint("checkout_page", __name__)

# Styled like a hosted checkout: the order on one side, one primary Pay button on the
# other, the other test outcomes as quieter buttons. Field names stay `action` (form) and
# `outcome` (JSON). No scripts, no external files: the page works offline.
PAGES = Path(__file__).with_name("pages")
STYLE = (PAGES / "checkout.css").read_text(encoding="utf-8")
PAGE = (PAGES / "checkout.html").read_text(encoding="utf-8")

METHOD_LABELS = {
    "card": "Card",
    "link": "Link (pays with what the Link account holds)",
    "us_bank_account": "US bank account (ACH Direct Debit; settles later)",
    "sepa_debit": "SEPA Direct Debit (settles later)",
}
FORM_ACTIONS = {"pay": "succeeded", "pay_delayed": "async_pending", "decline": "declined"}


def success_redirect(session: dict[str, Any]) -> str:
    """Return the success URL with ``{CHECKOUT_SESSION_ID}`` filled in."""
    return session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])


def _money(session: dict[str, Any]):
    currency = session["currency"]
    symbol = "$" if currency == "usd" else currency.upper() + " "
    return lambda cents: f"{symbol}{cents / 100:,.2f}"


def _billing_form(form: Any) -> dict[str, Any]:
    """The billing fields of the page's form, as ``payments.pay`` takes them."""
    address = {name: form.get(name, "") for name in ("line1", "line2", "postal_code", "city", "country")}
    return {"name": form.get("name", ""), "address": address, "tax_id": form.get("tax_id", "")}


def _render(session: dict[str, Any], message: str = "", status: int = 200, typed: Any = None):
    store = current().store
    html = render_template_string(
        PAGE,
        typed=typed or {},
        countries=sorted(tax.COUNTRY_NAMES.items(), key=lambda pair: pair[1]),
        rates=tax.RATES,
        collect_address=session["billing_address_collection"] == "required"
        or session["automatic_tax"]["enabled"],
        session=session,
        items=store.line_items.get(session["id"], []),
        money=_money(session),
        message=message,
        style=STYLE,
        done_url=success_redirect(session) if session.get("success_url") else "",
        cards=customers.CARDS,
        methods=METHOD_LABELS,
    )
    return html, status


@bp.get("/c/pay/<session_id>")
def show(session_id: str):
    """Show the amount and the Pay / delayed / Decline / Cancel buttons."""
    store = current().store
    with store.lock:
        session = store.objects["checkout.session"].get(session_id)
        if session is None:
            return "<!doctype html><title>Not found</title><h1>Checkout Session not found</h1>", 404
        return _render(session)


@bp.post("/c/pay/<session_id>")
def act(session_id: str):
    """Pay, decline or cancel: a browser form gets redirects, a JSON body gets JSON."""
    if request.is_json:
        return _act_json(session_id, request.get_json(silent=True) or {})
    store = current().store
    action = request.form.get("action", "")
    with store.lock:
        session = store.objects["checkout.session"].get(session_id)
        if session is None:
            return "<!doctype html><title>Not found</title><h1>Checkout Session not found</h1>", 404
        if action == "cancel":
            if session["cancel_url"]:
                return redirect(session["cancel_url"], code=303)
            return _render(session, "Checkout cancelled.")
        if action not in FORM_ACTIONS:
            return _render(session, "Unknown action.", 400)
        try:
            payments.pay(
                store,
                session_id,
                FORM_ACTIONS[action],
                discount_percent=request.form.get("discount_percent") or None,
                card=request.form.get("card") or None,
                method=request.form.get("method") or None,
                billing=_billing_form(request.form) if action != "decline" else None,
            )
        except StripeError as exc:
            return _render(session, exc.message, 400, request.form)
        if action == "decline":
            return _render(session, "Your card was declined (card declined).")
        return redirect(success_redirect(session), code=303)


def _act_json(session_id: str, body: dict[str, Any]):
    store = current().store
    outcome = body.get("outcome", "succeeded")
    with store.lock:
        if outcome in {"canceled", "cancelled"}:
            session = store.get("checkout.session", session_id)
            return jsonify(session=session, redirect_url=session["cancel_url"])
        session = payments.pay(
            store,
            session_id,
            outcome,
            discount_percent=body.get("discount_percent"),
            email=body.get("email"),
            card=body.get("card"),
            method=body.get("method"),
            billing=body.get("billing"),
        )
        if outcome == "declined":
            error = {
                "type": "card_error",
                "code": "card_declined",
                "message": "Your card was declined.",
            }
            return jsonify(session=session, redirect_url=None, error=error)
        return jsonify(session=session, redirect_url=success_redirect(session))


RECEIPT = (PAGES / "receipt.html").read_text(encoding="utf-8")


@bp.get("/c/receipts/<charge_id>")
def receipt(charge_id: str):
    """Show a charge's receipt, the page its ``receipt_url`` names (with its invoice, if any)."""
    store = current().store
    with store.lock:
        charge = store.objects["charge"].get(charge_id)
        if charge is None:
            return "<!doctype html><title>Not found</title><h1>Receipt not found</h1>", 404
        return render_template_string(
            RECEIPT,
            style=STYLE,
            charge=charge,
            money=_money(charge),
            seller=tax.SELLER,
            paid_on=invoice_pages.day(charge["created"]),
            invoice=_invoice_of(store, charge),
        )


def _invoice_of(store: Any, charge: dict[str, Any]) -> dict[str, Any] | None:
    """The invoice the charge paid: a Checkout Session's, or one paid through the Invoices API."""
    intent = charge["payment_intent"]
    for session in store.objects["checkout.session"].values():
        if session["payment_intent"] == intent and session["invoice"]:
            return store.objects["invoice"].get(session["invoice"])
    for payment in store.objects["invoice_payment"].values():
        if payment["payment"]["payment_intent"] == intent:
            return store.objects["invoice"].get(payment["invoice"])
    return None
