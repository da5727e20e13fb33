"""Metered under threads: 30 assistant answers of varying lengths racing on one wallet through one API
key with a monthly limit, against the Responses stand-in, while job workers stream them."""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa

from creditapp import ledger
from creditapp.accounts import api_keys
from creditapp.extensions import db
from creditapp.ledger.key_limits import SPENT_SINCE
from creditapp.models import CreditSpend, utcnow
from creditapp.platform.clock import month_start
from tests.support.assistant import PRICE, price_of
from tests.support.jobs import job, worker_threads
from tests.support.spending import balance
from tests.support.threads import race

API = "/api/features/assistant"
ASKS = 30
LIMIT = 150  # credits a month for the key: 8 holds' worth at once, about 20 answers' worth in all
MAX_OUTPUT_TOKENS = 100
TOPICS = ("lots", "holds", "refunds", "top-ups", "receipts", "keys")


def prompt(i: int) -> str:
    return f"Question {i}: how do {TOPICS[i % len(TOPICS)]} work when {i} people share a wallet?"


def key_spent(key_id: int) -> int:
    """What the key's month counts now: its held and captured spends, as the limit check sums them."""
    params = {"key_id": key_id, "since": month_start(utcnow())}
    return int(db.session.execute(SPENT_SINCE, params).scalar_one())


def holds_of(key_id: int) -> int:
    """How many of the key's spends are still held (answers in flight)."""
    held = sa.select(sa.func.count()).where(CreditSpend.api_key_id == key_id, CreditSpend.status == "held")
    return int(db.session.execute(held).scalar_one())


def test_thirty_racing_answers_are_each_charged_their_tokens_and_the_key_limit_holds(
    app, stand_in, make_user
):
    user_id = make_user(credits=5_000)
    key = api_keys.create_key(user_id, "racer", ["spend", "read"], LIMIT)
    stand_in.configure(responses_tokens_per_second=400)  # lengths drawn per prompt: 20 to 80 tokens
    seen: list[int] = []
    sampling = threading.Event()

    def sample() -> None:
        with app.app_context():
            while not sampling.is_set():
                seen.append(key_spent(key.id))
                db.session.remove()
                time.sleep(0.005)

    def ask(i: int):
        """Ask; refused at the key's limit, ask again while answers in flight may give credits back."""
        body = {"prompt": prompt(i), "max_output_tokens": MAX_OUTPUT_TOKENS}
        client, deadline = app.test_client(), time.monotonic() + 60
        while True:
            answer = client.post(API, json=body, headers={"Authorization": f"Bearer {key.token}"})
            if answer.status_code != 402 or time.monotonic() > deadline:
                return answer
            if not holds_of(key.id) and key_spent(key.id) + answer.get_json()["required"] > LIMIT:
                return answer  # nothing in flight: the month has no room left for this hold
            db.session.remove()
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with worker_threads(app, threads=4):
        answers = race(app, ask, ASKS)
        accepted = {i: a.get_json()["id"] for i, a in enumerate(answers) if a.status_code == 202}
        deadline = time.monotonic() + 60
        while not all(job(job_id).ended for job_id in accepted.values()):
            assert time.monotonic() < deadline, "the answers did not all end"
            time.sleep(0.05)
    sampling.set()
    sampler.join(timeout=10)

    refused = [a.get_json() for a in answers if a.status_code != 202]
    calls = {call["body"]["input"]: call for call in stand_in.calls()}
    charges = {}
    for i, job_id in accepted.items():
        done, usage = job(job_id), calls[prompt(i)]["usage"]
        spend = db.session.execute(sa.select(CreditSpend).where(CreditSpend.id == done.spend_id)).scalar_one()
        charges[i] = price_of(PRICE, usage["input_tokens"] + usage["output_tokens"])
        held = price_of(PRICE, len(prompt(i).encode()) + 16 + MAX_OUTPUT_TOKENS)
        assert done.status == "succeeded", (i, done.status, done.error_message)
        assert (spend.status, spend.credits_held, spend.credits_spent) == ("captured", held, charges[i])
    lengths = {calls[prompt(i)]["usage"]["output_tokens"] for i in accepted}
    assert len(lengths) >= 5, f"the answers' lengths vary: {sorted(lengths)}"
    assert refused and all(r["error"] == "key_limit_reached" and r["limit"] == LIMIT for r in refused)
    assert len(accepted) + len(refused) == ASKS and len(accepted) >= 10
    assert len(calls) == len(accepted), "a refused request never reached the provider"
    assert seen and max(seen) <= LIMIT, f"the key's month went to {max(seen)}"
    db.session.expire_all()
    assert key_spent(key.id) == sum(charges.values()) <= LIMIT
    assert balance(user_id) == 5_000 - sum(charges.values())
    assert ledger.audit() == []
