"""A restart never orphans a spend: in-flight spends finish (captured) when gunicorn is told to stop.

A paid feature still runs inside its request, so a deploy (SIGTERM to gunicorn) or a worker
recycle (max_requests, or SIGTERM to one worker) must let the spends in flight finish before
the worker goes: gunicorn.conf.py's graceful_timeout outlasts the image provider's timeout.
The image provider here is a slow stand-in of OpenAI's Images API; `GUNICORN_TIMEOUT` is set
below its latency to show that, under gthread, that timeout bounds no request.
"""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from creditapp import ledger
from creditapp.extensions import db
from creditapp.models import CreditSpend
from tests.multi import traffic
from tests.multi.single import single_instance
from tests.support.slow_images import SlowImagesAPI

LATENCY_SECONDS = 4.0
IN_FLIGHT = 4  # gunicorn.conf.py's threads per worker


@pytest.fixture
def slow_images():
    api = SlowImagesAPI(LATENCY_SECONDS)
    yield api
    api.stop()


def slow_provider_instance(slow_images: SlowImagesAPI):
    return single_instance(
        workers=1,
        IMAGE_PROVIDER="openai",
        OPENAI_API_KEY="sk-test-slow",
        OPENAI_API_BASE=slow_images.url,
        OPENAI_TIMEOUT_SECONDS="10",
        GUNICORN_TIMEOUT="3",  # below the provider's latency
    )


def spend_statuses(app) -> dict[int, str]:
    with app.app_context():
        rows = dict(db.session.execute(sa.select(CreditSpend.id, CreditSpend.status)).all())
        assert ledger.audit() == []
        db.session.remove()
    return rows


def spends_in_flight(deployment, slow_images, stop, first: int = 0) -> list[traffic.Outcome]:
    """Start IN_FLIGHT spends, call `stop` once each is waiting on the provider; their outcomes."""
    instance = deployment.instances[0]
    shoppers = [
        traffic.sign_in(instance.url, deployment.emulator, f"r{first + i}@example.com")
        for i in range(IN_FLIGHT)
    ]
    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        futures = [pool.submit(traffic.spend, instance.url, shopper, 256) for shopper in shoppers]
        slow_images.wait_for_arrivals(first + IN_FLIGHT)
        stop(instance)
        return [future.result() for future in futures]


def test_a_worker_recycle_and_then_a_deploy_each_let_in_flight_spends_finish_and_capture(slow_images):
    with slow_provider_instance(slow_images) as deployment:
        instance = deployment.instances[0]
        [old_worker] = instance.workers()

        # SIGTERM to a worker ends it as a max_requests recycle does: it stops accepting,
        # finishes what it serves and exits, and the master starts a fresh one.
        recycled = spends_in_flight(deployment, slow_images, lambda i: signal_worker(old_worker))

        assert [o.status for o in recycled] == [200] * IN_FLIGHT
        assert replacement(instance, old_worker) != old_worker
        assert set(spend_statuses(deployment.app).values()) == {"captured"}

        # A deploy stops the whole instance (SIGTERM to gunicorn) while spends are in flight.
        stopped = spends_in_flight(
            deployment, slow_images, lambda i: i.process.send_signal(signal.SIGTERM), first=IN_FLIGHT
        )

        assert [o.status for o in stopped] == [200] * IN_FLIGHT
        assert instance.process.wait(timeout=60) == 0
        statuses = spend_statuses(deployment.app)
        assert sorted(statuses) == sorted(o.body["spend_id"] for o in recycled + stopped)
        assert set(statuses.values()) == {"captured"}


def signal_worker(pid: int) -> None:
    os.kill(pid, signal.SIGTERM)


def replacement(instance, old_worker: int, timeout: float = 30) -> int:
    """The worker the master started once `old_worker` exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = instance.workers()
        if workers and old_worker not in workers:
            return workers[0]
        time.sleep(0.1)
    raise AssertionError(f"worker {old_worker} was not replaced: {instance.workers()}")
