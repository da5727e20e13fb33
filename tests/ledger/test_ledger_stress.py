"""Every ledger operation at once, from real threads against PostgreSQL: no deadlock, exact books.

A few users are shared by many threads so every operation meets every other on the same
rows: holds with and without an Idempotency-Key, the same key retried while its first
spend is being released, captures, releases, `release-stale`, admin grants and debits,
bonus grants, purchases completing, and refund and dispute clawbacks.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa

from creditapp import ledger
from creditapp.extensions import db
from creditapp.models import CreditPurchase, CreditSpend

pytestmark = pytest.mark.usefixtures("app")

USERS = 3
THREADS = 10
OPERATIONS_PER_THREAD = 120
KEYS_PER_USER = 6  # few keys, so retried keys keep meeting their first spend
EXPECTED_REFUSALS = (ledger.InsufficientCredits, ledger.InvalidAmount)


def new_purchase(user_id: int, credits: int = 200, amount: int = 1000) -> int:
    """A pending purchase row, as checkout creates it."""
    purchase = CreditPurchase(
        user_id=user_id,
        stripe_price_id="price_stress",
        credits_purchased=credits,
        amount_paid=amount,
        currency="usd",
        status="pending",
    )
    db.session.add(purchase)
    db.session.commit()
    return purchase.id


def claw_back(purchase_id: int, rng: random.Random, n: int) -> None:
    """A refund or dispute read from Stripe moving the clawback (the ledger's clawback entry point)."""
    ticket = ledger.start_clawback_check(purchase_id) if rng.random() < 0.5 else None
    held_back = ledger.HeldBack(refunded=rng.choice([0, 100, 300, 500]), disputed=rng.choice([0, 0, 200]))
    ledger.move_clawback(
        purchase_id, held_back, stripe_object_id=f"ch_stress_{purchase_id}_{n}", ticket=ticket
    )


class Worker:
    """One thread's share of the traffic: a seeded mix of every ledger operation."""

    def __init__(self, index: int, users: list[int], purchases: dict[int, list[int]]) -> None:
        self.rng = random.Random(1000 + index)
        self.index = index
        self.users = users
        self.purchases = purchases
        self.errors: list[BaseException] = []
        self.done: Counter[str] = Counter()

    def run(self, app, barrier: threading.Barrier) -> None:
        self.app = app
        with app.app_context():
            barrier.wait(timeout=30)
            for n in range(OPERATIONS_PER_THREAD):
                operation = self.rng.choice(OPERATIONS)
                try:
                    operation(self, n)
                    self.done[operation.__name__] += 1
                except EXPECTED_REFUSALS:
                    self.done["refused"] += 1
                except Exception as exc:  # noqa: BLE001 - every other failure is the finding
                    self.errors.append(exc)
                finally:
                    db.session.remove()

    def user(self) -> int:
        return self.rng.choice(self.users)

    def spend(self, n: int) -> None:
        held = ledger.hold(self.user(), "stress", self.rng.choice([1, 5, 10]))
        self._settle(held.spend_id)

    def keyed_spend(self, n: int) -> None:
        user_id = self.user()
        key = f"key-{self.rng.randrange(KEYS_PER_USER)}"
        held = ledger.hold(user_id, "stress", 5, idempotency_key=key)
        if not held.replayed:
            self._settle(held.spend_id)

    def keyed_spend_failing_while_retried(self, n: int) -> None:
        # The feature fails and its hold is released while the client already retries the key.
        user_id = self.user()
        key = f"retry-{self.index}-{n}"
        first = ledger.hold(user_id, "stress", 5, idempotency_key=key)
        retry = threading.Thread(target=self._retry, args=(user_id, key, first.spend_id))
        retry.start()
        ledger.release(first.spend_id)
        retry.join(timeout=30)

    def _retry(self, user_id: int, key: str, spend_id: int) -> None:
        with self.app.app_context():
            try:
                again = ledger.hold(user_id, "stress", 5, idempotency_key=key)
                assert again.replayed and again.spend_id == spend_id, again
            except Exception as exc:  # noqa: BLE001
                self.errors.append(exc)
            finally:
                db.session.remove()

    def release_stale(self, n: int) -> None:
        ledger.release_stale(timedelta(0))

    def grant(self, n: int) -> None:
        ledger.grant(self.user(), self.rng.choice([-20, 15, 40]), note="stress")

    def bonus(self, n: int) -> None:
        assert ledger.grant_signup_bonus(self.user(), 500) is False

    def purchase(self, n: int) -> None:
        user_id = self.user()
        purchase_id = new_purchase(user_id)
        assert ledger.complete_purchase(purchase_id, None, 1000, "usd") is True
        self.purchases[user_id].append(purchase_id)

    def clawback(self, n: int) -> None:
        claw_back(self.rng.choice(self.purchases[self.user()]), self.rng, n)

    def _settle(self, spend_id: int) -> None:
        choice = self.rng.random()
        if choice < 0.6:
            ledger.capture(spend_id)
        elif choice < 0.95:
            ledger.release(spend_id)
        else:
            # Settle it from both sides at once, as a slow feature racing release-stale does.
            ledger.release(spend_id)
            ledger.capture(spend_id)


OPERATIONS = [
    Worker.spend,
    Worker.spend,
    Worker.keyed_spend,
    Worker.keyed_spend,
    Worker.keyed_spend_failing_while_retried,
    Worker.release_stale,
    Worker.grant,
    Worker.bonus,
    Worker.purchase,
    Worker.clawback,
]


def test_every_ledger_operation_racing_on_shared_users_never_deadlocks_and_keeps_exact_books(app):
    users = [
        ledger.register_user(f"sub-stress-{i}", f"stress{i}@example.com", "S", None, 500)[0]
        for i in range(USERS)
    ]
    purchases: dict[int, list[int]] = {user_id: [] for user_id in users}
    for user_id in users:
        purchase_id = new_purchase(user_id)
        ledger.complete_purchase(purchase_id, None, 1000, "usd")
        purchases[user_id].append(purchase_id)
    workers = [Worker(i, users, purchases) for i in range(THREADS)]
    barrier = threading.Barrier(THREADS)
    threads = [threading.Thread(target=w.run, args=(app, barrier)) for w in workers]

    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    errors = [error for w in workers for error in w.errors]
    assert errors == [], f"{len(errors)} failures, first: {errors[:3]!r}"
    done = sum((w.done for w in workers), Counter())
    assert all(done[operation.__name__] for operation in OPERATIONS), done
    db.session.expire_all()
    statuses = Counter(db.session.execute(sa.select(CreditSpend.status)).scalars())
    assert statuses["held"] == 0, statuses
    assert statuses["captured"] and statuses["released"]
    assert ledger.audit() == []
