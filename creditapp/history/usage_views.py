"""Usage: `/history/usage` (a range picker, a table and a chart) and `GET /api/usage`.

Both read `usage.spent`: the wallet's captured credits by feature, API key or UTC day. The
endpoints sit beside History's under `account.` (`account.usage_page`, `account.api_usage`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from flask import Flask, jsonify, make_response, render_template, request
from flask_login import current_user, login_required

from creditapp.accounts.bearer import requires_scope
from creditapp.features import registry
from creditapp.history import entries, usage
from creditapp.history.context import api_scope, page_context
from creditapp.models import utcnow
from creditapp.platform.htmx import is_htmx, vary_on_htmx
from creditapp.platform.money import format_money
from creditapp.teams.context import takes_context

BLUEPRINT = "account"
GROUPING_NAMES = {"day": "Day", "feature": "Feature", "key": "API key", "member": "Member"}


def usage_json(found: usage.Usage) -> dict[str, Any]:
    """One usage answer in the JSON API."""
    return {
        "from": found.query.first.isoformat(),
        "to": found.query.last.isoformat(),
        "group_by": found.query.group_by,
        "total": found.total,
        "rows": [
            {"key": row.key, "label": row.label, "credits": row.credits, "uses": row.uses}
            for row in found.rows
        ],
    }


@login_required
@requires_scope("read")
def api_usage():
    """Credits spent from the wallet over a range of UTC days, by feature, API key or day.

    The key's wallet (an organization key's is the organization's), else the session's `org`;
    a plain member of an organization counts their own spends only.
    """
    scope = api_scope()
    try:
        query = usage.parse_query(request.args, utcnow().date())
    except usage.BadUsageQuery as exc:
        body = {"error": "invalid_input", "message": str(exc), "field": exc.field}
        return make_response(jsonify(body), 422)
    return jsonify(usage_json(usage.spent(current_user.id, query, registry.title, scope)))


def month_day(iso_day: str) -> str:
    """A chart's day label: "Jun 3" for "2024-06-03"."""
    day = date.fromisoformat(iso_day)
    return f"{day:%b} {day.day}"


def _typed(args: Mapping[str, str]) -> dict[str, str]:
    # An empty date box of the GET form means "the default", as leaving it out does.
    return {name: value for name, value in args.items() if value}


@takes_context
@login_required
def usage_page():
    """Credits by day, feature or API key over a chosen range: a picker, a chart and a table.

    The picker is a GET form: without JavaScript it opens this page for the new range; htmx
    swaps just the picker and the results (and pushes the URL). A range that cannot be read
    is a 422 that says why, the form keeping what was typed.
    """
    today = utcnow().date()
    typed = _typed(request.args)
    try:
        query, problem = usage.parse_query(typed, today), None
    except usage.BadUsageQuery as exc:
        query, problem = None, exc
    return render_usage(query, problem, typed)


def render_usage(
    query: usage.UsageQuery | None, problem: usage.BadUsageQuery | None, typed: Mapping[str, str]
):
    """The usage page, or for htmx its picker and results; 422 with the problem when `query` is None.

    The page's wallet: Personal, or the organization of its `org` (a plain member's own spends).
    """
    org, scope, balance = page_context()
    found = usage.spent(current_user.id, query, registry.title, scope) if query else None
    context = {
        "org": org,
        "scope": scope,
        "query": query,
        "found": found,
        "problem": problem,
        "typed": typed,
        # By member: offered where there are members to tell apart (an organization's managers).
        "groupings": {
            value: name for value, name in GROUPING_NAMES.items() if value != "member" or scope.names_spenders
        },
        "default": usage.default_query(utcnow().date()),
        "max_days": usage.MAX_DAYS,
        "month_day": month_day,
    }
    # A history restore (Back after htmx pushed the URL, when htmx has no copy) needs the page.
    if is_htmx() and request.headers.get("HX-History-Restore-Request") != "true":
        response = make_response(render_template("history/_usage_body.html", announce=True, **context))
        if problem:
            response.headers["HX-Push-Url"] = "false"  # Back never leads to a range refused
    else:
        bought = entries.bought(current_user.id, scope)
        response = make_response(
            render_template(
                "history/usage.html",
                bought=bought,
                balance=balance,
                money=format_money,
                **context,
            )
        )
    response.status_code = 422 if problem else 200
    return vary_on_htmx(response)


ROUTES = (
    ("/history/usage", usage_page),
    ("/api/usage", api_usage),
)


def init_app(app: Flask) -> None:
    """Serve the usage page and API under `account.` endpoints."""
    for rule, view in ROUTES:
        app.add_url_rule(rule, f"{BLUEPRINT}.{view.__name__}", view, methods=["GET"])
