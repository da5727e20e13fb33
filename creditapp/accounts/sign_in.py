"""Sign-in with Google and sign-out."""

from __future__ import annotations

import logging

import requests
from authlib.common.errors import AuthlibBaseError
from flask import Blueprint, current_app, make_response, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from joserfc.errors import JoseError

from creditapp import ledger
from creditapp.accounts import sessions
from creditapp.accounts import users as auth_service
from creditapp.accounts.login import callback_url, google, login_url
from creditapp.extensions import db
from creditapp.models import User
from creditapp.platform.htmx import is_htmx
from creditapp.platform.htmx import redirect as hx_redirect

bp = Blueprint("auth", __name__)
log = logging.getLogger("creditapp.auth")

NEXT_KEY = "next"  # kept in Authlib's per-state session data, so two tabs don't mix


@bp.get("/login")
def login():
    """Start sign-in: redirect to Google (PKCE S256, nonce), remembering a local `next`."""
    if not _configured():
        return _failed(
            503,
            "Sign-in is not set up",
            "This server has no Google client configured (GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET). "
            "Add them to .env, or run `make run` to use the local Google stand-in.",
            retry=False,
        )
    next_path = auth_service.safe_next_path(request.args.get("next"))
    client = google()
    try:
        # authorize_redirect() split in two so `next` rides in the same per-state session data.
        found = client.create_authorization_url(callback_url())
    except requests.RequestException as exc:
        log.warning("identity provider unreachable at login: %s", exc.__class__.__name__)
        return _unreachable(next_path)
    client.save_authorize_data(redirect_uri=callback_url(), **{NEXT_KEY: next_path}, **found)
    return redirect(found["url"])


@bp.get("/auth/callback")
def callback():
    """Finish sign-in; the first sign-in creates the user with the signup bonus."""
    if not _configured():
        return _failed(503, "Sign-in is not set up", "This server has no Google client configured.")
    client = google()
    # Read our part of the state data before Authlib consumes it (and before session.clear()).
    state_data = client.framework.get_state_data(session, request.args.get("state")) or {}
    next_path = auth_service.safe_next_path(state_data.get(NEXT_KEY))
    if request.args.get("error"):
        client.framework.clear_state_data(session, request.args.get("state"))
        return _provider_said_no(request.args["error"], next_path)
    try:
        token = client.authorize_access_token()
    except requests.RequestException as exc:
        log.warning("identity provider unreachable at callback: %s", exc.__class__.__name__)
        return _unreachable(next_path)
    except (AuthlibBaseError, JoseError, ValueError) as exc:
        log.info("sign-in callback refused: %s", exc.__class__.__name__)
        return _failed(400, "Sign-in failed", "We could not confirm the sign-in with Google.", next_path)
    claims = token.get("userinfo")
    if not claims:
        # Only a validated ID token may sign someone in; no state nonce means no validation ran.
        return _failed(400, "Sign-in failed", "Google did not send a valid ID token.", next_path)
    try:
        profile = auth_service.profile_from_claims(claims)
        outcome = auth_service.sign_in(profile, bonus=current_app.config["SIGNUP_BONUS_CREDITS"])
    except auth_service.UnverifiedEmail:
        return _failed(
            400,
            "E-mail address not verified",
            "Google has not verified the e-mail address of this account, so we cannot use it to "
            "sign you in. Verify it with Google, or use another account.",
            next_path,
        )
    except auth_service.IncompleteProfile as exc:
        return _failed(400, "Sign-in failed", str(exc), next_path)
    except auth_service.EmailChangeClash as exc:
        return _failed(
            409,
            "E-mail address already in use",
            f"Your Google account's e-mail address is now {exc.email}, but another account here "
            "already uses that address, so we cannot move yours to it.",
            next_path,
        )
    except ledger.EmailTaken:
        return _failed(
            409,
            "E-mail address already in use",
            f"{profile.email} already belongs to another Google account here. "
            "Sign in with the account you used first.",
            next_path,
        )
    user = db.session.get(User, outcome.user_id)
    # A fresh session at sign-in: nothing set before it (by anyone) survives.
    session.clear()
    user.session_token_id = sessions.new_sign_in_id()  # what Sign out revokes, this browser only
    login_user(user, remember=True)
    if outcome.created:
        log.info("user %s signed up", user.id)
    return redirect(next_path or url_for("account.home"))


@bp.post("/logout")
def logout():
    """Sign out (CSRF-checked): this sign-in's session and remember-me cookies stop working."""
    if current_user.is_authenticated:
        # On the server too: a copy of either cookie taken before now signs no one in.
        sessions.sign_out(current_user.id, current_user.session_token_id)
    # Clear first: logout_user() leaves the flag that deletes the remember-me cookie.
    session.clear()
    logout_user()
    home = url_for("account.home")
    if is_htmx():
        return hx_redirect(make_response("", 204), home)
    return redirect(home, code=303)


def _configured() -> bool:
    return bool(current_app.config.get("GOOGLE_CLIENT_ID") and current_app.config.get("GOOGLE_CLIENT_SECRET"))


def _provider_said_no(error: str, next_path: str | None):
    if error == "access_denied":
        return _failed(400, "Sign-in cancelled", "You cancelled the sign-in with Google.", next_path)
    return _failed(400, "Sign-in failed", f"Google refused the sign-in ({error[:64]}).", next_path)


def _unreachable(next_path: str | None):
    return _failed(
        503,
        "Google is unreachable",
        "We could not reach Google to sign you in. Try again shortly.",
        next_path,
    )


def _failed(status: int, heading: str, message: str, next_path: str | None = None, retry: bool = True):
    """The friendly sign-in-failed page, with a retry link that keeps `next`."""
    body = render_template(
        "accounts/sign_in_failed.html",
        status=status,
        heading=heading,
        message=message,
        retry_url=login_url(next_path) if retry else None,
    )
    return body, status
