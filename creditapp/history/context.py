"""The wallet a History, usage or CSV request reads, and the lines of it the person sees.

A view helper (it reads the request): the page's context (`org`) for pages, the key's
wallet or the session's context for `/api/` calls. The rules are history.scope's.
"""

from __future__ import annotations

from flask import abort
from flask_login import current_user

from creditapp.accounts import bearer
from creditapp.history.scope import PERSONAL, Scope, of_organization
from creditapp.teams.context import current_organization
from creditapp.teams.organizations import OrganizationView, role_by_wallet


def page_context() -> tuple[OrganizationView | None, Scope, int]:
    """The page's organization (None: Personal; a 404 to a non-member), the lines of its
    wallet the person sees there, and the wallet's balance."""
    org = current_organization()
    if org is None:
        return None, PERSONAL, current_user.credits
    return org, of_organization(org.wallet_id, org.role), org.credits


def api_scope() -> Scope:
    """The wallet an `/api/` call reads (its key's, else the session's `org`) and the lines of
    it the caller sees: for an organization's, by the role of the key's maker or of the person
    signed in. A 404 when they are not (or no longer) in that organization."""
    wallet_id = bearer.wallet_id()
    if wallet_id == current_user.wallet_id:
        return PERSONAL
    role = role_by_wallet(wallet_id, current_user.id)
    if role is None:
        abort(404)
    return of_organization(wallet_id, role)
