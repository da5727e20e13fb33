"""Every object and event the Stripe stand-in serves, checked against Stripe's own description.

Each test runs one money flow through the real SDK, records every ``/v1`` answer on the wire
and every webhook delivered, and checks each object (list items, expansions and each
event's ``data.object`` included) against Stripe's schemas (``stripe_spec.py``). The totals
are printed at the end of the run (``Stripe fidelity: …``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
import stripe

from .conftest import WEBHOOK_SECRET
from .stripe_spec import TOTALS, Fidelity


class Recorder:
    """The ``/v1`` answers the SDK received, as parsed JSON, with the request that got each."""

    def __init__(self) -> None:
        self.answers: list[tuple[str, object]] = []

    def __call__(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        if "/v1/" in response.url:
            self.answers.append(
                (f"{response.request.method} {response.url.split('/v1/', 1)[1]}", response.json())
            )


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def sdk(emulator, recorder: Recorder) -> stripe.StripeClient:
    """The official SDK, its HTTP answers recorded."""
    session = requests.Session()
    session.trust_env = False
    session.hooks["response"].append(recorder)
    return stripe.StripeClient(
        "sk_test_fidelity",
        base_addresses={"api": emulator.base_url},
        http_client=stripe.RequestsClient(session=session),
        max_network_retries=0,
    )


@pytest.fixture
def check(emulator, recorder: Recorder, webhook_receiver) -> Iterator[Fidelity]:
    """After the test's flow: check every answer and every delivered event; none may differ."""
    found = Fidelity()
    yield found
    emulator.wait_until_idle()
    for where, answer in recorder.answers:
        found.check(answer, where)
    for delivery in list(webhook_receiver.deliveries):
        event = stripe.Webhook.construct_event(
            delivery.body, delivery.headers["Stripe-Signature"], WEBHOOK_SECRET
        )
        found.check(event.to_dict(), f"webhook {event.type}")
    TOTALS.add(found)
    assert found.objects > 0
    assert found.mismatches == [], "\n".join(found.mismatches[:40])


def _session(sdk: stripe.StripeClient, lookup_key: str = "credits_500", **extra) -> stripe.checkout.Session:
    [price] = sdk.v1.prices.list(params={"lookup_keys": [lookup_key], "expand": ["data.product"]}).data
    params = {
        "mode": "payment",
        "line_items": [{"price": price.id, "quantity": 1}],
        "success_url": "http://127.0.0.1:5999/ok?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://127.0.0.1:5999/cancel",
        "client_reference_id": "42",
        "customer_email": "buyer@example.com",
        "metadata": {"purchase_id": "7"},
        "payment_intent_data": {"metadata": {"purchase_id": "7"}},
        **extra,
    }
    return sdk.v1.checkout.sessions.create(params={k: v for k, v in params.items() if v is not None})


def _read_everything(sdk: stripe.StripeClient, session_id: str) -> None:
    """Retrieve and list what the flow made, with the expansions the app uses."""
    session = sdk.v1.checkout.sessions.retrieve(
        session_id, params={"expand": ["line_items", "payment_intent.latest_charge"]}
    )
    sdk.v1.checkout.sessions.line_items.list(session_id)
    sdk.v1.checkout.sessions.list(params={"status": session.status, "limit": 3})
    if session.payment_intent:
        intent = sdk.v1.payment_intents.retrieve(session.payment_intent.id)
        sdk.v1.payment_intents.list()
        if intent.latest_charge:
            sdk.v1.charges.retrieve(intent.latest_charge, params={"expand": ["refunds"]})
            sdk.v1.charges.list(params={"payment_intent": intent.id})
            sdk.v1.refunds.list(params={"charge": intent.latest_charge})
            sdk.v1.disputes.list(params={"payment_intent": intent.id})
    for event in sdk.v1.events.list(params={"limit": 100}).data:
        sdk.v1.events.retrieve(event.id)


def test_a_paid_checkout_matches_stripe(emulator, sdk, check):
    session = _session(sdk)
    emulator.pay(session.id)
    sdk.v1.products.list()
    sdk.v1.products.retrieve(sdk.v1.prices.list().data[0].product)
    _read_everything(sdk, session.id)


def test_delayed_payments_that_settle_or_fail_match_stripe(emulator, sdk, check):
    paid, failed = _session(sdk, "credits_100"), _session(sdk, "credits_1000")
    emulator.pay(paid.id, "async_pending")
    emulator.settle(paid.id, "succeeded")
    emulator.pay(failed.id, "async_pending")
    emulator.settle(failed.id, "failed")
    _read_everything(sdk, paid.id)
    _read_everything(sdk, failed.id)


def test_declined_and_expired_checkouts_match_stripe(emulator, sdk, check):
    declined, expired, by_control = _session(sdk), _session(sdk), _session(sdk)
    emulator.pay(declined.id, "declined")
    sdk.v1.checkout.sessions.expire(expired.id)
    emulator.expire(by_control.id)
    for session in (declined, expired, by_control):
        _read_everything(sdk, session.id)


def test_refunds_that_succeed_fail_or_are_canceled_match_stripe(emulator, sdk, check):
    session = _session(sdk)
    intent_id = emulator.pay(session.id)["session"]["payment_intent"]
    charge_id = sdk.v1.payment_intents.retrieve(intent_id).latest_charge
    refund = sdk.v1.refunds.create(params={"payment_intent": intent_id, "amount": 800, "reason": "duplicate"})
    emulator.fail_refund(refund.id)
    sdk.v1.refunds.create(params={"charge": charge_id, "amount": 400, "metadata": {"note": "goodwill"}})
    emulator.configure(new_refund_status="pending")
    pending = sdk.v1.refunds.create(params={"charge": charge_id, "amount": 300})
    emulator.succeed_refund(pending.id)
    canceled = sdk.v1.refunds.create(params={"charge": charge_id, "amount": 200})
    emulator.cancel_refund(canceled.id)
    sdk.v1.refunds.retrieve(refund.id)
    sdk.v1.refunds.list(params={"payment_intent": intent_id, "limit": 2})
    _read_everything(sdk, session.id)


def test_disputes_inquiries_escalations_won_and_lost_match_stripe(emulator, sdk, check):
    charges = []
    for _ in range(4):
        intent_id = emulator.pay(_session(sdk).id)["session"]["payment_intent"]
        charges.append(sdk.v1.payment_intents.retrieve(intent_id).latest_charge)
    inquiry = emulator.inquiry(charges[0])
    emulator.escalate_dispute(inquiry["id"])
    emulator.close_dispute(inquiry["id"], "lost")
    warning = emulator.inquiry(charges[1], amount=500)
    emulator.close_dispute(warning["id"], "warning_closed")
    won = emulator.dispute(charges[1])
    emulator.close_dispute(won["id"], "won")
    sdk.v1.refunds.create(params={"charge": charges[2], "amount": 1000})
    accepted = emulator.dispute(charges[2])
    sdk.v1.disputes.close(accepted["id"])
    emulator.inquiry(charges[3])
    for dispute in sdk.v1.disputes.list(params={"limit": 100}).data:
        sdk.v1.disputes.retrieve(dispute.id)
        sdk.v1.charges.retrieve(dispute.charge)
    for event in sdk.v1.events.list(params={"type": "charge.dispute.*", "limit": 100}).data:
        sdk.v1.events.retrieve(event.id)


def test_webhook_endpoints_match_stripe(emulator, sdk, check):
    created = sdk.v1.webhook_endpoints.create(
        params={
            "url": "http://127.0.0.1:9/hooks",
            "enabled_events": ["charge.refunded", "refund.failed"],
            "description": "refunds",
            "metadata": {"team": "billing"},
            "api_version": "2026-10-28.endive",
        }
    )
    sdk.v1.webhook_endpoints.retrieve(created.id)
    sdk.v1.webhook_endpoints.update(created.id, params={"enabled_events": ["*"], "disabled": True})
    sdk.v1.webhook_endpoints.list()
    sdk.v1.webhook_endpoints.delete(created.id)


def test_refusals_are_stripe_error_bodies(emulator, sdk, recorder, check):
    refusals = [
        lambda: sdk.v1.checkout.sessions.retrieve("cs_test_missing"),
        lambda: sdk.v1.refunds.create(params={"charge": "ch_missing"}),
        lambda: sdk.v1.refunds.create(params={}),
        lambda: sdk.v1.prices.list(params={"limit": 1000}),
        lambda: _session(sdk, expires_at="x"),
        lambda: _session(sdk, automatic_tax={"enabled": True, "bogus": "1"}),
        lambda: sdk.v1.webhook_endpoints.create(params={"url": "http://127.0.0.1:9/x"}),
        lambda: sdk.v1.events.list(params={"bogus": "1"}),
    ]
    for refuse in refusals:
        with pytest.raises(stripe.InvalidRequestError):
            refuse()
    assert sum(1 for _where, answer in recorder.answers if "error" in answer) == len(refusals)


def _saved_card(emulator, sdk: stripe.StripeClient, card: str) -> tuple[str, str]:
    """A Customer whose card (one of the hosted page's test cards) was saved at Checkout."""
    customer = sdk.v1.customers.create(params={"email": "saver@example.com", "metadata": {"user_id": "7"}})
    session = _session(
        sdk,
        customer_email=None,
        customer=customer.id,
        payment_intent_data={"metadata": {"purchase_id": "7"}, "setup_future_usage": "off_session"},
    )
    emulator.pay(session.id, card=card)
    return customer.id, sdk.v1.payment_methods.list(params={"customer": customer.id, "type": "card"}).data[
        0
    ].id


def _charge_off_session(sdk: stripe.StripeClient, customer: str, method: str, key: str):
    params = {
        "amount": 2000,
        "currency": "usd",
        "customer": customer,
        "payment_method": method,
        "off_session": True,
        "confirm": True,
        "metadata": {"purchase_id": "8"},
    }
    return sdk.v1.payment_intents.create(params=params, options={"idempotency_key": key})


def test_saved_cards_and_off_session_charges_match_stripe(emulator, sdk, check):
    customer, method = _saved_card(emulator, sdk, "4242")
    sdk.v1.customers.retrieve(customer)
    sdk.v1.payment_methods.retrieve(method)
    intent = _charge_off_session(sdk, customer, method, "fidelity-ok")
    replayed = _charge_off_session(sdk, customer, method, "fidelity-ok")
    assert intent.status == replayed.status == "succeeded" and intent.id == replayed.id
    sdk.v1.charges.retrieve(intent.latest_charge)
    sdk.v1.payment_intents.list(params={"customer": customer})
    sdk.v1.payment_methods.detach(method)


@pytest.mark.parametrize(("card", "code"), [("0341", "card_declined"), ("3184", "authentication_required")])
def test_off_session_declines_match_stripe(emulator, sdk, check, card, code):
    customer, method = _saved_card(emulator, sdk, card)
    with pytest.raises(stripe.CardError) as raised:
        _charge_off_session(sdk, customer, method, f"fidelity-{card}")
    assert raised.value.code == code
    intent = raised.value.error.payment_intent
    assert intent.status == ("requires_payment_method" if card == "0341" else "requires_action")
    sdk.v1.payment_intents.retrieve(intent.id)


@pytest.mark.parametrize("method", ["link", "us_bank_account", "sepa_debit"])
def test_link_and_bank_debits_saved_at_checkout_match_stripe(emulator, sdk, check, method):
    customer = sdk.v1.customers.create(params={"email": "saver@example.com"})
    session = _session(
        sdk,
        customer_email=None,
        customer=customer.id,
        payment_intent_data={"metadata": {"purchase_id": "7"}, "setup_future_usage": "off_session"},
    )
    paid = emulator.pay(session.id, method=method)["session"]
    if method != "link":  # a bank debit is processing until it settles
        assert paid["payment_status"] == "unpaid"
        emulator.settle(session.id, "succeeded")
    [saved] = sdk.v1.payment_methods.list(params={"customer": customer.id, "type": method}).data
    assert saved.type == method
    intent = sdk.v1.payment_intents.retrieve(
        paid["payment_intent"], params={"expand": ["latest_charge", "payment_method"]}
    )
    assert intent.latest_charge.payment_method_details.type == method
    if method == "link":  # Link is charged off-session like a card
        assert _charge_off_session(sdk, customer.id, saved.id, "fidelity-link").status == "succeeded"
    _read_everything(sdk, session.id)


TAXED = {
    "invoice_creation": {"enabled": True, "invoice_data": {"description": "Credits", "metadata": {"k": "v"}}},
    "automatic_tax": {"enabled": True},
    "billing_address_collection": "required",
    "tax_id_collection": {"enabled": True},
}


def _billing(country: str, vat: str | None = None) -> dict:
    address = {"line1": "1 Road", "postal_code": "12345", "city": "Town", "country": country}
    return {"name": f"Buyer {country}", "address": address, **({"tax_id": vat} if vat else {})}


def _read_invoice(sdk: stripe.StripeClient, invoice_id: str) -> None:
    sdk.v1.invoices.retrieve(invoice_id)
    sdk.v1.invoices.retrieve(invoice_id, params={"expand": ["customer", "payments"]})


def test_taxed_checkouts_with_invoices_match_stripe(emulator, sdk, check):
    buyers = [_billing("DE"), _billing("FR", "FR12345678901"), _billing("US"), _billing("DE", "DE811111111")]
    for index, billing in enumerate(buyers):
        session = _session(sdk, "credits_500", **TAXED)
        paid = emulator.pay(session.id, billing=billing, discount_percent=10 if index == 3 else None)
        _read_everything(sdk, session.id)
        _read_invoice(sdk, paid["session"]["invoice"])
    delayed = _session(sdk, "credits_100", **TAXED)
    emulator.pay(delayed.id, "async_pending", billing=_billing("FR"))
    _read_invoice(sdk, emulator.settle(delayed.id, "succeeded")["invoice"])
    _read_everything(sdk, delayed.id)


def test_a_customers_checkout_and_top_up_invoices_match_stripe(emulator, sdk, check):
    prices = {p.lookup_key: p.id for p in sdk.v1.prices.list().data}
    for card in ("4242", "0341"):
        customer = sdk.v1.customers.create(params={"email": "firm@example.com"})
        session = _session(
            sdk,
            customer_email=None,
            customer=customer.id,
            customer_update={"name": "auto", "address": "auto"},
            payment_intent_data={"setup_future_usage": "off_session"},
            **TAXED,
        )
        emulator.pay(session.id, billing=_billing("FR", "FR12345678901"), card=card)
        sdk.v1.customers.retrieve(customer.id)
        method = sdk.v1.payment_methods.list(params={"customer": customer.id}).data[0].id
        invoice = sdk.v1.invoices.create(params={"customer": customer.id, "automatic_tax": {"enabled": True}})
        sdk.v1.invoice_items.create(
            params={"customer": customer.id, "invoice": invoice.id, "price": prices["credits_100"]}
        )
        sdk.v1.invoice_items.create(params={"customer": customer.id, "amount": 250, "currency": "usd"})
        sdk.v1.invoices.finalize_invoice(invoice.id)
        try:
            sdk.v1.invoices.pay(invoice.id, params={"payment_method": method, "off_session": True})
        except stripe.CardError:
            assert card == "0341"
        _read_invoice(sdk, invoice.id)
        pending = sdk.v1.invoices.create(
            params={"customer": customer.id, "pending_invoice_items_behavior": "include"}
        )
        sdk.v1.invoices.pay(pending.id, params={"payment_method": method})
        _read_invoice(sdk, pending.id)
