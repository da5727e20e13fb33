"""Automatic top-up: one at a time, within the monthly cap, credited once, failures said and counted."""

from __future__ import annotations

import re

from creditapp import ledger
from creditapp.platform import stripe_client
from tests.support.jobs import run_queued, worker_threads
from tests.support.stripe_helpers import credits, wait_for, wait_for_credits
from tests.support.threads import race
from tests.topups.conftest import enable, recharges, settings

LINK = re.compile(r"http://127\.0\.0\.1:\d+/buy-credits")


def test_thirty_racing_spends_across_the_threshold_start_exactly_one_recharge(app, topups, client, card_user):
    user = card_user(start=300)  # 400 after buying the pack that saved the card
    enable(client, threshold=200)

    outcomes = race(app, lambda i: ledger.hold(user, "image", 10), 30)

    assert not [o for o in outcomes if isinstance(o, Exception)]
    assert credits(user) == 100
    [pending] = recharges(user)
    assert pending.status == "pending" and pending.credits_purchased == 100

    run_queued(app)  # the worker confirms the off-session PaymentIntent; its webhook also arrives
    wait_for(lambda: topups.deliveries(type="payment_intent.succeeded"), what="the webhook")
    topups.wait_until_idle()

    [done] = recharges(user)
    assert done.status == "completed" and done.stripe_payment_intent_id.startswith("pi_")
    assert credits(user) == 200  # credited once, though the worker and the webhook both tried
    assert ledger.audit() == []


def test_the_monthly_cap_holds_while_spends_and_recharges_race(app, topups, client, card_user):
    user = card_user(start=900)  # 1,000
    enable(client, threshold=990, cap=2)

    with worker_threads(app, threads=3):
        for _round in range(4):
            race(app, lambda i: ledger.hold(user, "image", 5), 10)
            wait_for(lambda: not recharges(user, "pending"), what="no top-up in flight")

    assert len(recharges(user, "completed")) == 2
    assert recharges(user) == recharges(user, "completed")
    assert credits(user) == 1000 - 4 * 50 + 2 * 100
    assert ledger.audit() == []


def test_a_declined_card_fails_the_recharge_and_emails_a_link_to_buy(app, topups, client, card_user):
    user = card_user(card="0341", start=150, email="decline@example.com")  # paid on the page
    enable(client, threshold=300)

    ledger.hold(user, "image", 10)
    run_queued(app)
    wait_for(lambda: topups.deliveries(type="payment_intent.payment_failed"), what="the failure webhook")
    topups.wait_until_idle()
    run_queued(app)  # e-mails queued by whichever of the worker and the webhook failed it

    [failed] = recharges(user)
    assert failed.status == "failed"
    assert credits(user) == 240
    [mail] = topups.mail("decline@example.com")
    assert mail["subject"] == "Automatic top-up failed"
    assert "declined" in mail["text"] and LINK.search(mail["text"]) and LINK.search(mail["html"])
    assert "240 credits" in mail["text"]
    assert settings(user).consecutive_failures == 1 and settings(user).enabled


def test_three_declines_in_a_row_switch_auto_top_up_off_and_say_so(app, topups, client, card_user):
    user = card_user(card="0341", start=150, email="thrice@example.com")
    enable(client, threshold=300)

    for _attempt in range(3):
        ledger.hold(user, "image", 10)
        run_queued(app)
    topups.wait_until_idle()
    ledger.hold(user, "image", 10)  # a fourth decrease: auto top-up is off, nothing starts
    run_queued(app)

    assert [p.status for p in recharges(user)] == ["failed"] * 3
    assert not settings(user).enabled and "3 failed top-ups" in settings(user).disabled_reason
    subjects = [m["subject"] for m in topups.mail("thrice@example.com")]
    assert subjects.count("Automatic top-up failed") == 3
    assert subjects.count("Automatic top-up is switched off") == 1
    page = client.get("/account/auto-recharge").get_data(as_text=True)
    assert "Automatic top-up is off." in page and "3 failed top-ups in a row" in page


def test_a_card_that_needs_authentication_fails_and_emails_a_link(app, topups, client, card_user):
    user = card_user(card="3184", start=150, email="sca@example.com")
    enable(client, threshold=300)

    ledger.hold(user, "image", 10)
    run_queued(app)
    run_queued(app)

    [failed] = recharges(user)
    assert failed.status == "failed"
    intent = stripe_client.client().v1.payment_intents.retrieve(failed.stripe_payment_intent_id)
    assert intent.status == "requires_action"
    assert intent.last_payment_error.code == "authentication_required"
    [mail] = topups.mail("sca@example.com")
    assert "confirm this payment" in mail["text"] and LINK.search(mail["text"])


def test_a_refunded_recharge_is_clawed_back_like_any_purchase(app, topups, client, card_user):
    user = card_user(start=150)
    enable(client, threshold=300)
    ledger.hold(user, "image", 10)
    run_queued(app)
    wait_for_credits(user, 340)
    [done] = recharges(user)

    stripe_client.client().v1.refunds.create(params={"payment_intent": done.stripe_payment_intent_id})

    wait_for_credits(user, 240)
    assert recharges(user)[0].credits_clawed_back == 100
    # The clawback took the balance below the threshold again: it starts the next top-up.
    assert [p.status for p in recharges(user)] == ["completed", "pending"]
    assert ledger.audit() == []
    history = client.get("/history").get_data(as_text=True)
    assert "Refund" in history and "Automatic top-up: 100 credits" in history


def test_grants_never_start_a_recharge(app, topups, client, card_user):
    user = card_user(start=50)
    enable(client, threshold=500)

    ledger.grant(user, 10, note="goodwill")

    assert recharges(user) == []
