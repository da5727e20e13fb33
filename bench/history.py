"""History page latency with 1,000,000 ledger rows for the user vs 100 rows (target ratio <= 1.5).

Rows are bulk-inserted with generate_series across the three ledger tables (80 % spends,
15 % adjustments, 5 % purchases), spread evenly over the last year, then VACUUM ANALYZE
(what autovacuum does to a table in steady state). The page is GET /history through the
real app: the newest 50 entries (the 30-day chart loads after the page, from
/history/chart). The htmx "load more" fragment (the keyset query alone, 50 rows past a
cursor) and the chart fragment are measured too; the chart sums every captured spend
of the last 30 days, so it grows with them and is printed without a target.
"""

from __future__ import annotations

import statistics
import time

import psycopg

from bench.common import Figure, at_most, bench_app, libpq_url, migrated_database
from bench.serving import session_cookie
from creditapp import ledger
from creditapp.extensions import db
from creditapp.history import entries as history

BIG, SMALL = 1_000_000, 100
ROUNDS = 15
SPREAD_SECONDS = 365 * 24 * 3600

FILL = [
    """INSERT INTO credit_spends (user_id, feature_used, credits_spent, status, created_at, settled_at)
       SELECT %(user)s, 'image_generation', 5 + (g %% 3) * 5, 'captured',
              now() - make_interval(secs => g * %(step)s), now() - make_interval(secs => g * %(step)s)
       FROM generate_series(1, %(spends)s) AS g""",
    """INSERT INTO credit_adjustments (user_id, amount, reason, note, created_at)
       SELECT %(user)s, 10, 'admin', 'bench', now() - make_interval(secs => g * %(step)s + 0.3)
       FROM generate_series(1, %(adjustments)s) AS g""",
    """INSERT INTO credit_purchases (user_id, stripe_price_id, credits_purchased, amount_paid, currency,
                                     status, created_at, completed_at)
       SELECT %(user)s, 'price_bench', 100, 500, 'usd', 'completed',
              now() - make_interval(secs => g * %(step)s + 0.6), now() - make_interval(secs => g * %(step)s)
       FROM generate_series(1, %(purchases)s) AS g""",
]


def fill(conninfo: str, user_id: int, rows: int) -> None:
    """Give `user_id` exactly `rows` ledger rows spread over the last year."""
    params = {
        "user": user_id,
        "spends": rows * 80 // 100,
        "adjustments": rows * 15 // 100,
        "purchases": rows - rows * 80 // 100 - rows * 15 // 100,
    }
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for statement in FILL:
            table_rows = params[statement.split("generate_series(1, %(")[1].split(")")[0]]
            conn.execute(statement, {**params, "step": SPREAD_SECONDS / table_rows})


def timed(client, path: str, query: dict | None = None, headers: dict | None = None) -> float:
    """Seconds for one request (which must succeed)."""
    start = time.perf_counter()
    response = client.get(path, query_string=query, headers=headers or {})
    elapsed = time.perf_counter() - start
    assert response.status_code == 200, response.status_code
    return elapsed


def run() -> list[Figure]:
    """Fill two users' ledgers and compare their history pages."""
    with migrated_database() as url:
        app = bench_app(url)
        with app.app_context():
            big, _ = ledger.register_user("bench-big", "big@example.com", "Big", None, 0)
            small, _ = ledger.register_user("bench-small", "small@example.com", "Small", None, 0)
        conninfo = libpq_url(url)
        started = time.perf_counter()
        fill(conninfo, big, BIG)
        fill(conninfo, small, SMALL)
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        fill_seconds = time.perf_counter() - started

        clients, cursors = {}, {}
        for user_id in (big, small):
            clients[user_id] = app.test_client()
            name, value = session_cookie(app, user_id).split("=", 1)
            clients[user_id].set_cookie(name, value)
            with app.app_context():
                cursors[user_id] = history.page(user_id).next_cursor
        htmx = {"HX-Request": "true"}
        pages = {big: [], small: []}
        fragments = {big: [], small: []}
        charts = {big: [], small: []}
        for user_id in (big, small):  # warm caches
            timed(clients[user_id], "/history")
        for _ in range(ROUNDS):
            for user_id in (big, small):
                pages[user_id].append(timed(clients[user_id], "/history"))
                query = {"before": cursors[user_id]}
                fragments[user_id].append(timed(clients[user_id], "/history", query, htmx))
                charts[user_id].append(timed(clients[user_id], "/history/chart", None, htmx))
        with app.app_context():
            db.engine.dispose()
    page_big, page_small = statistics.median(pages[big]) * 1000, statistics.median(pages[small]) * 1000
    frag_big, frag_small = (
        statistics.median(fragments[big]) * 1000,
        statistics.median(fragments[small]) * 1000,
    )
    return [
        Figure("bulk insert of 1,000,100 ledger rows + VACUUM ANALYZE", fill_seconds, "s"),
        Figure("GET /history, 1,000,000 rows (median)", page_big, "ms"),
        Figure("GET /history, 100 rows (median)", page_small, "ms"),
        at_most("history page 1M / 100 rows", page_big / page_small, 1.5),
        Figure("load-more fragment, 1M rows (median)", frag_big, "ms"),
        Figure("load-more fragment, 100 rows (median)", frag_small, "ms"),
        at_most("load-more fragment 1M / 100 rows", frag_big / frag_small, 1.5),
        Figure("30-day chart fragment, 1M rows (median)", statistics.median(charts[big]) * 1000, "ms"),
        Figure("30-day chart fragment, 100 rows (median)", statistics.median(charts[small]) * 1000, "ms"),
    ]
