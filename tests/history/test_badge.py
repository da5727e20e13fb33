"""The balance badge, the hot path: always the current balance, one statement, no session write."""

from __future__ import annotations

import sqlalchemy as sa

from creditapp import ledger
from creditapp.extensions import db
from creditapp.models import CreditPurchase, utcnow
from tests.support.db import count_statements
from tests.support.oidc import sign_in


def badge_text(response) -> str:
    return response.get_data(as_text=True).split(">", 1)[1].split("<", 1)[0]


def test_the_badge_shows_a_balance_changed_a_moment_ago(client, make_user, sign_in_as):
    user_id = make_user(credits=500)
    sign_in_as(client, user_id)
    assert badge_text(client.get("/credits/badge")) == "500 credits"

    ledger.grant(user_id, 25, note="goodwill")

    assert badge_text(client.get("/credits/badge")) == "525 credits"


def test_the_badge_writes_no_session_cookie(client, emulator):
    sign_in(client, emulator, "ada@example.com")

    response = client.get("/credits/badge", headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert not response.headers.getlist("Set-Cookie")


def test_polling_for_a_purchase_stays_one_statement(app, client, make_user, sign_in_as):
    user_id = make_user()
    sign_in_as(client, user_id)
    db.session.add(
        CreditPurchase(
            user_id=user_id,
            stripe_checkout_session_id="cs_test_badge",
            stripe_price_id="price_1",
            credits_purchased=100,
            amount_paid=500,
            currency="usd",
            status="pending",
            created_at=utcnow(),
        )
    )
    db.session.commit()

    with count_statements(db.engine) as seen:
        assert client.get("/credits/badge?until=cs_test_badge").status_code == 200
    assert seen.count == 1

    db.session.execute(sa.update(CreditPurchase).values(status="completed"))
    db.session.commit()
    assert client.get("/credits/badge?until=cs_test_badge").status_code == 286
    # Another user's session id is "not pending" for this user: polling stops, nothing leaks.
    assert client.get("/credits/badge?until=cs_test_someone_else").status_code == 286


def test_a_browser_with_only_the_remember_cookie_gets_its_badge(app, client, emulator):
    sign_in(client, emulator, "ada@example.com")
    returning = app.test_client()
    returning.set_cookie("remember_token", client.get_cookie("remember_token").value)

    response = returning.get("/credits/badge")

    assert response.status_code == 200 and badge_text(response) == "500 credits"


def test_a_signed_out_sign_in_gets_no_badge(app, client, emulator):
    sign_in(client, emulator, "ada@example.com")
    copied = client.get_cookie("session").value
    page = client.get("/").get_data(as_text=True)
    token = page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    client.post("/logout", data={"csrf_token": token})

    stale = app.test_client()
    stale.set_cookie("session", copied)
    response = stale.get("/credits/badge", headers={"HX-Request": "true"})

    assert response.status_code == 401 and response.headers["HX-Redirect"].startswith("/login")


def test_a_balance_rendered_before_keeps_the_url_prefix_of_each_request(client, make_user, sign_in_as):
    # Each distinct balance is rendered once (blueprints.account.badge_fragment); the app's
    # URL prefix is part of what the HTML depends on, so it must be part of that key.
    sign_in_as(client, make_user(credits=500))

    plain = client.get("/credits/badge").get_data(as_text=True)
    prefixed = client.get("/credits/badge", environ_overrides={"SCRIPT_NAME": "/shop"})

    assert 'hx-get="/credits/badge"' in plain
    assert 'hx-get="/shop/credits/badge"' in prefixed.get_data(as_text=True)
