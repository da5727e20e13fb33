"""Account settings for automatic top-up (`/account/auto-recharge`).

In an organization's context (`?org=<id>`, a hidden `org` field) the pages are the
organization's top-up: its owners and admins only (403 for a member, 404 for anyone else),
nothing written on a refusal.
"""

from __future__ import annotations

import stripe
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from creditapp.billing import packs
from creditapp.platform import money
from creditapp.platform.form_fields import whole_number
from creditapp.teams.context import require_manager, takes_context
from creditapp.topups import settings as topup_settings

bp = Blueprint("topups", __name__, url_prefix="/account")


def _wallet(org) -> int | None:
    return org.wallet_id if org is not None else None


def _here(endpoint: str, org) -> str:
    """A top-up page's URL, in the organization's context when there is one."""
    return url_for(endpoint, org=org.id if org is not None else None)


def _render_topup(org, status: int = 200, errors: dict[str, str] | None = None, form: dict | None = None):
    settings = topup_settings.settings_for(current_user.id, _wallet(org))
    try:
        offered = packs.list_packs()
    except stripe.StripeError:
        offered = []
    chosen = next((p for p in offered if p.price_id == settings.stripe_price_id), None)
    body = render_template(
        "topups/settings.html",
        settings=settings,
        packs=offered,
        chosen=chosen,
        org=org,
        errors=errors or {},
        form=form,
        format_money=money.format_money,
    )
    return body, status


@bp.get("/auto-recharge")
@login_required
@takes_context
def auto_recharge_page():
    """The saved card, and the threshold, pack and monthly cap of automatic top-ups."""
    return _render_topup(require_manager())


@bp.post("/auto-recharge")
@login_required
def save_auto_recharge():
    """Switch automatic top-up on or off with a threshold, a pack and a monthly cap (CSRF-checked)."""
    org = require_manager()
    errors: dict[str, str] = {}
    threshold = whole_number(request.form.get("threshold"), "threshold", errors, 0, 1_000_000)
    cap = whole_number(request.form.get("monthly_cap"), "monthly_cap", errors, 1, 100)
    try:
        pack = packs.find_pack(request.form.get("price_id", ""))
    except stripe.StripeError:
        pack = None
    if pack is None:
        errors["price_id"] = "Choose one of the packs."
    enabled = request.form.get("enabled") == "1"
    if not errors:
        try:
            topup_settings.update_settings(current_user.id, enabled, threshold, pack, cap, _wallet(org))
        except topup_settings.TopupRefused as exc:
            errors["enabled"] = str(exc)
    if errors:
        return _render_topup(org, 400, errors, request.form.to_dict())
    flash("Automatic top-up is on." if enabled else "Automatic top-up is off.", "success")
    return redirect(_here("topups.auto_recharge_page", org), code=303)


@bp.get("/auto-recharge/card/remove")
@login_required
@takes_context
def confirm_remove_card():
    """Ask before removing the saved card (the page the remove button leads to)."""
    return _render_remove_card(require_manager())


@bp.post("/auto-recharge/card/remove")
@login_required
def remove_card():
    """Remove the saved card (detached at Stripe) once confirmed; automatic top-up goes off (CSRF-checked).

    Without `confirm=yes` (the button on the top-up page) this only shows the confirmation.
    """
    org = require_manager()
    if request.form.get("confirm") != "yes":
        return _render_remove_card(org)
    try:
        removed = topup_settings.remove_card(current_user.id, _wallet(org))
    except stripe.StripeError:
        return _render_remove_card(
            org, 502, "Stripe could not be reached; the card is still saved. Try again."
        )
    flash("The card was removed." if removed else "No card was saved.", "success")
    return redirect(_here("topups.auto_recharge_page", org), code=303)


def _render_remove_card(org, status: int = 200, error: str | None = None):
    settings = topup_settings.settings_for(current_user.id, _wallet(org))
    if not settings.has_card:
        return redirect(_here("topups.auto_recharge_page", org), code=303)
    errors = {"card": error} if error else {}
    return render_template("topups/remove_card.html", settings=settings, errors=errors, org=org), status
