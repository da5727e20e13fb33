"""API keys: create (the whole key shown once), list, revoke, for the page's context.

In Personal context the page lists the person's own keys. In an organization's context
(`?org=<id>`, a hidden `org` field in its forms) it lists the organization's keys with who
made each, and its owners and admins create and revoke them; a plain member sees the page
without the list (what each key spent is the members' spending, which only owners and
admins see) and gets a 403 for create and revoke; a non-member gets a 404.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json

from cryptography.fernet import Fernet, InvalidToken
from flask import (
    Blueprint,
    abort,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    session,
)
from flask_login import current_user, login_required

from creditapp.accounts import api_keys, org_keys
from creditapp.models import API_KEY_SCOPES
from creditapp.teams import Forbidden, NotFound
from creditapp.teams.context import current_organization, in_context, require_manager, takes_context
from creditapp.teams.organizations import MANAGERS

bp = Blueprint("api_keys", __name__)

# The key just made waits here for the one page that shows it (Post/Redirect/Get): a reload
# of that page shows nothing new and creates nothing. The session cookie is signed, not
# encrypted, so the key travels sealed (Fernet, keyed from SECRET_KEY) and for minutes only.
NEW_KEY = "new_api_key"
NEW_KEY_SECONDS = 300


def _sealer() -> Fernet:
    digest = hashlib.sha256(b"creditapp: new API key\0" + current_app.secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _seal(user_id: int, org_id: int | None, created: api_keys.CreatedKey) -> str:
    shown = json.dumps({"user_id": user_id, "org_id": org_id, **dataclasses.asdict(created)})
    return _sealer().encrypt(shown.encode()).decode()


def _unseal(sealed: str | None) -> dict | None:
    """What was sealed within the last minutes (its user, context and key), else None."""
    if not sealed:
        return None
    try:
        shown = json.loads(_sealer().decrypt(sealed.encode(), ttl=NEW_KEY_SECONDS))
    except (InvalidToken, ValueError, TypeError):
        return None
    return shown if isinstance(shown, dict) else None


def _take_new_key(user_id: int, org_id: int | None) -> api_keys.CreatedKey | None:
    """The key just made for this user in this context, taken out of the session to be shown
    once. One made for another context of theirs waits (minutes at most) for its own page."""
    shown = _unseal(session.get(NEW_KEY))
    if shown is not None and shown.get("user_id") == user_id and shown.get("org_id") != org_id:
        return None
    session.pop(NEW_KEY, None)
    if shown is None or shown.pop("user_id", None) != user_id:
        return None
    shown.pop("org_id", None)
    return api_keys.CreatedKey(**shown)


def _page(status: int = 200, **extra):
    org = current_organization()
    if org is None:
        keys = api_keys.list_keys(current_user.id)
    else:
        keys = org_keys.list_org_keys(org.wallet_id) if org.role in MANAGERS else []
    body = render_template(
        "accounts/api_keys.html",
        keys=keys,
        all_scopes=API_KEY_SCOPES,
        org=org,
        manages=org is None or org.role in MANAGERS,
        **extra,
    )
    response = make_response(body, status)
    # The page may carry a new key: never keep it in a cache, nor let Back show it again.
    response.headers["Cache-Control"] = "no-store"
    return response


def _find(key_id: int) -> api_keys.KeySummary:
    """The context's key (a 403 for a plain member of the organization, a 404 when there is none)."""
    org = require_manager()
    key = (
        api_keys.find_key(current_user.id, key_id)
        if org is None
        else org_keys.find_org_key(org.wallet_id, key_id)
    )
    if key is None:
        abort(404)
    return key


@bp.get("/account/api-keys")
@login_required
@takes_context
def index():
    """The keys, with the form that creates one, and a key just created, shown this once."""
    org = current_organization()
    created = _take_new_key(current_user.id, org.id if org is not None else None)
    return _page(created=created, form={"scopes": list(API_KEY_SCOPES)})


@bp.post("/account/api-keys")
@login_required
@takes_context
def create():
    """Create a key (CSRF-checked) in the page's context, then 303 to the page that shows it,
    whole, this once."""
    org = require_manager()
    org_id = org.id if org is not None else None
    form = {
        "name": request.form.get("name", ""),
        "scopes": request.form.getlist("scopes"),
        "monthly_credit_limit": request.form.get("monthly_credit_limit", ""),
    }
    live = str(current_app.config.get("STRIPE_SECRET_KEY") or "").startswith("sk_live_")
    try:
        limit = api_keys.parse_limit(form["monthly_credit_limit"])
        created = api_keys.create_key(
            current_user.id, form["name"], form["scopes"], limit, live=live, org_id=org_id
        )
    except api_keys.InvalidKeyRequest as exc:
        return _page(422, form=form, error=str(exc), error_field=exc.field)
    except NotFound:  # removed since the page was read
        abort(404)
    except Forbidden:  # demoted since the page was read
        abort(403)
    session[NEW_KEY] = _seal(current_user.id, org_id, created)
    return redirect(in_context("api_keys.index"), 303)


@bp.get("/account/api-keys/<int:key_id>/revoke")
@login_required
@takes_context
def confirm_revoke(key_id: int):
    """Ask before revoking: programs that use the key stop working at once."""
    return render_template("accounts/api_key_revoke.html", key=_find(key_id), org=current_organization())


@bp.post("/account/api-keys/<int:key_id>/revoke")
@login_required
@takes_context
def revoke(key_id: int):
    """Revoke one of the context's keys (CSRF-checked); 404 for a key that is not there."""
    _find(key_id)
    org = current_organization()
    if org is None:
        api_keys.revoke_key(current_user.id, key_id)
    else:
        try:
            org_keys.revoke_org_key(org.id, current_user.id, key_id)
        except NotFound:
            abort(404)
        except Forbidden:
            abort(403)
    return redirect(in_context("api_keys.index"), 303)
