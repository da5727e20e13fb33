"""Two instances, one database behind PgBouncer, thousands of concurrent operations: the books balance."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor

import requests
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from creditapp import ledger
from creditapp.extensions import db
from creditapp.models import CreditPurchase, CreditSpend, StripeEvent, User
from tests.multi import traffic
from tests.multi.traffic import Outcome
from tests.multi.workers import wait_for_jobs_to_end

USERS = 20
SPENDS_PER_PHASE = 900
PURCHASES = 40
REFUNDS = 10
DUPLICATE_DELIVERIES = 40
THREADS = 16
COSTS = {256: 5, 512: 10}  # credits per image size (config IMAGE_COSTS)


def run_all(tasks) -> list[Outcome]:
    """Run the tasks concurrently; each returns one Outcome or a list of them."""
    outcomes: list[Outcome] = []
    with ThreadPoolExecutor(THREADS) as pool:
        for result in pool.map(lambda task: task(), tasks):
            outcomes.extend(result if isinstance(result, list) else [result])
    return outcomes


def spends(instances, shoppers, rng: random.Random, n: int) -> list:
    """Spend tasks over every shopper and instance; some reuse an Idempotency-Key on purpose."""
    tasks = []
    for _ in range(n):
        shopper, instance = rng.choice(shoppers), rng.choice(instances)
        size = rng.choice(list(COSTS))
        key = None
        if rng.random() < 0.15:
            n = rng.randrange(15)
            key, size = f"key-{n}", list(COSTS)[n % 2]  # a replay repeats the same request
        tasks.append(lambda s=shopper, i=instance, k=key, z=size: traffic.spend(i.url, s, size=z, key=k))
    return tasks


def purchase_task(deployment, instance: str, shopper, price_id: str, outcome: str, success_on: str | None):
    """Check out on an instance, pay (or not) on the stand-in, maybe return to the success page.

    outcome: succeeded, delayed_success / delayed_failure (async payment settled later), expire.
    """

    def run() -> list[Outcome]:
        started = traffic.checkout(instance, shopper, price_id)
        if started.status != 303:
            return [started]
        session_id = started.body["session_id"]
        started.body["outcome"] = outcome
        if outcome == "expire":
            deployment.emulator.expire(session_id)
            return [started]
        paid = deployment.emulator.pay(session_id, "succeeded" if outcome == "succeeded" else "async_pending")
        started.body["payment_intent"] = paid["session"]["payment_intent"]
        if outcome.startswith("delayed"):
            deployment.emulator.settle(session_id, "succeeded" if outcome == "delayed_success" else "failed")
        if outcome == "succeeded" and success_on:
            return [started, traffic.success_page(success_on, shopper, session_id)]
        return [started]

    return run


def refund_task(deployment, payment_intent: str, amount: int | None):
    """Refund all or part of a payment through Stripe's API; Stripe then sends charge.refunded."""

    def run() -> Outcome:
        params = {"payment_intent": payment_intent, **({"amount": amount} if amount else {})}
        refund = deployment.stripe.v1.refunds.create(params=params)
        return Outcome(
            "refund", "", "stripe", 200, {"payment_intent": payment_intent, "amount": refund.amount}
        )

    return run


def resend_task(deployment, event_id: str):
    """Deliver an already-delivered event again, as Stripe does."""

    def run() -> Outcome:
        deployment.emulator.resend(event_id)
        return Outcome("resend", "", "stripe", 200, {"event_id": event_id})

    return run


def scrape(url: str) -> dict[tuple, float]:
    """An instance's /metrics as {(name, labels): value}."""
    text = requests.get(f"{url}/metrics", timeout=10).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_two_instances_behind_pgbouncer_keep_every_balance_exact(two_instances_behind_pgbouncer):
    deployment = two_instances_behind_pgbouncer
    a, b = deployment.instances
    rng = random.Random(20261125)

    # Sign-in goes through the real Google flow; a session made on one instance works on both.
    shoppers = [
        traffic.sign_in((a, b)[i % 2].url, deployment.emulator, f"bank{i}@example.com") for i in range(USERS)
    ]
    prices = traffic.price_ids(b.url, shoppers[0])
    assert len(prices) == 3

    outcomes_by_phase = []
    # Phase 1: spends race purchases (paid, declined, abandoned) and success pages racing webhooks.
    tasks = spends(deployment.instances, shoppers, rng, SPENDS_PER_PHASE)
    kinds = ["succeeded"] * 5 + ["delayed_success", "delayed_failure", "expire"]
    for n in range(PURCHASES):
        tasks.append(
            purchase_task(
                deployment,
                rng.choice(deployment.instances).url,
                rng.choice(shoppers),
                rng.choice(prices),
                kinds[n % len(kinds)],
                b.url if n % 3 == 0 else None,
            )
        )
    rng.shuffle(tasks)
    outcomes_by_phase.append(run_all(tasks))
    deployment.emulator.wait_until_idle(timeout=60)

    # Phase 2: more spends race refunds and Stripe redelivering events it already delivered.
    paid = [o for o in outcomes_by_phase[0] if o.kind == "checkout" and o.body.get("outcome") == "succeeded"]
    assert len(paid) >= REFUNDS
    delivered = [d["event_id"] for d in deployment.emulator.deliveries() if d["status_code"] == 200]
    tasks = spends(deployment.instances, shoppers, rng, SPENDS_PER_PHASE)
    for n, purchase in enumerate(rng.sample(paid, REFUNDS)):
        tasks.append(refund_task(deployment, purchase.body["payment_intent"], None if n % 2 else 100))
    tasks += [resend_task(deployment, event_id) for event_id in rng.sample(delivered, DUPLICATE_DELIVERIES)]
    rng.shuffle(tasks)
    outcomes_by_phase.append(run_all(tasks))
    deployment.emulator.wait_until_idle(timeout=60)

    outcomes = [o for phase in outcomes_by_phase for o in phase]
    spent = [o for o in outcomes if o.kind == "spend"]
    # A key already used answers with its job (202 while it runs, 200 once it ended).
    assert Counter(o.status for o in outcomes if o.status not in (200, 202, 303, 402)) == Counter()
    assert all(o.key for o in spent if o.status == 200)
    jobs = wait_for_jobs_to_end(deployment.app, timeout=120)
    assert set(jobs.values()) == {"succeeded"}
    refused = sum(o.status == 402 for o in spent)
    assert 0 < refused < len(spent) / 2  # balances ran out for some, never for most

    with deployment.app.app_context():
        assert ledger.audit() == []
        ids = dict(db.session.execute(sa.select(User.email, User.id)).all())
        rows = {
            r.id: r
            for r in db.session.execute(
                sa.select(CreditSpend.id, CreditSpend.user_id, CreditSpend.status, CreditSpend.credits_spent)
            ).all()
        }
        purchases = {
            p.stripe_checkout_session_id: p for p in db.session.execute(sa.select(CreditPurchase)).scalars()
        }
        failed_events = db.session.execute(
            sa.select(sa.func.count()).where(StripeEvent.status == "failed")
        ).scalar_one()

    # Every acknowledged spend has its captured row, and no row exists that nobody was told about.
    acknowledged = {o.body["spend_id"]: o for o in spent if o.status in (200, 202)}
    for spend_id, outcome in acknowledged.items():
        row = rows[spend_id]
        cost = COSTS[outcome.body["size"]]
        assert (row.user_id, row.status, row.credits_spent) == (ids[outcome.email], "captured", cost)
    assert set(rows) == set(acknowledged)
    # The same Idempotency-Key from the same person is one spend, whichever instance answered.
    by_key = defaultdict(set)
    for o in spent:
        if o.status in (200, 202) and o.key:
            by_key[(o.email, o.key)].add(o.body["spend_id"])
    assert by_key and all(len(spend_ids) == 1 for spend_ids in by_key.values())

    # Every paid checkout was credited exactly once; declined and abandoned ones never were.
    started = [o for o in outcomes if o.kind == "checkout"]
    assert len(started) == PURCHASES and all(o.status == 303 for o in started)
    expected_status = {
        "succeeded": "completed",
        "delayed_success": "completed",
        "delayed_failure": "failed",
        "expire": "expired",
    }
    for o in started:
        purchase = purchases[o.body["session_id"]]
        assert purchase.status == expected_status[o.body["outcome"]], o.body
    refunded = {o.body["payment_intent"]: o.body["amount"] for o in outcomes if o.kind == "refund"}
    for purchase in purchases.values():
        assert purchase.amount_refunded == refunded.get(purchase.stripe_payment_intent_id, 0)
    assert failed_events == 0
    assert all(o.status == 200 for o in outcomes if o.kind == "success_page")

    # Instance A runs prometheus in multiprocess mode: its /metrics adds up both workers.
    metrics = scrape(a.url)
    counted = sum(
        value
        for (name, labels), value in metrics.items()
        if name == "creditapp_http_requests_total" and ("endpoint", "features.api_create_image") in labels
    )
    assert counted == sum(o.instance == a.url for o in spent)
    assert metrics[("creditapp_holds_open", ())] == 0
