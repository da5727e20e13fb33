"""Metered capture: a feature is held its estimate and charged what it said it used (never more),
the rest going back to the lots it was drawn from; a running job stopped by the person is
charged what it used so far; what it streams is readable while it runs."""

from __future__ import annotations

import re
import sys
import time

import pytest
import sqlalchemy as sa

from creditapp import ledger
from creditapp.extensions import db
from creditapp.models import CreditSpend
from tests.support.jobs import run_queued, worker_threads


def _spend(spend_id: int) -> CreditSpend:
    db.session.expire_all()
    return db.session.execute(sa.select(CreditSpend).where(CreditSpend.id == spend_id)).scalar_one()


def _echo(client, token, text, times=1):
    response = client.post(
        "/api/features/echo", json={"text": text, "times": times}, headers={"X-CSRFToken": token}
    )
    assert response.status_code == 202, response.get_data(as_text=True)
    return response.get_json()


def _remaining(user_id: int) -> dict[str, int]:
    return {lot.source: lot.remaining for lot in ledger.lots_of(user_id)}


@pytest.mark.smoke
def test_a_use_that_reports_less_than_its_estimate_is_charged_exactly_that_and_the_rest_goes_back_to_its_lots(
    person, kit
):
    client, user_id, token = person(credits=30)  # a signup-bonus lot of 30
    ledger.grant(user_id, 100, note="a second lot")  # spent after the bonus (it expires sooner)

    job = _echo(client, token, "use:7")  # held 50: 30 from the bonus, 20 from the grant
    held = _remaining(user_id)
    run_queued(kit)

    spend = _spend(job["spend_id"])
    assert held == {"signup_bonus": 0, "grant": 80}
    assert (spend.status, spend.credits_held, spend.credits_spent) == ("captured", 50, 7)
    # Given back newest draw first: the grant's 20, then 23 of the bonus's 30.
    assert _remaining(user_id) == {"signup_bonus": 23, "grant": 100}
    assert ledger.balance(user_id).credits == 123
    done = client.get(f"/api/jobs/{job['id']}").get_json()
    assert (done["status"], done["cost"], done["held"], done["charged"]) == ("succeeded", 7, 50, 7)
    page = client.get(f"/jobs/{job['id']}").get_data(as_text=True)
    assert "held 50, charged 7 credits." in page and "Held 50 credits, charged 7." in page
    assert ledger.audit() == []


def test_a_use_that_reports_more_than_its_estimate_is_charged_the_estimate(person, kit):
    client, user_id, token = person()

    job = _echo(client, token, "use:9999")
    run_queued(kit)

    spend = _spend(job["spend_id"])
    assert (spend.status, spend.credits_held, spend.credits_spent) == ("captured", 50, 50)
    assert ledger.balance(user_id).credits == 450 and ledger.audit() == []


def test_a_use_that_reports_nothing_used_is_released(person, kit):
    client, user_id, token = person()

    job = _echo(client, token, "use:0")
    run_queued(kit)

    assert _spend(job["spend_id"]).status == "released"
    done = client.get(f"/api/jobs/{job['id']}").get_json()
    assert (done["status"], done["charged"], done["result"]) == ("succeeded", 0, {"text": "use:0"})
    assert ledger.balance(user_id).credits == 500 and ledger.audit() == []


def test_a_failure_after_some_use_is_charged_that_use_and_says_so(person, kit):
    client, user_id, token = person()

    job = _echo(client, token, "fail:12")
    run_queued(kit)

    done = client.get(f"/api/jobs/{job['id']}").get_json()
    spend = _spend(job["spend_id"])
    assert done["status"] == "failed" and done["error"]["code"] == "echo_failed"
    assert "charged for what was done" in done["error"]["message"]
    assert (spend.status, spend.credits_spent, spend.credits_held) == ("captured", 12, 50)
    assert ledger.balance(user_id).credits == 488 and ledger.audit() == []


def test_a_failure_with_nothing_used_charges_nothing(person, kit):
    client, user_id, token = person()

    job = _echo(client, token, "fail:0")
    run_queued(kit)

    assert _spend(job["spend_id"]).status == "released"
    assert "You were not charged." in client.get(f"/api/jobs/{job['id']}").get_json()["error"]["message"]
    assert ledger.balance(user_id).credits == 500 and ledger.audit() == []


def _wait_for(condition, seconds: float = 10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError("timed out")


def test_stopping_a_running_job_charges_what_it_used_so_far(person, kit):
    echo = sys.modules["kit_echo"]
    echo.STARTED.clear()
    client, user_id, token = person()
    job = _echo(client, token, "wait", times=5)  # held 250

    with worker_threads(kit, threads=1):
        assert echo.STARTED.wait(10), "the echo never started"
        # While it runs: the words so far, as JSON and as the polled fragment.
        running = _wait_for(
            lambda: (j := client.get(f"/api/jobs/{job['id']}").get_json())["partial_text"] and j
        )
        fragment = client.get(f"/jobs/{job['id']}/partial", headers={"HX-Request": "true"})
        page = client.get(f"/jobs/{job['id']}").get_data(as_text=True)
        stop = client.post(f"/api/jobs/{job['id']}/cancel", headers={"X-CSRFToken": token})
        ended = _wait_for(
            lambda: (j := client.get(f"/api/jobs/{job['id']}").get_json())["status"] == "canceled" and j
        )

    assert running["status"] == "running" and running["partial_text"].startswith("word1 ")
    assert fragment.status_code == 200 and "word1 " in fragment.get_data(as_text=True)
    assert 'hx-trigger="every 300ms"' in fragment.get_data(as_text=True)
    assert ">Stop</button>" in page and 'id="job-' in page
    assert stop.status_code == 202 and stop.get_json()["stop_requested"] is True
    words = int(re.search(r"\((\d+) words\)", ended["result"]["text"]).group(1))
    spend = _spend(job["spend_id"])
    assert 3 <= words < 250
    assert ended["error"]["code"] == "stopped" and "charged for what was done" in ended["error"]["message"]
    assert (spend.status, spend.credits_held, spend.credits_spent) == ("captured", 250, words)
    assert ended["partial_text"].count("word") == words
    assert ledger.balance(user_id).credits == 500 - words and ledger.audit() == []
    after = client.get(f"/jobs/{job['id']}/partial", headers={"HX-Request": "true"})
    assert after.status_code == 286


def test_the_stop_button_without_javascript_goes_back_to_the_job_page(person, kit):
    echo = sys.modules["kit_echo"]
    echo.STARTED.clear()
    client, user_id, token = person()
    job = _echo(client, token, "wait")

    with worker_threads(kit, threads=1):
        assert echo.STARTED.wait(10)
        response = client.post(f"/jobs/{job['id']}/cancel", data={"csrf_token": token})
        _wait_for(lambda: client.get(f"/api/jobs/{job['id']}").get_json()["status"] == "canceled")

    assert response.status_code == 303 and response.headers["Location"] == f"/jobs/{job['id']}"
    page = client.get(f"/jobs/{job['id']}").get_data(as_text=True)
    assert "Canceled" in page and "You stopped this" in page and 'http-equiv="refresh"' not in page
    assert ledger.audit() == []


def test_stopping_a_queued_job_releases_everything_as_before(person, kit):
    client, user_id, token = person()
    job = _echo(client, token, "never runs")

    response = client.post(f"/api/jobs/{job['id']}/cancel", headers={"X-CSRFToken": token})
    run_queued(kit)

    assert response.status_code == 200 and response.get_json()["status"] == "canceled"
    assert _spend(job["spend_id"]).status == "released" and ledger.balance(user_id).credits == 500


def test_a_stopped_job_whose_worker_died_ends_canceled_and_charges_nothing(person, kit):
    import uuid
    from datetime import timedelta

    from creditapp.models import FeatureJob, utcnow

    client, user_id, token = person()
    job = _echo(client, token, "wait")
    kit.extensions["jobs"].huey.flush()  # the worker took the message and died
    with db.engine.begin() as conn:
        conn.execute(
            sa.update(FeatureJob)
            .where(FeatureJob.id == uuid.UUID(job["id"]))
            .values(
                status="running",
                attempts=1,
                stop_requested_at=utcnow(),
                lease_until=utcnow() - timedelta(seconds=1),
            )
        )

    swept = kit.test_cli_runner().invoke(args=["jobs", "sweep"])
    run_queued(kit)

    done = client.get(f"/api/jobs/{job['id']}").get_json()
    assert swept.exit_code == 0
    assert done["status"] == "canceled" and done["error"]["code"] == "stopped" and done["charged"] == 0
    assert _spend(job["spend_id"]).status == "released" and ledger.balance(user_id).credits == 500
    assert ledger.audit() == []
