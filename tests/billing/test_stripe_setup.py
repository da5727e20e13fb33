"""`flask stripe setup-webhook` and `flask stripe check`: the Stripe account the app needs."""

from __future__ import annotations

import re
from pathlib import Path

import stripe

from creditapp.billing import clawbacks, stripe_events
from creditapp.billing.stripe_events import HANDLED_EVENTS
from creditapp.platform import stripe_client
from tests.conftest import free_port
from tests.support import stripe_helpers
from tests.support.stripe_helpers import checkout, wait_for_credits

stripe_env = stripe_helpers.stripe_env  # the fixture, shared by the billing test modules


def endpoints(url: str) -> list:
    listed = stripe_client.client().v1.webhook_endpoints.list(params={"limit": 100})
    return [e for e in listed.auto_paging_iter() if e.url == url]


def test_handled_events_are_exactly_stripes_money_lifecycle():
    assert sorted(HANDLED_EVENTS) == sorted(
        [
            "checkout.session.completed",
            "checkout.session.async_payment_succeeded",
            "checkout.session.async_payment_failed",
            "checkout.session.expired",
            "charge.refunded",
            "refund.created",
            "refund.updated",
            "refund.failed",
            "charge.refund.updated",
            "charge.dispute.created",
            "charge.dispute.updated",
            "charge.dispute.funds_withdrawn",
            "charge.dispute.funds_reinstated",
            "charge.dispute.closed",
            "payment_intent.succeeded",
            "payment_intent.payment_failed",
            "invoice.finalized",  # a purchase's invoice (DESIGN §21)
            "invoice.paid",
        ]
    )
    rereading = [
        t for t, handler in stripe_events.HANDLERS.items() if handler is stripe_events.money_taken_back
    ]
    assert sorted(rereading) == sorted(clawbacks.EVENTS)  # reconcile looks for these in the window


def test_operations_doc_lists_exactly_the_handled_events_for_the_endpoint():
    operations = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    stripe_section = operations.split("\n## Stripe\n", 1)[1].split("\n## ", 1)[0]
    endpoint_item = stripe_section.split("- Webhook endpoint:", 1)[1].split("\n- ", 1)[0]
    kinds = "checkout\\.session|charge|refund|payment_intent|invoice"
    listed = re.findall(rf"`((?:{kinds})\.[a-z_.]+)`", endpoint_item)

    assert sorted(listed) == sorted(HANDLED_EVENTS)


def test_setup_webhook_twice_leaves_one_endpoint_with_exactly_the_handled_events(stripe_env, runner):
    url = f"http://127.0.0.1:{free_port()}/webhooks/stripe"

    first = runner.invoke(args=["stripe", "setup-webhook", url])
    second = runner.invoke(args=["stripe", "setup-webhook", url])

    assert first.exit_code == 0, first.output
    assert "created webhook endpoint we_" in first.stdout
    assert "signing secret (set STRIPE_WEBHOOK_SECRET to it): whsec_" in first.stdout
    assert second.exit_code == 0, second.output
    assert "updated webhook endpoint we_" in second.stdout
    assert "whsec_" not in second.stdout
    (endpoint,) = endpoints(url)
    assert sorted(endpoint.enabled_events) == sorted(HANDLED_EVENTS)
    assert endpoint.api_version == stripe.api_version
    assert endpoint.status == "enabled"


def test_setup_webhook_updates_the_existing_endpoint_and_each_event_arrives_once(
    stripe_env, live_server, runner, client, make_user, sign_in_as
):
    url = f"{live_server}/webhooks/stripe"
    assert len(endpoints(url)) == 1  # the stand-in's endpoint, for every event

    result = runner.invoke(args=["stripe", "setup-webhook", url])

    assert result.exit_code == 0, result.output
    assert "updated webhook endpoint" in result.stdout
    (endpoint,) = endpoints(url)
    assert sorted(endpoint.enabled_events) == sorted(HANDLED_EVENTS)
    user = make_user(credits=500)
    sign_in_as(client, user)
    session_id = checkout(client, 500)
    stripe_env.pay(session_id)
    wait_for_credits(user, 1000)
    stripe_env.wait_until_idle()
    completed = stripe_helpers.event("checkout.session.completed", session_id)
    assert len(stripe_env.deliveries(event_id=completed["id"])) == 1


def test_setup_webhook_refuses_a_url_that_is_not_http(stripe_env, runner):
    result = runner.invoke(args=["stripe", "setup-webhook", "example.com/hooks"])

    assert result.exit_code == 2
    assert "https://" in result.stderr


def test_check_passes_on_a_good_setup(stripe_env, live_server, runner):
    result = runner.invoke(args=["stripe", "check"])

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[-1] == "Stripe matches the configuration"
    assert (
        "ok      STRIPE_SECRET_KEY: a test key, as expected (STRIPE_API_BASE points at a local stand-in)"
        in lines
    )
    for key in ("credits_100", "credits_500", "credits_1000"):
        assert any(line.startswith(f"ok      price {key}: price_") for line in lines), lines
    assert any(line.startswith(f"ok      webhook {live_server}/webhooks/stripe: we_") for line in lines)
    assert not [line for line in lines if line.startswith("problem")]


def test_check_lists_every_problem_and_exits_1_on_a_bad_setup(
    stripe_env, live_server, app, runner, monkeypatch
):
    stripe = stripe_client.client().v1
    prices = {p.lookup_key: p for p in stripe.prices.list(params={"limit": 100}).auto_paging_iter()}
    stripe.prices.update(prices["credits_100"].id, params={"active": False})
    stripe.prices.update(prices["credits_500"].id, params={"metadata": {"credits": "lots"}})
    (endpoint,) = endpoints(f"{live_server}/webhooks/stripe")
    stripe.webhook_endpoints.update(
        endpoint.id, params={"enabled_events": ["checkout.session.completed"], "disabled": True}
    )
    monkeypatch.setitem(app.config, "STRIPE_SECRET_KEY", "sk_live_not_for_a_stand_in")

    result = runner.invoke(args=["stripe", "check", "--url", f"{live_server}/webhooks/stripe"])
    missing_url = runner.invoke(args=["stripe", "check", "--url", "https://nowhere.example/webhooks/stripe"])

    assert result.exit_code == 1
    out = result.stdout
    assert (
        "problem STRIPE_SECRET_KEY: is a live key; expected a test key "
        "(STRIPE_API_BASE points at a local stand-in)" in out
    )
    assert "problem price credits_100: only an inactive Price has this lookup key" in out
    assert (
        f"problem price credits_500: {prices['credits_500'].id} has metadata.credits 'lots', not a count"
        in out
    )
    assert "ok      price credits_1000" in out
    assert f"problem webhook {live_server}/webhooks/stripe: {endpoint.id} is disabled" in out
    assert "does not send: checkout.session.async_payment_succeeded" in out
    assert "5 problem(s) found" in result.stderr
    assert missing_url.exit_code == 1
    assert "problem webhook https://nowhere.example/webhooks/stripe: no endpoint" in missing_url.stdout
