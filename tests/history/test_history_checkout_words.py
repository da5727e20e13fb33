"""Checkouts that moved no money say so on History and in the CSV, not "Bought … — Not paid" or `pending`."""

from __future__ import annotations

import csv
import io
import re

import pytest

from creditapp.history.purchase_words import describe
from tests.support import stripe_helpers
from tests.support.stripe_helpers import checkout, wait_for, wait_for_credits

stripe_env = stripe_helpers.stripe_env


def purchase_rows(html: str) -> list[str]:
    return [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()
        for row in re.findall(r'<tr class="entry entry-purchase"[^>]*>(.*?)</tr>', html, re.S)
    ]


def test_cancelled_declined_expired_and_failed_checkouts_say_nothing_was_charged(
    stripe_env, live_server, client, make_user, sign_in_as
):
    user_id = make_user(credits=500)
    sign_in_as(client, user_id)
    checkout(client, 1000)  # Cancel on Stripe's page: the session stays open, the purchase pending
    declined = checkout(client, 500)
    stripe_env.pay(declined, "declined")
    expired = checkout(client, 100)
    stripe_env.expire(expired)
    failed = checkout(client, 1000)
    stripe_env.pay(failed, "async_pending")
    wait_for(lambda: stripe_helpers.purchase(failed).stripe_payment_intent_id, what="processing noted")
    stripe_env.settle(failed, "failed")
    paid = checkout(client, 1000)
    stripe_env.pay(paid, "succeeded")
    wait_for_credits(user_id, 1500)
    wait_for(lambda: stripe_helpers.purchase(expired).status == "expired", what="expired")
    wait_for(lambda: stripe_helpers.purchase(failed).status == "failed", what="failed")

    rows = purchase_rows(client.get("/history?all=1").get_data(as_text=True))
    lines = list(csv.DictReader(io.StringIO(client.get("/history.csv").get_data(as_text=True))))

    # Newest first: paid, failed, expired, declined, cancelled.
    assert len(rows) == 5
    assert "Bought 1,000 credits" in rows[0] and "Paid" in rows[0]
    assert "Payment failed, nothing charged" in rows[1] and "Bought" not in rows[1]
    assert "Checkout expired, nothing charged" in rows[2] and "Bought" not in rows[2]
    for row in rows[3:]:
        assert "Checkout not completed (cancelled or declined), nothing charged" in row
        assert "Bought" not in row and "Not paid" not in row
    purchases = [r for r in lines if r["kind"] == "purchase"]
    statuses = [r["status"] for r in purchases]
    assert statuses == ["completed", "failed", "expired", "not_completed", "not_completed"]
    assert purchases[0]["description"] == "Bought 1,000 credits"
    assert purchases[2]["description"] == "Checkout of 100 credits — checkout expired, nothing charged"
    assert purchases[4]["description"] == (
        "Checkout of 1,000 credits — checkout not completed (cancelled or declined), nothing charged"
    )
    assert all(r["credits"] == "0" for r in purchases[1:])


@pytest.mark.parametrize(
    ("status", "source", "has_payment", "what", "words"),
    [
        ("completed", "auto_recharge", True, "Automatic top-up: 1,000 credits", "Paid"),
        ("pending", "checkout", True, "Bought 1,000 credits", "Processing"),
        ("pending", "auto_recharge", False, "Automatic top-up: 1,000 credits", "Not charged yet"),
        ("canceled", "auto_recharge", False, "Automatic top-up: 1,000 credits", "Canceled, nothing charged"),
        ("refunded_somehow", "checkout", True, "Checkout of 1,000 credits", "Status: refunded_somehow"),
    ],
)
def test_every_status_reads_honestly_including_ones_added_later(status, source, has_payment, what, words):
    described = describe(status, source, 1000, has_payment)

    assert (described.what, described.status) == (what, words)
