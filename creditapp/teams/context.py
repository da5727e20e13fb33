"""Which wallet a page acts on: the person's own, or one of their organizations'.

The context travels with the page, never in the session, so two tabs in two contexts never
cross: `?org=<id>` in a page's URL, a hidden `org` field in its forms. A view that acts on
the context is marked with `takes_context`; the header shows the switcher on those pages and
`in_context(endpoint)` builds links that keep the context. A view helper (it reads the
request); the rules stay in the services.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import abort, current_app, g, request, url_for
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from creditapp.extensions import db
from creditapp.teams.errors import NotFound
from creditapp.teams.organizations import MANAGERS, OrganizationView, organization_for, organizations_of

View = TypeVar("View", bound=Callable[..., Any])


ID_MAX = 2**63 - 1  # the largest id a bigint column holds


def org_id(raw: str) -> int | None:
    """The organization id an `org` value names: ASCII digits a bigint holds; None for anything
    else (such an `org` names no organization: a 404, never an error)."""
    if not (raw.isascii() and raw.isdigit()):
        return None
    value = int(raw)
    return value if value <= ID_MAX else None


def takes_context(view: View) -> View:
    """Mark a view as acting on the page's context: the header shows the switcher on it."""
    view.takes_team_context = True  # type: ignore[attr-defined]
    return view


def _org_value() -> str:
    """The `org` of the query or form (or the one the page is of, `use_organization`); the
    query's alone when the body cannot be read (an oversize form answered 413: its error page
    must not read that body again)."""
    if "team_context_of_page" in g:
        return str(g.team_context_of_page)
    try:
        return request.values.get("org", "")
    except HTTPException:
        return request.args.get("org", "")


def current_organization() -> OrganizationView | None:
    """The organization this request acts for (`org` in the query or form), None for the
    personal wallet; a 404 when the person is not in it."""
    raw = _org_value()
    if not raw:
        return None
    named = org_id(raw)
    if named is None:
        abort(404)
    if "team_context" not in g:
        try:
            g.team_context = organization_for(named, current_user.id)
        except NotFound:
            abort(404)
    return g.team_context


def current_wallet_id() -> int:
    """The wallet the page acts on: the organization's, or the signed-in person's own."""
    org = current_organization()
    return org.wallet_id if org is not None else current_user.wallet_id


def require_manager() -> OrganizationView | None:
    """The page's organization when the person is its owner or admin (None: Personal);
    a 403 for a member, a 404 for a non-member."""
    org = current_organization()
    if org is not None and org.role not in MANAGERS:
        abort(403)
    return org


def use_organization(org: OrganizationView) -> None:
    """Show this page in the organization's context although its URL names none: a page
    about one thing of one wallet (a job's page: the wallet it spent from). The header's
    badge, expiry line and links then read the organization's wallet; no switcher shows."""
    g.team_context = org
    g.team_context_of_page = org.id


def page_takes_context() -> bool:
    """Whether the page being rendered reads the context (`takes_context`, or `use_organization`)."""
    return "team_context_of_page" in g or _takes_context()


def _takes_context() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, "takes_team_context", False))


def in_context(endpoint: str, **values: Any) -> str:
    """`url_for(endpoint)` keeping the page's organization context (`org`), if it has one."""
    if "org" not in values and page_takes_context():
        raw = _org_value()
        if org_id(raw) is not None:
            values["org"] = raw
    return url_for(endpoint, **values)


def switcher() -> dict:
    """What the header's context switcher shows: the person's organizations and the one
    chosen (None: Personal). Empty on pages that do not act on a wallet's context; on a page
    of one organization's thing (`use_organization`) no choice, but its links keep the context."""
    if current_user.is_authenticated and "team_context_of_page" in g:
        return {"organizations": [], "chosen": g.team_context_of_page}
    if not current_user.is_authenticated or not _takes_context():
        return {"organizations": [], "chosen": None}
    raw = _org_value()
    try:
        organizations = organizations_of(current_user.id)
    except sa.exc.SQLAlchemyError:  # a page rendered for a database error shows no switcher
        db.session.rollback()
        return {"organizations": [], "chosen": None}
    return {"organizations": organizations, "chosen": org_id(raw)}
