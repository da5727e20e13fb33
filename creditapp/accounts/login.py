"""Flask-Login and the Authlib OpenID Connect client for Google."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

import sqlalchemy as sa
from authlib.integrations.flask_client import FlaskOAuth2App, OAuth
from flask import Flask, current_app, jsonify, make_response, redirect, request, session, url_for

from creditapp.accounts import bearer
from creditapp.accounts.sessions import parse_token
from creditapp.accounts.users import safe_next_path
from creditapp.extensions import db, login_manager
from creditapp.models import CreditPurchase, RevokedSession, User
from creditapp.platform.htmx import is_htmx, wants_json

PROVIDER_TIMEOUT_SECONDS = 10
GOOGLE_CLIENT_KEY = "creditapp.google"
# The sign-in still holds: same auth version (no "sign out of all devices" since) and this
# sign-in not signed out. Part of the one statement that loads the user, never a query of its own.
SIGN_IN_HOLDS = (
    User.id == sa.bindparam("id"),
    User.auth_version == sa.bindparam("version"),
    ~sa.exists().where(RevokedSession.id == sa.bindparam("token_id")),
)
LOAD_USER = sa.select(User).where(*SIGN_IN_HOLDS)
# The badge's one statement: the same sign-in check, the balance, and (with `until`) the
# status of the purchase it polls for. Core only: no ORM object, no Session transaction.
BADGE_READ = sa.select(
    User.credits,
    sa.select(CreditPurchase.status)
    .where(
        CreditPurchase.stripe_checkout_session_id == sa.bindparam("until"),
        CreditPurchase.user_id == User.id,
    )
    .scalar_subquery(),
).where(*SIGN_IN_HOLDS)


def init_app(app: Flask) -> None:
    """Set up sign-in: the user loader, what signed-out requests get, the OAuth client."""
    login_manager.init_app(app)
    # API keys on /api/ (and the CSRF check for everything else), after CSRFProtect exists.
    bearer.init_app(app)
    # One OAuth registry per app: Authlib caches clients by name, so a shared registry
    # would keep the first app's client id and discovery URL for every later app.
    registry = OAuth(app)
    app.extensions[GOOGLE_CLIENT_KEY] = registry.register(
        name="google",
        client_id=app.config["GOOGLE_CLIENT_ID"],
        client_secret=app.config["GOOGLE_CLIENT_SECRET"],
        server_metadata_url=app.config["GOOGLE_DISCOVERY_URL"],
        client_kwargs={
            "scope": "openid email profile",
            "code_challenge_method": "S256",
            # Discovery, JWKS and token calls must never hang a worker.
            "default_timeout": PROVIDER_TIMEOUT_SECONDS,
        },
    )


def google() -> FlaskOAuth2App:
    """The current app's Google OpenID Connect client."""
    return current_app.extensions[GOOGLE_CLIENT_KEY]


def callback_url() -> str:
    """The redirect URI registered with the provider (from APP_BASE_URL, never the Host header)."""
    return current_app.config["APP_BASE_URL"] + "/auth/callback"


@login_manager.user_loader
def load_user(token: str) -> User | None:
    """One query: the signed-in user, or None when the token is stale or was signed out.

    `token` is what User.get_id() put in the session or the remember-me cookie.
    """
    parsed = parse_token(token)
    if parsed is None:
        return None
    uid, version, token_id = parsed
    params = {"id": uid, "version": version, "token_id": token_id}
    session = db.session()  # the request's Session (not the scoped proxy)
    if session.in_transaction():
        user = session.execute(LOAD_USER, params).scalar_one_or_none()
    else:
        # Every signed-in request runs this: outside a transaction psycopg sends no BEGIN and
        # no ROLLBACK, so it costs one round trip instead of three. The row is detached so
        # no later commit expires it (the ledger re-reads balances in its own statements).
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        try:
            user = session.execute(LOAD_USER, params).scalar_one_or_none()
            if user is not None:
                session.expunge(user)
        finally:
            session.commit()  # ends the autocommit block; nothing to commit
    if user is not None:
        user.session_token_id = token_id or None
    return user


def signed_in_balance(until: str | None = None) -> tuple[int, str | None] | None:
    """The signed-in user's balance (and the status of purchase `until`), in one statement.

    For the badge, which every page shows and polls: it skips Flask-Login's ORM user load.
    None when the session holds no sign-in or it no longer holds (the caller then takes
    Flask-Login's own path, which also knows the remember-me cookie).
    """
    parsed = parse_token(str(session.get("_user_id") or ""))
    if parsed is None:
        return None
    uid, version, token_id = parsed
    params = {"id": uid, "version": version, "token_id": token_id, "until": until}
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        row = conn.execute(BADGE_READ, params).first()
    return None if row is None else (row[0], row[1])


@login_manager.unauthorized_handler
def unauthorized():
    """Signed out: JSON gets 401, htmx gets HX-Redirect, pages go to the sign-in."""
    if wants_json():
        return jsonify({"error": "unauthorized", "message": "Sign in first."}), 401
    if is_htmx():
        response = make_response("", 401)
        response.headers["HX-Redirect"] = login_url(_htmx_page_path())
        return response
    return redirect(login_url(request.full_path.rstrip("?")))


def login_url(next_path: str | None) -> str:
    """`/login`, carrying `next` when it is a local path."""
    next_path = safe_next_path(next_path)
    base = url_for("auth.login")
    return f"{base}?{urlencode({'next': next_path})}" if next_path else base


def _htmx_page_path() -> str | None:
    # An htmx request fetches a fragment; after sign-in the person belongs on the page
    # they were looking at (HX-Current-URL), not on the fragment's URL.
    current = urlsplit(request.headers.get("HX-Current-URL", ""))
    if current.netloc != request.host:
        return None
    return current.path + (f"?{current.query}" if current.query else "")
