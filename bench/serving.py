"""`GET /credits/badge` vs a bare route of the same app under the same gunicorn; worker RSS.

A third route, the bare one plus a single `SELECT 1`, is measured in the same rounds: the
badge must read the balance fresh on every request, so one database round trip is the
floor under its ratio on the machine the bench runs on.

Load comes from wrk when installed (C, keep-alive), else from a small Python generator.
Rounds alternate between the routes so machine drift hits them alike; each ratio is the
median of the rounds' ratios, printed with the lowest and highest round.

Throughput on a shared machine swings with whatever else runs, so each round also reads
the CPU time the server spent (gunicorn workers plus their PostgreSQL backends, from
/proc): bare CPU per request / badge CPU per request is the same comparison, steady
under other load, and does not depend on the load generator.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import statistics
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import requests

from bench.common import SECRET_KEY, Figure, at_least, at_most, bench_app, libpq_url, migrated_database
from creditapp import ledger
from creditapp.extensions import db
from tests.multi.processes import Gunicorn

ROUNDS = 5
ROUND_SECONDS = 2.0
CONNECTIONS = 8
REQUESTS_FOR_RSS = 10_000
RSS_LIMIT_MB = 200


def session_cookie(app, user_id: int) -> str:
    """A signed-in session cookie, signed like Flask signs it (same SECRET_KEY)."""
    serializer = app.session_interface.get_signing_serializer(app)
    value = serializer.dumps({"_user_id": str(user_id), "_fresh": True})
    return f"{app.config['SESSION_COOKIE_NAME']}={value}"


def load(url: str, cookie: str, seconds: float) -> tuple[float, int]:
    """Requests per second and requests served, from `CONNECTIONS` keep-alive clients."""
    if shutil.which("wrk"):
        out = subprocess.run(
            [
                "wrk",
                "-t2",
                f"-c{CONNECTIONS}",
                f"-d{max(1, round(seconds))}s",
                "-H",
                f"Cookie: {cookie}",
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        if "Non-2xx" in out:
            raise RuntimeError(f"{url} answered errors under load:\n{out}")
        rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        served = int(re.search(r"(\d+) requests in", out).group(1))
        return rate, served
    return _python_load(url, cookie, seconds)


def _python_load(url: str, cookie: str, seconds: float) -> tuple[float, int]:
    parts = urlsplit(url)
    counts = [0] * CONNECTIONS
    deadline = time.perf_counter() + seconds

    def client(i: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        while time.perf_counter() < deadline:
            conn.request("GET", parts.path, headers={"Cookie": cookie})
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"{url} answered {response.status}")
            counts[i] += 1

    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - start), sum(counts)


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (0 when it is gone or unreadable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ServerCpu:
    """CPU time of the gunicorn workers and of the PostgreSQL backends serving the bench database."""

    def __init__(self, server: Gunicorn, database_url: str) -> None:
        self.server = server
        self.conn = psycopg.connect(libpq_url(database_url), autocommit=True)

    def pids(self) -> list[int]:
        """Workers and database backends right now (the pool may open connections as it goes)."""
        backends = self.conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
        return self.server.workers() + [row[0] for row in backends]

    def snapshot(self) -> dict[int, float]:
        """pid -> CPU seconds so far."""
        return {pid: cpu_seconds(pid) for pid in self.pids()}

    def spent_since(self, before: dict[int, float]) -> float:
        """CPU seconds spent since `before` by every process serving now."""
        return sum(cpu_seconds(pid) - before.get(pid, 0.0) for pid in self.pids())

    def close(self) -> None:
        """Close the monitoring connection."""
        self.conn.close()


def measured(url: str, cookie: str, cpu: ServerCpu) -> tuple[float, int, float]:
    """One round: requests per second, requests served, server CPU microseconds per request."""
    before = cpu.snapshot()
    rate, served = load(url, cookie, ROUND_SECONDS)
    return rate, served, cpu.spent_since(before) / max(served, 1) * 1e6


def run() -> list[Figure]:
    """Serve the app with gunicorn (2 workers) and compare the badge with the bare route."""
    with migrated_database() as url:
        app = bench_app(url)
        with app.app_context():
            user_id, _ = ledger.register_user("bench-badge", "badge@example.com", "Badge", None, 500)
            db.engine.dispose()
        cookie = session_cookie(app, user_id)
        env = {
            "DATABASE_URL": url,
            "SECRET_KEY": SECRET_KEY,
            "LOG_LEVEL": "WARNING",
            "GUNICORN_MAX_REQUESTS": "0",  # keep the same workers: their memory is measured
        }
        server = Gunicorn(env, workers=2, app_module="bench.wsgi:app")
        try:
            badge, bare = f"{server.url}/credits/badge", f"{server.url}/bench/bare"
            trip = f"{server.url}/bench/round-trip"
            answer = requests.get(badge, headers={"Cookie": cookie}, timeout=10)
            assert answer.status_code == 200 and "credits" in answer.text, answer.text[:300]
            # Warm up both workers on every route.
            served = load(bare, cookie, 1)[1] + load(trip, cookie, 1)[1] + load(badge, cookie, 1)[1]
            rss_before = {pid: rss_mb(pid) for pid in server.workers()}
            cpu = ServerCpu(server, url)
            badge_rates, bare_rates, trip_rates, badge_cpu, bare_cpu, trip_cpu = [], [], [], [], [], []
            for _ in range(ROUNDS):
                for url, rates, costs in (
                    (bare, bare_rates, bare_cpu),
                    (trip, trip_rates, trip_cpu),
                    (badge, badge_rates, badge_cpu),
                ):
                    rate, n, per_request = measured(url, cookie, cpu)
                    rates.append(rate)
                    costs.append(per_request)
                    served += n
            cpu.close()
            while served < REQUESTS_FOR_RSS + 2000:
                served += load(badge, cookie, 1)[1]
            rss_after = {pid: rss_mb(pid) for pid in server.workers()}
        finally:
            server.stop()
    badge_rate, bare_rate = sum(badge_rates) / ROUNDS, sum(bare_rates) / ROUNDS
    ratios = sorted(badge / bare for badge, bare in zip(badge_rates, bare_rates, strict=True))
    cost_ratios = sorted(bare / badge for badge, bare in zip(badge_cpu, bare_cpu, strict=True))
    trip_ratios = sorted(trip / bare for trip, bare in zip(trip_rates, bare_rates, strict=True))
    badge_trip = sorted(badge / trip for badge, trip in zip(badge_rates, trip_rates, strict=True))
    trip_cost_ratios = sorted(bare / trip for trip, bare in zip(trip_cpu, bare_cpu, strict=True))
    growth = max(rss_after[pid] - rss_before.get(pid, rss_after[pid]) for pid in rss_after)
    return [
        Figure("GET /credits/badge, gunicorn 2 workers", badge_rate, "req/s"),
        Figure("GET /bench/bare, same gunicorn", bare_rate, "req/s"),
        at_least(f"badge / bare (median of {ROUNDS} rounds)", statistics.median(ratios), 0.7),
        Figure("badge / bare, lowest round", ratios[0]),
        Figure("badge / bare, highest round", ratios[-1]),
        Figure("server CPU per badge request (median)", statistics.median(badge_cpu), "us"),
        Figure("server CPU per bare request (median)", statistics.median(bare_cpu), "us"),
        at_least("bare CPU / badge CPU per request (median)", statistics.median(cost_ratios), 0.7),
        Figure("bare CPU / badge CPU, lowest round", cost_ratios[0]),
        Figure("bare CPU / badge CPU, highest round", cost_ratios[-1]),
        Figure("floor: one SELECT 1 / bare (median)", statistics.median(trip_ratios)),
        Figure("floor: bare CPU / SELECT 1 CPU (median)", statistics.median(trip_cost_ratios)),
        Figure("server CPU per SELECT 1 request (median)", statistics.median(trip_cpu), "us"),
        Figure("badge / one SELECT 1 (median)", statistics.median(badge_trip)),
        at_most(f"worker RSS after {served:,} requests (max)", max(rss_after.values()), RSS_LIMIT_MB, "MB"),
        Figure("worker RSS growth during the bench (max)", growth, "MB"),
    ]
