"""History as a usage page: hidden abandoned checkouts, running balance, CSV, receipts, no-JS chart."""

from __future__ import annotations

import csv
import io
import re

import pytest
import sqlalchemy as sa

from creditapp import ledger
from creditapp.extensions import db
from creditapp.models import CreditPurchase
from tests.history.test_history import buy, spend
from tests.support import stripe_helpers
from tests.support.stripe_helpers import checkout, wait_for, wait_for_credits

stripe_env = stripe_helpers.stripe_env

RUNNING = re.compile(r'<td class="num running">([^<]+)</td>')
NEXT = re.compile(r'<input type="hidden" name="before" value="([^"]+)">')


def test_each_line_shows_the_balance_once_it_counted_across_load_more(client, make_user, sign_in_as):
    user_id = make_user(credits=500)
    sign_in_as(client, user_id)
    for _ in range(30):
        buy(user_id, 100)
        spend(user_id, 5)
    spend(user_id, 20, "released")
    balance = ledger.balance(user_id).credits  # 500 + 30 × 95 = 3350

    first = client.get("/history").get_data(as_text=True)
    second = client.get(
        "/history", query_string={"before": NEXT.search(first).group(1)}, headers={"HX-Request": "true"}
    ).get_data(as_text=True)

    running = [int(v.replace(",", "")) for v in RUNNING.findall(first) + RUNNING.findall(second)]
    assert balance == 3350 and running[0] == 3350
    assert running[-1] == 500  # the signup bonus, the oldest line
    assert len(running) == 62
    assert "3,350" in first  # thousands separators


def test_abandoned_checkouts_are_hidden_by_default_and_a_processing_one_stays(
    stripe_env, live_server, client, make_user, sign_in_as
):
    user_id = make_user(credits=500)
    sign_in_as(client, user_id)
    cancelled = checkout(client, 100)  # opened, then left (Cancel on Stripe's page)
    declined = checkout(client, 500)
    stripe_env.pay(declined, "declined")
    expired = checkout(client, 1000)
    stripe_env.expire(expired)
    processing = checkout(client, 500)
    stripe_env.pay(processing, "async_pending")
    paid = checkout(client, 100)
    stripe_env.pay(paid, "succeeded")
    wait_for_credits(user_id, 600)
    wait_for(lambda: stripe_helpers.purchase(expired).status == "expired", what="expired")
    wait_for(lambda: stripe_helpers.purchase(processing).stripe_payment_intent_id, what="processing noted")

    default = client.get("/history").get_data(as_text=True)
    everything = client.get("/history?all=1").get_data(as_text=True)

    def purchase_rows(html: str) -> list[str]:
        return re.findall(r'<tr class="entry entry-purchase"[^>]*>(.*?)</tr>', html, re.S)

    shown = purchase_rows(default)
    assert len(shown) == 2
    assert "Paid" in shown[0] and "Receipt" in shown[0]  # newest first
    assert "Processing" in shown[1] and "Bought 500 credits" in shown[1] and "$20.00" in shown[1]
    assert len(purchase_rows(everything)) == 5
    not_completed = "<td>Checkout not completed (cancelled or declined), nothing charged</td>"
    assert everything.count(not_completed) == 2  # the cancelled and the declined checkouts
    assert "Checkout expired, nothing charged" in everything
    assert 'href="/history?all=1"' in default and "Show cancelled, declined and expired" in default
    assert stripe_helpers.purchase(cancelled).status == "pending"


def test_a_receipt_link_leads_to_stripes_receipt_for_that_charge(
    stripe_env, live_server, client, make_user, sign_in_as
):
    user_id = make_user(credits=500)
    sign_in_as(client, user_id)
    session_id = checkout(client, 100)
    stripe_env.pay(session_id, "succeeded")
    wait_for_credits(user_id, 600)
    purchase_id = stripe_helpers.purchase(session_id).id
    charge = stripe_helpers.session(session_id, "payment_intent.latest_charge")["payment_intent"][
        "latest_charge"
    ]
    stranger = client.application.test_client()
    sign_in_as(stranger, make_user())

    mine = client.get(f"/history/purchases/{purchase_id}/receipt")
    theirs = stranger.get(f"/history/purchases/{purchase_id}/receipt")

    assert mine.status_code == 303 and mine.headers["Location"] == charge["receipt_url"]
    assert theirs.status_code == 404


@pytest.mark.smoke
def test_the_csv_export_streams_every_line_with_running_balance_and_defuses_formulas(
    client, make_user, sign_in_as
):
    user_id = make_user(credits=500)
    sign_in_as(client, user_id)
    buy(user_id, 100, complete=False)  # abandoned: in the export, moving nothing
    held = ledger.hold(user_id, "image_generation", 10)
    ledger.capture(held.spend_id)
    ledger.grant(user_id, -3, note="=HYPERLINK(evil)")

    response = client.get("/history.csv")

    assert response.status_code == 200
    assert response.is_streamed
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="creditapp-history-')
    lines = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["kind"], r["credits"], r["balance_after"]) for r in lines] == [
        ("adjustment", "-3", "487"),
        ("spend", "-10", "490"),
        ("purchase", "0", "500"),
        ("adjustment", "500", "500"),
    ]
    assert lines[0]["description"] == "'=HYPERLINK(evil)"
    assert lines[2]["amount"] == "1.00" and lines[2]["currency"] == "USD"
    assert lines[2]["status"] == "not_completed"  # an abandoned checkout, not a payment on its way
    assert lines[3]["time_utc"].endswith("+00:00")


def test_the_chart_link_without_javascript_opens_a_whole_page_not_a_fragment(client, make_user, sign_in_as):
    sign_in_as(client, make_user(credits=500))

    page = client.get("/history").get_data(as_text=True)
    usage = client.get("/history/usage").get_data(as_text=True)
    fragment = client.get("/history/chart", headers={"HX-Request": "true"}).get_data(as_text=True)

    assert '<noscript><a href="/history/usage">' in page
    assert (
        usage.startswith("<!doctype html>")
        and "<h1>Usage</h1>" in usage
        and '<svg class="spend-chart"' in usage
    )
    assert "<html" not in fragment and '<svg class="spend-chart"' in fragment
    assert '<dd class="summary-balance"><span data-balance>500</span> credits</dd>' in fragment


def test_purchases_in_history_never_show_another_users_rows(client, make_user, sign_in_as):
    user_id = make_user()
    other = make_user()
    buy(other, 100)
    sign_in_as(client, user_id)

    html = client.get("/history?all=1").get_data(as_text=True)

    others = db.session.execute(sa.select(CreditPurchase.id).where(CreditPurchase.user_id == other)).scalars()
    assert all(f"entry-purchase-{pid}" not in html for pid in others)
