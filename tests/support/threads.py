"""Run a function from many real threads at once, each with its own app context."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Flask

from creditapp.extensions import db


def race(app: Flask, fn: Callable[[int], Any], n: int) -> list[Any]:
    """Call fn(i) for i in range(n) from n threads released together by a barrier.

    Returns each call's result, or the exception it raised, in order.
    """
    barrier = threading.Barrier(n)

    def worker(i: int) -> Any:
        with app.app_context():
            try:
                barrier.wait(timeout=30)
                return fn(i)
            except Exception as exc:  # noqa: BLE001 - the caller inspects outcomes
                return exc
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(worker, range(n)))
