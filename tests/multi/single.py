"""One gunicorn instance (the project's gunicorn.conf.py) on a throwaway database, with the stand-ins
and, when asked, job workers on a queue of its own."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import stripe

from creditapp.extensions import db
from tests.conftest import STRIPE_KEY
from tests.multi.conftest import Deployment, checking_app, emulator_for, instance_env, migrate
from tests.multi.processes import Gunicorn
from tests.multi.workers import JobWorker, job_settings
from tests.support.db import throwaway_database
from tests.support.emulator import free_port


@contextmanager
def single_instance(workers: int = 1, job_workers: int = 0, **env: str) -> Iterator[Deployment]:
    """A real gunicorn with `workers` workers; `env` adds to (or overrides) its environment.

    With `job_workers`, that many `flask jobs worker` processes run the instance's jobs.
    """
    results_dir = tempfile.mkdtemp(prefix="creditapp-results-")
    jobs = job_settings(results_dir) if job_workers else {}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (
        throwaway_database() as database_url,
        emulator_for(url) as emulator,
    ):
        app = checking_app(database_url, emulator, jobs)
        migrate(app)
        deployment = Deployment(app, emulator, jobs=jobs)
        try:
            deployment.instances.append(
                Gunicorn(instance_env(database_url, emulator, **jobs, **env), workers=workers, port=port)
            )
            for _ in range(job_workers):
                deployment.workers.append(JobWorker(instance_env(database_url, emulator, **jobs, **env)))
            deployment.stripe = stripe.StripeClient(STRIPE_KEY, base_addresses={"api": emulator.base_url})
            yield deployment
        finally:
            deployment.stop_workers()
            for instance in deployment.instances:
                instance.stop()
            shutil.rmtree(results_dir, ignore_errors=True)
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
