"""Account settings for e-mail alerts (`/account/notifications`): the low-balance level.

In an organization's context (`?org=<id>`, a hidden `org` field) it is the organization's level:
its owners and admins set it and get its e-mails (403 for a member, 404 for anyone else).
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from creditapp.models import Organization, User
from creditapp.platform.form_fields import whole_number
from creditapp.platform.transactions import read, write
from creditapp.teams.context import require_manager, takes_context

bp = Blueprint("notifications", __name__, url_prefix="/account")

users = User.__table__
organizations = Organization.__table__


def _level_of(org) -> tuple[sa.Table, sa.ColumnElement]:
    """Where the level lives: the person's row, or the organization's."""
    if org is None:
        return users, users.c.id == current_user.id
    return organizations, organizations.c.id == org.id


@bp.get("/notifications")
@login_required
@takes_context
def notifications_page():
    """The balance below which we send a low-balance e-mail."""
    return _render_alerts(require_manager())


def _render_alerts(org, status: int = 200, errors: dict[str, str] | None = None, form: dict | None = None):
    table, row = _level_of(org)
    with read() as session:
        level = session.execute(sa.select(table.c.low_balance_alert_level).where(row)).scalar_one()
    body = render_template("notifications/alerts.html", level=level, org=org, errors=errors or {}, form=form)
    return body, status


@bp.post("/notifications")
@login_required
def save_notifications():
    """Set or clear the low-balance alert level (CSRF-checked)."""
    org = require_manager()
    errors: dict[str, str] = {}
    level = None
    if request.form.get("alert") == "1":
        level = whole_number(request.form.get("level"), "level", errors, 1, 1_000_000)
    if errors:
        return _render_alerts(org, 400, errors, request.form.to_dict())
    table, row = _level_of(org)
    with write() as session:
        session.execute(sa.update(table).where(row).values(low_balance_alert_level=level))
    whose = f"{org.name}'s" if org is not None else "your"
    flash(
        f"We will e-mail {'its owners and admins' if org is not None else 'you'} when {whose} balance "
        f"falls below {level:,} credits."
        if level
        else "Low-balance e-mail is off.",
        "success",
    )
    return redirect(url_for("notifications.notifications_page", org=org.id if org else None), code=303)
