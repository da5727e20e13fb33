"""Shared fixtures: a throwaway database per run, the app, clients, users, stand-ins."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator

import pytest
from flask import Flask, g, request_started
from flask.testing import FlaskClient

from creditapp import create_app, ledger
from creditapp.extensions import db
from tests.support.db import throwaway_database, truncate_all
from tests.support.live_server import live_server as serve_live

WEBHOOK_SECRET = "whsec_test_suite_secret"
GOOGLE_CLIENT_ID = "test-client-id.apps.example"
GOOGLE_CLIENT_SECRET = "test-client-secret"
STRIPE_KEY = "sk_test_suite"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def ports() -> dict[str, int]:
    """Ports for the live app server and the stand-ins, chosen once per run."""
    return {"live": free_port(), "emulator": free_port()}


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh database for this run, migrated to head, dropped at the end."""
    with throwaway_database() as url:
        yield url


def app_settings(database_url: str, emulator_url: str, **overrides) -> dict:
    """Settings of a test app pointed at a database and the stand-ins (keys as in the suite)."""
    return {
        "CONFIG_NAME": "testing",
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "STRIPE_SECRET_KEY": STRIPE_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_API_BASE": emulator_url,
        "GOOGLE_CLIENT_ID": GOOGLE_CLIENT_ID,
        "GOOGLE_CLIENT_SECRET": GOOGLE_CLIENT_SECRET,
        "GOOGLE_DISCOVERY_URL": f"{emulator_url}/google/.well-known/openid-configuration",
        "RATELIMIT_ENABLED": False,
        # Jobs queue in this process's memory, under a name of this run's own; tests run
        # them with tests.support.jobs (the separate-process tests start real workers).
        "JOBS_BROKER_URL": "memory://",
        "JOBS_QUEUE_NAME": f"creditapp-test-{uuid.uuid4().hex[:12]}",
        "JOB_RETRY_BASE_SECONDS": 0,
        **overrides,
    }


@pytest.fixture(scope="session")
def _app(database_url: str, ports: dict[str, int], tmp_path_factory) -> Iterator[Flask]:
    emulator = f"http://127.0.0.1:{ports['emulator']}"
    settings = app_settings(
        database_url,
        emulator,
        APP_BASE_URL=f"http://127.0.0.1:{ports['live']}",
        RESULTS_DIR=str(tmp_path_factory.mktemp("results")),
    )
    app = create_app(settings)
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()
    request_started.connect(_fresh_g, app)
    yield app
    with app.app_context():
        db.engine.dispose()


def _fresh_g(sender: Flask, **extra) -> None:
    """Give every request an empty `g`, as it has in production.

    Tests keep one app context pushed, which Flask reuses for requests made inside it;
    without this, `g` (Flask-Login's cached user, the request id) would leak between
    requests of one test, e.g. make a second client act as the first user.
    """
    g.__dict__.clear()


@pytest.fixture
def app(_app: Flask) -> Iterator[Flask]:
    """The app, with every table emptied before the test and an app context pushed."""
    with _app.app_context():
        truncate_all(db.engine)
        _app.extensions["jobs"].flush()
        yield _app
        db.session.remove()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client (no one signed in)."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    """A CLI runner for `flask …` commands."""
    return app.test_cli_runner()


@pytest.fixture
def make_user(app: Flask):
    """Create a user through the ledger; `credits` sets the starting balance exactly."""
    counter = iter(range(1, 1_000_000))

    def make(email: str | None = None, credits: int = 500, name: str = "Test User") -> int:
        n = next(counter)
        email = email or f"user{n}@example.com"
        user_id, _ = ledger.register_user(f"sub-{email}", email, name, None, bonus=min(credits, 500))
        extra = credits - min(credits, 500)
        if extra:
            ledger.grant(user_id, extra, note="test setup")
        return user_id

    return make


@pytest.fixture
def sign_in_as(app: Flask):
    """Mark a test client signed in as a user (test setup, not an app feature).

    Tests of sign-in itself go through the real OpenID Connect flow instead.
    """

    def sign_in(client: FlaskClient, user_id: int) -> FlaskClient:
        with client.session_transaction() as session:
            session["_user_id"] = str(user_id)
            session["_fresh"] = True
        return client

    return sign_in


@pytest.fixture(scope="session")
def live_server(_app: Flask, ports: dict[str, int]) -> Iterator[str]:
    """The app served over real HTTP (webhooks and browsers reach it here)."""
    server = serve_live(_app, ports["live"])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{ports['live']}"
    server.shutdown()


@pytest.fixture(scope="session")
def emulator(ports: dict[str, int], live_server: str):
    """The local Stripe and Google stand-ins, delivering webhooks to the live app."""
    from tests.support.emulator import EmulatorProcess

    process = EmulatorProcess(
        port=ports["emulator"],
        webhook_url=f"{live_server}/webhooks/stripe",
        webhook_secret=WEBHOOK_SECRET,
        google_client_id=GOOGLE_CLIENT_ID,
        google_client_secret=GOOGLE_CLIENT_SECRET,
        google_redirect_uris=[f"{live_server}/auth/callback"],
    )
    yield process
    process.stop()
