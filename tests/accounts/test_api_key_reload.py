"""Creating an API key is Post/Redirect/Get: the key is shown once, and a reload makes no second key."""

from __future__ import annotations

import json
import re

import sqlalchemy as sa
from flask import current_app

from creditapp.extensions import db
from creditapp.models import ApiKey

KEY_IN_PAGE = re.compile(r'value="(ca_test_[0-9a-f]{12}_[A-Za-z0-9]{40})"')


def session_data(cookie: str) -> dict:
    """What the app's signed session cookie holds, decoded as anyone holding it could."""
    return current_app.session_interface.get_signing_serializer(current_app).loads(cookie)


def key_count() -> int:
    count = db.session.execute(sa.select(sa.func.count()).select_from(ApiKey)).scalar_one()
    db.session.commit()
    return count


def test_reloading_after_creating_a_key_shows_nothing_new_and_creates_nothing(
    api, make_user, browser_session
):
    http, csrf = browser_session(make_user(), api)

    made = http.post(
        f"{api}/account/api-keys",
        data={"csrf_token": csrf, "name": "reloaded", "scopes": ["read"]},
        allow_redirects=False,
        timeout=10,
    )
    assert made.status_code == 303
    assert made.headers["Location"].endswith("/account/api-keys")
    assert "ca_test_" not in made.text  # the secret is never in the POST's answer
    # The session cookie is signed, not encrypted: the secret never travels readable in it.
    cookie = made.cookies.get("session")
    assert cookie and "ca_test_" not in json.dumps(session_data(cookie))

    shown = http.get(f"{api}/account/api-keys", timeout=10)  # the page the browser lands on
    reloaded = http.get(f"{api}/account/api-keys", timeout=10)  # the person presses Reload

    token = KEY_IN_PAGE.search(shown.text).group(1)
    assert "shown only this once" in shown.text and shown.headers["Cache-Control"] == "no-store"
    assert token not in reloaded.text and KEY_IN_PAGE.search(reloaded.text) is None
    assert key_count() == 1
    assert token[:20] in reloaded.text  # listed by its prefix
