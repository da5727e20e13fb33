"""Ledger hold+capture through creditapp.ledger vs the same SQL through raw psycopg.

Both sides run the same statements in the same transactions — hold: the wallet debit
(`UPDATE wallets … FROM users … RETURNING`, with what the top-up rules read), the spend
insert and the lot draw (`lots.DRAW_PG`, the very statement the ledger sends), commit;
capture: `UPDATE credit_spends`, commit — from 8 threads, each thread spending from its
own user's wallet (one lot), alternating in short rounds so machine drift hits both alike.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from sqlalchemy.dialects.postgresql import psycopg as pg_dialect

from bench.common import Figure, at_least, bench_app, libpq_url, migrated_database, run_threads
from creditapp import ledger
from creditapp.extensions import db
from creditapp.ledger.lots import DRAW_PG
from creditapp.models import utcnow
from tests.support.db import count_statements

THREADS = 8
ROUNDS = 3
ROUND_SECONDS = 1.0
START_BALANCE = 1_000_000_000

HOLD_DEBIT = (
    "UPDATE wallets SET balance=(wallets.balance - %(cost)s) FROM users "
    "WHERE users.id = %(user_id)s AND wallets.id = users.wallet_id AND wallets.balance >= %(cost)s "
    "RETURNING wallets.balance, wallets.id AS wallet_id, users.email, users.low_balance_alert_level, "
    "(SELECT auto_recharge_settings.threshold FROM auto_recharge_settings "
    "WHERE auto_recharge_settings.user_id = users.id AND auto_recharge_settings.enabled) AS topup_threshold"
)
HOLD_INSERT = (
    "INSERT INTO credit_spends "
    "(user_id, wallet_id, feature_used, credits_spent, credits_held, status, idempotency_key, "
    "idempotency_scope, request_fingerprint, created_at) "
    "VALUES (%(user_id)s, %(wallet_id)s, %(feature)s, %(cost)s, %(cost)s, 'held', NULL, '', NULL, %(now)s) "
    "RETURNING credit_spends.id"
)
# The ledger's own draw statement, rendered with psycopg's placeholders.
HOLD_DRAW = str(DRAW_PG.compile(dialect=pg_dialect.dialect()))
CAPTURE = (
    "UPDATE credit_spends SET status=%(new_status)s, settled_at=%(now)s "
    "WHERE credit_spends.id = %(spend_id)s AND credit_spends.status = 'held' "
    "RETURNING credit_spends.id, credit_spends.user_id, credit_spends.wallet_id, credit_spends.credits_spent"
)


def ledger_worker(app, user_ids: list[int]) -> Callable:
    """A thread's loop: hold one credit and capture it through the ledger, counting each."""

    def work(i: int, keep_going: Callable[[], bool]) -> int:
        done = 0
        with app.app_context():
            while keep_going():
                spend = ledger.hold(user_ids[i], "bench", 1)
                ledger.capture(spend.spend_id)
                done += 1
            db.session.remove()
        return done

    return work


def _raw_worker(conninfo: str, user_ids: list[int]) -> Callable:
    def work(i: int, keep_going: Callable[[], bool]) -> int:
        done = 0
        with psycopg.connect(conninfo) as conn:
            while keep_going():
                params = {"user_id": user_ids[i], "cost": 1, "feature": "bench", "now": utcnow()}
                params["wallet_id"] = conn.execute(HOLD_DEBIT, params).fetchone()[1]
                params["spend_id"] = conn.execute(HOLD_INSERT, params).fetchone()[0]
                assert sum(row[0] for row in conn.execute(HOLD_DRAW, params)) == 1
                conn.commit()
                conn.execute(
                    CAPTURE, {"spend_id": params["spend_id"], "new_status": "captured", "now": utcnow()}
                ).fetchone()
                conn.commit()
                done += 1
        return done

    return work


def statements_per_operation(app, user_id: int) -> dict[str, int]:
    """How many SQL statements hold, capture and release each send (before_cursor_execute)."""
    counts = {}
    with app.app_context():
        engine = db.engine
        with count_statements(engine) as seen:
            spend = ledger.hold(user_id, "bench", 1)
        counts["hold"] = seen.count
        with count_statements(engine) as seen:
            ledger.capture(spend.spend_id)
        counts["capture"] = seen.count
        spend = ledger.hold(user_id, "bench", 1)
        with count_statements(engine) as seen:
            ledger.release(spend.spend_id)
        counts["release"] = seen.count
        db.session.remove()
    return counts


def run() -> list[Figure]:
    """Measure both rates on a throwaway database and return the figures."""
    with migrated_database() as url:
        app = bench_app(url)
        with app.app_context():
            user_ids = [
                ledger.register_user(f"bench-{i}", f"bench{i}@example.com", "Bench", None, 0)[0]
                for i in range(THREADS)
            ]
            for user_id in user_ids:
                ledger.grant(user_id, START_BALANCE, note="bench")
        through_ledger = ledger_worker(app, user_ids)
        through_psycopg = _raw_worker(libpq_url(url), user_ids)
        run_threads(THREADS, 0.5, through_ledger)  # warm caches and the pool
        run_threads(THREADS, 0.5, through_psycopg)
        ledger_rates, raw_rates = [], []
        for _ in range(ROUNDS):
            ledger_rates.append(run_threads(THREADS, ROUND_SECONDS, through_ledger))
            raw_rates.append(run_threads(THREADS, ROUND_SECONDS, through_psycopg))
        counts = statements_per_operation(app, user_ids[0])
        with app.app_context():
            clean = not ledger.audit()
            db.engine.dispose()
    ledger_rate = sum(ledger_rates) / ROUNDS
    raw_rate = sum(raw_rates) / ROUNDS
    return [
        Figure("ledger hold+capture, 8 threads", ledger_rate, "ops/s"),
        Figure("raw psycopg, same SQL, 8 threads", raw_rate, "ops/s"),
        at_least("ledger / raw SQL", ledger_rate / raw_rate, 0.7),
        # Hold: debit, spend, lot draw. Release (one lot drawn): the wallet lock, the spend,
        # the balance, the draws read, the lot given back.
        Figure("statements per hold", counts["hold"], "stmts", "= 3", counts["hold"] == 3),
        Figure("statements per capture", counts["capture"], "stmts", "= 1", counts["capture"] == 1),
        Figure("statements per release, one lot", counts["release"], "stmts", "= 5", counts["release"] == 5),
        Figure("audit clean after the run", int(clean), "", "= 1", clean),
    ]
