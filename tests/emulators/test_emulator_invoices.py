"""The Stripe stand-in's Invoices API, as an automatic top-up uses it: a draft, its item,
finalization (number, tax from the Customer's address and VAT number) and payment off-session.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
import stripe

from .buyers import ANNA, customer_with_card, pdf_text


def _top_up(stripe_client, customer: str, price: str, key: str) -> Any:
    invoice = stripe_client.v1.invoices.create(
        params={"customer": customer, "automatic_tax": {"enabled": True}, "metadata": {"topup": "1"}},
        options={"idempotency_key": f"{key}-invoice"},
    )
    stripe_client.v1.invoice_items.create(
        params={"customer": customer, "invoice": invoice.id, "price": price},
        options={"idempotency_key": f"{key}-item"},
    )
    return stripe_client.v1.invoices.finalize_invoice(invoice.id)


def test_a_top_up_invoice_is_finalized_and_paid_off_session_with_the_saved_card(
    emulator, stripe_client, create_session, price_ids, webhook_receiver
):
    customer, method = customer_with_card(emulator, stripe_client, create_session)
    emulator.wait_until_idle()  # Checkout's own events have landed
    webhook_receiver.clear()

    finalized = _top_up(stripe_client, customer, price_ids["credits_100"], "t1")
    assert (finalized.status, finalized.number.endswith("-0002")) == ("open", True)  # Checkout's was -0001
    assert (finalized.subtotal, finalized.total, finalized.amount_due) == (500, 500, 500)
    assert finalized.total_taxes[0].taxability_reason == "reverse_charge"
    assert finalized.customer_tax_ids[0].value == "FR12345678901"

    paid = stripe_client.v1.invoices.pay(finalized.id, params={"payment_method": method, "off_session": True})

    assert (paid.status, paid.amount_paid, paid.amount_remaining) == ("paid", 500, 0)
    again = stripe_client.v1.invoices.retrieve(
        paid.id, params={"expand": ["payments.data.payment.payment_intent"]}
    )
    intent = again.payments.data[0].payment.payment_intent
    assert (intent.status, intent.amount, intent.payment_method) == ("succeeded", 500, method)
    types = [d.event_type for d in webhook_receiver.wait_for(lambda d: True, count=8)]
    assert types == [
        "invoice.created",
        "invoiceitem.created",
        "invoice.finalized",
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.succeeded",
        "invoice.paid",
        "invoice.payment_succeeded",
    ]
    assert "Amount paid $5.00" in pdf_text(paid.invoice_pdf)
    with pytest.raises(stripe.InvalidRequestError, match="already paid"):
        stripe_client.v1.invoices.pay(paid.id, params={"payment_method": method, "off_session": True})


def test_a_consumer_top_up_is_taxed_at_their_country_rate(emulator, stripe_client, create_session, price_ids):
    customer, method = customer_with_card(emulator, stripe_client, create_session, billing=ANNA)

    invoice = _top_up(stripe_client, customer, price_ids["credits_500"], "t2")

    assert (invoice.subtotal, invoice.total) == (2000, 2380)
    paid = stripe_client.v1.invoices.pay(invoice.id, params={"payment_method": method, "off_session": True})
    assert paid.amount_paid == 2380


@pytest.mark.parametrize(
    ("card", "code", "events"),
    [
        ("0341", "card_declined", ["invoice.payment_failed"]),
        ("3184", "authentication_required", ["invoice.payment_action_required", "invoice.payment_failed"]),
    ],
)
def test_a_declined_top_up_leaves_the_invoice_open(
    emulator, stripe_client, create_session, price_ids, card, code, events
):
    customer, method = customer_with_card(emulator, stripe_client, create_session, card=card)
    invoice = _top_up(stripe_client, customer, price_ids["credits_100"], f"t-{card}")

    with pytest.raises(stripe.CardError) as declined:
        stripe_client.v1.invoices.pay(invoice.id, params={"payment_method": method, "off_session": True})

    assert declined.value.code == code
    after = stripe_client.v1.invoices.retrieve(invoice.id)
    assert (after.status, after.attempt_count, after.amount_paid) == ("open", 1, 0)
    sent = [
        e.type
        for e in stripe_client.v1.events.list(params={"type": "invoice.payment_*"}).data
        if e.data.object.id == invoice.id
    ]
    assert sorted(sent) == sorted(events)


def test_an_invoice_paid_with_the_same_key_is_charged_once(
    emulator, stripe_client, create_session, price_ids
):
    customer, method = customer_with_card(emulator, stripe_client, create_session)
    invoice = _top_up(stripe_client, customer, price_ids["credits_100"], "t3")
    pay = {"payment_method": method, "off_session": True}

    first = stripe_client.v1.invoices.pay(invoice.id, params=pay, options={"idempotency_key": "pay-t3"})
    second = stripe_client.v1.invoices.pay(invoice.id, params=pay, options={"idempotency_key": "pay-t3"})

    assert first.status == second.status == "paid"
    assert (
        len(stripe_client.v1.payment_intents.list(params={"customer": customer}).data) == 2
    )  # Checkout's + this


def test_finalizing_with_automatic_tax_needs_the_customers_country(stripe_client, price_ids):
    customer = stripe_client.v1.customers.create(params={"email": "nowhere@example.com"})
    invoice = stripe_client.v1.invoices.create(
        params={"customer": customer.id, "automatic_tax": {"enabled": True}}
    )
    stripe_client.v1.invoice_items.create(
        params={"customer": customer.id, "invoice": invoice.id, "amount": 700, "currency": "usd"}
    )

    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.invoices.finalize_invoice(invoice.id)

    assert refused.value.code == "customer_tax_location_invalid"
    assert stripe_client.v1.invoices.retrieve(invoice.id).status == "draft"


def test_pending_items_join_an_invoice_only_when_asked(stripe_client, price_ids):
    customer = stripe_client.v1.customers.create(params={"email": "p@example.com"})
    stripe_client.v1.invoice_items.create(
        params={"customer": customer.id, "price": price_ids["credits_100"], "quantity": 2}
    )

    empty = stripe_client.v1.invoices.create(params={"customer": customer.id})
    full = stripe_client.v1.invoices.create(
        params={"customer": customer.id, "pending_invoice_items_behavior": "include"}
    )

    assert (empty.total, full.total, full.lines.data[0].quantity) == (0, 1000, 2)
    finalized = stripe_client.v1.invoices.finalize_invoice(empty.id)
    assert finalized.status == "paid"  # nothing to pay: Stripe marks it paid at once
    with pytest.raises(stripe.InvalidRequestError, match="draft"):
        stripe_client.v1.invoice_items.create(
            params={"customer": customer.id, "invoice": empty.id, "amount": 1, "currency": "usd"}
        )


def test_a_draft_has_no_pages(emulator, stripe_client):
    customer = stripe_client.v1.customers.create(params={"email": "d@example.com"})
    draft = stripe_client.v1.invoices.create(params={"customer": customer.id})
    assert draft.hosted_invoice_url is None and draft.invoice_pdf is None
    http = requests.Session()
    http.trust_env = False
    assert http.get(f"{emulator.base_url}/i/{draft.id}/pdf", timeout=10).status_code == 404
