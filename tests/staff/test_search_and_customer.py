"""Finding a customer from one box, and what their page shows."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from creditapp.extensions import db
from creditapp.models import CreditPurchase, User


def add_purchase(user_id: int, **values) -> int:
    purchase = CreditPurchase(
        user_id=user_id,
        stripe_price_id="price_test",
        credits_purchased=100,
        amount_paid=500,
        currency="usd",
        status="pending",
        **values,
    )
    db.session.add(purchase)
    db.session.commit()
    return purchase.id


def found(staff_client, query: str) -> str:
    response = staff_client.get("/admin/", query_string={"q": query})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_search_finds_a_customer_by_part_of_the_email_in_any_case(staff_client, customer):
    assert f"/admin/customers/{customer}" in found(staff_client, "CASEY@exa")


def test_search_finds_by_name_and_by_user_id(staff_client, customer):
    assert f"/admin/customers/{customer}" in found(staff_client, "casey cust")
    assert f"/admin/customers/{customer}" in found(staff_client, str(customer))


def test_search_finds_by_any_stripe_id_we_store(staff_client, customer):
    add_purchase(customer, stripe_checkout_session_id="cs_test_abc", stripe_payment_intent_id="pi_test_abc")
    db.session.execute(sa.update(User).where(User.id == customer).values(stripe_customer_id="cus_test_abc"))
    db.session.commit()
    for stripe_id in ("cs_test_abc", "pi_test_abc", "cus_test_abc"):
        assert f"/admin/customers/{customer}" in found(staff_client, stripe_id), stripe_id


def test_search_says_when_nobody_matches(staff_client, customer):
    assert "Nobody matches" in found(staff_client, "no-such-person")


def test_the_customer_page_shows_balance_lots_ledger_and_purchases(staff_client, customer):
    add_purchase(customer, stripe_checkout_session_id="cs_test_page", stripe_payment_intent_id="pi_test_page")
    response = staff_client.get(f"/admin/customers/{customer}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert 'id="staff-balance">500<' in page
    assert "signup_bonus" in page  # the lot and the ledger line
    assert "https://dashboard.stripe.com/payments/pi_test_page" in page
    assert "No API keys." in page


def test_an_unknown_customer_is_a_404(staff_client):
    assert staff_client.get("/admin/customers/999999").status_code == 404


def test_failed_and_stuck_jobs_come_first_and_a_queued_one_can_be_canceled(
    app, staff_client, make_user, sign_in_as
):
    from datetime import timedelta

    from creditapp.models import FeatureJob, utcnow
    from tests.support.spending import csrf_token, post_json

    user_id = make_user("jobs@example.com")
    client = sign_in_as(app.test_client(), user_id)
    ids = [
        post_json(client, csrf_token(client), {"prompt": f"fox {n}", "size": 256}).get_json()["id"]
        for n in range(3)
    ]
    first, middle = uuid.UUID(ids[0]), uuid.UUID(ids[1])
    # As the worker and the clock would leave them: the oldest failed, the middle one stuck.
    db.session.execute(
        sa.update(FeatureJob).where(FeatureJob.id == first).values(status="failed", error="provider")
    )
    db.session.execute(
        sa.update(FeatureJob)
        .where(FeatureJob.id == middle)
        .values(deadline_at=utcnow() - timedelta(minutes=5))
    )
    db.session.commit()

    page = staff_client.get(f"/admin/customers/{user_id}").get_data(as_text=True)

    positions = [page.index(f'id="staff-job-{job_id}"') for job_id in ids]
    assert positions[2] > max(positions[0], positions[1])  # the healthy queued job comes last
    assert f'id="cancel-{ids[2]}"' in page


def test_a_broken_ledger_cursor_is_a_400_not_an_error(staff_client, customer):
    assert staff_client.get(f"/admin/customers/{customer}?before=nonsense").status_code == 400
