"""What every bench shares: a throwaway database, the app, timed loops and the report."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy.engine import make_url

from creditapp import create_app
from creditapp.extensions import db
from tests.support.db import throwaway_database

SECRET_KEY = "bench-secret-key"


@dataclass(frozen=True)
class Figure:
    """One measured number, its target and whether it met it (None: for information)."""

    name: str
    value: float
    unit: str = ""
    target: str = ""
    passed: bool | None = None

    def line(self) -> str:
        """The report line: name, value, target and PASS/MISS."""
        value = f"{self.value:,.2f}" if isinstance(self.value, float) else f"{self.value:,}"
        verdict = {True: "PASS", False: "MISS", None: "info"}[self.passed]
        target = f"target {self.target}" if self.target else ""
        return f"  {self.name:<46} {value:>12} {self.unit:<8} {target:<14} {verdict}"


def at_least(name: str, value: float, target: float, unit: str = "") -> Figure:
    """A figure that passes when value >= target."""
    return Figure(name, value, unit, f">= {target:g}", value >= target)


def at_most(name: str, value: float, target: float, unit: str = "") -> Figure:
    """A figure that passes when value <= target."""
    return Figure(name, value, unit, f"<= {target:g}", value <= target)


def bench_app(database_url: str, **overrides: Any) -> Flask:
    """The real app on the bench database, rate limits off."""
    config = {
        "CONFIG_NAME": "testing",
        "SECRET_KEY": SECRET_KEY,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "RATELIMIT_ENABLED": False,
        "LOG_LEVEL": "WARNING",
        # Jobs a bench starts in this process stay in its memory unless it brings a queue.
        "JOBS_BROKER_URL": "memory://",
    }
    config.update(overrides)
    return create_app(config)


@contextmanager
def migrated_database() -> Iterator[str]:
    """A throwaway PostgreSQL database migrated to head; dropped afterwards."""
    from flask_migrate import upgrade

    with throwaway_database() as url:
        app = bench_app(url)
        with app.app_context():
            upgrade()
            db.engine.dispose()
        # Alembic's logging config leaves a console handler on the root logger; keep it quiet.
        for handler in logging.getLogger().handlers:
            handler.setLevel(max(handler.level, logging.WARNING))
        yield url


def libpq_url(database_url: str) -> str:
    """The SQLAlchemy URL as a plain libpq connection string for psycopg."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def run_threads(n: int, seconds: float, worker: Callable[[int, Callable[[], bool]], int]) -> float:
    """Run worker(i, keep_going) in n threads for `seconds`; returns operations per second.

    Each worker loops while keep_going() and returns how many operations it finished.
    """
    counts = [0] * n
    barrier = threading.Barrier(n + 1)
    deadline = [0.0]

    def keep_going() -> bool:
        return time.perf_counter() < deadline[0]

    def run(i: int) -> None:
        barrier.wait()
        counts[i] = worker(i, keep_going)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    start = time.perf_counter()
    deadline[0] = start + seconds
    barrier.wait()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - start)


def report(title: str, figures: list[Figure]) -> None:
    """Print a bench's figures under its title."""
    print(title, flush=True)
    for figure in figures:
        print(figure.line(), flush=True)
