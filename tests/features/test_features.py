"""Spending credits on image generation as a queued job: charging, failures, 402s, bad input."""

from __future__ import annotations

import json
import re

import pytest

from creditapp import ledger
from creditapp.extensions import db
from creditapp.features.image import providers as image_providers
from creditapp.models import CreditPurchase
from tests.support import spending
from tests.support.db import count_statements
from tests.support.jobs import queued_messages, run_queued
from tests.support.spending import (
    API,
    OutlivedProvider,
    balance,
    fetch_result,
    job_json,
    post_json,
    spends,
)

# The fixtures, shared by the feature test modules.
signed_in = spending.signed_in
broken_provider = spending.broken_provider


# --- charging --------------------------------------------------------------------------


@pytest.mark.smoke
def test_a_spend_holds_the_cost_queues_a_job_and_captures_once_the_picture_is_stored(signed_in, app):
    client, user_id, token = signed_in()

    response = post_json(client, token, {"prompt": "a red fox in the snow", "size": 512})

    assert response.status_code == 202
    job = response.get_json()
    assert response.headers["Location"] == f"/api/jobs/{job['id']}" == job["status_url"]
    assert (job["status"], job["cost"], job["feature"], job["result"], job["error"]) == (
        "queued",
        10,
        "image_generation",
        None,
        None,
    )
    [spend] = spends(user_id)
    assert (spend.id, spend.status) == (job["spend_id"], "held")
    assert balance(user_id) == 490
    assert "credits-changed" in json.loads(response.headers["HX-Trigger"])

    assert run_queued(app) == 1

    done = job_json(client, job["id"])
    assert done["status"] == "succeeded" and done["started_at"] and done["finished_at"]
    assert done["result"] == {"image_url": f"/api/jobs/{job['id']}/result.png"}
    assert fetch_result(client, done).size == (512, 512)
    assert [s.status for s in spends(user_id)] == ["captured"]
    assert balance(user_id) == 490
    assert ledger.audit() == []


@pytest.mark.parametrize(("size", "cost"), [(256, 5), (512, 10), (1024, 20)])
def test_each_size_costs_what_the_price_list_says(signed_in, app, size, cost):
    client, user_id, token = signed_in()

    response = post_json(client, token, {"prompt": "tiny boat", "size": str(size)})
    run_queued(app)

    assert response.status_code == 202 and response.get_json()["cost"] == cost
    assert fetch_result(client, job_json(client, response.get_json()["id"])).size == (size, size)
    assert balance(user_id) == 500 - cost


def test_the_price_list_comes_from_configuration(signed_in, app, monkeypatch):
    monkeypatch.setitem(app.config, "IMAGE_COSTS", {256: 7, 512: 11, 1024: 23})
    client, user_id, token = signed_in()

    response = post_json(client, token, {"prompt": "a kite", "size": 512})

    assert response.get_json()["cost"] == 11
    assert balance(user_id) == 489


# --- failures give the credits back ----------------------------------------------------


def test_provider_failure_fails_the_job_and_gives_the_credits_back(signed_in, app, broken_provider):
    client, user_id, token = signed_in()
    job_id = post_json(client, token, {"prompt": "a castle", "size": 1024}).get_json()["id"]

    run_queued(app)

    job = job_json(client, job_id)
    assert job["status"] == "failed" and job["result"] is None
    assert job["error"]["code"] == "provider_error"
    message = job["error"]["message"]
    assert "The image service is down." in message and "not charged" in message
    assert client.get(f"/api/jobs/{job_id}/result.png").status_code == 404
    assert [s.status for s in spends(user_id)] == ["released"]
    assert balance(user_id) == 500
    assert ledger.audit() == []


def test_a_failed_job_in_the_form_ends_polling_with_an_error(signed_in, app, broken_provider):
    client, user_id, token = signed_in()
    htmx = {"X-CSRFToken": token, "HX-Request": "true"}
    started = client.post("/features/image", data={"prompt": "a castle", "size": "512"}, headers=htmx)
    job_id = re.search(r'id="job-([0-9a-f-]+)"', started.get_data(as_text=True)).group(1)

    run_queued(app)
    response = client.get(f"/jobs/{job_id}", headers={"HX-Request": "true"})

    assert response.status_code == 286
    html = response.get_data(as_text=True)
    assert 'role="alert"' in html and "The image service is down." in html and "not charged" in html
    assert "hx-trigger" not in html and "<html" not in html
    assert "credits-changed" in response.headers["HX-Trigger"]
    assert balance(user_id) == 500


def test_a_result_whose_hold_was_released_meanwhile_is_not_handed_out_unpaid(signed_in, app, monkeypatch):
    client, user_id, token = signed_in()
    monkeypatch.setitem(image_providers.PROVIDERS, "slow", lambda config: OutlivedProvider())
    monkeypatch.setitem(app.config, "IMAGE_PROVIDER", "slow")
    job_id = post_json(client, token, {"prompt": "a snail", "size": 512}).get_json()["id"]

    run_queued(app)

    job = job_json(client, job_id)
    assert job["status"] == "failed" and job["result"] is None and "not charged" in job["error"]["message"]
    assert client.get(f"/api/jobs/{job_id}/result.png").status_code == 404
    assert [s.status for s in spends(user_id)] == ["released"]
    assert balance(user_id) == 500
    assert ledger.audit() == []


# --- not enough credits ----------------------------------------------------------------


def test_not_enough_credits_is_402_json_and_charges_nothing(signed_in, app):
    client, user_id, token = signed_in(credits=5)

    response = post_json(client, token, {"prompt": "a whale", "size": 512})

    assert response.status_code == 402
    body = response.get_json()
    assert (body["error"], body["credits"], body["required"]) == ("insufficient_credits", 5, 10)
    assert spends(user_id) == [] and queued_messages(app) == 0
    assert balance(user_id) == 5


@pytest.mark.smoke
def test_a_spend_of_exactly_the_balance_succeeds_and_one_credit_more_is_402(signed_in, app):
    client, user_id, token = signed_in(credits=9)
    ten = {"prompt": "a comet", "size": 512}

    one_short = post_json(client, token, ten)
    ledger.grant(user_id, 1, note="test: now exactly the price")
    exact = post_json(client, token, ten)

    assert one_short.status_code == 402
    assert (one_short.get_json()["credits"], one_short.get_json()["required"]) == (9, 10)
    assert exact.status_code == 202 and balance(user_id) == 0
    assert [s.credits_spent for s in spends(user_id)] == [10] and ledger.audit() == []


def test_not_enough_credits_in_the_form_offers_a_buy_link(signed_in, app):
    client, user_id, token = signed_in(credits=5)

    response = client.post(
        "/features/image",
        data={"prompt": "a whale", "size": "512"},
        headers={"X-CSRFToken": token, "HX-Request": "true"},
    )

    assert response.status_code == 402
    html = response.get_data(as_text=True)
    assert "Not enough credits: this needs 10 and you have 5." in html
    buy_url = "/buy-credits"
    assert re.search(rf'<a class="button" href="{buy_url}">Buy credits</a>', html)
    assert "credits-changed" in response.headers["HX-Trigger"]
    assert spends(user_id) == []


def test_a_negative_balance_after_a_refund_explains_itself(signed_in, app):
    client, user_id, token = signed_in(credits=500)
    purchase = CreditPurchase(
        user_id=user_id, stripe_price_id="price_x", credits_purchased=100, amount_paid=500, currency="usd"
    )
    db.session.add(purchase)
    db.session.commit()
    ledger.complete_purchase(purchase.id, "pi_1", 500, "usd")
    held = ledger.hold(user_id, "image_generation", 580)
    ledger.capture(held.spend_id)
    ledger.claw_back_refund(purchase.id, 500, "re_1")
    assert balance(user_id) == -80

    response = post_json(client, token, {"prompt": "a whale", "size": 256})

    assert response.status_code == 402
    body = response.get_json()
    assert body["credits"] == -80
    assert "negative because a purchase was refunded; buy credits to continue" in body["message"]
    page = client.get("/features/image").get_data(as_text=True)
    assert "Your balance is negative because a purchase was refunded" in page


# --- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": "", "size": 512}, "prompt"),
        ({"prompt": "   ", "size": 512}, "prompt"),
        ({"size": 512}, "prompt"),
        ({"prompt": 42, "size": 512}, "prompt"),
        ({"prompt": "x" * 1001, "size": 512}, "prompt"),
        ({"prompt": "a fox", "size": 300}, "size"),
        ({"prompt": "a fox", "size": "big"}, "size"),
        ({"prompt": "a fox", "size": 512.5}, "size"),
        ({"prompt": "a fox", "size": True}, "size"),
        ({"prompt": "a fox"}, "size"),
    ],
)
def test_invalid_fields_are_422_and_charge_nothing(signed_in, app, body, field):
    client, user_id, token = signed_in()

    response = post_json(client, token, body)

    assert response.status_code == 422
    payload = response.get_json()
    assert payload["error"] == "invalid_input" and payload["field"] == field
    assert payload["message"]
    assert spends(user_id) == [] and balance(user_id) == 500 and queued_messages(app) == 0


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ("prompt=a fox&size=512", "application/x-www-form-urlencoded"),
        ("{not json", "application/json"),
        ('["a fox", 512]', "application/json"),
        ('"a fox"', "application/json"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_400_and_charges_nothing(signed_in, data, content_type):
    client, user_id, token = signed_in()

    response = client.post(API, data=data, content_type=content_type, headers={"X-CSRFToken": token})

    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_request"
    assert spends(user_id) == [] and balance(user_id) == 500


def test_an_oversized_idempotency_key_is_refused_before_charging(signed_in):
    client, user_id, token = signed_in()

    response = post_json(client, token, {"prompt": "a fox", "size": 256}, key="k" * 256)

    assert response.status_code == 422
    assert response.get_json()["field"] == "Idempotency-Key"
    assert spends(user_id) == []


def test_a_1000_character_prompt_is_accepted(signed_in):
    client, user_id, token = signed_in()

    response = post_json(client, token, {"prompt": "y" * 1000, "size": 256})

    assert response.status_code == 202
    assert balance(user_id) == 495


def test_bad_form_input_gets_a_422_fragment_and_charges_nothing(signed_in):
    client, user_id, token = signed_in()

    response = client.post(
        "/features/image",
        data={"prompt": "", "size": "300"},
        headers={"X-CSRFToken": token, "HX-Request": "true"},
    )

    assert response.status_code == 422
    assert "the prompt is empty" in response.get_data(as_text=True)
    assert spends(user_id) == []


def test_a_spend_without_the_csrf_token_is_refused(signed_in):
    client, user_id, _ = signed_in()

    response = client.post(API, json={"prompt": "a fox", "size": 256})

    assert response.status_code == 400
    assert spends(user_id) == [] and balance(user_id) == 500


# --- statement counts -------------------------------------------------------------------


def test_the_badge_costs_one_statement(signed_in, app):
    client, _, _ = signed_in()

    # A fresh app context, so Flask-Login cannot reuse the user loaded by an earlier request.
    with app.app_context(), count_statements(db.engine) as log:
        response = client.get("/credits/badge", headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert 'id="credit-badge"' in response.get_data(as_text=True)
    assert log.count == 1, log.statements


def test_starting_a_job_costs_at_most_five_statements(signed_in, app):
    """The user load, the wallet's debit, the spend, the draw from its lots, the job (§9)."""
    client, _, token = signed_in()

    with app.app_context(), count_statements(db.engine) as log:
        response = post_json(client, token, {"prompt": "a fox", "size": 256})

    assert response.status_code == 202
    assert log.count <= 5, log.statements
    assert any("credit_lot_draws" in statement for statement in log.statements)
