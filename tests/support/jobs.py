"""Run queued jobs in the test process, as a worker would: Huey's own dequeue and execute."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask

from creditapp.jobs import records


def run_queued(app: Flask, limit: int = 100) -> int:
    """Execute every message waiting in the app's (in-memory) queues, money first; returns how many ran."""
    hueys = app.extensions["jobs"].hueys
    ran = 0
    while ran < limit:
        found = next(((huey, task) for huey in hueys if (task := huey.dequeue()) is not None), None)
        if found is None:
            return ran
        found[0].execute(found[1])
        ran += 1
    raise AssertionError(f"more than {limit} messages: a job keeps re-queueing itself")


def queued_messages(app: Flask) -> int:
    """How many messages wait in the app's queues."""
    return sum(huey.pending_count() for huey in app.extensions["jobs"].hueys)


def job(job_id: str | uuid.UUID) -> records.Job:
    """The job row as the app reads it."""
    found = records.find(uuid.UUID(str(job_id)))
    assert found is not None, f"no job {job_id}"
    return found


@contextmanager
def worker_threads(app: Flask, threads: int = 2) -> Iterator[None]:
    """Threads that run the app's in-memory queue as `flask jobs worker` would, until the block ends."""
    hueys = app.extensions["jobs"].hueys
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            found = next(((huey, task) for huey in hueys if (task := huey.dequeue()) is not None), None)
            if found is None:
                stop.wait(0.05)
            else:
                found[0].execute(found[1])

    pool = [threading.Thread(target=work, name=f"job-worker-{i}", daemon=True) for i in range(threads)]
    for thread in pool:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in pool:
            thread.join(timeout=30)
