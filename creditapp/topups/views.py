"""Account settings for automatic top-up (`/account/auto-recharge`) and e-mail alerts."""

from __future__ import annotations

import sqlalchemy as sa
import stripe
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from creditapp.billing import packs
from creditapp.models import User
from creditapp.platform import money
from creditapp.platform.transactions import read, write
from creditapp.topups import settings as topup_settings

bp = Blueprint("topups", __name__, url_prefix="/account")

users = User.__table__


def _whole(value: str | None, name: str, errors: dict[str, str], low: int, high: int) -> int | None:
    """A whole number in [low, high] from a form field, or an error that says what is wanted."""
    try:
        number = int((value or "").strip())
    except ValueError:
        errors[name] = f"Enter a whole number from {low:,} to {high:,}."
        return None
    if not low <= number <= high:
        errors[name] = f"Enter a whole number from {low:,} to {high:,}."
        return None
    return number


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
    threshold = _whole(request.form.get("threshold"), "threshold", errors, 0, 1_000_000)
    cap = _whole(request.form.get("monthly_cap"), "monthly_cap", errors, 1, 100)
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


@bp.get("/notifications")
@login_required
def notifications_page():
    """The balance below which we send a low-balance e-mail."""
    return _render_alerts()


def _render_alerts(status: int = 200, errors: dict[str, str] | None = None, form: dict | None = None):
    with read() as session:
        level = session.execute(
            sa.select(users.c.low_balance_alert_level).where(users.c.id == current_user.id)
        ).scalar_one()
    body = render_template("notifications/alerts.html", level=level, errors=errors or {}, form=form)
    return body, status


@bp.post("/notifications")
@login_required
def save_notifications():
    """Set or clear the low-balance alert level (CSRF-checked)."""
    errors: dict[str, str] = {}
    level = None
    if request.form.get("alert") == "1":
        level = _whole(request.form.get("level"), "level", errors, 1, 1_000_000)
    if errors:
        return _render_alerts(400, errors, request.form.to_dict())
    with write() as session:
        session.execute(
            sa.update(users).where(users.c.id == current_user.id).values(low_balance_alert_level=level)
        )
    flash(
        f"We will e-mail you when your balance falls below {level:,} credits."
        if level
        else "Low-balance e-mail is off.",
        "success",
    )
    return redirect(url_for("topups.notifications_page"), code=303)
