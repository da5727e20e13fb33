"""A local Google OpenID Connect provider under ``/google``."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode

from flask import Blueprint, Response, jsonify, redirect, render_template_string, request

from ..context import base_url, current
from .tokens import Grant, OAuthError, subject_for

bp = Blueprint("google", __name__, url_prefix="/google")
OAUTH_FIELDS = (
    "client_id", "redirect_uri", "response_type", "scope", "state", "nonce",
    "code_challenge", "code_challenge_method",
)  # fmt: skip

SIGN_IN_PAGE = (Path(__file__).with_name("pages") / "sign_in.html").read_text(encoding="utf-8")

ERROR_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Error 400: {{ error }}</title></head>
<body><h1>Access blocked: this app's request is invalid</h1>
<p><strong>Error 400: {{ error }}</strong></p><p>{{ description }}</p></body></html>"""


def issuer() -> str:
    """Return the issuer URL, which prefixes every endpoint."""
    return f"{base_url()}/google"


@bp.get("/.well-known/openid-configuration")
def discovery():
    """Serve the OpenID Connect discovery document."""
    iss = issuer()
    return {
        "issuer": iss,
        "authorization_endpoint": f"{iss}/o/oauth2/v2/auth",
        "token_endpoint": f"{iss}/token",
        "userinfo_endpoint": f"{iss}/v1/userinfo",
        "jwks_uri": f"{iss}/oauth2/v3/certs",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256", "plain"],
        "grant_types_supported": ["authorization_code"],
        "claims_supported": [
            "aud", "email", "email_verified", "exp", "family_name", "given_name", "iat",
            "iss", "name", "nonce", "picture", "sub",
        ],
    }  # fmt: skip


@bp.get("/oauth2/v3/certs")
def jwks():
    """Serve the public signing keys."""
    return current().google.jwks()


@bp.route("/o/oauth2/v2/auth", methods=["GET", "POST"])
def authorize():
    """Show the sign-in form (GET) or finish it (POST) with a redirect to the client."""
    values = request.args if request.method == "GET" else request.form
    oauth = {name: values.get(name, "") for name in OAUTH_FIELDS}
    provider = current().google
    if not provider.client_known(oauth["client_id"]):
        return _error_page("invalid_client", "The OAuth client was not found.")
    if not provider.redirect_uri_allowed(oauth["redirect_uri"]):
        return _error_page(
            "redirect_uri_mismatch",
            "You can't sign in to this app because it doesn't comply with Google's OAuth 2.0 "
            f"policy. Request details: redirect_uri={oauth['redirect_uri']}",
        )
    problem = _request_problem(oauth)
    if problem:
        return _back_to_client(oauth, {"error": problem[0], "error_description": problem[1]})
    if request.method == "GET":
        hint = request.args.get("login_hint", "")
        return _form(oauth, email=hint, name="", email_verified=True)
    if request.form.get("action") == "cancel":
        return _back_to_client(oauth, {"error": "access_denied"})
    email = request.form.get("email", "").strip()
    name = request.form.get("name", "").strip()
    verified = request.form.get("email_verified") in {"true", "on", "1"}
    if "@" not in email or email.startswith("@") or email.endswith("@"):
        return _form(
            oauth, email=email, name=name, email_verified=verified, error="Enter an email address."
        ), 400
    code = provider.issue_code(
        Grant(
            client_id=oauth["client_id"],
            redirect_uri=oauth["redirect_uri"],
            scope=oauth["scope"],
            nonce=oauth["nonce"] or None,
            code_challenge=oauth["code_challenge"] or None,
            code_challenge_method=oauth["code_challenge_method"] or None,
            claims=_claims(email, name, verified),
        )
    )
    return _back_to_client(oauth, {"code": code, "scope": oauth["scope"]})


def _request_problem(oauth: dict[str, str]) -> tuple[str, str] | None:
    if oauth["response_type"] != "code":
        return "unsupported_response_type", "Only response_type=code is supported."
    if "openid" not in oauth["scope"].split():
        return "invalid_scope", "The scope must include openid."
    method = oauth["code_challenge_method"]
    if method and method not in {"S256", "plain"}:
        return "invalid_request", "Invalid code_challenge_method."
    return None


def _claims(email: str, name: str, verified: bool) -> dict[str, Any]:
    sub = subject_for(email)
    name = name or email.split("@")[0]
    given, _, family = name.partition(" ")
    return {
        "sub": sub,
        "email": email,
        "email_verified": verified,
        "name": name,
        "given_name": given,
        "family_name": family or None,
        "picture": f"{issuer()}/avatar/{sub}.svg?" + urlencode({"initial": name[:1].upper()}),
    }


def _form(oauth: dict[str, str], *, email: str, name: str, email_verified: bool, error: str = ""):
    hidden = {key: value for key, value in oauth.items() if value}
    return render_template_string(
        SIGN_IN_PAGE,
        action=f"{issuer()}/o/oauth2/v2/auth",
        hidden=hidden,
        email=email,
        name=name,
        email_verified=email_verified,
        error=error,
    )


def _error_page(error: str, description: str):
    return render_template_string(ERROR_PAGE, error=error, description=description), 400


def _back_to_client(oauth: dict[str, str], answer: dict[str, str]) -> Response:
    if oauth["state"]:
        answer["state"] = oauth["state"]
    separator = "&" if "?" in oauth["redirect_uri"] else "?"
    return redirect(oauth["redirect_uri"] + separator + urlencode(answer), code=302)


@bp.post("/token")
def token():
    """Exchange an authorization code for tokens (client auth: Basic or form secret)."""
    provider = current().google
    form = request.form
    if form.get("grant_type") != "authorization_code":
        raise OAuthError("unsupported_grant_type", "Invalid grant_type: " + form.get("grant_type", ""))
    client_id, client_secret = form.get("client_id"), form.get("client_secret")
    auth = request.authorization
    if auth is not None and auth.type == "basic":
        client_id, client_secret = unquote(auth.username or ""), unquote(auth.password or "")
    if not provider.client_known(client_id):
        raise OAuthError("invalid_client", "The OAuth client was not found.", 401)
    if not provider.client_authenticates(client_id, client_secret):
        raise OAuthError("invalid_client", "Unauthorized", 401)
    if not form.get("code"):
        raise OAuthError("invalid_request", "Missing required parameter: code")
    grant = provider.redeem(
        form["code"], client_id or "", form.get("redirect_uri"), form.get("code_verifier")
    )
    response = jsonify(provider.tokens(grant, issuer()))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/v1/userinfo", methods=["GET", "POST"])
def userinfo():
    """Return the signed-in user's claims for a Bearer access token."""
    header = request.headers.get("Authorization", "")
    token_value = (
        header[len("Bearer ") :] if header.startswith("Bearer ") else request.args.get("access_token")
    )
    claims = current().google.userinfo(token_value or "")
    if claims is None:
        response = jsonify(error="invalid_request", error_description="Invalid Credentials")
        response.status_code = 401
        response.headers["WWW-Authenticate"] = (
            'Bearer realm="https://accounts.google.com/", error="invalid_token"'
        )
        return response
    return {key: value for key, value in claims.items() if value is not None}


@bp.get("/avatar/<sub>.svg")
def avatar(sub: str):
    """Draw a local avatar (an initial on a colour from the ``sub``) so pages work offline."""
    initial = (request.args.get("initial") or "?")[:1]
    hue = int(sub[-6:]) % 360 if sub[-6:].isdigit() else 200
    svg = render_template_string(
        '<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96" viewBox="0 0 96 96">'
        '<circle cx="48" cy="48" r="48" fill="hsl({{ hue }},55%,45%)"/>'
        '<text x="48" y="62" font-size="44" text-anchor="middle" fill="#fff" '
        'font-family="sans-serif">{{ initial }}</text></svg>',
        hue=hue,
        initial=initial,
    )
    return Response(svg, mimetype="image/svg+xml")
