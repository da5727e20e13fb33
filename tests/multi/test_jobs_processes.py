"""Jobs across real processes: gunicorn, `flask jobs worker` processes, PostgreSQL, Redis, the stand-ins.

A killed worker, a provider that always fails, six racing requests with one key, a client
that walks away, a cancel, another person's job, and the embedded default (SQLite, no Redis).
"""

from __future__ import annotations

import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from creditapp import ledger
from creditapp.extensions import db
from creditapp.models import CreditSpend, FeatureJob
from tests.multi import traffic
from tests.multi.conftest import Deployment, checking_app, emulator_for, instance_env, migrate
from tests.multi.processes import Gunicorn
from tests.multi.workers import JobWorker, job_settings, job_statuses, wait_for_jobs_to_end
from tests.support.db import throwaway_database
from tests.support.emulator import EmulatorProcess, free_port

PROMPT = {"prompt": "a lighthouse at dusk", "size": 256}


def images(emulator: EmulatorProcess, **settings) -> None:
    """Set the OpenAI Images stand-in's latency and failures."""
    response = requests.post(f"{emulator.base_url}/_emulator/openai/config", json=settings, timeout=5)
    assert response.status_code == 200, response.text


def images_seen(emulator: EmulatorProcess) -> int:
    """How many image requests the stand-in answered."""
    return len(requests.get(f"{emulator.base_url}/_emulator/openai/requests", timeout=5).json())


@pytest.fixture
def jobs_deployment() -> Iterator[Deployment]:
    """One gunicorn instance (2 workers) and one job worker, on PostgreSQL and Redis; OpenAI stand-in."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    results_dir = Path(tempfile.mkdtemp(prefix="creditapp-results-"))
    with throwaway_database() as database_url, emulator_for(url) as emulator:
        jobs = job_settings(results_dir)
        provider = {
            "IMAGE_PROVIDER": "openai",
            "OPENAI_API_KEY": "sk-test-stand-in",
            "OPENAI_API_BASE": f"{emulator.base_url}/openai/v1",
            "OPENAI_TIMEOUT_SECONDS": "3",
        }
        app = checking_app(database_url, emulator, jobs)
        migrate(app)
        deployment = Deployment(app, emulator, jobs={**jobs, **provider})
        try:
            deployment.instances.append(
                Gunicorn(instance_env(database_url, emulator, **jobs, **provider), port=port)
            )
            deployment.workers.append(JobWorker(deployment_env(deployment, database_url), concurrency=4))
            deployment.database_url = database_url
            yield deployment
        finally:
            deployment.stop_workers()
            for instance in deployment.instances:
                instance.stop()
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
            shutil.rmtree(results_dir, ignore_errors=True)


def deployment_env(deployment: Deployment, database_url: str) -> dict[str, str]:
    """The environment a job worker of this deployment runs with."""
    return instance_env(database_url, deployment.emulator, **deployment.jobs)


def shopper(deployment: Deployment, email: str = "jobs@example.com") -> traffic.Shopper:
    """A person signed in through the Google stand-in, with their user id."""
    person = traffic.sign_in(deployment.instances[0].url, deployment.emulator, email)
    with deployment.app.app_context():
        person.user_id = ledger.user_id_for_email(email)
        db.session.remove()
    return person


def submit(url: str, person: traffic.Shopper, key: str | None = None, body: dict | None = None):
    headers = person.headers(**({"Idempotency-Key": key} if key else {}))
    return requests.post(f"{url}/api/features/image", json=body or PROMPT, headers=headers, timeout=30)


def get(url: str, person: traffic.Shopper, path: str) -> requests.Response:
    return requests.get(f"{url}{path}", headers={"Cookie": person.cookie}, timeout=30)


def books(deployment: Deployment) -> dict[str, int]:
    """Spends by status, and the audit's verdict."""
    with deployment.app.app_context():
        counts = dict(
            db.session.execute(
                sa.select(CreditSpend.status, sa.func.count()).group_by(CreditSpend.status)
            ).all()
        )
        assert ledger.audit() == []
        db.session.remove()
    return counts


def attempts(deployment: Deployment) -> dict[str, int]:
    with deployment.app.app_context():
        rows = db.session.execute(sa.select(FeatureJob.id, FeatureJob.attempts)).all()
        db.session.remove()
    return {str(row.id): row.attempts for row in rows}


def test_a_worker_killed_mid_job_leaves_every_job_ended_and_no_hold_held(jobs_deployment):
    deployment = jobs_deployment
    url = deployment.instances[0].url
    images(deployment.emulator, latency_seconds=1.5)
    person = shopper(deployment)
    job_ids = [submit(url, person).json()["id"] for _ in range(8)]
    deadline = time.monotonic() + 20
    while "running" not in job_statuses(deployment.app).values() and time.monotonic() < deadline:
        time.sleep(0.05)

    deployment.workers[0].kill()
    cut_off = [job_id for job_id, status in job_statuses(deployment.app).items() if status == "running"]
    deployment.workers[0] = JobWorker(deployment_env(deployment, deployment.database_url), concurrency=4)
    statuses = wait_for_jobs_to_end(deployment.app, timeout=90, sweep_every=2)

    assert cut_off, "the kill should have caught a job mid-run"
    assert set(statuses) == set(job_ids) and set(statuses.values()) == {"succeeded"}
    assert all(attempts(deployment)[job_id] >= 2 for job_id in cut_off)  # re-run after the lease ran out
    assert books(deployment) == {"captured": 8}
    for job_id in job_ids:
        job = get(url, person, f"/api/jobs/{job_id}").json()
        assert get(url, person, job["result"]["image_url"]).headers["Content-Type"] == "image/png"


def test_a_provider_failing_every_call_fails_the_job_and_gives_the_credits_back(jobs_deployment):
    deployment = jobs_deployment
    url = deployment.instances[0].url
    images(deployment.emulator, failure_rate=1.0, failure_status=503)
    person = shopper(deployment)

    job_id = submit(url, person).json()["id"]
    wait_for_jobs_to_end(deployment.app, timeout=30)

    job = get(url, person, f"/api/jobs/{job_id}").json()
    assert job["status"] == "failed" and job["error"]["code"] == "provider_unavailable"
    assert images_seen(deployment.emulator) == 3  # JOB_MAX_ATTEMPTS, with back-off between
    assert books(deployment) == {"released": 1}
    balance = get(url, person, "/api/user/credits").json()
    assert (balance["credits"], balance["held"]) == (500, 0)


def test_six_requests_with_one_key_at_once_make_one_job_and_one_charge(jobs_deployment):
    deployment = jobs_deployment
    url = deployment.instances[0].url
    person = shopper(deployment)

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: submit(url, person, key="same-order"), range(6)))
    wait_for_jobs_to_end(deployment.app, timeout=30)
    again = submit(url, person, key="same-order")

    assert {a.status_code for a in answers} <= {202, 200}
    assert len({a.json()["id"] for a in answers}) == 1
    assert again.status_code == 200 and again.json()["id"] == answers[0].json()["id"]
    assert images_seen(deployment.emulator) == 1
    assert books(deployment) == {"captured": 1}
    assert get(url, person, "/api/user/credits").json()["credits"] == 495


def test_a_client_that_walks_away_finds_its_result_later_charged_once(jobs_deployment):
    deployment = jobs_deployment
    url = deployment.instances[0].url
    images(deployment.emulator, latency_seconds=2.0)
    person = shopper(deployment)

    started = submit(url, person, key="reload-me")
    # The client is gone: nobody polls while the worker generates.
    wait_for_jobs_to_end(deployment.app, timeout=30)
    later = get(url, person, started.headers["Location"]).json()
    retried = submit(url, person, key="reload-me")

    assert started.status_code == 202 and later["status"] == "succeeded"
    picture = get(url, person, later["result"]["image_url"])
    assert picture.status_code == 200 and picture.content.startswith(b"\x89PNG")
    assert retried.status_code == 200 and retried.json()["result"] == later["result"]
    assert images_seen(deployment.emulator) == 1
    assert books(deployment) == {"captured": 1}


def test_cancelling_a_queued_job_releases_its_hold(jobs_deployment):
    deployment = jobs_deployment
    url = deployment.instances[0].url
    deployment.stop_workers()  # nobody picks jobs up: they stay queued
    person = shopper(deployment)
    job_id = submit(url, person).json()["id"]

    canceled = requests.post(f"{url}/api/jobs/{job_id}/cancel", headers=person.headers(), timeout=30)
    again = requests.post(f"{url}/api/jobs/{job_id}/cancel", headers=person.headers(), timeout=30)

    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    assert again.status_code == 409
    assert books(deployment) == {"released": 1}
    balance = get(url, person, "/api/user/credits").json()
    assert (balance["credits"], balance["held"]) == (500, 0)


def test_another_persons_job_and_result_are_404(jobs_deployment):
    deployment = jobs_deployment
    url = deployment.instances[0].url
    owner, stranger = shopper(deployment, "owner@example.com"), shopper(deployment, "stranger@example.com")
    job_id = submit(url, owner).json()["id"]
    wait_for_jobs_to_end(deployment.app, timeout=30)

    assert get(url, owner, f"/api/jobs/{job_id}/result.png").status_code == 200
    assert get(url, stranger, f"/api/jobs/{job_id}").status_code == 404
    assert get(url, stranger, f"/api/jobs/{job_id}/result.png").status_code == 404
    assert get(url, stranger, f"/jobs/{job_id}").status_code == 404


@pytest.mark.smoke
def test_the_embedded_default_runs_a_job_end_to_end_without_redis():
    """SQLite for the data, SqliteHuey for the queue: no server at all, as `make run` has it."""
    folder = Path(tempfile.mkdtemp(prefix="creditapp-embedded-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    database_url = f"sqlite:///{folder / 'creditapp.db'}"
    jobs = job_settings(folder / "results", broker_url=f"sqlite:///{folder / 'jobs.db'}")
    try:
        with emulator_for(url) as emulator:
            app = checking_app(database_url, emulator, jobs)
            migrate(app)
            env = instance_env(database_url, emulator, **jobs, IMAGE_LOCAL_DELAY_SECONDS="0.5")
            env.pop("REDIS_URL", None)
            deployment = Deployment(app, emulator, jobs=jobs)
            deployment.instances.append(Gunicorn(env, workers=1, port=port))
            deployment.workers.append(JobWorker(env, concurrency=2))
            try:
                person = shopper(deployment, "embedded@example.com")
                job_id = submit(url, person).json()["id"]
                wait_for_jobs_to_end(app, timeout=30)
                job = get(url, person, f"/api/jobs/{job_id}").json()
                assert job["status"] == "succeeded"
                assert get(url, person, job["result"]["image_url"]).content.startswith(b"\x89PNG")
                assert books(deployment) == {"captured": 1}
            finally:
                deployment.stop_workers()
                deployment.instances[0].stop()
                with app.app_context():
                    db.engine.dispose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_deploy_lets_jobs_in_hand_finish_and_charges_each_once(jobs_deployment):
    """SIGTERM (a deploy, a recycle) to a job worker: the jobs it runs finish and are captured."""
    deployment = jobs_deployment
    url = deployment.instances[0].url
    images(deployment.emulator, latency_seconds=2.0)
    person = shopper(deployment)
    job_ids = [submit(url, person).json()["id"] for _ in range(4)]
    deadline = time.monotonic() + 20
    while "running" not in job_statuses(deployment.app).values() and time.monotonic() < deadline:
        time.sleep(0.05)
    in_hand = [job_id for job_id, status in job_statuses(deployment.app).items() if status == "running"]

    worker = deployment.workers[0].process
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=40) == 0
    statuses = job_statuses(deployment.app)

    assert in_hand, "the signal should have caught a job mid-run"
    assert all(statuses[job_id] == "succeeded" for job_id in in_hand), statuses
    assert all(attempts(deployment)[job_id] == 1 for job_id in in_hand)  # finished, not re-run
    # A deploy also restarts the web instance: submitted jobs wait in the queue for the new worker.
    deployment.instances[0].process.send_signal(signal.SIGTERM)
    assert deployment.instances[0].process.wait(timeout=30) == 0
    deployment.workers[0] = JobWorker(deployment_env(deployment, deployment.database_url), concurrency=4)
    assert set(wait_for_jobs_to_end(deployment.app, timeout=60).values()) == {"succeeded"}
    assert books(deployment) == {"captured": len(job_ids)}
