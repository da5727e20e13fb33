"""Ledger hold+capture from a wallet with 20 live lots vs from a wallet with 1 lot (§17).

Each hold draws in spend order from the wallet's live lots (`lots.DRAW_PG`); this measures
what ranking 20 lots costs next to ranking one. 8 threads on each side, each spending from
a wallet of its own, alternating in short rounds so machine drift hits both alike. The 20
lots differ in priority, expiry and category so the spend order has real sorting to do;
each holds plenty, so every hold of one credit draws from the first lot, as most small
spends do.
"""

from __future__ import annotations

from datetime import timedelta

from bench.common import Figure, at_least, bench_app, migrated_database, run_threads
from bench.ledger import ledger_worker
from creditapp import ledger
from creditapp.extensions import db
from creditapp.models import utcnow

THREADS = 8
ROUNDS = 3
ROUND_SECONDS = 1.0
MANY = 20
LOT_CREDITS = 50_000_000


def _wallets(lots: int) -> list[int]:
    """THREADS users, each with a wallet of `lots` live lots."""
    now = utcnow()
    user_ids = []
    for i in range(THREADS):
        user_id, _ = ledger.register_user(
            f"bench-lots{lots}-{i}", f"lots{lots}-{i}@example.com", "Bench", None, 0
        )
        for n in range(lots):
            ledger.grant(
                user_id,
                LOT_CREDITS,
                note="bench",
                category=("paid", "promotional")[n % 2],
                priority=40 + n % 3 * 10,
                expires_at=None if n % 4 == 3 else now + timedelta(days=30 + n),
            )
        user_ids.append(user_id)
    return user_ids


def run() -> list[Figure]:
    """Measure both rates on a throwaway database and return the figures."""
    with migrated_database() as url:
        app = bench_app(url)
        with app.app_context():
            many, one = _wallets(MANY), _wallets(1)
        from_many, from_one = ledger_worker(app, many), ledger_worker(app, one)
        run_threads(THREADS, 0.5, from_many)  # warm caches and the pool
        run_threads(THREADS, 0.5, from_one)
        many_rates, one_rates = [], []
        for _ in range(ROUNDS):
            many_rates.append(run_threads(THREADS, ROUND_SECONDS, from_many))
            one_rates.append(run_threads(THREADS, ROUND_SECONDS, from_one))
        with app.app_context():
            clean = not ledger.audit()
            db.engine.dispose()
    many_rate = sum(many_rates) / ROUNDS
    one_rate = sum(one_rates) / ROUNDS
    return [
        Figure(f"hold+capture, {MANY} live lots, 8 threads", many_rate, "ops/s"),
        Figure("hold+capture, 1 lot, 8 threads", one_rate, "ops/s"),
        at_least(f"{MANY} lots / 1 lot", many_rate / one_rate, 0.8),
        Figure("audit clean after the run", int(clean), "", "= 1", clean),
    ]
