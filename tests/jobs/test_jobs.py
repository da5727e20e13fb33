"""Jobs in one process: cancel, ownership, result TTL, the sweep, repeated delivery, the pages."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from creditapp import ledger
from creditapp.extensions import db
from creditapp.jobs.queue import current_queue
from creditapp.models import FeatureJob, utcnow
from tests.support import spending
from tests.support.jobs import queued_messages, run_queued
from tests.support.spending import balance, csrf_token, fetch_result, job_json, post_json, spends

signed_in = spending.signed_in
BODY = {"prompt": "a lighthouse at dusk", "size": 256}


def _set(job_id: str, **values) -> None:
    """Test setup: move a job's clock (deadline, lease, finish time)."""
    with db.engine.begin() as conn:
        conn.execute(sa.update(FeatureJob).where(FeatureJob.id == uuid.UUID(job_id)).values(**values))


# --- cancel ----------------------------------------------------------------------------


def test_canceling_a_queued_job_gives_the_credits_back_and_it_never_runs(signed_in, app):
    client, user_id, token = signed_in()
    job_id = post_json(client, token, BODY).get_json()["id"]
    assert balance(user_id) == 495

    response = client.post(f"/api/jobs/{job_id}/cancel", headers={"X-CSRFToken": token})
    run_queued(app)  # the message is still delivered: it must do nothing

    assert response.status_code == 200
    assert response.get_json()["status"] == "canceled" and response.get_json()["error"]["code"] == "canceled"
    assert "credits-changed" in response.headers["HX-Trigger"]
    assert job_json(client, job_id)["status"] == "canceled"
    assert [s.status for s in spends(user_id)] == ["released"]
    assert balance(user_id) == 500
    assert ledger.audit() == []


def test_a_finished_job_cannot_be_canceled(signed_in, app):
    client, user_id, token = signed_in()
    job_id = post_json(client, token, BODY).get_json()["id"]
    run_queued(app)

    response = client.post(f"/api/jobs/{job_id}/cancel", headers={"X-CSRFToken": token})

    assert response.status_code == 409
    assert response.get_json()["error"] == "job_not_cancelable"
    assert response.get_json()["job"]["status"] == "succeeded"
    assert [s.status for s in spends(user_id)] == ["captured"] and balance(user_id) == 495


def test_a_running_job_cannot_be_canceled(signed_in, app):
    client, user_id, token = signed_in()
    job_id = post_json(client, token, BODY).get_json()["id"]
    _set(job_id, status="running", lease_until=utcnow() + timedelta(minutes=1))

    response = client.post(f"/api/jobs/{job_id}/cancel", headers={"X-CSRFToken": token})

    assert response.status_code == 409
    assert [s.status for s in spends(user_id)] == ["held"]


# --- another user's job ----------------------------------------------------------------


def test_another_users_job_and_result_are_404(signed_in, app, make_user, sign_in_as):
    owner, owner_id, token = signed_in()
    job_id = post_json(owner, token, BODY).get_json()["id"]
    run_queued(app)
    stranger = sign_in_as(app.test_client(), make_user())
    stranger_token = csrf_token(stranger)

    assert stranger.get(f"/api/jobs/{job_id}").status_code == 404
    assert stranger.get(f"/api/jobs/{job_id}/result.png").status_code == 404
    assert stranger.get(f"/jobs/{job_id}").status_code == 404
    assert (
        stranger.post(f"/api/jobs/{job_id}/cancel", headers={"X-CSRFToken": stranger_token}).status_code
        == 404
    )
    assert stranger.get(f"/api/jobs/{uuid.uuid4()}").status_code == 404
    assert stranger.get("/api/jobs/not-a-job").status_code == 404
    assert owner.get(f"/api/jobs/{job_id}").status_code == 200


def test_jobs_need_a_signed_in_user(client):
    response = client.get(f"/api/jobs/{uuid.uuid4()}")

    assert response.status_code == 401


# --- results are kept RESULT_TTL_DAYS --------------------------------------------------


def test_a_result_past_its_ttl_is_gone_and_the_job_says_so(signed_in, app, runner):
    client, _, token = signed_in()
    job_id = post_json(client, token, BODY).get_json()["id"]
    run_queued(app)
    _set(job_id, finished_at=utcnow() - timedelta(days=8))

    before_sweep = client.get(f"/api/jobs/{job_id}/result.png")
    swept = runner.invoke(args=["jobs", "sweep"])
    job = job_json(client, job_id)

    assert before_sweep.status_code == 410
    assert swept.exit_code == 0 and "1 expired result(s) deleted" in swept.output
    assert job["status"] == "succeeded" and job["result"] is None and job["result_expired"] is True
    assert client.get(f"/api/jobs/{job_id}/result.png").status_code == 410


def test_a_result_that_cannot_be_stored_is_not_charged(signed_in, app, tmp_path, monkeypatch):
    client, user_id, token = signed_in()
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("in the way")
    monkeypatch.setitem(app.config, "RESULTS_DIR", str(not_a_folder))
    job_id = post_json(client, token, BODY).get_json()["id"]

    run_queued(app)

    job = job_json(client, job_id)
    assert job["status"] == "failed" and job["error"]["code"] == "result_not_stored"
    assert [s.status for s in spends(user_id)] == ["released"] and balance(user_id) == 500


# --- at-least-once delivery and the sweep ----------------------------------------------


def test_a_job_delivered_twice_runs_and_charges_once(signed_in, app):
    client, user_id, token = signed_in()
    job_id = post_json(client, token, BODY).get_json()["id"]
    current_queue().enqueue(uuid.UUID(job_id))

    assert run_queued(app) == 2

    assert job_json(client, job_id)["status"] == "succeeded"
    assert [s.status for s in spends(user_id)] == ["captured"] and balance(user_id) == 495
    assert len(list(Path(app.config["RESULTS_DIR"]).glob(f"{job_id}-*"))) == 1


def test_the_sweep_queues_again_a_job_whose_message_was_lost(signed_in, app, runner):
    client, user_id, token = signed_in()
    job_id = post_json(client, token, BODY).get_json()["id"]
    app.extensions["jobs"].huey.flush()  # the broker lost it (or it was never enqueued)

    swept = runner.invoke(args=["jobs", "sweep", "--lost-after", "0"])
    run_queued(app)

    assert swept.exit_code == 0 and f"queued job {job_id} again" in swept.output
    assert job_json(client, job_id)["status"] == "succeeded"
    assert balance(user_id) == 495


def test_the_sweep_re_runs_a_job_whose_worker_died(signed_in, app, runner):
    client, user_id, token = signed_in()
    job_id = post_json(client, token, BODY).get_json()["id"]
    app.extensions["jobs"].huey.flush()
    _set(job_id, status="running", attempts=1, lease_until=utcnow() - timedelta(seconds=1))

    runner.invoke(args=["jobs", "sweep"])
    run_queued(app)

    assert job_json(client, job_id)["status"] == "succeeded"
    assert [s.status for s in spends(user_id)] == ["captured"]


def test_the_sweep_fails_overdue_jobs_and_gives_their_credits_back(signed_in, app, runner):
    client, user_id, token = signed_in()
    queued = post_json(client, token, BODY).get_json()["id"]
    running = post_json(client, token, {**BODY, "size": 512}).get_json()["id"]
    _set(queued, deadline_at=utcnow() - timedelta(seconds=1))
    _set(running, status="running", deadline_at=utcnow() - timedelta(seconds=1))
    assert balance(user_id) == 485

    swept = runner.invoke(args=["jobs", "sweep"])
    again = runner.invoke(args=["jobs", "sweep"])
    run_queued(app)

    assert swept.exit_code == 0 and "2 overdue job(s) failed" in swept.output
    assert "0 overdue job(s) failed" in again.output
    for job_id in (queued, running):
        job = job_json(client, job_id)
        assert job["status"] == "failed" and job["error"]["code"] == "deadline_exceeded"
    assert [s.status for s in spends(user_id)] == ["released", "released"]
    assert balance(user_id) == 500
    assert ledger.audit() == []


def test_a_job_out_of_attempts_fails_and_gives_the_credits_back(signed_in, app):
    client, user_id, token = signed_in()
    job_id = post_json(client, token, BODY).get_json()["id"]
    _set(job_id, attempts=app.config["JOB_MAX_ATTEMPTS"])

    run_queued(app)

    assert job_json(client, job_id)["error"]["code"] == "too_many_attempts"
    assert balance(user_id) == 500


# --- pages -----------------------------------------------------------------------------


def test_without_javascript_the_form_redirects_to_a_page_that_refreshes_until_done(signed_in, app):
    client, user_id, token = signed_in()

    response = client.post("/features/image", data={"prompt": "a fox", "size": "256", "csrf_token": token})
    job_page = response.headers["Location"]
    waiting = client.get(job_page).get_data(as_text=True)
    run_queued(app)
    done = client.get(job_page).get_data(as_text=True)

    assert response.status_code == 303 and re.fullmatch(r"/jobs/[0-9a-f-]{36}", job_page)
    assert '<meta http-equiv="refresh" content="2">' in waiting and "Queued" in waiting
    assert 'http-equiv="refresh"' not in done
    assert f'<img src="/api/jobs/{job_page.rsplit("/", 1)[1]}/result.png"' in done
    assert balance(user_id) == 495


def test_with_htmx_the_form_shows_progress_until_the_image_is_there(signed_in, app):
    client, _, token = signed_in()
    htmx = {"X-CSRFToken": token, "HX-Request": "true"}

    started = client.post("/features/image", data={"prompt": "a fox", "size": "256"}, headers=htmx)
    job_id = re.search(r'id="job-([0-9a-f-]+)"', started.get_data(as_text=True)).group(1)
    polled = client.get(f"/jobs/{job_id}", headers={"HX-Request": "true"})
    run_queued(app)
    settled = client.get(f"/jobs/{job_id}", headers={"HX-Request": "true"})

    assert started.status_code == 202 and "credits-changed" in started.headers["HX-Trigger"]
    assert f'hx-get="/jobs/{job_id}"' in started.get_data(as_text=True)
    assert polled.status_code == 200 and "Queued" in polled.get_data(as_text=True)
    assert "HX-Trigger" not in polled.headers
    assert settled.status_code == 286 and "credits-changed" in settled.headers["HX-Trigger"]
    html = settled.get_data(as_text=True)
    assert "Done" in html and f'src="/api/jobs/{job_id}/result.png"' in html and "hx-trigger" not in html
    assert fetch_result(client, job_json(client, job_id)).size == (256, 256)


@pytest.mark.smoke
def test_a_queued_job_shows_generating_once_a_worker_has_it(signed_in, app):
    client, _, token = signed_in()
    job_id = post_json(client, token, BODY).get_json()["id"]
    _set(job_id, status="running", started_at=utcnow(), lease_until=utcnow() + timedelta(minutes=1))

    html = client.get(f"/jobs/{job_id}", headers={"HX-Request": "true"}).get_data(as_text=True)

    assert "Generating…" in html
    assert queued_messages(app) == 1


def test_history_links_each_spend_to_its_job_with_prompt_size_thumbnail_and_status(signed_in, app):
    client, _, token = signed_in()
    done = post_json(client, token, {"prompt": "a red kite over the dunes", "size": 512}).get_json()["id"]
    run_queued(app)
    waiting = post_json(client, token, {"prompt": "a blue heron", "size": 256}).get_json()["id"]

    html = client.get("/history").get_data(as_text=True)

    finished_row = re.search(
        rf'<a class="job-link" href="/jobs/{done}">(.*?)</a>\s*<span[^>]*>\((\w+)\)', html, re.S
    )
    assert finished_row, html
    assert f'<img class="thumb" src="/api/jobs/{done}/result.png"' in finished_row.group(1)
    assert "“a red kite over the dunes”, 512 px" in finished_row.group(1) and finished_row.group(2) == "Done"
    queued_row = re.search(
        rf'<a class="job-link" href="/jobs/{waiting}">(.*?)</a>\s*<span[^>]*>\((\w+)\)', html, re.S
    )
    assert "thumb" not in queued_row.group(1) and queued_row.group(2) == "Queued"


def test_a_broker_outage_at_submit_loses_no_job_the_sweep_queues_it_later(
    signed_in, app, monkeypatch, runner
):
    from creditapp.jobs.queue import JobQueue

    client, user_id, token = signed_in()
    working = app.extensions["jobs"]
    monkeypatch.setitem(app.config, "JOBS_BROKER_URL", "redis://127.0.0.1:1/0")  # nothing listens there
    monkeypatch.setitem(app.extensions, "jobs", JobQueue(app))

    response = post_json(client, token, BODY)
    monkeypatch.setitem(app.extensions, "jobs", working)  # the broker is back
    runner.invoke(args=["jobs", "sweep", "--lost-after", "0"])
    run_queued(app)

    assert response.status_code == 202 and response.get_json()["status"] == "queued"
    assert job_json(client, response.get_json()["id"])["status"] == "succeeded"
    assert [s.status for s in spends(user_id)] == ["captured"]


# --- settings --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environment", "broker"),
    [
        ({}, "sqlite:///{instance}/jobs.db"),
        ({"REDIS_URL": "redis://cache:6379/1"}, "redis://cache:6379/1"),
        (
            {"REDIS_URL": "redis://cache:6379/1", "JOBS_BROKER_URL": "redis://queue:6379/2"},
            "redis://queue:6379/2",
        ),
        ({"JOBS_BROKER_URL": ""}, "sqlite:///{instance}/jobs.db"),
    ],
    ids=["embedded-default", "redis-url", "explicit-broker-wins", "empty-means-default"],
)
def test_the_queue_is_embedded_unless_redis_is_configured(monkeypatch, tmp_path, environment, broker):
    from creditapp.config import load_config

    for name in ("REDIS_URL", "JOBS_BROKER_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    settings = vars(load_config("testing", str(tmp_path)))

    assert settings["JOBS_BROKER_URL"] == broker.format(instance=tmp_path)
    assert (settings["JOB_DEADLINE_SECONDS"], settings["JOB_MAX_ATTEMPTS"], settings["RESULT_TTL_DAYS"]) == (
        300,
        3,
        7,
    )
    assert settings["RESULTS_DIR"] == str(tmp_path / "results")
