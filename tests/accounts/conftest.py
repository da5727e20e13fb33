"""Fixtures for the API tests: keys made through the service, requests over real HTTP."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
import requests

from creditapp.accounts import api_keys

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for a key."""
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api(app, live_server) -> str:
    """The live server's base URL, with every table emptied first."""
    return live_server


@pytest.fixture
def new_key(app):
    """Make a key for a user: new_key(user_id, scopes=("spend", "read"), limit=None) -> the whole key."""

    def make(user_id: int, scopes=("spend", "read"), limit: int | None = None, name: str = "test key") -> str:
        return api_keys.create_key(user_id, name, list(scopes), limit).token

    return make


@pytest.fixture
def browser_session(app, sign_in_as):
    """A requests.Session carrying a signed-in session cookie for a user, and its CSRF token."""

    def make(user_id: int, api: str) -> tuple[requests.Session, str]:
        client = sign_in_as(app.test_client(), user_id)
        client.get("/account")
        http = requests.Session()
        # For the server's host, so a session the server rewrites replaces this cookie.
        host = urlsplit(api).hostname
        http.cookies.set("session", client.get_cookie("session").value, domain=host, path="/")
        page = http.get(f"{api}/account/api-keys", timeout=10)
        assert page.status_code == 200, page.text[:300]
        return http, CSRF_META.search(page.text).group(1)

    return make
