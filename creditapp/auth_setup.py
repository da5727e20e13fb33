"""Flask-Login and the Authlib OpenID Connect client for Google."""

from __future__ import annotations

from urllib.parse import urlencode

import sqlalchemy as sa
from flask import Flask, jsonify, make_response, redirect, request, url_for

from creditapp.extensions import db, login_manager, oauth
from creditapp.htmx import is_htmx, wants_json
from creditapp.models import User


def init_app(app: Flask) -> None:
    """Set up sign-in: the user loader, what signed-out requests get, the OAuth client."""
    login_manager.init_app(app)
    oauth.init_app(app)
    oauth.register(
        name="google",
        client_id=app.config["GOOGLE_CLIENT_ID"],
        client_secret=app.config["GOOGLE_CLIENT_SECRET"],
        server_metadata_url=app.config["GOOGLE_DISCOVERY_URL"],
        client_kwargs={"scope": "openid email profile", "code_challenge_method": "S256"},
    )


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """One query: the signed-in user, or None when the id is stale."""
    try:
        uid = int(user_id)
    except ValueError:
        return None
    return db.session.execute(sa.select(User).where(User.id == uid)).scalar_one_or_none()


@login_manager.unauthorized_handler
def unauthorized():
    """Signed out: JSON gets 401, htmx gets HX-Redirect, pages go to the sign-in."""
    login_url = url_for("auth.login") + "?" + urlencode({"next": request.full_path.rstrip("?")})
    if wants_json():
        return jsonify({"error": "unauthorized", "message": "Sign in first."}), 401
    if is_htmx():
        response = make_response("", 401)
        response.headers["HX-Redirect"] = login_url
        return response
    return redirect(login_url)

