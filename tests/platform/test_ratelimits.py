"""Rate limits: sign-in per address, checkout and spending per user, 429 with Retry-After."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa

from creditapp import create_app, ledger
from creditapp.extensions import db, limiter
from creditapp.models import CreditSpend
from tests.conftest import app_settings
from tests.multi.processes import unavailable
from tests.support import stripe_helpers
from tests.support.stripe_helpers import checkout, purchase_count

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = "redis://127.0.0.1:6379/15"
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
stripe_env = stripe_helpers.stripe_env


@pytest.fixture
def make_limited_app(app, emulator, database_url):
    """Build an app like the suite's, with rate limits on and tiny budgets.

    Its context is not kept pushed: each request then gets a fresh app context (and `g`),
    as under gunicorn, while database checks run in the suite's app context (same database).
    """
    built = []

    def make(**overrides):
        config = app_settings(
            database_url,
            emulator.base_url,
            APP_BASE_URL=app.config["APP_BASE_URL"],
            RATELIMIT_ENABLED=True,
            RATELIMIT_STORAGE_URI="memory://",
            RATELIMIT_HEADERS_ENABLED=True,
            RATELIMIT_SIGNIN="3/minute",
            RATELIMIT_CHECKOUT="2/minute",
            RATELIMIT_SPEND="3/minute",
        )
        config.update(overrides)
        limited = create_app(config)
        limiter.reset()
        built.append(limited)
        return limited

    yield make
    for limited in built:
        with limited.app_context():
            db.engine.dispose()


def signed_in(limited, make_user, sign_in_as, credits: int = 500):
    """A client of `limited` signed in as a new user; returns (client, user_id, csrf token)."""
    client = limited.test_client()
    user_id = make_user(credits=credits)
    sign_in_as(client, user_id)
    token = CSRF_META.search(client.get("/").get_data(as_text=True)).group(1)
    return client, user_id, token


def spend_api(client, token):
    """One small image through the JSON API."""
    return client.post(
        "/api/features/image", json={"prompt": "a kite", "size": 256}, headers={"X-CSRFToken": token}
    )


def assert_rate_limited(response) -> None:
    """429 with a Retry-After a client can act on."""
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 61


def test_sign_in_attempts_are_limited_per_client_address(make_limited_app):
    limited = make_limited_app()
    client = limited.test_client()
    for _ in range(3):
        assert client.get("/login").status_code == 302
    refused = client.get("/login")
    assert_rate_limited(refused)
    assert refused.mimetype == "text/html"
    assert "Too many requests" in refused.get_data(as_text=True)
    other_address = limited.test_client()
    assert other_address.get("/login", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 302


def test_spending_is_limited_per_user_and_a_refused_spend_charges_nothing(
    make_limited_app, make_user, sign_in_as
):
    limited = make_limited_app()
    client, user_id, token = signed_in(limited, make_user, sign_in_as)
    assert [spend_api(client, token).status_code for _ in range(2)] == [202, 202]
    # The page form and the API share one budget.
    form = client.post("/features/image", data={"prompt": "a kite", "size": "256", "csrf_token": token})
    assert form.status_code == 303
    refused = spend_api(client, token)
    assert_rate_limited(refused)
    assert refused.get_json()["error"] == "rate_limited"
    assert ledger.balance(user_id).credits == 500 - 3 * 5
    spends = db.session.execute(sa.select(sa.func.count()).where(CreditSpend.user_id == user_id)).scalar_one()
    assert spends == 3
    other, _, other_token = signed_in(limited, make_user, sign_in_as)
    assert spend_api(other, other_token).status_code == 202


def test_checkout_creation_is_limited_per_user(stripe_env, make_limited_app, make_user, sign_in_as):
    limited = make_limited_app()
    client, _, token = signed_in(limited, make_user, sign_in_as)
    checkout(client)
    checkout(client)
    refused = client.post(
        "/billing/checkout", data={"price_id": stripe_helpers.price_id(500), "csrf_token": token}
    )
    assert_rate_limited(refused)
    assert purchase_count() == 2


def test_the_stripe_webhook_is_never_limited(make_limited_app):
    limited = make_limited_app(RATELIMIT_SPEND="1/minute", RATELIMIT_SIGNIN="1/minute")
    client = limited.test_client()
    statuses = {client.post("/webhooks/stripe", data=b"{}").status_code for _ in range(25)}
    assert statuses == {400}


def test_behind_a_trusted_proxy_each_forwarded_address_has_its_own_budget(make_limited_app):
    limited = make_limited_app(TRUSTED_PROXY_HOPS=1, RATELIMIT_SIGNIN="1/minute")
    client = limited.test_client()
    first = {"X-Forwarded-For": "203.0.113.7"}
    assert client.get("/login", headers=first).status_code == 302
    assert client.get("/login", headers=first).status_code == 429
    assert client.get("/login", headers={"X-Forwarded-For": "203.0.113.8"}).status_code == 302


def test_without_a_trusted_proxy_a_forged_forwarded_address_does_not_reset_the_budget(make_limited_app):
    limited = make_limited_app(RATELIMIT_SIGNIN="1/minute")
    client = limited.test_client()
    assert client.get("/login", headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 302
    assert client.get("/login", headers={"X-Forwarded-For": "203.0.113.8"}).status_code == 429


SECOND_INSTANCE = """
import json, sys
from creditapp import create_app
app = create_app(json.loads(sys.argv[1]))
client = app.test_client()
codes = [client.get("/login", environ_base={"REMOTE_ADDR": sys.argv[2]}).status_code for _ in range(3)]
print(json.dumps(codes))
"""


def test_instances_sharing_redis_share_one_count(make_limited_app, database_url, emulator):
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.ConnectionError:
        unavailable("Redis is not running on 127.0.0.1:6379")
    limited = make_limited_app(RATELIMIT_STORAGE_URI=REDIS_URL)
    address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.9"  # fresh keys every run
    other_config = {
        key: limited.config[key]
        for key in (
            "CONFIG_NAME",
            "SECRET_KEY",
            "SQLALCHEMY_DATABASE_URI",
            "GOOGLE_CLIENT_ID",
            "GOOGLE_CLIENT_SECRET",
            "GOOGLE_DISCOVERY_URL",
            "RATELIMIT_ENABLED",
            "RATELIMIT_STORAGE_URI",
            "RATELIMIT_SIGNIN",
        )
    }
    other = subprocess.run(
        [sys.executable, "-c", SECOND_INSTANCE, json.dumps(other_config), address],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert other.returncode == 0, other.stderr
    assert json.loads(other.stdout.strip().splitlines()[-1]) == [302, 302, 302]
    assert_rate_limited(limited.test_client().get("/login", environ_base={"REMOTE_ADDR": address}))
