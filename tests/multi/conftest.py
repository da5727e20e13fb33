"""Deployments for the multi-instance and fault tests: real gunicorn, PgBouncer, PostgreSQL, stand-ins."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
import stripe
from flask import Flask
from flask_migrate import upgrade

from creditapp import create_app
from creditapp.extensions import db
from tests.conftest import GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET, STRIPE_KEY, WEBHOOK_SECRET, app_settings
from tests.multi.processes import PG_BIN, PGBOUNCER, Gunicorn, PgBouncer, PostgresCluster, unavailable
from tests.multi.workers import JobWorker, job_settings
from tests.support.db import throwaway_database
from tests.support.emulator import EmulatorProcess, free_port

SECRET_KEY = "multi-instance-secret"
UNLIMITED = "1000000/minute"


@dataclass
class Deployment:
    """What a test drives (instances, stand-ins) and what it checks against (a direct app)."""

    app: Flask
    emulator: EmulatorProcess
    instances: list[Gunicorn] = field(default_factory=list)
    stripe: stripe.StripeClient | None = None
    workers: list[JobWorker] = field(default_factory=list)
    jobs: dict[str, str] = field(default_factory=dict)

    def stop_workers(self) -> None:
        """Stop every job worker and empty this deployment's queue (Redis is shared)."""
        for worker in self.workers:
            worker.stop()
        self.workers.clear()
        if self.jobs:
            self.app.extensions["jobs"].flush()


def checking_app(database_url: str, emulator: EmulatorProcess, jobs: dict[str, str] | None = None) -> Flask:
    """An app in the test process talking straight to the database, for migrations and checks.

    With `jobs`, it shares the deployment's queue (so `flask jobs sweep` from it reaches the workers).
    """
    # The checks run right after a database restart: ping every pooled connection.
    settings = app_settings(
        database_url, emulator.base_url, SECRET_KEY=SECRET_KEY, DB_IDLE_PING_SECONDS=0, **(jobs or {})
    )
    return create_app(settings)


def instance_env(database_url: str, emulator: EmulatorProcess, **extra: str) -> dict[str, str]:
    """The environment of one production-like instance (development config: stand-ins allowed)."""
    return {
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET_KEY,
        "STRIPE_SECRET_KEY": STRIPE_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_API_BASE": emulator.base_url,
        "GOOGLE_CLIENT_ID": GOOGLE_CLIENT_ID,
        "GOOGLE_CLIENT_SECRET": GOOGLE_CLIENT_SECRET,
        "GOOGLE_DISCOVERY_URL": emulator.google_discovery_url,
        "IMAGE_PROVIDER": "local",
        "RATELIMIT_SIGNIN": UNLIMITED,
        "RATELIMIT_CHECKOUT": UNLIMITED,
        "RATELIMIT_SPEND": UNLIMITED,
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def emulator_for(*urls: str) -> EmulatorProcess:
    """The stand-ins for app instances at `urls`: webhooks go to the first, sign-in returns to any."""
    return EmulatorProcess(
        webhook_url=f"{urls[0]}/webhooks/stripe",
        webhook_secret=WEBHOOK_SECRET,
        google_client_id=GOOGLE_CLIENT_ID,
        google_client_secret=GOOGLE_CLIENT_SECRET,
        google_redirect_uris=[f"{url}/auth/callback" for url in urls],
    )


def migrate(app: Flask) -> None:
    """Migrate the app's database to head, then let go of its connections."""
    with app.app_context():
        upgrade()
        db.engine.dispose()


def _libpq(url: str) -> str:
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def two_instances_behind_pgbouncer() -> Iterator[Deployment]:
    """Two gunicorn instances (2 workers each) → PgBouncer (transaction mode) → PostgreSQL."""
    if not PGBOUNCER.exists():
        unavailable("pgbouncer is not installed (Debian package pgbouncer)")
    ports = [free_port(), free_port()]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    metrics_dir = Path(tempfile.mkdtemp(prefix="creditapp-metrics-"))
    results_dir = Path(tempfile.mkdtemp(prefix="creditapp-results-"))
    jobs = job_settings(results_dir)
    with (
        throwaway_database() as direct_url,
        emulator_for(*urls) as emulator,
    ):
        app = checking_app(direct_url, emulator, jobs)
        migrate(app)
        name = sa.make_url(direct_url).database
        with psycopg.connect(_libpq(direct_url), autocommit=True) as conn:
            # Behind a transaction-mode bouncer, session options from the client are dropped;
            # the timeouts belong to the database instead.
            for setting, value in (
                ("statement_timeout", "15s"),
                ("lock_timeout", "5s"),
                ("idle_in_transaction_session_timeout", "60s"),
            ):
                conn.execute(f"ALTER DATABASE \"{name}\" SET {setting} = '{value}'")
        server_port = sa.make_url(direct_url).port or 5432
        bouncer = PgBouncer(server_port)
        deployment = Deployment(app, emulator, jobs=jobs)
        try:
            bounced = bouncer.url(name)
            deployment.instances.append(
                Gunicorn(
                    instance_env(
                        bounced,
                        emulator,
                        PGBOUNCER_TRANSACTION_MODE="1",
                        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
                        **jobs,
                    ),
                    port=ports[0],
                )
            )
            deployment.instances.append(
                Gunicorn(
                    instance_env(bounced, emulator, PGBOUNCER_TRANSACTION_MODE="1", **jobs), port=ports[1]
                )
            )
            deployment.workers.append(
                JobWorker(instance_env(bounced, emulator, PGBOUNCER_TRANSACTION_MODE="1", **jobs))
            )
            deployment.stripe = stripe.StripeClient(STRIPE_KEY, base_addresses={"api": emulator.base_url})
            yield deployment
        finally:
            deployment.stop_workers()
            for instance in deployment.instances:
                instance.stop()
            bouncer.stop()
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
            shutil.rmtree(metrics_dir, ignore_errors=True)
            shutil.rmtree(results_dir, ignore_errors=True)


@pytest.fixture
def one_instance_on_own_cluster() -> Iterator[tuple[Deployment, PostgresCluster]]:
    """One gunicorn instance (2 workers) on a PostgreSQL cluster this test may crash and restart."""
    if not (PG_BIN / "initdb").exists():
        unavailable("PostgreSQL 15 server binaries are not installed (Debian package postgresql-15)")
    cluster = PostgresCluster()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    results_dir = Path(tempfile.mkdtemp(prefix="creditapp-results-"))
    jobs = job_settings(results_dir)
    try:
        with (
            throwaway_database(cluster.url) as database_url,
            emulator_for(url) as emulator,
        ):
            app = checking_app(database_url, emulator, jobs)
            migrate(app)
            deployment = Deployment(app, emulator, jobs=jobs)
            try:
                deployment.instances.append(Gunicorn(instance_env(database_url, emulator, **jobs), port=port))
                deployment.workers.append(JobWorker(instance_env(database_url, emulator, **jobs)))
                yield deployment, cluster
            finally:
                deployment.stop_workers()
                for instance in deployment.instances:
                    instance.stop()
                with app.app_context():
                    db.session.remove()
                    db.engine.dispose()
    finally:
        cluster.destroy()
        shutil.rmtree(results_dir, ignore_errors=True)
