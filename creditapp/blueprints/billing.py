"""Buying credits: the packs page, Checkout, and the pages Stripe sends people back to."""

from __future__ import annotations

import logging
import re

import stripe
from flask import Blueprint, abort, current_app, make_response, redirect, render_template, request
from flask_login import current_user, login_required

from creditapp.errors import error_response
from creditapp.htmx import is_htmx
from creditapp.htmx import redirect as hx_redirect
from creditapp.services import billing, packs

bp = Blueprint("billing", __name__)
log = logging.getLogger("creditapp.billing")

SESSION_ID = re.compile(r"cs_[A-Za-z0-9_]{1,250}")


def _packs_unavailable(exc: stripe.StripeError):
    log.error("could not load credit packs: %s", exc.__class__.__name__)
    return error_response(503, "Credit packs cannot be loaded right now. Please try again shortly.")


@bp.get("/buy-credits")
@login_required
def buy_credits():
    """The credit packs on sale, each with a button to check out."""
    try:
        available = packs.list_packs()
    except stripe.StripeError as exc:
        return _packs_unavailable(exc)
    return render_template("billing/buy_credits.html", packs=available)


@bp.post("/billing/checkout")
@login_required
def checkout():
    """Start Stripe Checkout for one pack (`price_id`); amounts come from Stripe, never the form."""
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
        )
    except billing.CheckoutUnavailable as exc:
        return error_response(exc.status, f"{exc} Please try again in a moment.")
    if is_htmx():
        return hx_redirect(make_response("", 204), url)
    return redirect(url, code=303)


@bp.get("/checkout/success")
@login_required
def checkout_success():
    """Back from Stripe: fulfil the paid session if it is this user's, then poll the badge."""
    session_id = request.args.get("session_id", "")
    if not SESSION_ID.fullmatch(session_id):
        abort(404)
    confirmation = billing.confirm_checkout(current_user.id, session_id)
    if confirmation is None:
        abort(404)
    return render_template("billing/success.html", confirmation=confirmation)


@bp.get("/checkout/cancel")
@login_required
def checkout_cancel():
    """Checkout was cancelled: nothing was charged."""
    return render_template("billing/cancel.html")
