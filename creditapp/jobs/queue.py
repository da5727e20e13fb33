"""The queue engine (Huey) for this app: which storage, the tasks, enqueueing.

`JOBS_BROKER_URL` picks the storage: `redis://…` (RedisHuey: any number of workers on
any machine), `sqlite:///path` (SqliteHuey, the embedded default: no server; workers on
the same machine), `memory://` (tests driving the queue in-process). Messages carry only
a job id; the database row is the truth, so a lost or repeated message is harmless.

Two queues on that storage: `JOBS_QUEUE_NAME` for paid features (slow: a minute per image)
and `<JOBS_QUEUE_NAME>-money` for money work (charging a top-up, sending an e-mail), each
consumed by its own threads of `flask jobs worker`, so a crowd of images never delays a
charge or a receipt.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from huey import Huey, MemoryHuey, RedisHuey, SqliteHuey
from huey.api import TaskWrapper

log = logging.getLogger("creditapp.jobs")

TASK_NAME = "creditapp.run_job"
MONEY_QUEUE_SUFFIX = "-money"
TASKS_KEY = "creditapp.job_tasks"


@dataclass(frozen=True)
class Tasks:
    """What the workers run, given by `jobs.init_app`: a job id to the runner, and the money
    queue's tasks (registered on its Huey, given the enqueue function for their retries)."""

    run_job: Callable[[uuid.UUID], Any]
    register_money_tasks: Callable[[Huey, Flask, Callable[..., bool]], dict[str, TaskWrapper]]


class JobQueue:
    """The app's two Huey instances and their tasks, kept in `app.extensions["jobs"]`.

    Built on first use, so creating an app (a CLI command, a test) touches no queue storage.
    """

    def __init__(self, app: Flask) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._huey: Huey | None = None
        self._money_huey: Huey | None = None
        self._run_job: TaskWrapper | None = None
        self._tasks: dict[str, TaskWrapper] = {}

    @property
    def huey(self) -> Huey:
        """The paid features' queue on the configured storage."""
        self._build()
        return self._huey

    @property
    def money_huey(self) -> Huey:
        """The money work's queue (top-ups, e-mails) on the same storage, under its own name."""
        self._build()
        return self._money_huey

    @property
    def hueys(self) -> tuple[Huey, Huey]:
        """Both queues: money first."""
        return (self.money_huey, self.huey)

    def flush(self) -> None:
        """Drop every message of both queues (tests; an operator starting over)."""
        for huey in self.hueys:
            huey.flush()

    @property
    def run_job(self) -> TaskWrapper:
        """The one task the workers run: a job id in, `runner.run` on it."""
        self._build()
        return self._run_job

    def _build(self) -> None:
        with self._lock:
            if self._huey is not None:
                return
            app = self._app
            tasks: Tasks = app.extensions[TASKS_KEY]
            huey = build_huey(app.config)
            money = build_huey(app.config, app.config["JOBS_QUEUE_NAME"] + MONEY_QUEUE_SUFFIX)

            @huey.task(name=TASK_NAME)
            def run_job(job_id: str) -> None:
                with app.app_context():
                    tasks.run_job(uuid.UUID(job_id))

            self._tasks = tasks.register_money_tasks(money, app, self.enqueue_task)
            self._huey, self._money_huey, self._run_job = huey, money, run_job

    def enqueue(self, job_id: uuid.UUID, delay: float | None = None) -> bool:
        """Queue one run of the job (after `delay` seconds); False when the broker is down.

        A job that could not be queued stays `queued` in the database, and
        `flask jobs sweep` queues it again.
        """
        try:
            if delay:
                self.run_job.schedule(args=(str(job_id),), delay=delay)
            else:
                self.run_job(str(job_id))
        except Exception:  # noqa: BLE001 - any broker failure; the sweep recovers the job
            log.warning("could not enqueue job %s; the sweep will", job_id, exc_info=True)
            return False
        return True

    def enqueue_task(self, name: str, row_id: int, delay: float | None = None) -> bool:
        """Queue one of the money tasks (`charge_topup`, `send_email`) for a row id, on the money queue.

        False when the broker is down: the row waits, and `flask jobs sweep` queues it again.
        """
        self._build()
        try:
            if delay:
                self._tasks[name].schedule(args=(row_id,), delay=delay)
            else:
                self._tasks[name](row_id)
        except Exception:  # noqa: BLE001 - any broker failure; the sweep recovers the row
            log.warning("could not enqueue %s %s; the sweep will", name, row_id, exc_info=True)
            return False
        return True


def build_huey(config: dict[str, Any] | Any, name: str | None = None) -> Huey:
    """A Huey instance on the storage JOBS_BROKER_URL names (no Huey result store: we keep our own).

    `name`: the queue's name (default JOBS_QUEUE_NAME).
    """
    url: str = config["JOBS_BROKER_URL"]
    name = name or config["JOBS_QUEUE_NAME"]
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey(name, results=False, url=url)
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey(name, results=False, filename=str(path))
    if url == "memory://":
        return MemoryHuey(name, results=False)
    raise RuntimeError(f"JOBS_BROKER_URL must be redis://…, sqlite:///path or memory://, got {url!r}")


def init_app(app: Flask, tasks: Tasks) -> None:
    """Give this app its queue (built when first used), running `tasks`."""
    app.extensions[TASKS_KEY] = tasks
    app.extensions["jobs"] = JobQueue(app)


def current_queue() -> JobQueue:
    """The queue of the current app."""
    return current_app.extensions["jobs"]
