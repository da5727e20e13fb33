"""Home, account, balance badge, balance API, history and health check."""

from __future__ import annotations

import functools

import jinja2
import sqlalchemy as sa
import stripe
from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    stream_with_context,
    url_for,
)
from flask_login import current_user, login_required, logout_user

from creditapp import auth_setup, history, ledger, ratelimits
from creditapp.api_auth import requires_scope
from creditapp.blueprints.billing import SESSION_ID
from creditapp.errors import error_response
from creditapp.extensions import db, limiter, login_manager
from creditapp.features import registry, usage
from creditapp.htmx import STOP_POLLING, is_htmx, vary_on_htmx
from creditapp.htmx import redirect as hx_redirect
from creditapp.models import utcnow
from creditapp.services import receipts, sessions
from creditapp.services.packs import format_money

bp = Blueprint("account", __name__)

CHART_DAYS = 30


@bp.get("/")
def home():
    """Landing page; signed in it shows the balance and what to do next."""
    return render_template("home.html")


@bp.get("/account")
@login_required
def account_page():
    """Who is signed in, and "Sign out of all devices"."""
    return render_template("account.html")


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


@bp.get("/credits/badge")
@limiter.exempt
def badge():
    """The balance badge fragment; with `until`, 286 stops polling once that purchase settles.

    The hot path (every page, every poll): one Core statement, no ORM user, no session
    write, no rate-limit bookkeeping, the fragment rendered once per distinct balance.
    The balance is read fresh on every request.
    """
    until = request.args.get("until")
    if until is not None and not SESSION_ID.fullmatch(until):
        return error_response(400, "That is not a Checkout Session id.")
    found = auth_setup.signed_in_balance(until or None)
    if found is None:
        if not current_user.is_authenticated:  # also tries the remember-me cookie
            return login_manager.unauthorized()
        found = auth_setup.signed_in_balance(until or None)
        if found is None:
            return login_manager.unauthorized()
    credits, purchase_status = found
    status = STOP_POLLING if until and purchase_status != "pending" else 200
    response = make_response(badge_fragment(credits), status)
    # Never stored: a page restored by Back/Forward re-reads it, and Chrome would otherwise
    # answer that request from its cache without asking.
    response.headers["Cache-Control"] = "no-store"
    return vary_on_htmx(response)


def badge_fragment(credits: int) -> str:
    """The badge's HTML for a balance just read from the database.

    The HTML is a pure function of the number (and of the template and the app's URL
    prefix), so each distinct balance is rendered once: a Jinja render cost about 100 µs
    of the badge's time. Only HTML is kept; the balance is read on every request.
    """
    template = current_app.jinja_env.get_template("_partials/badge.html")
    return _rendered_badge(template, credits, request.script_root)


@functools.lru_cache(maxsize=2048)
def _rendered_badge(template: jinja2.Template, credits: int, script_root: str) -> str:
    # script_root is part of the key only: the template's url_for reads it from the request.
    return template.render(credits=credits)


@bp.get("/api/user/credits")
@login_required
@requires_scope("read")
def api_credits():
    """The balance and the credits on hold, as JSON."""
    balance = ledger.balance(current_user.id)
    return jsonify({"credits": balance.credits, "held": balance.held})


def _show_all() -> bool:
    return request.args.get("all") == "1"


@bp.get("/history")
@login_required
def history_page():
    """The ledger, newest first, 50 lines a page; htmx "load more" gets just the next rows.

    Checkouts that moved no money are hidden unless `?all=1`.
    """
    before = request.args.get("before") or None
    show_all = _show_all()
    try:
        page = history.page(current_user.id, before=before, show_all=show_all, balance=current_user.credits)
    except history.BadCursor:
        return error_response(
            400, "That history link is not valid. Open History again to start from the newest entries."
        )
    context = {"page": page, "feature_title": registry.title, "show_all": show_all, "money": format_money}
    if is_htmx() and before:
        body = render_template("_partials/history_rows.html", **context)
    else:
        body = render_template("history.html", before=before, **context)
    return vary_on_htmx(make_response(body))


@bp.get("/history/chart")
@login_required
def spend_chart():
    """Usage figures and the 30-day chart: a fragment for htmx, a page of its own without JS.

    Loaded after History so a long ledger never slows it.
    """
    days = usage.daily_spend(current_user.id, days=CHART_DAYS)
    bought = history.bought(current_user.id)
    context = {"days": days, "bought": bought, "balance": current_user.credits, "money": format_money}
    if is_htmx():
        return vary_on_htmx(make_response(render_template("_partials/spend_chart.html", **context)))
    return vary_on_htmx(make_response(render_template("usage.html", **context)))


@bp.get("/history.csv")
@login_required
def history_csv():
    """Every ledger line as CSV, streamed in keyset batches (UTC times, running balance)."""
    user_id, balance = current_user.id, current_user.credits
    rows = stream_with_context(history.csv_lines(user_id, balance, registry.title))
    stamp = utcnow().strftime("%Y%m%d")
    response = Response(rows, mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="creditapp-history-{stamp}.csv"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/history/purchases/<int:purchase_id>/receipt")
@login_required
def purchase_receipt(purchase_id: int):
    """Stripe's receipt for one of the user's paid purchases (303 to it; stored, else read once)."""
    receipt = receipts.stored_receipt(current_user.id, purchase_id)
    if receipt is None:
        return error_response(404, "There is no receipt for that purchase.")
    url = receipt.receipt_url
    if url is None and receipt.payment_intent_id:
        if not ratelimits.stripe_read_allowed(current_user.id):
            retry = ratelimits.stripe_read_retry_after(current_user.id)
            body, status = error_response(
                429, f"Too many receipts asked of Stripe just now. Please try again in {retry} seconds."
            )
            return body, status, {"Retry-After": str(retry)}
        try:
            url = receipts.read_receipt(receipt)
        except stripe.StripeError:
            return error_response(
                503, "Stripe could not be reached for the receipt. Please try again shortly."
            )
    if not url:
        return error_response(404, "There is no receipt for that purchase.")
    return redirect(url, code=303)
