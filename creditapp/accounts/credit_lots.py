"""The wallet's lots as a person and a program see them: the Credits page, `GET /api/credit-lots`,
the "N credits expire on DATE" line beside the balance, and the lot fields of the balance API.

The Credits page and the line read the page's context (`?org=<id>`: an organization's wallet,
a 404 to a non-member); the API reads `bearer.wallet_id()` (the key's wallet, else the
session's context). Every member of an organization sees its lots: credits, not money.

Every credit enters a wallet in a lot (docs/design/ledger.md); these views only read them,
through `ledger.lots_of`, `ledger.live_lots` and `ledger.expiring`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask, abort, current_app, g, jsonify, make_response, render_template, request
from flask_login import current_user, login_required
from werkzeug.exceptions import HTTPException

from creditapp import ledger
from creditapp.accounts import bearer
from creditapp.accounts.bearer import requires_scope
from creditapp.extensions import db
from creditapp.platform.errors import error_response
from creditapp.platform.htmx import is_htmx, vary_on_htmx
from creditapp.teams.context import current_organization, page_takes_context, takes_context
from creditapp.teams.organizations import role_by_wallet

BLUEPRINT = "account"  # the account's pages share its endpoint names: `account.credits_page`, …
PAGE_SIZE = 50  # lots a page on the Credits page; the API's default `limit`
MAX_LIMIT = 100
LAST_ID = 2**63 - 1  # the largest id a lot can have (BIGINT)
# ASCII digits only: int() would also take " 5", "+5", "5_0" and other scripts' digits.
WHOLE_NUMBER = re.compile("[0-9]{1,19}")


class BadPageArgument(ValueError):
    """A `limit` or `before` that is not a whole number in its range; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _whole_number(args: Mapping[str, str], field: str, low: int, high: int) -> int | None:
    """The query argument `field` as an int in [low, high]; None when absent."""
    raw = args.get(field)
    if raw is None:
        return None
    if WHOLE_NUMBER.fullmatch(raw) is None or not low <= int(raw) <= high:
        raise BadPageArgument(field, f"`{field}` must be a whole number from {low} to {high}.")
    return int(raw)


def page_arguments(args: Mapping[str, str]) -> tuple[int, int | None]:
    """`limit` (1–100, default 50) and `before` (a lot id, from `next_before`) of a request."""
    limit = _whole_number(args, "limit", 1, MAX_LIMIT)
    before = _whole_number(args, "before", 1, LAST_ID)
    return (PAGE_SIZE if limit is None else limit), before


@dataclass(frozen=True)
class LotPage:
    """A page of lots, newest first, and the `before` that pages past it (None at the end)."""

    lots: list[ledger.LotView]
    next_before: int | None


def lot_page(user_id: int, limit: int, before: int | None, wallet_id: int | None = None) -> LotPage:
    """Up to `limit` of the user's lots (or `wallet_id`'s) older than lot `before`: one more is
    read to know if more follow."""
    found = ledger.lots_of(user_id, limit + 1, before, wallet_id=wallet_id)
    lots = found[:limit]
    return LotPage(lots, lots[-1].id if len(found) > limit else None)


def iso(value: datetime | None) -> str | None:
    """A UTC time as ISO 8601 with `Z`, as every time in the JSON API is written."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def lot_json(lot: ledger.LotView) -> dict[str, Any]:
    """One lot in the JSON API."""
    return {
        "id": lot.id,
        "source": lot.source,
        "category": lot.category,
        "amount": lot.amount,
        "remaining": lot.remaining,
        "priority": lot.priority,
        "state": lot.state,
        "effective_at": iso(lot.effective_at),
        "expires_at": iso(lot.expires_at),
        "voided_at": iso(lot.voided_at),
        "created_at": iso(lot.created_at),
        "purchase_id": lot.purchase_id,
        "reason": lot.reason,
    }


def expiring_json(expiring: ledger.Expiring | None) -> dict[str, Any] | None:
    """The soonest expiry inside the notice window, or None."""
    if expiring is None:
        return None
    return {"credits": expiring.credits, "expires_at": iso(expiring.expires_at)}


def expiring_of(user_id: int, wallet_id: int | None = None) -> ledger.Expiring | None:
    """The credits of the soonest expiry within LOT_EXPIRY_NOTICE_DAYS, if any (the user's own
    wallet, or `wallet_id`'s)."""
    return ledger.expiring(user_id, int(current_app.config["LOT_EXPIRY_NOTICE_DAYS"]), wallet_id=wallet_id)


def _context_wallet() -> int | None:
    """The organization's wallet on a page that acts on the context (`org`), else None (also on
    the 404 page a non-member gets there: it shows their own line)."""
    if not page_takes_context():
        return None
    try:
        org = current_organization()
    except HTTPException:
        return None
    return org.wallet_id if org else None


def expiring_soon() -> ledger.Expiring | None:
    """For the page being rendered: the soonest expiry in the notice window of the page's
    wallet (the signed-in person's own, or on a page in an organization's context, its).

    Read once a request (the header and the Credits page both show it). A page rendered for a
    database error shows no line rather than failing a second time.
    """
    if not current_user.is_authenticated:
        return None
    if "expiring_soon" not in g:
        try:
            g.expiring_soon = expiring_of(current_user.id, _context_wallet())
        except sa.exc.SQLAlchemyError:
            db.session.rollback()
            g.expiring_soon = None
    return g.expiring_soon


@takes_context
@login_required
def credits_page():
    """Every lot of the page's wallet (where it came from, what is left, when it ends), 50 a
    page: the person's own, or in an organization's context (`org`) its wallet's.

    The balance, held and owed on top. htmx "load more" gets just the next rows; without
    JavaScript the same form opens the next page.
    """
    org = current_organization()
    wallet_id = org.wallet_id if org else None
    try:
        before = _whole_number(request.args, "before", 1, LAST_ID)
    except BadPageArgument:
        return error_response(
            400, "That Credits link is not valid. Open Credits again to start from the newest lots."
        )
    page = lot_page(current_user.id, PAGE_SIZE, before, wallet_id)
    if is_htmx() and before:
        return vary_on_htmx(make_response(render_template("accounts/_lot_rows.html", page=page, org=org)))
    balance = ledger.balance(current_user.id) if org is None else ledger.wallet_balance(org.wallet_id)
    body = render_template("accounts/credits.html", page=page, balance=balance, before=before, org=org)
    return vary_on_htmx(make_response(body))


@takes_context
@login_required
def expiring_line():
    """The "N credits expire on DATE" line beside the badge, read again after a balance change.

    Empty once nothing expires inside the notice window (htmx then removes the line).
    """
    current_organization()  # in an organization's context (`org`): a 404 to a non-member
    response = make_response(render_template("accounts/_expiring.html"))
    response.headers["Cache-Control"] = "no-store"
    return vary_on_htmx(response)


def _api_wallet() -> int | None:
    """The wallet an `/api/` call reads (None: the caller's own); a 404 when it is an
    organization's the key's maker or the person signed in is not (or no longer) in."""
    wallet_id = bearer.wallet_id()
    if wallet_id == current_user.wallet_id:
        return None
    if role_by_wallet(wallet_id, current_user.id) is None:
        abort(404)
    return wallet_id


@login_required
@requires_scope("read")
def api_credit_lots():
    """The wallet's lots, every state, newest first; `limit` a page, `before` pages on.

    The key's wallet (an organization key's is the organization's), else the session's `org`.
    """
    wallet_id = _api_wallet()
    try:
        limit, before = page_arguments(request.args)
    except BadPageArgument as exc:
        body = {"error": "invalid_input", "message": str(exc), "field": exc.field}
        return make_response(jsonify(body), 422)
    page = lot_page(current_user.id, limit, before, wallet_id)
    return jsonify({"lots": [lot_json(lot) for lot in page.lots], "next_before": page.next_before})


ROUTES = (
    ("/account/credits", credits_page),
    ("/account/credits/expiring", expiring_line),
    ("/api/credit-lots", api_credit_lots),
)


def init_app(app: Flask) -> None:
    """Serve the lots' pages and API under `account.` endpoints; templates get `expiring_soon()`."""
    for rule, view in ROUTES:
        app.add_url_rule(rule, f"{BLUEPRINT}.{view.__name__}", view, methods=["GET"])
    app.context_processor(lambda: {"expiring_soon": expiring_soon})
