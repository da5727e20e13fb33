"""Account settings for e-mail alerts (`/account/notifications`): the low-balance level."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from creditapp.models import User
from creditapp.platform.form_fields import whole_number
from creditapp.platform.transactions import read, write

bp = Blueprint("notifications", __name__, url_prefix="/account")

users = User.__table__


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
        level = whole_number(request.form.get("level"), "level", errors, 1, 1_000_000)
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
    return redirect(url_for("notifications.notifications_page"), code=303)
