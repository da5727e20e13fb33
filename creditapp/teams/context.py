"""Which wallet a page acts on: the person's own, or one of their organizations'.

The context travels with the page, never in the session, so two tabs in two contexts never
cross: `?org=<id>` in a page's URL, a hidden `org` field in its forms. A view helper (it
reads the request); the rules stay in the services.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, g, request
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from creditapp.extensions import db
from creditapp.teams.errors import NotFound
from creditapp.teams.organizations import OrganizationView, organization_for, organizations_of


def _org_value() -> str:
    """The `org` of the query or form; the query's alone when the body cannot be read (an
    oversize form answered 413: its error page must not read that body again)."""
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
    if not raw.isdigit():
        abort(404)
    if "team_context" not in g:
        try:
            g.team_context = organization_for(int(raw), current_user.id)
        except NotFound:
            abort(404)
    return g.team_context


def switcher() -> dict:
    """What the header's context switcher shows: the person's organizations and the one
    chosen (None: Personal). Empty on pages that do not act on a wallet's context."""
    if not current_user.is_authenticated or request.blueprint != "features":
        return {"organizations": [], "chosen": None}
    raw = _org_value()
    try:
        organizations = organizations_of(current_user.id)
    except sa.exc.SQLAlchemyError:  # a page rendered for a database error shows no switcher
        db.session.rollback()
        return {"organizations": [], "chosen": None}
    return {"organizations": organizations, "chosen": int(raw) if raw.isdigit() else None}
