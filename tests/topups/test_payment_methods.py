"""Payment methods other than cards saved at Checkout: Link and bank debits.

Each is credited once, shown by its type, and offered for automatic top-up only when it can
be charged off-session and confirmed at once (card, Link; README: Automatic top-up).
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from creditapp.extensions import db
from creditapp.models import StripeEvent
from tests.support.stripe_helpers import checkout, credits, csrf_token, price_id, purchase, wait_for_credits
from tests.topups.conftest import enable, save_card, settings

METHODS = {
    # method -> (what the pages say, can it pay automatic top-ups)
    "link": ("Link (buyer{n}@example.com)", True),
    "us_bank_account": ("STRIPE TEST BANK account ending in 6789 (US bank account)", False),
    "sepa_debit": ("SEPA Direct Debit account ending in 3000", False),
}


def _buy_saving(topups, client, method: str) -> str:
    """Buy the 100 pack ticking "save", paying with `method`; a bank debit settles later."""
    session_id = checkout(client, 100, save_card="1")
    topups.pay(session_id, method=method)
    if method in ("us_bank_account", "sepa_debit"):
        topups.wait_until_idle()
        topups.settle(session_id, "succeeded")
    topups.wait_until_idle()
    return session_id


def _event_statuses() -> dict[str, str]:
    db.session.rollback()
    return dict(db.session.execute(sa.select(StripeEvent.type, StripeEvent.status)).all())


def _switch_on(client):
    return client.post(
        "/account/auto-recharge",
        data={
            "enabled": "1",
            "threshold": "50",
            "price_id": price_id(100),
            "monthly_cap": "3",
            "csrf_token": csrf_token(client),
        },
    )


@pytest.mark.parametrize("method", METHODS)
def test_a_method_saved_at_checkout_credits_once_and_is_shown_by_its_type(
    app, topups, client, make_user, sign_in_as, method
):
    n = len(method)
    user = make_user(email=f"buyer{n}@example.com", credits=300)
    sign_in_as(client, user)
    label, can_top_up = METHODS[method]
    label = label.format(n=n)

    session_id = _buy_saving(topups, client, method)

    wait_for_credits(user, 400)
    assert credits(user) == 400
    statuses = _event_statuses()
    assert "failed" not in statuses.values(), statuses
    paid_by = "checkout.session.async_payment_succeeded" if not can_top_up else "checkout.session.completed"
    assert statuses[paid_by] == "processed"
    assert purchase(session_id).payment_method["type"] == method
    receipt = client.get(f"/checkout/success?session_id={session_id}")
    assert receipt.status_code == 200 and label in receipt.get_data(as_text=True)
    page = client.get("/account/auto-recharge").get_data(as_text=True)
    assert label in page
    switched = _switch_on(client)
    if can_top_up:
        assert switched.status_code == 303 and settings(user).enabled
    else:
        assert switched.status_code == 400 and not settings(user).enabled
        assert "cannot pay automatic top-ups" in switched.get_data(as_text=True)
        assert 'name="enabled" value="1" disabled' in page
    assert credits(user) == 400


def test_saving_a_bank_debit_over_a_card_switches_top_up_off_and_says_why(
    app, topups, client, make_user, sign_in_as
):
    user = make_user(credits=300)
    sign_in_as(client, user)
    save_card(topups, client, user, 300)
    enable(client, threshold=50)

    _buy_saving(topups, client, "us_bank_account")

    wait_for_credits(user, 500)
    saved = settings(user)
    assert not saved.enabled and saved.card_last4 is None
    assert saved.payment_method == {
        "type": "us_bank_account",
        "bank_name": "STRIPE TEST BANK",
        "last4": "6789",
    }
    page = client.get("/account/auto-recharge").get_data(as_text=True)
    assert "cannot pay automatic top-ups" in page and "Automatic top-up is <strong>off</strong>" in page
