"""The person's API keys: create (the whole key shown once), list, revoke."""

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
    url_for,
)
from flask_login import current_user, login_required

from creditapp.accounts import api_keys
from creditapp.models import API_KEY_SCOPES

bp = Blueprint("api_keys", __name__)

# The key just made waits here for the one page that shows it (Post/Redirect/Get): a reload
# of that page shows nothing new and creates nothing. The session cookie is signed, not
# encrypted, so the key travels sealed (Fernet, keyed from SECRET_KEY) and for minutes only.
NEW_KEY = "new_api_key"
NEW_KEY_SECONDS = 300


def _sealer() -> Fernet:
    digest = hashlib.sha256(b"creditapp: new API key\0" + current_app.secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _seal(user_id: int, created: api_keys.CreatedKey) -> str:
    shown = json.dumps({"user_id": user_id, **dataclasses.asdict(created)})
    return _sealer().encrypt(shown.encode()).decode()


def _unseal(sealed: str | None, user_id: int) -> api_keys.CreatedKey | None:
    """The key sealed for this user within the last minutes, else None."""
    if not sealed:
        return None
    try:
        shown = json.loads(_sealer().decrypt(sealed.encode(), ttl=NEW_KEY_SECONDS))
    except (InvalidToken, ValueError, TypeError):
        return None
    if shown.pop("user_id", None) != user_id:
        return None
    return api_keys.CreatedKey(**shown)


def _page(status: int = 200, **extra):
    keys = api_keys.list_keys(current_user.id)
    body = render_template("accounts/api_keys.html", keys=keys, all_scopes=API_KEY_SCOPES, **extra)
    response = make_response(body, status)
    # The page may carry a new key: never keep it in a cache, nor let Back show it again.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/account/api-keys")
@login_required
def index():
    """The keys, with the form that creates one, and a key just created, shown this once."""
    created = _unseal(session.pop(NEW_KEY, None), current_user.id)
    return _page(created=created, form={"scopes": list(API_KEY_SCOPES)})


@bp.post("/account/api-keys")
@login_required
def create():
    """Create a key (CSRF-checked), then 303 to the page that shows it, whole, this once."""
    form = {
        "name": request.form.get("name", ""),
        "scopes": request.form.getlist("scopes"),
        "monthly_credit_limit": request.form.get("monthly_credit_limit", ""),
    }
    live = str(current_app.config.get("STRIPE_SECRET_KEY") or "").startswith("sk_live_")
    try:
        limit = api_keys.parse_limit(form["monthly_credit_limit"])
        created = api_keys.create_key(current_user.id, form["name"], form["scopes"], limit, live=live)
    except api_keys.InvalidKeyRequest as exc:
        return _page(422, form=form, error=str(exc), error_field=exc.field)
    session[NEW_KEY] = _seal(current_user.id, created)
    return redirect(url_for("api_keys.index"), 303)


@bp.get("/account/api-keys/<int:key_id>/revoke")
@login_required
def confirm_revoke(key_id: int):
    """Ask before revoking: programs that use the key stop working at once."""
    key = api_keys.find_key(current_user.id, key_id)
    if key is None:
        abort(404)
    return render_template("accounts/api_key_revoke.html", key=key)


@bp.post("/account/api-keys/<int:key_id>/revoke")
@login_required
def revoke(key_id: int):
    """Revoke one of the person's keys (CSRF-checked); 404 for a key that is not theirs."""
    if api_keys.find_key(current_user.id, key_id) is None:
        abort(404)
    api_keys.revoke_key(current_user.id, key_id)
    return redirect(url_for("api_keys.index"), 303)
