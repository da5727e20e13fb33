"""Account settings for automatic top-up (`/account/auto-recharge`)."""

from __future__ import annotations

import stripe
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from creditapp.billing import packs
from creditapp.platform import money
from creditapp.platform.form_fields import whole_number
from creditapp.topups import settings as topup_settings

bp = Blueprint("topups", __name__, url_prefix="/account")


def _render_topup(status: int = 200, errors: dict[str, str] | None = None, form: dict | None = None):
    settings = topup_settings.settings_for(current_user.id)
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
        errors=errors or {},
        form=form,
        format_money=money.format_money,
    )
    return body, status


@bp.get("/auto-recharge")
@login_required
def auto_recharge_page():
    """The saved card, and the threshold, pack and monthly cap of automatic top-ups."""
    return _render_topup()


@bp.post("/auto-recharge")
@login_required
def save_auto_recharge():
    """Switch automatic top-up on or off with a threshold, a pack and a monthly cap (CSRF-checked)."""
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
            topup_settings.update_settings(current_user.id, enabled, threshold, pack, cap)
        except topup_settings.TopupRefused as exc:
            errors["enabled"] = str(exc)
    if errors:
        return _render_topup(400, errors, request.form.to_dict())
    flash("Automatic top-up is on." if enabled else "Automatic top-up is off.", "success")
    return redirect(url_for("topups.auto_recharge_page"), code=303)


@bp.get("/auto-recharge/card/remove")
@login_required
def confirm_remove_card():
    """Ask before removing the saved card (the page the remove button leads to)."""
    return _render_remove_card()


@bp.post("/auto-recharge/card/remove")
@login_required
def remove_card():
    """Remove the saved card (detached at Stripe) once confirmed; automatic top-up goes off (CSRF-checked).

    Without `confirm=yes` (the button on the top-up page) this only shows the confirmation.
    """
    if request.form.get("confirm") != "yes":
        return _render_remove_card()
    try:
        removed = topup_settings.remove_card(current_user.id)
    except stripe.StripeError:
        return _render_remove_card(502, "Stripe could not be reached; the card is still saved. Try again.")
    flash("The card was removed." if removed else "No card was saved.", "success")
    return redirect(url_for("topups.auto_recharge_page"), code=303)


def _render_remove_card(status: int = 200, error: str | None = None):
    settings = topup_settings.settings_for(current_user.id)
    if not settings.has_card:
        return redirect(url_for("topups.auto_recharge_page"), code=303)
    errors = {"card": error} if error else {}
    return render_template("topups/remove_card.html", settings=settings, errors=errors), status
