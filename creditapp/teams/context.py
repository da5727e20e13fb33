"""Which wallet a page acts on: the person's own, or one of their organizations'.

The context travels with the page, never in the session, so two tabs in two contexts never
cross: `?org=<id>` in a page's URL, a hidden `org` field in its forms. A view helper (it
reads the request); the rules stay in the services.
"""

from __future__ import annotations

from flask import abort, g, request
from flask_login import current_user

from creditapp.teams.errors import NotFound
from creditapp.teams.organizations import OrganizationView, organization_for, organizations_of


def current_organization() -> OrganizationView | None:
    """The organization this request acts for (`org` in the query or form), None for the
    personal wallet; a 404 when the person is not in it."""
    raw = request.values.get("org", "")
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
    raw = request.values.get("org", "")
    return {"organizations": organizations_of(current_user.id), "chosen": int(raw) if raw.isdigit() else None}
