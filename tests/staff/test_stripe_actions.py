"""Refunding through Stripe from the console (the webhook claws back) and replaying a failed event."""

from __future__ import annotations

import re

from creditapp import ledger
from creditapp.extensions import db
from creditapp.models import StripeEvent
from tests.staff.conftest import TOKEN, csrf_token
from tests.support import stripe_helpers
from tests.support.lifecycle import bought, clawback_adds_up
from tests.support.stripe_helpers import (
    charge_refunds,
    credits,
    paid_without_webhook,
    purchase,
    stored_event,
    wait_for_credits,
)

stripe_env = stripe_helpers.stripe_env


def test_a_full_refund_from_the_console_claws_back_through_the_webhook_once(
    stripe_env, client, make_user, sign_in_as, act
):
    user, session_id = bought(stripe_env, client, make_user, sign_in_as)
    bought_one = purchase(session_id)

    first, second = act(
        user, "refund", confirm_twice=True, purchase_id=str(bought_one.id), reason="Asked by e-mail"
    )

    assert "Refund $20.00 of purchase" in first.get_data(as_text=True)
    assert "Stripe refund re_" in second.get_data(as_text=True)
    wait_for_credits(user, 500)
    assert len(charge_refunds(stripe_helpers.charge_id(session_id))) == 1
    assert clawback_adds_up(session_id) and ledger.audit() == []


def test_a_partial_refund_takes_its_share_and_too_much_is_refused(
    stripe_env, client, make_user, sign_in_as, act
):
    user, session_id = bought(stripe_env, client, make_user, sign_in_as)
    bought_one = purchase(session_id)

    too_much, nothing = act(user, "refund", purchase_id=str(bought_one.id), amount="2001", reason="x")
    assert nothing is None and too_much.status_code == 422
    act(user, "refund", purchase_id=str(bought_one.id), amount="1000", reason="Half back")

    wait_for_credits(user, 750)
    assert ledger.audit() == []


def test_someone_elses_purchase_cannot_be_refunded(stripe_env, client, make_user, sign_in_as, act, customer):
    user, session_id = bought(stripe_env, client, make_user, sign_in_as)
    first, second = act(customer, "refund", purchase_id=str(purchase(session_id).id), reason="x")
    assert second is None and first.status_code == 404
    assert charge_refunds(stripe_helpers.charge_id(session_id)) == []


def test_replaying_a_failed_event_from_the_console_applies_it_once(
    stripe_env, live_server, client, make_user, sign_in_as, staff_client
):
    user = make_user(credits=500)
    sign_in_as(client, user)
    session_id = paid_without_webhook(stripe_env, live_server, client)
    completed = stripe_helpers.stored_as_failed("checkout.session.completed", session_id)
    assert completed["id"] in staff_client.get("/admin/operations").get_data(as_text=True)

    token = csrf_token(staff_client)
    form = {"csrf_token": token, "event_id": completed["id"], "reason": "Bug fixed"}
    first = staff_client.post("/admin/actions/replay_event", data=form)
    confirm = {**form, "token": TOKEN.search(first.get_data(as_text=True)).group(1)}
    done = staff_client.post("/admin/actions/replay_event", data=confirm)
    staff_client.post("/admin/actions/replay_event", data=confirm)

    assert re.search(r"Replayed .*: processed", done.get_data(as_text=True))
    assert credits(user) == 1000
    assert stored_event(completed["id"]).status == "processed"


def test_replaying_a_processed_event_is_refused(stripe_env, staff_client):
    db.session.add(
        StripeEvent(id="evt_done", type="x", created=0, status="processed", payload={"id": "evt_done"})
    )
    db.session.commit()
    response = staff_client.post(
        "/admin/actions/replay_event",
        data={"csrf_token": csrf_token(staff_client), "event_id": "evt_done", "reason": "x"},
    )
    assert response.status_code == 422


def test_search_finds_a_customer_by_a_charge_id_stripe_knows(
    stripe_env, client, make_user, sign_in_as, staff_client
):
    user, session_id = bought(stripe_env, client, make_user, sign_in_as)
    charge = stripe_helpers.charge_id(session_id)

    page = staff_client.get("/admin/", query_string={"q": charge}).get_data(as_text=True)

    assert f"/admin/customers/{user}" in page and "Stripe charge" in page
    assert "Nobody matches" in staff_client.get("/admin/?q=ch_unknown").get_data(as_text=True)
