"""The assistant across real processes: gunicorn, a `flask jobs worker` process on Redis, PostgreSQL
and the Responses stand-in. One answer streams to the end and is charged its usage; another is
stopped partway through the API and charged the text delivered, the stand-in seeing the client go."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from creditapp import ledger
from creditapp.extensions import db
from creditapp.features.assistant import pricing
from tests.multi import traffic
from tests.multi.conftest import Deployment, checking_app, emulator_for, instance_env, migrate
from tests.multi.processes import Gunicorn
from tests.multi.workers import JobWorker, job_settings, wait_for_jobs_to_end
from tests.support.assistant import PRICE, ResponsesStandIn, answer_to, price_of
from tests.support.db import throwaway_database
from tests.support.emulator import free_port

QUESTION = "Which lot does a refund come back to?"


@pytest.fixture
def assistant_deployment() -> Iterator[tuple[Deployment, ResponsesStandIn]]:
    """One gunicorn instance and one job worker process, the assistant at PRICE on the stand-in."""
    port = free_port()
    results_dir = Path(tempfile.mkdtemp(prefix="creditapp-results-"))
    with throwaway_database() as database_url, emulator_for(f"http://127.0.0.1:{port}") as emulator:
        stand_in = ResponsesStandIn(emulator.base_url)
        jobs = job_settings(results_dir)
        openai = {
            "OPENAI_API_KEY": "sk-test-stand-in",
            "OPENAI_API_BASE": stand_in.api,
            "FEATURE_PRICES": json.dumps({"assistant_per_1k_tokens": PRICE}),
        }
        app = checking_app(database_url, emulator, jobs)
        migrate(app)
        deployment = Deployment(app, emulator, jobs={**jobs, **openai})
        try:
            env = instance_env(database_url, emulator, **jobs, **openai)
            deployment.instances.append(Gunicorn(env, port=port))
            deployment.workers.append(JobWorker(env, concurrency=4))
            yield deployment, stand_in
        finally:
            deployment.stop_workers()
            for instance in deployment.instances:
                instance.stop()
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
            shutil.rmtree(results_dir, ignore_errors=True)


def test_a_streamed_answer_and_a_stopped_one_are_each_charged_what_they_delivered(assistant_deployment):
    deployment, stand_in = assistant_deployment
    url = deployment.instances[0].url
    person = traffic.sign_in(url, deployment.emulator, "asker@example.com")
    stand_in.reset(responses_tokens_per_second=200, responses_output_tokens=50)

    def ask() -> dict:
        answer = requests.post(
            f"{url}/api/features/assistant", json={"prompt": QUESTION}, headers=person.headers(), timeout=30
        )
        assert answer.status_code == 202, answer.text
        return answer.json()

    def job(job_id: str) -> dict:
        return requests.get(f"{url}/api/jobs/{job_id}", headers={"Cookie": person.cookie}, timeout=30).json()

    whole = ask()
    wait_for_jobs_to_end(deployment.app, timeout=60)
    stand_in.configure(responses_tokens_per_second=20, responses_output_tokens=400)
    stopped = ask()
    deadline = time.monotonic() + 30
    while len(job(stopped["id"])["partial_text"] or "") < 30:
        assert time.monotonic() < deadline, "no text streamed"
        time.sleep(0.05)
    cancel = requests.post(f"{url}/api/jobs/{stopped['id']}/cancel", headers=person.headers(), timeout=30)
    wait_for_jobs_to_end(deployment.app, timeout=60)
    calls = stand_in.wait_for(lambda log: log[-1]["outcome"] != "in_progress", "the stream to be cut")

    done, cut = job(whole["id"]), job(stopped["id"])
    usage = calls[0]["usage"]
    delivered = pricing.counted_input_tokens(cut["partial_text"])  # one stand-in token per delta
    assert [call["outcome"] for call in calls] == ["completed", "disconnected"]
    assert done["status"] == "succeeded" and done["result"] == {"text": answer_to(QUESTION, 50)}
    assert done["charged"] == price_of(PRICE, usage["input_tokens"] + usage["output_tokens"]) < done["held"]
    assert cancel.status_code == 202 and cut["status"] == "canceled" and cut["error"]["code"] == "stopped"
    assert (
        cut["result"] == {"text": cut["partial_text"]} and delivered <= calls[1]["output_tokens_sent"] < 400
    )
    assert cut["charged"] == price_of(PRICE, usage["input_tokens"] + delivered)
    with deployment.app.app_context():
        user_id = ledger.user_id_for_email("asker@example.com")
        assert ledger.balance(user_id).credits == 500 - done["charged"] - cut["charged"]
        assert ledger.audit() == []
        db.session.remove()
