"""Rate limits count per API key: one busy key never uses up another key's budget."""

from __future__ import annotations

import pytest

from creditapp import create_app
from creditapp.extensions import db, limiter
from tests.accounts.conftest import bearer
from tests.conftest import app_settings


@pytest.fixture
def limited_app(app, emulator, database_url):
    """An app like the suite's with rate limits on: two spends a minute."""
    limited = create_app(
        app_settings(
            database_url,
            emulator.base_url,
            RATELIMIT_ENABLED=True,
            RATELIMIT_STORAGE_URI="memory://",
            RATELIMIT_SPEND="2/minute",
            RATELIMIT_API_KEY="3/minute",
        )
    )
    limiter.reset()
    yield limited
    with limited.app_context():
        db.engine.dispose()


def test_each_key_has_its_own_spending_budget_and_a_429_says_when_to_retry(limited_app, make_user, new_key):
    user = make_user(credits=500)
    busy, quiet = new_key(user, name="busy"), new_key(user, name="quiet")
    client = limited_app.test_client()
    crane = {"prompt": "a crane", "size": 256}
    statuses = [
        client.post("/api/features/image", json=crane, headers=bearer(busy)).status_code for _ in range(2)
    ]
    assert statuses == [202, 202]
    refused = client.post("/api/features/image", json=crane, headers=bearer(busy))
    assert refused.status_code == 429
    assert refused.json["error"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert client.post("/api/features/image", json=crane, headers=bearer(quiet)).status_code == 202


def test_each_key_has_its_own_budget_for_reads_and_browsers_are_not_counted(
    limited_app, make_user, new_key, sign_in_as
):
    user = make_user()
    busy, quiet = new_key(user, name="busy"), new_key(user, name="quiet")
    client = limited_app.test_client()
    statuses = [client.get("/api/user/credits", headers=bearer(busy)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert client.get("/api/user/credits", headers=bearer(quiet)).status_code == 200
    browser = sign_in_as(limited_app.test_client(), user)
    assert [browser.get("/api/user/credits").status_code for _ in range(5)] == [200] * 5
