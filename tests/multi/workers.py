"""Job workers as real processes (`flask jobs worker`), and waiting for the jobs they run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
from flask import Flask

from creditapp.extensions import db
from creditapp.models import OPEN_JOB_STATUSES, FeatureJob
from tests.multi.processes import stop_gracefully

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def job_settings(results_dir: str | Path, broker_url: str | None = None, **extra: str) -> dict[str, str]:
    """Job settings shared by the web instances and the workers of one deployment.

    The queue name is new for every deployment, so suites sharing one Redis never meet.
    """
    return {
        "JOBS_BROKER_URL": broker_url or REDIS_URL,
        "JOBS_QUEUE_NAME": f"creditapp-test-{uuid.uuid4().hex[:12]}",
        "RESULTS_DIR": str(results_dir),
        "JOB_RETRY_BASE_SECONDS": "0.2",
        **extra,
    }


class JobWorker:
    """`python -m flask --app wsgi jobs worker` in its own process group."""

    def __init__(self, env: dict[str, str], concurrency: int = 4, extra_args: tuple[str, ...] = ()) -> None:
        self.log = Path(tempfile.mkstemp(prefix="job-worker-", suffix=".log")[1])
        full_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(ROOT),
            "CREDITAPP_CONFIG": "development",
            **env,
        }
        args = [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "wsgi",
            "jobs",
            "worker",
            "--concurrency",
            str(concurrency),
        ]
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [*args, *extra_args],
                cwd=ROOT,
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_until_consuming()

    def _wait_until_consuming(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if "job worker:" in self.log.read_text(errors="replace"):
                return
            time.sleep(0.1)
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        raise RuntimeError(f"job worker did not start:\n{self.log_text()[-3000:]}")

    def log_text(self) -> str:
        """What the worker printed."""
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL, no goodbye: jobs in hand are left running."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """Graceful stop (SIGTERM), then SIGKILL; deletes the log."""
        stop_gracefully(self.process, self.log, grace=40)


def job_statuses(app: Flask) -> dict[str, str]:
    """Every job's status by id, read fresh."""
    with app.app_context():
        rows = db.session.execute(sa.select(FeatureJob.id, FeatureJob.status)).all()
        db.session.remove()
    return {str(row.id): row.status for row in rows}


def wait_for_jobs_to_end(app: Flask, timeout: float = 60, sweep_every: float | None = None) -> dict[str, str]:
    """Poll until no job is queued or running (running `flask jobs sweep` now and then if asked)."""
    deadline = time.monotonic() + timeout
    last_sweep = time.monotonic()
    while True:
        statuses = job_statuses(app)
        if not any(status in OPEN_JOB_STATUSES for status in statuses.values()):
            return statuses
        if time.monotonic() > deadline:
            open_jobs = {k: v for k, v in statuses.items() if v in OPEN_JOB_STATUSES}
            raise AssertionError(f"{len(open_jobs)} job(s) still open after {timeout}s: {open_jobs}")
        if sweep_every is not None and time.monotonic() - last_sweep >= sweep_every:
            result = app.test_cli_runner().invoke(args=["jobs", "sweep", "--lost-after", "0"])
            assert result.exit_code == 0, result.output
            last_sweep = time.monotonic()
        time.sleep(0.2)
