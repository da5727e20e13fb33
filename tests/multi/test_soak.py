"""Soak: one gunicorn worker, thousands of mixed requests, zero 5xx and exact books.

One worker means one connection pool whose connections run each statement many times:
psycopg prepares a statement on the server after five runs on a connection (and forgets
them all at a rollback), PostgreSQL then plans it generically, and the signup bonus's
`ON CONFLICT … WHERE` must still find its partial index. Hundreds of people sign up
through the real OpenID Connect flow (in a burst, then one at a time, when the pool's
rotation puts every bonus insert on the same connection), while others spend, buy (paid
on the Stripe stand-in, credited by its webhooks or the success page), read their balance
and history, and Stripe refunds and redelivers events.
"""

from __future__ import annotations

import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import requests
import sqlalchemy as sa

from creditapp.extensions import db
from creditapp.models import CreditAdjustment, CreditPurchase, CreditSpend, User
from tests.multi import traffic
from tests.multi.single import single_instance
from tests.multi.traffic import Outcome, Shopper
from tests.multi.workers import wait_for_jobs_to_end

BURST_SIGNUPS = 100  # a launch-day burst: nothing but sign-ups on a fresh worker
TRICKLE_SIGNUPS = 40  # then one at a time, twice (see the module docstring)
LATER_SIGNUPS = 120
SIGNUPS = BURST_SIGNUPS + 2 * TRICKLE_SIGNUPS + LATER_SIGNUPS
SPENDS = 1000
READS = 400
PURCHASES = 40
REDELIVERIES = 40
REFUNDS = 6
LATE_SPENDS = 200
THREADS = 8
READ_PATHS = ["/credits/badge", "/api/user/credits", "/history"]
EXPECTED = {
    "login": {302},
    "callback": {302},
    "home": {200},
    "spend": {200, 202, 402, 409},  # 200: a key replayed once its job has ended
    "read": {200},
    "checkout": {303},
    "success_page": {200},
}


def sign_up(url: str, emulator, email: str, open_home: bool = True) -> list[Outcome]:
    """A first sign-in through Google (the stand-in); the last outcome carries the shopper.

    With open_home=False the client stops at the callback's redirect (an app's web view).
    """
    outcomes = []
    with requests.Session() as browser:
        browser.trust_env = False
        start = browser.get(f"{url}/login", allow_redirects=False, timeout=traffic.TIMEOUT)
        outcomes.append(Outcome("login", email, url, start.status_code))
        if start.status_code != 302:
            return outcomes
        callback = emulator.google_sign_in(start.headers["Location"], email, name=email.split("@")[0])
        done = browser.get(callback, allow_redirects=False, timeout=traffic.TIMEOUT)
        outcomes.append(Outcome("callback", email, url, done.status_code))
        if done.status_code != 302 or not open_home:
            return outcomes
        home = browser.get(f"{url}/", timeout=traffic.TIMEOUT)
        found = traffic.CSRF_META.search(home.text)
        cookie = "; ".join(f"{c.name}={c.value}" for c in browser.cookies)
        shopper = Shopper(email, cookie, found.group(1)) if found else None
        outcomes.append(Outcome("home", email, url, home.status_code, {"shopper": shopper}))
    return outcomes


def read(url: str, shopper: Shopper, path: str) -> Outcome:
    response = traffic.http().get(f"{url}{path}", headers={"Cookie": shopper.cookie}, timeout=traffic.TIMEOUT)
    return Outcome("read", shopper.email, url, response.status_code, {"path": path})


def purchase(
    deployment, url: str, shopper: Shopper, price_id: str, visit_success_page: bool
) -> list[Outcome]:
    started = traffic.checkout(url, shopper, price_id)
    if started.status != 303:
        return [started]
    session_id = started.body["session_id"]
    paid = deployment.emulator.pay(session_id, "succeeded")
    started.body["payment_intent"] = paid["session"]["payment_intent"]
    if visit_success_page:
        return [started, traffic.success_page(url, shopper, session_id)]
    return [started]


def refund(deployment, payment_intent: str) -> list[Outcome]:
    """A full refund through Stripe's API; Stripe then sends its events to the app."""
    deployment.stripe.v1.refunds.create(params={"payment_intent": payment_intent})
    return []


def redeliver(emulator, event_id: str) -> list[Outcome]:
    """Stripe delivers an event again."""
    emulator.resend(event_id)
    return []


def check_books(app) -> None:
    """`flask credits audit` is clean, everyone got one bonus, no hold is left, every purchase counted."""
    audit = app.test_cli_runner().invoke(args=["credits", "audit"])
    assert audit.exit_code == 0, audit.output
    with app.app_context():

        def count(query) -> int:
            return db.session.execute(query).scalar_one()

        assert count(sa.select(sa.func.count()).select_from(User)) == SIGNUPS
        assert count(sa.select(sa.func.count()).where(CreditAdjustment.reason == "signup_bonus")) == SIGNUPS
        assert count(sa.select(sa.func.count()).where(CreditSpend.status == "held")) == 0
        assert count(sa.select(sa.func.count()).where(CreditPurchase.status == "completed")) == PURCHASES
        db.session.remove()


def run_all(tasks) -> list[Outcome]:
    outcomes: list[Outcome] = []
    with ThreadPoolExecutor(THREADS) as pool:
        for result in pool.map(lambda task: task(), tasks):
            outcomes.extend(result if isinstance(result, list) else [result])
    return outcomes


def shoppers_of(outcomes: list[Outcome]) -> list[Shopper]:
    return [o.body["shopper"] for o in outcomes if o.kind == "home" and o.body.get("shopper")]


def spend_tasks(url: str, shoppers: list[Shopper], rng: random.Random, n: int) -> list:
    tasks = []
    for _ in range(n):
        shopper = rng.choice(shoppers)
        key = f"soak-{rng.randrange(30)}" if rng.random() < 0.15 else None
        size = 256  # one size: a reused key repeats the same request
        tasks.append(lambda s=shopper, k=key, z=size: traffic.spend(url, s, size=z, key=k))
    return tasks


def test_one_worker_serves_thousands_of_mixed_requests_with_no_5xx_and_a_clean_audit():
    with single_instance(workers=1, job_workers=1) as deployment:
        instance = deployment.instances[0]
        url, emulator = instance.url, deployment.emulator
        rng = random.Random(20261201)
        worker = instance.workers()

        emails = (f"soak{n}@example.com" for n in range(SIGNUPS))
        outcomes = run_all([lambda e=next(emails): sign_up(url, emulator, e) for _ in range(BURST_SIGNUPS)])
        shoppers = shoppers_of(outcomes)
        assert len(shoppers) == BURST_SIGNUPS, Counter((o.kind, o.status) for o in outcomes)
        # One at a time, the pool settles into a fixed rotation: the connection that runs the
        # bonus insert can run it past psycopg's prepare threshold with no rollback between
        # (a rollback makes psycopg forget its prepared statements).
        for open_home in (True, False):
            for _ in range(TRICKLE_SIGNUPS):
                outcomes += sign_up(url, emulator, next(emails), open_home)
        prices = traffic.price_ids(url, shoppers[0])

        tasks = [lambda e=next(emails): sign_up(url, emulator, e) for _ in range(LATER_SIGNUPS)]
        tasks += spend_tasks(url, shoppers, rng, SPENDS)
        tasks += [
            lambda s=rng.choice(shoppers), p=rng.choice(READ_PATHS): read(url, s, p) for _ in range(READS)
        ]
        tasks += [
            lambda s=rng.choice(shoppers), p=rng.choice(prices), v=n % 3 == 0: purchase(
                deployment, url, s, p, v
            )
            for n in range(PURCHASES)
        ]
        rng.shuffle(tasks)
        outcomes += run_all(tasks)
        emulator.wait_until_idle(timeout=60)

        # Stripe refunds some payments and redelivers events it already delivered, while people spend.
        paid = [o.body["payment_intent"] for o in outcomes if o.kind == "checkout" and o.status == 303]
        delivered = [d["event_id"] for d in emulator.deliveries() if d["status_code"] == 200]
        tasks = spend_tasks(url, shoppers_of(outcomes), rng, LATE_SPENDS)
        tasks += [lambda pi=pi: refund(deployment, pi) for pi in rng.sample(paid, REFUNDS)]
        tasks += [lambda e=e: redeliver(emulator, e) for e in rng.sample(delivered, REDELIVERIES)]
        rng.shuffle(tasks)
        outcomes += run_all(tasks)
        emulator.wait_until_idle(timeout=60)
        deliveries = emulator.deliveries()
        wait_for_jobs_to_end(deployment.app, timeout=120)
        assert instance.workers() == worker  # one worker served it all
        statuses = Counter((o.kind, o.status) for o in outcomes)
        unexpected = {
            kind_status: n
            for kind_status, n in statuses.items()
            if kind_status[1] not in EXPECTED[kind_status[0]]
        }
        assert unexpected == {}, statuses
        assert sum(statuses.values()) + len(deliveries) > 2500, statuses
        assert statuses[("callback", 302)] == SIGNUPS
        assert Counter(d["status_code"] for d in deliveries) == Counter({200: len(deliveries)})
        assert len(deliveries) >= PURCHASES + REDELIVERIES + REFUNDS
        check_books(deployment.app)
