"""History's pages: the ledger, the usage chart, CSV, a purchase's receipt, and the balance badge.

Their endpoints keep the `account.` names they had (`account.history_page`, `account.badge`,
…): templates, tests and the API description name them, so `init_app` registers each
under that name.
"""

from __future__ import annotations

import functools

import jinja2
import stripe
from flask import (
    Flask,
    Response,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    stream_with_context,
)
from flask_login import current_user, login_required

from creditapp.accounts import login
from creditapp.billing import receipts
from creditapp.billing.views import SESSION_ID
from creditapp.extensions import limiter, login_manager
from creditapp.features import registry
from creditapp.history import csv_export, lots, usage, usage_views
from creditapp.history import entries as history
from creditapp.history.context import page_context
from creditapp.models import utcnow
from creditapp.platform import ratelimits
from creditapp.platform.errors import error_response
from creditapp.platform.htmx import STOP_POLLING, is_htmx, vary_on_htmx
from creditapp.platform.money import format_money
from creditapp.teams.context import current_organization, require_manager, takes_context

BLUEPRINT = "account"
CHART_DAYS = 30


@limiter.exempt
def badge():
    """The balance badge fragment; with `until`, 286 stops polling once that purchase settles.

    The hot path (every page, every poll): one Core statement, no ORM user, no session
    write, no rate-limit bookkeeping, the fragment rendered once per distinct balance.
    The balance is read fresh on every request.
    """
    if request.args.get("org"):
        return _organization_badge()
    until = request.args.get("until")
    if until is not None and not SESSION_ID.fullmatch(until):
        return error_response(400, "That is not a Checkout Session id.")
    found = login.signed_in_balance(until or None)
    if found is None:
        if not current_user.is_authenticated:  # also tries the remember-me cookie
            return login_manager.unauthorized()
        found = login.signed_in_balance(until or None)
        if found is None:
            return login_manager.unauthorized()
    credits, purchase_status = found
    status = STOP_POLLING if until and purchase_status != "pending" else 200
    response = make_response(badge_fragment(credits), status)
    # Never stored: a page restored by Back/Forward re-reads it, and Chrome would otherwise
    # answer that request from its cache without asking.
    response.headers["Cache-Control"] = "no-store"
    return vary_on_htmx(response)


def _organization_badge():
    """The badge of an organization's wallet (`?org=<id>`, teams): a 404 to a non-member."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    org = current_organization()
    template = current_app.jinja_env.get_template("_partials/badge.html")
    response = make_response(template.render(credits=org.credits, badge_org=org.id))
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


def _show_all() -> bool:
    return request.args.get("all") == "1"


@takes_context
@login_required
def history_page():
    """The ledger of the page's wallet, newest first, 50 lines a page; htmx "load more" gets
    just the next rows. In an organization's context, who sees which lines is history.scope's.

    Checkouts that moved no money are hidden unless `?all=1`.
    """
    before = request.args.get("before") or None
    show_all = _show_all()
    org, scope, balance = page_context()
    try:
        page = history.page(current_user.id, before=before, show_all=show_all, balance=balance, scope=scope)
    except history.BadCursor:
        return error_response(
            400, "That history link is not valid. Open History again to start from the newest entries."
        )
    context = {
        "page": page,
        "feature_title": registry.title,
        "drawn_from": lots.drawn_from,
        "show_all": show_all,
        "money": format_money,
        "org": org,
        "scope": scope,
        "balance": balance,
    }
    if is_htmx() and before:
        body = render_template("history/_rows.html", **context)
    else:
        body = render_template("history/history.html", before=before, **context)
    return vary_on_htmx(make_response(body))


@takes_context
@login_required
def spend_chart():
    """Usage figures and the 30-day chart: a fragment for htmx; without JS, the Usage page.

    Loaded after History so a long ledger never slows it.
    """
    if not is_htmx():
        return usage_views.render_usage(usage.default_query(utcnow().date()), None, {})
    org, scope, balance = page_context()
    days = usage.daily_spend(current_user.id, days=CHART_DAYS, scope=scope)
    bought = history.bought(current_user.id, scope)
    context = {
        "days": days,
        "bought": bought,
        "balance": balance,
        "money": format_money,
        "org": org,
        "scope": scope,
    }
    return vary_on_htmx(make_response(render_template("history/_spend_chart.html", **context)))


@takes_context
@login_required
def history_csv():
    """Every ledger line of the page's wallet as CSV, streamed in keyset batches (UTC times,
    running balance); an organization's as its History shows it to this person."""
    org, scope, balance = page_context()
    rows = stream_with_context(csv_export.csv_lines(current_user.id, balance, registry.title, scope))
    stamp = utcnow().strftime("%Y%m%d")
    name = f"creditapp-history-org{org.id}-{stamp}.csv" if org else f"creditapp-history-{stamp}.csv"
    response = Response(rows, mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@login_required
@takes_context
def receipt_page(purchase_id: int):
    """The receipt of one of the user's paid purchases (or, in an organization's context, of
    the organization's, for its owners and admins): its invoice (number, date, PDF), what
    paid, subtotal, tax and total, from the database alone."""
    org = require_manager()  # an organization's purchases are its managers': 403 a member, 404 others
    receipt = receipts.completed_receipt(current_user.id, purchase_id, org.wallet_id if org else None)
    if receipt is None:
        return error_response(404, "There is no receipt for that purchase.")
    return render_template("billing/receipt.html", receipt=receipt, money=format_money)


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


ROUTES = (
    ("/credits/badge", badge),
    ("/history", history_page),
    ("/history/chart", spend_chart),
    ("/history.csv", history_csv),
    ("/history/purchases/<int:purchase_id>", receipt_page),
    ("/history/purchases/<int:purchase_id>/receipt", purchase_receipt),
)


def init_app(app: Flask) -> None:
    """Serve History's pages under their `account.` endpoints."""
    for rule, view in ROUTES:
        app.add_url_rule(rule, f"{BLUEPRINT}.{view.__name__}", view, methods=["GET"])
