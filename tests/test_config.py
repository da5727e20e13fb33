"""Production settings: database timeouts, PgBouncer mode, refusing to start unsafely, gunicorn."""

from __future__ import annotations

import logging
import runpy
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from creditapp import create_app
from creditapp.config import engine_options
from creditapp.extensions import db

ROOT = Path(__file__).resolve().parent.parent
SECRETS = {
    "SECRET_KEY": "prod-secret",
    "STRIPE_SECRET_KEY": "sk_live_example",
    "STRIPE_WEBHOOK_SECRET": "whsec_example",
    "GOOGLE_CLIENT_ID": "client.apps.example",
    "GOOGLE_CLIENT_SECRET": "client-secret",
    "METRICS_TOKEN": "scrape-secret",
}


@pytest.fixture
def production_env(monkeypatch, database_url):
    """The environment of a production deploy; logging handlers restored afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("STRIPE_API_BASE", "")
    yield monkeypatch
    root.handlers[:] = handlers
    root.setLevel(level)


def test_database_sessions_carry_statement_lock_and_idle_timeouts(app):
    settings = {
        name: db.session.execute(sa.text(f"SHOW {name}")).scalar_one()
        for name in ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout")
    }
    assert settings == {
        "statement_timeout": "15s",
        "lock_timeout": "5s",
        "idle_in_transaction_session_timeout": "1min",
    }


def test_a_runaway_query_is_cancelled_by_the_statement_timeout(monkeypatch, database_url):
    monkeypatch.setenv("PG_STATEMENT_TIMEOUT_MS", "200")
    engine = sa.create_engine(database_url, **engine_options(database_url))
    try:
        with pytest.raises(sa.exc.OperationalError, match="statement timeout"), engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_sleep(5)"))
    finally:
        engine.dispose()


def _app_on(database_url: str, **config):
    from creditapp import create_app

    return create_app({"CONFIG_NAME": "testing", "SQLALCHEMY_DATABASE_URI": database_url, **config})


def _backend_pid(app) -> int:
    with app.app_context():
        pid = db.session.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        db.session.remove()
    return pid


def _terminate(database_url: str, pid: int) -> None:
    with psycopg.connect(libpq(database_url), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_a_pooled_connection_that_sat_idle_is_checked_and_replaced_before_use(database_url):
    app = _app_on(database_url, DB_IDLE_PING_SECONDS=0)
    pid = _backend_pid(app)
    _terminate(database_url, pid)

    # The idle ping finds the dead connection and the pool opens a fresh one: no error.
    assert _backend_pid(app) != pid
    with app.app_context():
        db.engine.dispose()


def test_a_connection_killed_under_load_costs_one_503_then_the_pool_recovers(database_url):
    app = _app_on(database_url, DB_IDLE_PING_SECONDS=3600)
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    _terminate(database_url, _backend_pid(app))

    failed = client.get("/healthz")
    recovered = client.get("/healthz")

    assert failed.status_code == 503
    assert recovered.status_code == 200
    with app.app_context():
        db.engine.dispose()


def test_pgbouncer_transaction_mode_turns_off_server_side_prepared_statements(monkeypatch, database_url):
    monkeypatch.setenv("PGBOUNCER_TRANSACTION_MODE", "1")
    engine = sa.create_engine(database_url, **engine_options(database_url))
    try:
        with engine.connect() as conn:
            for _ in range(10):  # psycopg would prepare after 5 runs by default
                conn.execute(sa.text("SELECT 1")).scalar_one()
            raw = conn.connection.dbapi_connection
            assert isinstance(raw, psycopg.Connection)
            assert raw.prepare_threshold is None
            prepared = conn.execute(sa.text("SELECT count(*) FROM pg_prepared_statements")).scalar_one()
        assert prepared == 0
    finally:
        engine.dispose()


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_production_refuses_to_start_without_each_secret(production_env, missing):
    production_env.setenv(missing, "")
    with pytest.raises(RuntimeError, match=missing):
        create_app("production")


@pytest.mark.parametrize(
    ("settings", "refusal"),
    [
        ({"STRIPE_INVOICES": "yes"}, "STRIPE_INVOICES must be 1 or 0"),
        ({"STRIPE_AUTOMATIC_TAX": "true"}, "STRIPE_AUTOMATIC_TAX must be 1 or 0"),
        (
            {"STRIPE_AUTOMATIC_TAX": "1", "STRIPE_INVOICES": "0"},
            "STRIPE_AUTOMATIC_TAX=1 needs STRIPE_INVOICES=1",
        ),
    ],
)
def test_invoice_and_tax_settings_that_cannot_work_stop_the_app_at_start(production_env, settings, refusal):
    for name, value in settings.items():
        production_env.setenv(name, value)
    with pytest.raises(RuntimeError, match=refusal):
        create_app("production")


def test_production_refuses_to_start_against_the_stripe_stand_in(production_env):
    production_env.setenv("STRIPE_API_BASE", "http://127.0.0.1:12111")
    with pytest.raises(RuntimeError, match="STRIPE_API_BASE"):
        create_app("production")


def test_production_sends_cookies_over_https_only_with_hsts(production_env):
    app = create_app("production")
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["REMEMBER_COOKIE_SECURE"]
    response = app.test_client().get("/healthz", base_url="https://creditapp.example")
    assert response.status_code == 200
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    with app.app_context():
        db.engine.dispose()


def test_production_metrics_need_the_bearer_token(production_env):
    app = create_app("production")
    client = app.test_client()
    https = "https://creditapp.example"
    assert client.get("/metrics", base_url=https).status_code == 404
    wrong = {"Authorization": "Bearer not-the-token"}
    assert client.get("/metrics", base_url=https, headers=wrong).status_code == 404
    right = {"Authorization": "Bearer scrape-secret"}
    response = client.get("/metrics", base_url=https, headers=right)
    assert response.status_code == 200
    assert b"creditapp_http_requests_total" in response.data
    with app.app_context():
        db.engine.dispose()


def libpq(database_url: str) -> str:
    """A psycopg connection string for the test database."""
    return sa.make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def _gunicorn_settings(monkeypatch, **env: str) -> dict:
    for name in ("PORT", "GUNICORN_BIND", "WEB_CONCURRENCY", "GUNICORN_THREADS", "PROMETHEUS_MULTIPROC_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


def test_gunicorn_listens_on_localhost_by_default(monkeypatch):
    settings = _gunicorn_settings(monkeypatch)
    assert settings["bind"] == ["127.0.0.1:5000"]
    assert settings["preload_app"] is False
    assert settings["timeout"] == 30
    assert settings["max_requests"] > 0 and settings["max_requests_jitter"] > 0


def test_gunicorn_takes_the_platform_port_and_worker_count(monkeypatch):
    settings = _gunicorn_settings(monkeypatch, PORT="8080", WEB_CONCURRENCY="3", GUNICORN_THREADS="8")
    assert settings["bind"] == ["0.0.0.0:8080"]
    assert (settings["workers"], settings["threads"]) == (3, 8)


def test_gunicorn_bind_overrides_the_platform_port(monkeypatch):
    settings = _gunicorn_settings(monkeypatch, PORT="8080", GUNICORN_BIND="unix:/run/creditapp.sock")
    assert settings["bind"] == ["unix:/run/creditapp.sock"]
