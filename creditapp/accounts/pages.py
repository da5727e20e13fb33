"""Home, the account page, signing out everywhere, the balance API and the health check."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify, make_response, redirect, render_template, session, url_for
from flask_login import current_user, login_required, logout_user

from creditapp import ledger
from creditapp.accounts import bearer, credit_lots, sessions
from creditapp.accounts.bearer import requires_scope
from creditapp.extensions import db
from creditapp.platform.htmx import is_htmx
from creditapp.platform.htmx import redirect as hx_redirect

# History's pages (`account.history_page`, `account.badge`, …) keep this blueprint's name in
# their endpoints: creditapp/history/views.py registers them under it.
bp = Blueprint("account", __name__)


@bp.get("/")
def home():
    """Landing page; signed in it shows the balance and what to do next."""
    return render_template("accounts/home.html")


@bp.get("/account")
@login_required
def account_page():
    """Who is signed in, and "Sign out of all devices"."""
    return render_template("accounts/account.html")


@bp.post("/account/sign-out-everywhere")
@login_required
def sign_out_everywhere():
    """End every sign-in of this account on every device, this one included (CSRF-checked)."""
    sessions.sign_out_everywhere(current_user.id)
    session.clear()  # before logout_user(), which leaves the flag that deletes the remember-me cookie
    logout_user()
    home = url_for("account.home")
    if is_htmx():
        return hx_redirect(make_response("", 204), home)
    return redirect(home, code=303)


@bp.get("/healthz")
def healthz():
    """200 when the database answers, 503 otherwise."""
    try:
        db.session.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        db.session.rollback()
        return jsonify({"status": "unavailable", "database": "down"}), 503
    return jsonify({"status": "ok"})


@bp.get("/api/user/credits")
@login_required
@requires_scope("read")
def api_credits():
    """The balance, the credits on hold and owed, the soonest expiry and the live lots, as JSON.

    Of the call's wallet: a key's own (an organization key's is the organization's), or for a
    browser session the organization it names with `org`, else the person's own.
    """
    wallet = bearer.wallet_id()
    balance = ledger.wallet_balance(wallet)
    notice_days = int(current_app.config["LOT_EXPIRY_NOTICE_DAYS"])
    expiring = ledger.expiring(current_user.id, notice_days, wallet_id=wallet)
    return jsonify(
        {
            "credits": balance.credits,
            "held": balance.held,
            "owed": balance.owed,
            "expiring": credit_lots.expiring_json(expiring),
            "lots": [
                credit_lots.lot_json(lot) for lot in ledger.live_lots(current_user.id, wallet_id=wallet)
            ],
        }
    )
