"""Buying credits: the packs page, Checkout, and the pages Stripe sends people back to.

In an organization's context (`?org=<id>`, a hidden `org` field) its owners and admins buy for
its wallet; a plain member sees the packs but may not buy (403), a non-member gets a 404.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import stripe
from flask import Blueprint, abort, current_app, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from creditapp.billing import checkout as billing
from creditapp.billing import packs, receipts
from creditapp.platform import money, ratelimits
from creditapp.platform.errors import error_response
from creditapp.platform.htmx import STOP_POLLING, is_htmx, trigger, vary_on_htmx
from creditapp.platform.htmx import redirect as hx_redirect
from creditapp.teams.context import current_organization, require_manager, takes_context
from creditapp.teams.organizations import MANAGERS

bp = Blueprint("billing", __name__)
log = logging.getLogger("creditapp.billing")

SESSION_ID = re.compile(r"cs_[A-Za-z0-9_]{1,250}")


def _packs_unavailable(exc: stripe.StripeError):
    log.error("could not load credit packs: %s", exc.__class__.__name__)
    return error_response(503, "Credit packs cannot be loaded right now. Please try again shortly.")


@dataclass(frozen=True)
class PricingRow:
    """One pack as the pricing table compares it (what it buys of each feature, the template
    reads from the `feature_offers` global the features provide)."""

    pack: packs.Pack
    per_credit: str
    saving_percent: int


def pricing_rows(available: list[packs.Pack]) -> list[PricingRow]:
    """Per-credit price and saving against the smallest pack."""
    if not available:
        return []
    smallest = min(available, key=lambda p: p.credits)
    base = smallest.unit_amount / smallest.credits
    rows = []
    for pack in available:
        unit = pack.unit_amount / pack.credits
        saving = round((1 - unit / base) * 100) if base else 0
        rows.append(PricingRow(pack, _per_credit(unit, pack.currency), max(saving, 0)))
    return rows


def _per_credit(unit: float, currency: str) -> str:
    """A per-credit price with enough digits to compare packs: $0.035."""
    if currency.lower() in money.ZERO_DECIMAL:
        return money.format_money(round(unit), currency)
    whole = money.format_money(0, currency)  # "$0.00": reuse its symbol and placement
    value = f"{unit / 100:.3f}".rstrip("0")
    value = value + "0" * max(0, 2 - len(value.split(".")[1]))
    return whole.replace("0.00", value)


@bp.get("/buy-credits")
@takes_context
def buy_credits():
    """The pricing table, open to everyone; buying asks a signed-out visitor to sign in.

    In an organization's context it buys for the organization: its owners and admins only.
    """
    org = None
    if request.args.get("org"):
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        org = current_organization()
    try:
        available = packs.list_packs()
    except stripe.StripeError as exc:
        return _packs_unavailable(exc)
    return render_template(
        "billing/buy_credits.html",
        packs=available,
        rows=pricing_rows(available),
        org=org,
        can_buy=org is None or org.role in MANAGERS,
    )


@bp.post("/billing/checkout")
@login_required
def checkout():
    """Start Stripe Checkout for one pack (`price_id`); amounts come from Stripe, never the form.

    With `org`, for the organization's wallet: its owners and admins only (403 for a member,
    404 for anyone else), nothing written on a refusal.
    """
    org = require_manager()
    try:
        pack = packs.find_pack(request.form.get("price_id", ""))
    except stripe.StripeError as exc:
        return _packs_unavailable(exc)
    if pack is None:
        return error_response(400, "That credit pack is not on sale. Pick one from the list.")
    try:
        url = billing.start_checkout(
            current_user.id,
            current_user.email,
            pack,
            current_app.config["APP_BASE_URL"],
            save_card=request.form.get("save_card") in ("1", "on", "true"),
            org=org,
        )
    except billing.CheckoutUnavailable as exc:
        return error_response(exc.status, f"{exc} Please try again in a moment.")
    if is_htmx():
        return hx_redirect(make_response("", 204), url)
    return redirect(url, code=303)


def poll_delay(poll: int, processing: bool) -> float:
    """Seconds before the receipt asks again: quick at first, then backing off.

    A card is confirmed within seconds; a delayed method (a bank debit) takes days, so its
    page slows to one request a minute.
    """
    cap = 60.0 if processing else 15.0
    return round(min(1.0 * 1.5**poll, cap), 1)


@bp.get("/checkout/success")
@login_required
def checkout_success():
    """Back from Stripe: a receipt that fulfils the paid session and follows it to the end.

    htmx polls it (`poll=n`, backing off); the answer is 286 (stop) with `HX-Trigger:
    credits-changed` once the purchase is paid, failed or expired. A settled purchase is
    answered from the database; one in flight asks Stripe within the person's budget of
    Stripe reads, and past it is shown as the database knows it (the page keeps polling).
    """
    session_id = request.args.get("session_id", "")
    if not SESSION_ID.fullmatch(session_id):
        abort(404)
    # An organization's purchase is shown to its owners and admins, in its context.
    org = require_manager()
    wallet_id = org.wallet_id if org is not None else None
    confirmation = receipts.stored_confirmation(current_user.id, session_id, wallet_id=wallet_id)
    if confirmation is None:
        abort(404)
    if not confirmation.settled and ratelimits.stripe_read_allowed(current_user.id):
        confirmation = receipts.confirm_checkout(current_user.id, session_id, wallet_id)
        if confirmation is None:
            abort(404)
    try:
        poll = max(0, min(int(request.args.get("poll", "0")), 50))
    except ValueError:
        poll = 0
    final = confirmation.status != "pending"
    context = {
        "org": org,
        "confirmation": confirmation,
        "final": final,
        "next_poll": poll + 1,
        "delay": poll_delay(poll, confirmation.processing),
        "money": money.format_money,
    }
    if is_htmx():
        response = make_response(render_template("billing/_receipt.html", **context))
        if final:
            response.status_code = STOP_POLLING
            trigger(response, "credits-changed")
    else:
        response = make_response(render_template("billing/success.html", **context))
    return vary_on_htmx(response)


@bp.get("/checkout/cancel")
@login_required
def checkout_cancel():
    """Checkout was cancelled: nothing was charged."""
    return render_template("billing/cancel.html", org=current_organization())
