"""Slow features: 150 people start one image each within 3 s; the image API answers in 8 s.

Everything runs as in production: gunicorn with the project's gunicorn.conf.py, `flask jobs
worker` processes on Redis, PostgreSQL, and the OpenAI Images stand-in answering after 8 s.
Each person submits, then polls the job every 2 s until it ends and downloads the result.
Under the same arrivals a probe per person hits `GET /healthz`, and meanwhile the badge
and the Stripe webhook are probed ten times a second.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import re
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests

from bench.common import SECRET_KEY, Figure, at_least, at_most, bench_app, migrated_database
from bench.serving import session_cookie
from creditapp import ledger
from creditapp.extensions import db
from tests.multi.processes import Gunicorn
from tests.multi.workers import JobWorker, job_settings
from tests.support.emulator import EmulatorProcess

PEOPLE = 150
ARRIVAL_SECONDS = 3.0
LATENCY_SECONDS = 8.0
POLL_SECONDS = 2.0
JOB_WORKERS = int(os.environ.get("BENCH_JOB_WORKERS", "2"))
THREADS_PER_WORKER = 16  # JOB_WORKER_CONCURRENCY's documented default
WEB_WORKERS = 3
WEBHOOK_SECRET = "whsec_bench_secret"
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def p95(samples: list[float]) -> float:
    """The 95th percentile, in milliseconds."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)] * 1000


def timed(call) -> tuple[float, requests.Response]:
    started = time.perf_counter()
    response = call()
    return time.perf_counter() - started, response


def signed_event(event_id: str) -> tuple[bytes, str]:
    """A webhook body signed as Stripe signs it (a type the app records and ignores)."""
    body = json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": "customer.created",
            "created": int(time.time()),
            "livemode": False,
            "api_version": "2025-01-27.acacia",
            "data": {"object": {"id": "cus_bench", "object": "customer"}},
        }
    ).encode()
    timestamp = str(int(time.time()))
    signature = hmac.new(WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return body, f"t={timestamp},v1={signature}"


class Person:
    """One signed-in person with a keep-alive session and a CSRF token."""

    def __init__(self, base: str, cookie: str) -> None:
        self.http = requests.Session()
        self.http.trust_env = False
        # The first page puts a CSRF secret in the session: keep the cookie it sends back.
        name, value = cookie.split("=", 1)
        page = self.http.get(f"{base}/", headers={"Cookie": cookie}, timeout=30)
        self.http.cookies.clear()
        self.http.headers["Cookie"] = f"{name}={page.cookies.get(name) or value}"
        self.csrf = CSRF_META.search(page.text).group(1)
        self.submit_seconds: float | None = None
        self.delivered = False
        self.done_at: float | None = None
        self.error: str | None = None


def run() -> list[Figure]:
    """Start the deployment, release the arrivals, collect the figures."""
    results_dir = Path(tempfile.mkdtemp(prefix="creditapp-bench-results-"))
    with migrated_database() as url, EmulatorProcess(webhook_url="http://127.0.0.1:9/unused") as emulator:
        jobs = job_settings(results_dir, JOB_WORKER_CONCURRENCY=str(THREADS_PER_WORKER))
        app = bench_app(url, **jobs)
        with app.app_context():
            user_ids = [
                ledger.register_user(f"bench-slow-{i}", f"slow{i}@example.com", f"P{i}", None, 500)[0]
                for i in range(PEOPLE)
            ]
            db.engine.dispose()
        env = {
            "DATABASE_URL": url,
            "SECRET_KEY": SECRET_KEY,
            "LOG_LEVEL": "WARNING",
            "STRIPE_SECRET_KEY": "sk_test_bench",
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "STRIPE_API_BASE": emulator.base_url,
            "IMAGE_PROVIDER": "openai",
            "OPENAI_API_KEY": "sk-bench",
            "OPENAI_API_BASE": f"{emulator.base_url}/openai/v1",
            "OPENAI_TIMEOUT_SECONDS": "30",
            "RATELIMIT_SPEND": "1000/minute",
            **jobs,
        }
        requests.post(
            f"{emulator.base_url}/_emulator/openai/config",
            json={"latency_seconds": LATENCY_SECONDS},
            timeout=5,
        ).raise_for_status()
        server = Gunicorn(env, workers=WEB_WORKERS)
        workers = [JobWorker(env, concurrency=THREADS_PER_WORKER) for _ in range(JOB_WORKERS)]
        try:
            figures = _measure(server.url, [session_cookie(app, user_id) for user_id in user_ids])
        finally:
            for worker in workers:
                worker.stop()
            server.stop()
            app.extensions["jobs"].huey.flush()
    return figures


def _measure(base: str, cookies: list[str]) -> list[Figure]:
    people = [Person(base, cookie) for cookie in cookies]
    health: list[float] = []
    badge: list[float] = []
    webhook: list[float] = []
    stop = threading.Event()
    start = time.perf_counter() + 0.5

    def person(i: int) -> None:
        who = people[i]
        time.sleep(max(0.0, start + i * ARRIVAL_SECONDS / PEOPLE - time.perf_counter()))
        try:
            seconds, answer = timed(
                lambda: who.http.post(
                    f"{base}/api/features/image",
                    json={"prompt": f"a lighthouse, take {i}", "size": 512},
                    headers={"X-CSRFToken": who.csrf},
                    timeout=60,
                )
            )
            who.submit_seconds = seconds
            if answer.status_code != 202:
                who.error = f"submit {answer.status_code}"
                return
            job = answer.json()
            while job["status"] in ("queued", "running"):
                time.sleep(POLL_SECONDS)
                job = who.http.get(f"{base}{job['status_url']}", timeout=60).json()
            if job["status"] == "succeeded":
                picture = who.http.get(f"{base}{job['result']['image_url']}", timeout=60)
                who.delivered = picture.status_code == 200 and picture.content.startswith(b"\x89PNG")
            else:
                who.error = f"job {job['status']}: {job['error']}"
            who.done_at = time.perf_counter()
        except requests.RequestException as exc:
            who.error = exc.__class__.__name__

    def healthz(i: int) -> None:
        session = requests.Session()
        session.trust_env = False
        time.sleep(max(0.0, start + i * ARRIVAL_SECONDS / PEOPLE - time.perf_counter()))
        health.append(timed(lambda: session.get(f"{base}/healthz", timeout=60))[0])

    def probes() -> None:
        http = requests.Session()
        http.trust_env = False
        http.headers["Cookie"] = people[0].http.headers["Cookie"]
        while not stop.is_set():
            badge.append(timed(lambda: http.get(f"{base}/credits/badge", timeout=60))[0])
            body, signature = signed_event(f"evt_bench_{uuid.uuid4().hex}")
            headers = {"Stripe-Signature": signature, "Content-Type": "application/json"}
            seconds, answer = timed(
                lambda b=body, h=headers: http.post(f"{base}/webhooks/stripe", data=b, headers=h, timeout=60)
            )
            if answer.status_code == 200:
                webhook.append(seconds)
            stop.wait(0.1)

    threads = [threading.Thread(target=person, args=(i,)) for i in range(PEOPLE)]
    threads += [threading.Thread(target=healthz, args=(i,)) for i in range(PEOPLE)]
    prober = threading.Thread(target=probes)
    prober.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    prober.join()

    submits = [p.submit_seconds for p in people if p.submit_seconds is not None]
    delivered = sum(p.delivered for p in people)
    finished = [p.done_at for p in people if p.done_at is not None]
    wall = (max(finished) - start) if finished else float("nan")
    capacity = JOB_WORKERS * THREADS_PER_WORKER
    ideal = math.ceil(PEOPLE / capacity) * LATENCY_SECONDS
    errors = sorted({p.error for p in people if p.error})
    submit_p95, health_p95 = p95(submits), p95(health)
    figures = [
        Figure("submit p95 (POST /api/features/image)", submit_p95, "ms"),
        Figure("GET /healthz p95, same arrivals", health_p95, "ms"),
        at_most(
            "submit p95 (target: max(100 ms, 2 x healthz))", submit_p95, max(100.0, 2 * health_p95), "ms"
        ),
        at_most("GET /credits/badge p95 meanwhile", p95(badge), 100, "ms"),
        at_most("POST /webhooks/stripe p95 meanwhile", p95(webhook) if webhook else float("inf"), 100, "ms"),
        Figure(f"wall time, {capacity} job threads ({JOB_WORKERS} x {THREADS_PER_WORKER})", wall, "s"),
        Figure("ideal: ceil(150 / threads) x 8 s", ideal, "s"),
        at_most("wall / ideal", wall / ideal, 1.5),
        at_least("results delivered (of 150)", delivered, PEOPLE),
    ]
    if errors:
        print(f"  errors: {errors[:5]}", flush=True)
    return figures
