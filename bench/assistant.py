"""The assistant: how soon a streamed answer shows, and what a metered spend costs the database.

Streaming: as in production (gunicorn with the project's gunicorn.conf.py, one `flask jobs
worker` on Redis, PostgreSQL, the OpenAI Responses stand-in at its default pace: 40 tokens a
second), Chromium asks 20 questions on the assistant's page, one after another
(`BENCH_ASSISTANT_RUNS`), the first token coming 0.25 s after the call and then a little
later each time, spread over one 300 ms poll interval (a fixed wait would meet the page's
poll at the same phase every time). For each, the page records (a MutationObserver) when the
answer's first text appears under the form; the stand-in's call log records when it wrote the
first delta. The figure is the 95th percentile of the difference: the worker's write (at once for
the first delta), the page's poll (every 300 ms) and the swap. Both clocks are this machine's.

Statements: SQL statements of one `POST /api/features/assistant` (the user, the hold with its
lot draw, the job row: the answer then streams on a job worker), counted with a SQLAlchemy
hook as `bench/statements.py` counts the image's; and, for information, those of the worker
streaming one 60-token answer (its claim, its few writes a second of text, the capture).
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from bench.common import SECRET_KEY, Figure, at_most, bench_app, migrated_database
from bench.serving import session_cookie
from creditapp import ledger
from creditapp.extensions import db
from tests.multi.processes import Gunicorn
from tests.multi.workers import JobWorker, job_settings
from tests.support.assistant import ResponsesStandIn
from tests.support.db import count_statements
from tests.support.emulator import EmulatorProcess
from tests.support.jobs import run_queued

RUNS = int(os.environ.get("BENCH_ASSISTANT_RUNS", "20"))  # questions asked in Chromium
ANSWER_TOKENS = 60
FIRST_TOKEN_SECONDS = 0.25  # the stand-in's default wait for the first token
POLL_SECONDS = 0.3  # how often the job page asks for the streamed text
CHROMIUM = Path("/usr/bin/chromium")
# Set before the click: the first moment (ms since the epoch) the job under the form shows
# text, streamed or whole (the DOM's change; the paint follows within a frame).
WATCH = """() => {
    window.firstText = null;
    const result = document.getElementById("result");
    const seen = () => {
        const shown = result.querySelector(".job-partial, .result-text");
        if (window.firstText === null && shown && shown.textContent.trim()) window.firstText = Date.now();
    };
    new MutationObserver(seen).observe(result, {childList: true, subtree: true, characterData: true});
}"""


def p95(samples: list[float]) -> float:
    """The 95th percentile."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def run() -> list[Figure]:
    """Measure both, each on a database of its own."""
    return [*_streaming(), *_statements()]


def _streaming() -> list[Figure]:
    if not CHROMIUM.exists():
        print(f"  {CHROMIUM} is missing (apt-get install chromium): streaming not measured", flush=True)
        return [
            Figure("streaming: first visible text - first token, p95", float("nan"), "s", "<= 0.5", False)
        ]
    results_dir = Path(tempfile.mkdtemp(prefix="creditapp-bench-results-"))
    with migrated_database() as url, EmulatorProcess(webhook_url="http://127.0.0.1:9/unused") as emulator:
        stand_in = ResponsesStandIn(emulator.base_url)
        stand_in.reset(responses_output_tokens=ANSWER_TOKENS)
        jobs = job_settings(results_dir, JOB_WORKER_CONCURRENCY="4")
        app = bench_app(url, **jobs)
        with app.app_context():
            user_id = ledger.register_user("bench-assistant", "assistant@example.com", "A", None, 500)[0]
            db.engine.dispose()
        env = {
            "DATABASE_URL": url,
            "SECRET_KEY": SECRET_KEY,
            "LOG_LEVEL": "WARNING",
            "STRIPE_SECRET_KEY": "sk_test_bench",
            "STRIPE_WEBHOOK_SECRET": "whsec_bench",
            "STRIPE_API_BASE": emulator.base_url,
            "OPENAI_API_KEY": "sk-bench",
            "OPENAI_API_BASE": stand_in.api,
            "RATELIMIT_SPEND": "1000/minute",
            **jobs,
        }
        server = Gunicorn(env, workers=2)
        worker = JobWorker(env, concurrency=4)
        try:
            gaps = _ask_in_chromium(server.url, session_cookie(app, user_id), stand_in)
        finally:
            worker.stop()
            server.stop()
    return [
        Figure("streaming: first visible text - first token, median", sorted(gaps)[len(gaps) // 2], "s"),
        at_most(f"streaming: first visible text - first token, p95 of {RUNS}", p95(gaps), 0.5, "s"),
    ]


def _ask_in_chromium(base: str, cookie: str, stand_in: ResponsesStandIn) -> list[float]:
    """Ask RUNS questions in Chromium; each one's first visible text minus the stand-in's first delta."""
    from playwright.sync_api import sync_playwright

    name, value = cookie.split("=", 1)
    gaps: list[float] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        context = browser.new_context(base_url=base)
        context.add_cookies([{"name": name, "value": value, "domain": urlsplit(base).hostname, "path": "/"}])
        page = context.new_page()
        page.set_default_timeout(30_000)
        for run in range(RUNS):
            # The page polls every 300 ms from the moment the job shows: first tokens spread over
            # one poll interval meet every phase of it, not the same lucky one each time.
            stand_in.configure(responses_first_token_seconds=FIRST_TOKEN_SECONDS + POLL_SECONDS * run / RUNS)
            page.goto("/features/assistant")
            # The price follows the question as it is typed; its answer replaces the button: click after it.
            with page.expect_response(lambda response: "/features/assistant/quote" in response.url):
                page.get_by_label("Your question").fill(f"Question {run}: how do held credits come back?")
            page.evaluate(WATCH)
            page.get_by_role("button", name="Ask").click()
            deadline = time.monotonic() + 60
            while not (shown_at := page.evaluate("window.firstText")):  # the page's CSP forbids eval
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no answer shown: {page.locator('#result').inner_text()[:500]}")
                page.wait_for_timeout(20)
            shown_at /= 1000
            call = stand_in.wait_for(
                lambda log, n=run + 1: len(log) == n and log[-1]["ended_at"] is not None, "the answer"
            )[-1]
            gaps.append(shown_at - call["first_delta_at"])
            page.locator("#result .result-text").wait_for()  # the answer ends before the next question
        browser.close()
    return gaps


def _statements() -> list[Figure]:
    with migrated_database() as url, EmulatorProcess(webhook_url="http://127.0.0.1:9/unused") as emulator:
        stand_in = ResponsesStandIn(emulator.base_url)
        stand_in.reset(responses_output_tokens=ANSWER_TOKENS)  # 40 tokens a second, as OpenAI writes
        app = bench_app(url, WTF_CSRF_ENABLED=False, OPENAI_API_KEY="sk-bench", OPENAI_API_BASE=stand_in.api)
        with app.app_context():
            user_id, _ = ledger.register_user("bench-sql", "sql@example.com", "SQL", None, 500)
            engine = db.engine
        client = app.test_client()
        name, value = cookie_parts(session_cookie(app, user_id))
        client.set_cookie(name, value)
        with count_statements(engine) as spend:
            answer = client.post("/api/features/assistant", json={"prompt": "How are answers charged?"})
        assert answer.status_code == 202, answer.get_data(as_text=True)[:300]
        with app.app_context(), count_statements(engine) as worker:
            ran = run_queued(app)
            charged = ledger.balance(user_id).credits
            clean = not ledger.audit()
            db.engine.dispose()
    assert ran == 1 and charged == 499 and clean, (ran, charged, clean)
    return [
        at_most("statements: metered spend via POST /api/features/assistant", spend.count, 5, "stmts"),
        Figure(f"statements: the worker streaming a {ANSWER_TOKENS}-token answer", worker.count, "stmts"),
    ]


def cookie_parts(cookie: str) -> tuple[str, str]:
    """`name=value` as (name, value)."""
    name, value = cookie.split("=", 1)
    return name, value
