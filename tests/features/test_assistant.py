"""The assistant against the OpenAI Responses stand-in (a real process): held for the most the answer
can cost, charged the price of the tokens the stand-in says it used, the rest given back; a Stop
or a failure partway charged for the text delivered; a failure before any text, nothing."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from creditapp import ledger
from creditapp.extensions import db
from creditapp.features.assistant import pricing
from creditapp.models import CreditSpend, FeatureJob
from tests.support.assistant import PRICE, answer_to, price_of
from tests.support.jobs import run_queued, worker_threads
from tests.support.spending import balance, csrf_token, job_json, spends

API = "/api/features/assistant"
PROMPT = "How do prepaid credits work, and why hold them first?"


@pytest.fixture
def asker(client, make_user, sign_in_as):
    """A signed-in client with 500 credits: (client, user_id, csrf token)."""
    user_id = make_user(credits=500)
    sign_in_as(client, user_id)
    return client, user_id, csrf_token(client)


def ask(client, token, prompt: str = PROMPT, **fields) -> dict:
    response = client.post(API, json={"prompt": prompt, **fields}, headers={"X-CSRFToken": token})
    assert response.status_code == 202, response.get_data(as_text=True)
    return response.get_json()


def hold_for(prompt: str, max_output_tokens: int = 512) -> int:
    return price_of(PRICE, len(prompt.encode()) + pricing.FRAMING_TOKENS + max_output_tokens)


def wait_for(condition, what: str, seconds: float = 15):
    deadline = time.monotonic() + seconds
    while not (found := condition()):
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)
    return found


def spend_of(job: dict) -> CreditSpend:
    db.session.expire_all()
    return db.session.execute(sa.select(CreditSpend).where(CreditSpend.id == job["spend_id"])).scalar_one()


@pytest.mark.smoke
def test_a_full_answer_is_charged_its_tokens_at_the_price_and_the_rest_goes_back(asker, app, stand_in):
    client, user_id, token = asker
    ledger.grant(user_id, 100, note="a second lot")  # the hold draws the bonus first (it expires sooner)

    job = ask(client, token, max_output_tokens=256)
    held = balance(user_id)
    run_queued(app)

    [call] = stand_in.calls()
    usage = call["usage"]
    charge = price_of(PRICE, usage["input_tokens"] + usage["output_tokens"])
    done = job_json(client, job["id"])
    spend = spend_of(job)
    assert call["outcome"] == "completed" and call["authorization"] == "Bearer sk-test-assistant"
    assert call["body"]["stream"] is True and call["body"]["max_output_tokens"] == 256
    assert call["body"]["input"] == PROMPT and call["body"]["model"] == "gpt-4o-mini"
    assert job["cost"] == hold_for(PROMPT, 256) and held == 600 - job["cost"]
    assert done["status"] == "succeeded"
    assert done["result"] == {"text": answer_to(PROMPT, usage["output_tokens"])}
    assert (done["held"], done["charged"]) == (job["cost"], charge)
    assert (spend.status, spend.credits_held, spend.credits_spent) == ("captured", job["cost"], charge)
    assert 0 < charge < job["cost"]
    lots = {lot.source: lot.remaining for lot in ledger.lots_of(user_id)}
    assert lots == {"signup_bonus": 500 - charge, "grant": 100}, "the rest went back to the lot it came from"
    assert balance(user_id) == 600 - charge and ledger.audit() == []
    history = client.get("/history").get_data(as_text=True)
    assert f"held {job['cost']}, charged {charge}" in history and "“How do prepaid credits work" in history
    csv = client.get("/history.csv").get_data(as_text=True)
    assert "Assistant" in csv and "How do prepaid credits work" in csv


def test_an_answer_cut_at_max_output_tokens_is_charged_what_it_used(asker, app, stand_in):
    client, user_id, token = asker
    stand_in.configure(responses_output_tokens=500)  # longer than the person allows

    job = ask(client, token, max_output_tokens=40)
    run_queued(app)

    [call] = stand_in.calls()
    done = job_json(client, job["id"])
    assert call["outcome"] == "incomplete" and call["usage"]["output_tokens"] == 40
    assert (
        done["status"] == "succeeded"
        and done["result"]["text"] == answer_to(PROMPT, 500)[: len(done["result"]["text"])]
    )
    assert done["charged"] == price_of(PRICE, call["usage"]["input_tokens"] + 40)
    assert balance(user_id) == 500 - done["charged"] and ledger.audit() == []


@pytest.mark.smoke
def test_stopping_mid_answer_charges_the_text_delivered_and_keeps_it(asker, app, stand_in):
    client, user_id, token = asker
    stand_in.configure(responses_tokens_per_second=40, responses_output_tokens=400)
    job = ask(client, token)

    with worker_threads(app, threads=1):
        running = wait_for(
            lambda: len((j := job_json(client, job["id"]))["partial_text"] or "") > 20 and j, "some text"
        )
        stopped = client.post(f"/api/jobs/{job['id']}/cancel", headers={"X-CSRFToken": token})
        ended = wait_for(lambda: (j := job_json(client, job["id"]))["status"] == "canceled" and j, "the stop")
    calls = stand_in.wait_for(lambda log: log[0]["outcome"] != "in_progress", "the stream to end")

    delivered = ended["partial_text"]
    tokens = pricing.counted_input_tokens(delivered)  # one stand-in token per delta
    charge = price_of(PRICE, pricing.counted_input_tokens(PROMPT) + tokens)
    assert running["status"] == "running" and stopped.status_code == 202
    assert ended["error"]["code"] == "stopped" and "charged for what was done" in ended["error"]["message"]
    assert ended["result"] == {"text": delivered} and delivered.startswith(running["partial_text"])
    assert delivered == answer_to(PROMPT, 400)[: len(delivered)]
    assert calls[0]["outcome"] == "disconnected", "the stream was closed, not read to the end"
    assert tokens <= calls[0]["output_tokens_sent"] < 400
    assert (ended["held"], ended["charged"]) == (hold_for(PROMPT), charge)
    assert spend_of(job).credits_spent == charge and balance(user_id) == 500 - charge
    assert ledger.audit() == []


def test_stopping_before_the_first_word_charges_nothing(asker, app, stand_in):
    client, user_id, token = asker
    stand_in.configure(responses_first_token_seconds=30)
    job = ask(client, token)

    with worker_threads(app, threads=1):
        stand_in.wait_for(lambda log: len(log) == 1, "the call")
        wait_for(lambda: job_json(client, job["id"])["status"] == "running", "the job to run")
        client.post(f"/api/jobs/{job['id']}/cancel", headers={"X-CSRFToken": token})
        ended = wait_for(lambda: (j := job_json(client, job["id"]))["status"] == "canceled" and j, "the stop")

    assert ended["charged"] == 0 and ended["result"] is None and not ended["partial_text"]
    assert "You were not charged" in ended["error"]["message"]
    assert [s.status for s in spends(user_id)] == ["released"] and balance(user_id) == 500
    assert ledger.audit() == []


def test_a_failure_mid_answer_charges_the_text_delivered_and_is_not_tried_again(asker, app, stand_in):
    client, user_id, token = asker
    stand_in.configure(responses_output_tokens=60, responses_fail_after_tokens=7)

    job = ask(client, token)
    run_queued(app)

    done = job_json(client, job["id"])
    charge = price_of(PRICE, pricing.counted_input_tokens(PROMPT) + 7)
    [call] = stand_in.calls()
    assert call["outcome"] == "failed" and call["usage"] is None
    assert done["status"] == "failed" and done["error"]["code"] == "answer_cut_short"
    assert done["error"]["message"] == (
        "The assistant service failed partway through the answer; the part it wrote is kept. "
        "You were charged for what was done before it failed."
    )
    assert done["partial_text"] == answer_to(PROMPT, 60)[: len(done["partial_text"])]
    assert pricing.counted_input_tokens(done["partial_text"]) == 7
    assert done["charged"] == charge and spend_of(job).credits_spent == charge
    assert balance(user_id) == 500 - charge and ledger.audit() == []
    page = client.get(f"/jobs/{job['id']}").get_data(as_text=True)
    assert done["partial_text"].split()[0] in page and "the part it wrote is kept" in page


@pytest.mark.parametrize(
    ("settings", "code"),
    [
        ({"responses_failure_rate": 1, "responses_failure_status": 503}, "provider_unavailable"),
        ({"responses_failure_rate": 1, "responses_failure_status": 429}, "provider_unavailable"),
        ({"responses_fail_after_tokens": 0}, "provider_unavailable"),
    ],
    ids=["503", "429", "response.failed-before-any-token"],
)
def test_a_failure_before_the_first_word_is_tried_again_then_charges_nothing(
    asker, app, stand_in, settings, code
):
    client, user_id, token = asker
    stand_in.configure(**settings)

    job = ask(client, token)
    run_queued(app)

    done = job_json(client, job["id"])
    assert len(stand_in.calls()) == app.config["JOB_MAX_ATTEMPTS"] == 3
    assert done["status"] == "failed" and done["error"]["code"] == code
    assert done["error"]["message"].endswith("You were not charged.") and done["charged"] == 0
    assert [s.status for s in spends(user_id)] == ["released"] and balance(user_id) == 500
    assert ledger.audit() == []


def test_a_refused_request_is_not_tried_again(asker, app, stand_in, monkeypatch):
    client, user_id, token = asker
    stand_in.configure(responses_failure_rate=1, responses_failure_status=400)

    job = ask(client, token)
    run_queued(app)

    done = job_json(client, job["id"])
    assert len(stand_in.calls()) == 1 and done["error"]["code"] == "provider_refused"
    assert balance(user_id) == 500 and ledger.audit() == []


def test_without_an_openai_key_the_answer_fails_and_charges_nothing(asker, app, stand_in, monkeypatch):
    client, user_id, token = asker
    monkeypatch.setitem(app.config, "OPENAI_API_KEY", "")

    job = ask(client, token)
    run_queued(app)

    done = job_json(client, job["id"])
    assert done["status"] == "failed" and done["error"]["code"] == "not_configured"
    assert stand_in.calls() == [] and balance(user_id) == 500 and ledger.audit() == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "prompt"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": "x" * 4001}, "prompt"),
        ({"prompt": "Hi", "max_output_tokens": 15}, "max_output_tokens"),
        ({"prompt": "Hi", "max_output_tokens": 4097}, "max_output_tokens"),
        ({"prompt": "Hi", "max_output_tokens": "many"}, "max_output_tokens"),
        ({"prompt": "Hi", "model": "gpt-5"}, "model"),
    ],
    ids=[
        "missing",
        "empty",
        "blank",
        "too-long",
        "too-few-tokens",
        "too-many-tokens",
        "not-a-number",
        "unknown",
    ],
)
def test_bad_input_is_a_422_naming_the_field_and_writes_nothing(asker, app, stand_in, body, field):
    client, user_id, token = asker

    response = client.post(API, json=body, headers={"X-CSRFToken": token})

    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.get_json()["error"] == "invalid_input" and response.get_json()["field"] == field
    assert db.session.execute(sa.select(sa.func.count()).select_from(FeatureJob)).scalar_one() == 0
    assert spends(user_id) == [] and balance(user_id) == 500 and stand_in.calls() == []


def test_the_hold_covers_the_prompt_at_its_most_and_the_page_quotes_it(asker, app, stand_in):
    client, user_id, token = asker
    long_prompt = "é" * 4000  # two bytes a letter: the most tokens a provider could count

    page = client.get("/features/assistant").get_data(as_text=True)
    quote = client.get(
        "/features/assistant/quote", query_string={"prompt": long_prompt, "max_output_tokens": 4096}
    )
    refused = client.post(
        API, json={"prompt": long_prompt, "max_output_tokens": 4096}, headers={"X-CSRFToken": token}
    )

    most = price_of(PRICE, 8000 + pricing.FRAMING_TOKENS + 4096)
    assert 'name="prompt"' in page and 'name="max_output_tokens"' in page and 'value="512"' in page
    assert f"at most {hold_for(''):,} credits" in page
    assert f"at most {most:,} credits" in quote.get_data(as_text=True)
    assert refused.status_code == 402 and refused.get_json()["required"] == most > 500
    assert spends(user_id) == [] and stand_in.calls() == []


def test_the_default_price_is_two_credits_per_thousand_tokens(app, monkeypatch):
    monkeypatch.setitem(app.config, "FEATURE_PRICES", {})

    assert pricing.per_1k_tokens(app.config) == 2
    assert pricing.credits_for(app.config, 1) == 1 and pricing.credits_for(app.config, 500) == 1
    assert pricing.credits_for(app.config, 501) == 2 and pricing.credits_for(app.config, 0) == 0
    assert pricing.hold(app.config, "Hi", 512) == 2  # (2 bytes + 16 + 512) × 2 / 1000, rounded up


def test_an_answer_still_streaming_at_the_deadline_is_cut_there_and_charged_what_was_delivered(
    asker, app, stand_in, monkeypatch
):
    client, user_id, token = asker
    monkeypatch.setitem(app.config, "OPENAI_TIMEOUT_SECONDS", 1)
    stand_in.configure(responses_tokens_per_second=20, responses_output_tokens=200)

    job = ask(client, token)
    run_queued(app)

    done = job_json(client, job["id"])
    delivered = pricing.counted_input_tokens(done["partial_text"])
    assert done["status"] == "failed" and done["error"]["code"] == "answer_cut_short"
    assert 5 <= delivered < 200 and len(stand_in.calls()) == 1
    assert done["charged"] == price_of(PRICE, pricing.counted_input_tokens(PROMPT) + delivered)
    assert balance(user_id) == 500 - done["charged"] and ledger.audit() == []
