"""Faults mid-traffic: a worker killed with SIGKILL, PostgreSQL crashing and coming back.

After each: every acknowledged spend (202, its job queued) ends captured once the job
workers and `flask jobs sweep` have done their work; the hold and its job are one
transaction, so no fault leaves a hold without a job or a job without its hold; no hold is
left held, and the audit is clean.
"""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import Future, ThreadPoolExecutor

import sqlalchemy as sa

from creditapp import ledger
from creditapp.extensions import db
from creditapp.models import CreditSpend, FeatureJob, User
from tests.multi import traffic
from tests.multi.traffic import Outcome, Shopper
from tests.multi.workers import wait_for_jobs_to_end

SHOPPERS = 8
THREADS = 8
START_CREDITS = 100_000
COSTS = {256: 5, 1024: 20}


def shoppers_with_credits(deployment) -> list[Shopper]:
    """Signed-in shoppers (real Google flow) with plenty of credits, so no spend is refused."""
    url = deployment.instances[0].url
    shoppers = [traffic.sign_in(url, deployment.emulator, f"fault{i}@example.com") for i in range(SHOPPERS)]
    with deployment.app.app_context():
        for shopper in shoppers:
            shopper.user_id = ledger.user_id_for_email(shopper.email)
            ledger.grant(shopper.user_id, START_CREDITS, note="fault test")
        db.session.remove()
    return shoppers


def start_spending(
    pool: ThreadPoolExecutor, url: str, shoppers: list[Shopper], n: int, size: int
) -> list[Future]:
    """Queue n spends spread over the shoppers; they run while the test injects faults."""
    return [pool.submit(traffic.spend, url, shoppers[i % len(shoppers)], size) for i in range(n)]


def spend_rows(app) -> dict[int, sa.Row]:
    """Every spend row by id, read fresh."""
    with app.app_context():
        rows = db.session.execute(
            sa.select(CreditSpend.id, CreditSpend.user_id, CreditSpend.status, CreditSpend.credits_spent)
        ).all()
        db.session.remove()
    return {row.id: row for row in rows}


def held_ids(app) -> set[int]:
    """Spends currently held."""
    return {spend_id for spend_id, row in spend_rows(app).items() if row.status == "held"}


def wait_until(condition, seconds: float, what: str) -> None:
    """Poll `condition` until it holds; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what} after {seconds}s"
        time.sleep(0.01)


def orphaned_holds(app, spend_ids: set[int]) -> set[int]:
    """Of these spends, the held ones whose job is queued with no message for it on the queue.

    Their request was killed between the commit and the enqueue: only the sweep runs them.
    """
    with app.app_context():
        queued = dict(
            db.session.execute(
                sa.select(FeatureJob.spend_id, FeatureJob.id)
                .join(CreditSpend, CreditSpend.id == FeatureJob.spend_id)
                .where(
                    FeatureJob.spend_id.in_(spend_ids),
                    FeatureJob.status == "queued",
                    CreditSpend.status == "held",
                )
            ).all()
        )
        huey = app.extensions["jobs"].huey
        messages = {str(task.args[0]) for task in [*huey.pending(), *huey.scheduled()] if task.args}
        db.session.remove()
    return {spend_id for spend_id, job_id in queued.items() if str(job_id) not in messages}


def wait_for_holds_to_settle_or_orphan(app, spend_ids: set[int], seconds: float = 90) -> set[int]:
    """Wait until each of these holds was settled by the job workers or is orphaned; the orphans.

    An orphan is seen twice in a row before it counts: a worker may have just taken its message.
    """
    deadline = time.monotonic() + seconds
    seen: set[int] = set()
    while True:
        held = spend_ids & held_ids(app)
        orphans = orphaned_holds(app, held)
        if held and held == orphans == seen:
            return orphans
        if not held:
            return set()
        assert time.monotonic() < deadline, f"holds neither settled nor orphaned: {held - orphans}"
        seen = orphans
        time.sleep(0.05)


def check_books(deployment, outcomes: list[Outcome], shoppers: list[Shopper]) -> None:
    """The checks every fault test ends with, once every job has ended."""
    app = deployment.app
    # The sweep queues again any job whose enqueue a fault cut off, and re-runs abandoned ones.
    wait_for_jobs_to_end(app, timeout=90, sweep_every=2)
    acknowledged = {o.body["spend_id"]: o for o in outcomes if o.status == 202}
    user_ids = {s.email: s.user_id for s in shoppers}
    after = spend_rows(app)
    for spend_id, outcome in acknowledged.items():
        row = after[spend_id]
        assert (row.user_id, row.status) == (user_ids[outcome.email], "captured"), outcome
        assert row.credits_spent == COSTS[outcome.body["size"]]
    assert {row.status for row in after.values()} <= {"captured", "released"}
    with app.app_context():
        without_job = db.session.execute(
            sa.select(sa.func.count())
            .select_from(CreditSpend)
            .outerjoin(FeatureJob, FeatureJob.spend_id == CreditSpend.id)
            .where(FeatureJob.id.is_(None))
        ).scalar_one()
        assert without_job == 0, "a hold was written without its job"
        assert ledger.audit() == []
        balances = dict(db.session.execute(sa.select(User.id, User.credits)).all())
        db.session.remove()
    for shopper in shoppers:
        captured = sum(
            row.credits_spent
            for row in after.values()
            if row.user_id == shopper.user_id and row.status == "captured"
        )
        assert balances[shopper.user_id] == 500 + START_CREDITS - captured


def test_a_worker_killed_mid_spend_loses_no_acknowledged_spend(one_instance_on_own_cluster):
    deployment, _ = one_instance_on_own_cluster
    instance = deployment.instances[0]
    shoppers = shoppers_with_credits(deployment)
    kills = 0
    with ThreadPoolExecutor(THREADS) as pool:
        futures = start_spending(pool, instance.url, shoppers, 400, size=1024)
        # Kill every worker at a moment a hold is open, until a hold is orphaned that way.
        for _ in range(5):
            deadline = time.monotonic() + 20
            while not held_ids(deployment.app) and time.monotonic() < deadline:
                time.sleep(0.005)
            in_flight = held_ids(deployment.app)
            for pid in instance.workers():
                os.kill(pid, signal.SIGKILL)
            kills += 1
            instance.wait_for_workers(2)
            if wait_for_holds_to_settle_or_orphan(deployment.app, in_flight):
                break
        outcomes = [future.result() for future in futures]
    assert kills >= 1
    dropped = [o for o in outcomes if o.status != 202]
    assert dropped, "the kill should have cut some requests off"
    assert {o.status for o in dropped} <= {None, 502, 503}
    check_books(deployment, outcomes, shoppers)
    # The instance serves normally again.
    assert traffic.spend(instance.url, shoppers[0]).status == 202


def test_a_database_crash_mid_run_loses_no_acknowledged_spend(one_instance_on_own_cluster):
    deployment, cluster = one_instance_on_own_cluster
    instance = deployment.instances[0]
    shoppers = shoppers_with_credits(deployment)
    with ThreadPoolExecutor(THREADS) as pool:
        futures = start_spending(pool, instance.url, shoppers, 600, size=256)
        while sum(f.done() for f in futures) < 100:
            time.sleep(0.01)
        cluster.crash()
        # Requests meanwhile get a 503, never a hang: the database comes back once one has.
        wait_until(
            lambda: any(f.done() and f.result().status == 503 for f in futures),
            30,
            "a spend answered 503 during the outage",
        )
        cluster.start()
        outcomes = [future.result() for future in futures]
    statuses = {o.status for o in outcomes}
    assert 503 in statuses, "some requests should have met the outage"
    assert statuses <= {202, 503, None}
    assert sum(o.status == 202 for o in outcomes) >= 100
    # Once the database is back the pool reconnects by itself: every new spend succeeds.
    after = [traffic.spend(instance.url, shopper) for shopper in shoppers for _ in range(3)]
    assert [o.status for o in after] == [202] * len(after)
    check_books(deployment, outcomes + after, shoppers)
