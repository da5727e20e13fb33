"""`GET /credits/badge` vs a bare route of the same app under the same gunicorn; worker RSS.

Load comes from wrk when installed (C, keep-alive), else from a small Python generator.
Rounds alternate between the two routes so machine drift hits both alike; the ratio is the
median of the rounds' ratios, printed with the lowest and highest round.
"""

from __future__ import annotations

import http.client
import re
import shutil
import statistics
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests

from bench.common import SECRET_KEY, Figure, at_least, at_most, bench_app, migrated_database
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
            answer = requests.get(badge, headers={"Cookie": cookie}, timeout=10)
            assert answer.status_code == 200 and "credits" in answer.text, answer.text[:300]
            served = load(bare, cookie, 1)[1] + load(badge, cookie, 1)[1]  # warm up both workers
            rss_before = {pid: rss_mb(pid) for pid in server.workers()}
            badge_rates, bare_rates = [], []
            for _ in range(ROUNDS):
                rate, n = load(bare, cookie, ROUND_SECONDS)
                bare_rates.append(rate)
                served += n
                rate, n = load(badge, cookie, ROUND_SECONDS)
                badge_rates.append(rate)
                served += n
            while served < REQUESTS_FOR_RSS + 2000:
                served += load(badge, cookie, 1)[1]
            rss_after = {pid: rss_mb(pid) for pid in server.workers()}
        finally:
            server.stop()
    badge_rate, bare_rate = sum(badge_rates) / ROUNDS, sum(bare_rates) / ROUNDS
    ratios = sorted(badge / bare for badge, bare in zip(badge_rates, bare_rates, strict=True))
    growth = max(rss_after[pid] - rss_before.get(pid, rss_after[pid]) for pid in rss_after)
    return [
        Figure("GET /credits/badge, gunicorn 2 workers", badge_rate, "req/s"),
        Figure("GET /bench/bare, same gunicorn", bare_rate, "req/s"),
        at_least(f"badge / bare (median of {ROUNDS} rounds)", statistics.median(ratios), 0.7),
        Figure("badge / bare, lowest round", ratios[0]),
        Figure("badge / bare, highest round", ratios[-1]),
        at_most(f"worker RSS after {served:,} requests (max)", max(rss_after.values()), RSS_LIMIT_MB, "MB"),
        Figure("worker RSS growth during the bench (max)", growth, "MB"),
    ]
