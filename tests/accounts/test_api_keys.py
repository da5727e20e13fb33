"""API keys over real HTTP: created on the page and shown once, used, revoked; every bad token."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa

from creditapp.extensions import db
from creditapp.models import ApiKey, CreditSpend, utcnow
from tests.accounts.conftest import bearer

KEY_IN_PAGE = re.compile(r'value="(ca_test_[0-9a-f]{12}_[A-Za-z0-9]{40})"')


@pytest.mark.smoke
def test_key_made_on_the_page_is_shown_once_spends_and_stops_when_revoked(api, make_user, browser_session):
    user = make_user(credits=100)
    http, csrf = browser_session(user, api)
    made = http.post(
        f"{api}/account/api-keys",
        data={
            "csrf_token": csrf,
            "name": "nightly batch",
            "scopes": ["spend", "read"],
            "monthly_credit_limit": "50",
        },
        timeout=10,
    )
    assert [r.status_code for r in made.history] == [303] and made.status_code == 200  # Post/Redirect/Get
    assert made.headers["Cache-Control"] == "no-store"
    token = KEY_IN_PAGE.search(made.text).group(1)
    assert "shown only this once" in made.text
    listing = http.get(f"{api}/account/api-keys", timeout=10)
    assert token not in listing.text  # never shown again
    assert token[:20] in listing.text and "nightly batch" in listing.text

    spent = requests.post(
        f"{api}/api/features/image",
        json={"prompt": "a paper crane", "size": 256},
        headers=bearer(token),
        timeout=10,
    )
    assert spent.status_code == 202, spent.text
    job = requests.get(f"{api}{spent.headers['Location']}", headers=bearer(token), timeout=10)
    assert job.json()["status"] == "queued"
    balance = requests.get(f"{api}/api/user/credits", headers=bearer(token), timeout=10).json()
    assert (balance["credits"], balance["held"]) == (95, 5)
    listing = http.get(f"{api}/account/api-keys", timeout=10)
    assert "5 of 50 credits" in listing.text  # spent this month

    key_id = db.session.execute(sa.select(ApiKey.id)).scalar_one()
    db.session.commit()
    confirm = http.get(f"{api}/account/api-keys/{key_id}/revoke", timeout=10)
    assert "stop working at once" in confirm.text
    revoked = http.post(
        f"{api}/account/api-keys/{key_id}/revoke",
        data={"csrf_token": csrf},
        allow_redirects=False,
        timeout=10,
    )
    assert revoked.status_code == 303
    after = requests.get(f"{api}/api/user/credits", headers=bearer(token), timeout=10)
    assert after.status_code == 401
    assert after.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert after.json()["error"] == "invalid_token"


def test_creating_a_key_refuses_bad_input_and_writes_nothing(api, make_user, browser_session):
    http, csrf = browser_session(make_user(), api)
    for form in (
        {"name": "", "scopes": ["read"]},
        {"name": "x", "scopes": []},
        {"name": "x", "scopes": ["admin"]},
        {"name": "x", "scopes": ["read"], "monthly_credit_limit": "-3"},
        {"name": "x", "scopes": ["read"], "monthly_credit_limit": "²"},  # a digit int() cannot read
    ):
        answer = http.post(f"{api}/account/api-keys", data={"csrf_token": csrf, **form}, timeout=10)
        assert answer.status_code == 422, form
    without_csrf = http.post(f"{api}/account/api-keys", data={"name": "x", "scopes": ["read"]}, timeout=10)
    assert without_csrf.status_code == 400
    assert db.session.execute(sa.select(sa.func.count()).select_from(ApiKey)).scalar_one() == 0


def _tampered(token: str) -> str:
    last = "A" if token[-1] != "A" else "B"
    return token[:-1] + last


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer not-a-key",
        "Bearer ca_test_000000000000_" + "a" * 40,  # well-formed, unknown prefix
        "Bearer {tampered}",  # the right prefix, a wrong secret
        "Bearer {other_label}",  # ca_live_ instead of ca_test_: the hash covers the label
        "Bearer {token}x",
        "Bearer {revoked}",
    ],
)
def test_every_bad_token_is_a_401_with_the_bearer_challenge(api, make_user, new_key, header):
    user = make_user()
    token = new_key(user)
    revoked = new_key(user, name="old")
    db.session.execute(sa.update(ApiKey).where(ApiKey.prefix == revoked[:20]).values(revoked_at=utcnow()))
    db.session.commit()
    value = header.format(
        token=token,
        tampered=_tampered(token),
        other_label=token.replace("ca_test_", "ca_live_"),
        revoked=revoked,
    )
    for method, path in (("GET", "/api/user/credits"), ("POST", "/api/features/image")):
        answer = requests.request(
            method,
            f"{api}{path}",
            headers={"Authorization": value},
            json={"prompt": "x", "size": 256},
            timeout=10,
        )
        assert answer.status_code == 401, (value, answer.text)
        assert answer.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
        assert answer.json()["error"] == "invalid_token"
    assert db.session.execute(sa.select(sa.func.count()).select_from(CreditSpend)).scalar_one() == 0


def test_no_credentials_is_a_401_that_names_the_bearer_scheme(api):
    answer = requests.get(f"{api}/api/user/credits", timeout=10)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_key_is_authenticated_alone_even_beside_a_cookie_and_needs_no_csrf(
    api, make_user, new_key, browser_session
):
    cookie_user = make_user(credits=500)
    key_user = make_user(credits=40)
    token = new_key(key_user)
    http, _csrf = browser_session(cookie_user, api)
    balance = http.get(f"{api}/api/user/credits", headers=bearer(token), timeout=10)
    assert balance.json()["credits"] == 40  # the key's user, not the cookie's
    spent = http.post(
        f"{api}/api/features/image", json={"prompt": "a fox", "size": 256}, headers=bearer(token), timeout=10
    )
    assert spent.status_code == 202  # no X-CSRFToken needed with a key
    assert "Set-Cookie" not in spent.headers
    # The cookie alone, on the other hand, still needs its CSRF token.
    cookie_only = http.post(f"{api}/api/features/image", json={"prompt": "a fox", "size": 256}, timeout=10)
    assert cookie_only.status_code == 400
    assert cookie_only.json()["error"] == "csrf_failed"


def test_last_used_is_written_at_most_once_a_minute(api, make_user, new_key):
    token = new_key(make_user())

    def last_used():
        value = db.session.execute(sa.select(ApiKey.last_used_at)).scalar_one()
        db.session.commit()
        return value

    assert last_used() is None
    requests.get(f"{api}/api/user/credits", headers=bearer(token), timeout=10)
    first = last_used()
    assert first is not None
    thirty_seconds_ago = first - timedelta(seconds=30)
    db.session.execute(sa.update(ApiKey).values(last_used_at=thirty_seconds_ago))
    db.session.commit()
    requests.get(f"{api}/api/user/credits", headers=bearer(token), timeout=10)
    assert last_used() == thirty_seconds_ago  # not rewritten within the minute
    db.session.execute(sa.update(ApiKey).values(last_used_at=first - timedelta(minutes=5)))
    db.session.commit()
    requests.get(f"{api}/api/user/credits", headers=bearer(token), timeout=10)
    assert last_used() > first - timedelta(seconds=1)


def test_history_names_the_key_that_made_a_spend(api, make_user, new_key, browser_session):
    user = make_user()
    token = new_key(user, name="nightly batch")
    requests.post(
        f"{api}/api/features/image",
        json={"prompt": "a crane", "size": 256},
        headers=bearer(token),
        timeout=10,
    )
    http, _ = browser_session(user, api)
    page = http.get(f"{api}/history", timeout=10)
    assert "by API key nightly batch (ca_test_" in page.text
