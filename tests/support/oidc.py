"""Sign in through the real OpenID Connect flow: Flask test client, Authlib, the Google stand-in.

Usage in a test (fixtures `client` and `emulator` from tests/conftest.py)::

    from tests.support.oidc import sign_in

    response = sign_in(client, emulator, "ada@example.com", name="Ada")
    assert response.status_code == 302          # the callback's redirect, not followed
    # `client` now carries the session (and remember-me) cookies of a signed-in user.

`sign_in` is `begin_sign_in` + `finish_sign_in`; use the two halves to hold a callback back
(races, replays, a tampered `state`). Nothing is mocked: /login runs Authlib against the
emulator's discovery document, the emulator's authorize form is submitted over HTTP like a
browser would, and /auth/callback exchanges the code (PKCE) and validates the RS256 ID token.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support.emulator import EmulatorProcess


class SignInFlowError(AssertionError):
    """The flow did not reach the step it should have (the message says which)."""


def begin_sign_in(
    client: FlaskClient,
    emulator: EmulatorProcess,
    email: str,
    name: str = "Test User",
    next: str | None = None,
    email_verified: bool = True,
    cancel: bool = False,
) -> str:
    """GET /login on the app, sign in (or press Cancel) on the Google stand-in.

    Returns the app-relative callback URL (`/auth/callback?code=…&state=…`, or
    `?error=access_denied&state=…` with cancel=True), not yet requested.
    """
    query = {"next": next} if next is not None else None
    start = client.get("/login", query_string=query)
    location = start.headers.get("Location", "")
    if start.status_code != 302 or not location.startswith(emulator.base_url + "/google/"):
        raise SignInFlowError(
            f"GET /login should redirect to the Google stand-in at {emulator.base_url}, "
            f"got {start.status_code} Location={location!r}: {start.get_data(as_text=True)[:500]}"
        )
    if cancel:
        callback = emulator.google_cancel(location)
    else:
        callback = emulator.google_sign_in(location, email, name=name, email_verified=email_verified)
    parts = urlsplit(callback)
    if parts.path != "/auth/callback":
        raise SignInFlowError(f"the stand-in should redirect to /auth/callback, got {callback!r}")
    return f"{parts.path}?{parts.query}"


def finish_sign_in(client: FlaskClient, callback: str) -> TestResponse:
    """GET the callback URL from begin_sign_in with the same client; returns the response."""
    return client.get(callback)


def sign_in(
    client: FlaskClient,
    emulator: EmulatorProcess,
    email: str,
    name: str = "Test User",
    next: str | None = None,
    email_verified: bool = True,
) -> TestResponse:
    """Sign `client` in as `email` through the real Google flow; returns the callback response.

    Success is a 302 to `next` (when it is a local path) or to `/`; the first sign-in of an
    e-mail creates the user with the signup bonus. Failures come back as the callback's
    response (400 unverified e-mail, 409 e-mail taken, …), so tests can assert on them.
    Raises SignInFlowError when the flow cannot even reach the callback (app or stand-in
    misconfigured). The Google `sub` is derived from the e-mail, so the same e-mail is
    the same Google account on every call.
    """
    callback = begin_sign_in(client, emulator, email, name=name, next=next, email_verified=email_verified)
    return finish_sign_in(client, callback)
