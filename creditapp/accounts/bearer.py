"""`Authorization: Bearer <key>` on the JSON API, scopes, and CSRF for everything else.

A request to `/api/…` that carries an Authorization header is authenticated by that key
alone: a session cookie beside it is ignored, nothing is written to the session, and no
CSRF token is asked for (a key is not sent by browsers on their own, so there is nothing
to forge). Every other request keeps Flask-WTF's CSRF check, run from here once the key
has had its say (Flask-WTF's own hook is turned off: it cannot skip a single request).

Which wallet an `/api/` call acts on (`wallet_id`): a key's own, always (a person's key their
personal wallet, an organization's key the organization's); a browser session's the one it
names with `org` (in the query, the form or the JSON body), as pages do, else the person's
own. A key request that names an `org` other than its key's is refused here, before any
route runs (403 `wrong_wallet`, nothing written): a personal key never acts for an
organization, nor an organization's key for a person or another organization.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Flask, abort, current_app, g, jsonify, make_response, request, session
from flask.typing import ResponseReturnValue
from flask_login import current_user

from creditapp.accounts import api_keys
from creditapp.accounts.sessions import parse_token
from creditapp.extensions import csrf
from creditapp.teams import NotFound, organization_for
from creditapp.teams.context import org_id

REALM_CHALLENGE = 'Bearer realm="creditapp"'
INVALID_CHALLENGE = 'Bearer error="invalid_token"'


def current_key() -> api_keys.KeyHolder | None:
    """The API key this request is authenticated by; None for a browser session."""
    return g.get("api_key")


def current_key_id() -> int | None:
    """The id of the request's API key, or None."""
    key = current_key()
    return key.key_id if key else None


def named_org() -> str:
    """The `org` an `/api/` call names (its query's, else its form's or its JSON body's
    `org`); "" when it names none. Aborts 422 when two of them disagree or the body's is
    not a whole number."""
    named = request.values.get("org", "")
    body = request.get_json(silent=True) if request.is_json else None
    if isinstance(body, dict) and body.get("org") not in (None, ""):
        given = body["org"]
        if isinstance(given, bool) or not isinstance(given, int | str):
            abort(_bad_org("`org` is an organization's id."))
        if named and named != str(given):
            abort(_bad_org("The query and the body name two different organizations."))
        named = str(given)
    return named


def wallet_id() -> int:
    """The wallet an `/api/` call acts on: its key's (an organization key's is the
    organization's), else for a browser session the organization it names with `org`
    (a 404 when the person is not a member), else the person's own."""
    key = current_key()
    if key is not None:
        return key.wallet_id
    raw = named_org()
    if not raw:
        return current_user.wallet_id
    try:
        named = org_id(raw)
        if named is None:
            raise NotFound("no such organization")
        return organization_for(named, current_user.id).wallet_id
    except NotFound:
        abort(make_response(jsonify({"error": "not_found", "message": "No such organization."}), 404))


def _bad_org(message: str):
    body = {"error": "invalid_input", "message": message, "field": "org"}
    return make_response(jsonify(body), 422)


def is_personal(wallet: int) -> bool:
    """True when `wallet` is the signed-in person's own (not an organization's)."""
    return wallet == current_user.wallet_id


def idempotency_scope() -> str:
    """Where this request's Idempotency-Key may replay: its API key, else its browser sign-in
    and the wallet it spends from.

    Read from the session's sign-in token (what Flask-Login stored), not the loaded user, so
    it is the same on every request of one sign-in. A key (API key) has one wallet; a
    sign-in spends from several, and an Idempotency-Key sent for an organization's wallet
    must not answer with a spend from the personal one (or another organization's).
    """
    key_id = current_key_id()
    if key_id is not None:
        return f"key:{key_id}"
    parsed = parse_token(str(session.get("_user_id") or ""))
    sign_in = parsed[2] if parsed else ""
    scope = f"session:{sign_in}" if sign_in else "session"
    wallet = wallet_id()
    return scope if is_personal(wallet) else f"{scope}:wallet:{wallet}"


def invalid_token(message: str):
    """401 for a key that is malformed, unknown or revoked (RFC 6750's invalid_token)."""
    response = make_response(jsonify({"error": "invalid_token", "message": message}), 401)
    response.headers["WWW-Authenticate"] = INVALID_CHALLENGE
    return response


def insufficient_scope(scope: str, message: str):
    """403 for a key that lacks the scope the route needs."""
    body = {"error": "insufficient_scope", "message": message, "required_scope": scope}
    response = make_response(jsonify(body), 403)
    response.headers["WWW-Authenticate"] = f'Bearer error="insufficient_scope", scope="{scope}"'
    return response


def wrong_wallet(holder: api_keys.KeyHolder):
    """403 for a key request that names a wallet other than its key's."""
    spends_from = "an organization's credits" if holder.org_id is not None else "its maker's personal credits"
    message = (
        f"This key spends {spends_from} only; it cannot act for organization {named_org()!r}. "
        "Leave out `org`, or use a key made for that organization."
    )
    return make_response(jsonify({"error": "wrong_wallet", "message": message}), 403)


def _authenticate_key():
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return invalid_token('Send the key as "Authorization: Bearer <key>".')
    holder = api_keys.authenticate(token.strip())
    if holder is None:
        return invalid_token("This API key is not valid, or it was revoked.")
    g.api_key = holder
    g._login_user = holder.user  # Flask-Login's current_user, without touching the session
    named = named_org()
    if named and named != str(holder.org_id or ""):
        return wrong_wallet(holder)  # before `touch`: a refused request writes nothing
    api_keys.touch(holder.key_id, holder.last_used_at)
    return None


def authenticate_request():
    """Before every request: a key for the API, else the CSRF check on unsafe methods."""
    if request.path.startswith("/api/") and "Authorization" in request.headers:
        return _authenticate_key()
    if current_app.config["WTF_CSRF_ENABLED"]:
        csrf.protect(apply_exemptions=True)
    return None


def challenge_unauthenticated(response):
    """Every 401 says how to authenticate (HTTP requires WWW-Authenticate)."""
    if response.status_code == 401 and "WWW-Authenticate" not in response.headers:
        response.headers["WWW-Authenticate"] = REALM_CHALLENGE
    return response


def requires_scope(scope: str | None, own_jobs: str | None = None) -> Callable:
    """A key request needs `scope`; or `own_jobs` when the route's `job_id` is a job the key started.

    Browser sessions pass through. The scopes are kept on the view for the API description.
    """

    def decorate(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any):
            key = current_key()
            if key is None or (scope is not None and scope in key.scopes):
                return view(*args, **kwargs)
            if own_jobs is not None and own_jobs in key.scopes:
                exists, started_by = api_keys.job_key(key.user.id, kwargs["job_id"], key.wallet_id)
                if not exists or started_by == key.key_id:
                    return view(*args, **kwargs)  # the view answers 404 for a job that is not there
                return insufficient_scope(
                    scope or own_jobs,
                    f"This key has the {own_jobs} scope: it reaches only the jobs it started.",
                )
            needed = scope or own_jobs
            return insufficient_scope(needed, f"This key lacks the {needed} scope this needs.")

        wrapped.api_scopes = {"scope": scope, "own_jobs": own_jobs}  # type: ignore[attr-defined]
        return wrapped

    return decorate


def init_app(app: Flask) -> None:
    """Register the key check (with CSRF for the rest) and the 401 challenge."""
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False  # authenticate_request runs the check instead
    app.before_request(authenticate_request)
    app.after_request(challenge_unauthenticated)
