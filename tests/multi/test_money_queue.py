"""Money work has its own queue: a real `flask jobs worker` process busy with slow images still
charges a top-up at once (gunicorn, PostgreSQL, Redis, the Stripe and OpenAI stand-ins)."""

from __future__ import annotations

import signal
import time

import requests
import sqlalchemy as sa

from creditapp.extensions import db
from creditapp.models import AutoRechargeSettings, CreditPurchase
from tests.multi import traffic
from tests.multi.test_jobs_processes import get, images, jobs_deployment, shopper, submit
from tests.multi.workers import job_statuses, wait_for_jobs_to_end

__all__ = ["jobs_deployment"]

IMAGES = 10  # more than the worker's 4 feature threads


def read(deployment, query):
    """One fresh read through the checking app."""
    with deployment.app.app_context():
        try:
            return db.session.execute(query).all()
        finally:
            db.session.remove()


def wait_until(predicate, timeout: float, what: str):
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (found := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)
    return found


def save_card_and_switch_on(deployment, person: traffic.Shopper, threshold: int) -> None:
    """Buy the 100-credit pack saving the card, then switch automatic top-up on for that pack."""
    url = deployment.instances[0].url
    pack = traffic.price_ids(url, person)[0]  # the 100-credit pack, cheapest first
    response = requests.post(
        f"{url}/billing/checkout",
        data={"price_id": pack, "csrf_token": person.csrf, "save_card": "1"},
        headers={"Cookie": person.cookie},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 303, response.text[:500]
    deployment.emulator.pay(response.headers["Location"].rsplit("/", 1)[-1], card="4242")
    card = AutoRechargeSettings.card_last4
    wait_until(
        lambda: read(deployment, sa.select(card).where(card.is_not(None))), timeout=20, what="the saved card"
    )
    saved = requests.post(
        f"{url}/account/auto-recharge",
        data={
            "enabled": "1",
            "threshold": str(threshold),
            "price_id": pack,
            "monthly_cap": "3",
            "csrf_token": person.csrf,
        },
        headers={"Cookie": person.cookie},
        allow_redirects=False,
        timeout=30,
    )
    assert saved.status_code == 303, saved.text[:500]


def test_a_top_up_is_charged_while_slow_images_still_wait_for_the_workers_threads(jobs_deployment):
    deployment = jobs_deployment
    url = deployment.instances[0].url
    person = shopper(deployment, "busy@example.com")  # 500 credits
    save_card_and_switch_on(deployment, person, threshold=551)  # 600 after the pack
    images(deployment.emulator, latency_seconds=2.0)  # under the 3 s client timeout

    # Ten images at 5 credits: the tenth hold takes the balance to 550, below 551, and starts
    # the top-up; its message is queued after all ten images.
    answers = [submit(url, person) for _ in range(IMAGES)]
    assert [a.status_code for a in answers] == [202] * IMAGES

    topups = CreditPurchase.__table__
    done = wait_until(
        lambda: read(
            deployment,
            sa.select(topups.c.status).where(
                topups.c.source == "auto_recharge", topups.c.status != "pending"
            ),
        ),
        timeout=25,
        what="the top-up to be charged",
    )
    waiting = [status for status in job_statuses(deployment.app).values() if status == "queued"]

    assert [row.status for row in done] == ["completed"]
    assert len(waiting) >= IMAGES - 4 - 2  # 4 threads busy, at most 2 more started meanwhile
    statuses = wait_for_jobs_to_end(deployment.app, timeout=60)
    assert set(statuses.values()) == {"succeeded"}
    balance = get(url, person, "/api/user/credits").json()
    assert (balance["credits"], balance["held"]) == (650, 0)
    worker = deployment.workers[0].process
    worker.send_signal(signal.SIGTERM)  # one signal stops both consumers of the process
    assert worker.wait(timeout=40) == 0
