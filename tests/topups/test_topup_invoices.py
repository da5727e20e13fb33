"""Automatic top-ups charged through a Stripe Invoice (DESIGN §21): the invoice paid off-session
with the saved card, kept on the purchase, named in the one receipt e-mail, whoever of the
worker and the `invoice.paid` webhook settles it first. Against the Stripe stand-in."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from creditapp import ledger
from creditapp.billing import invoices
from creditapp.extensions import db
from creditapp.models import AutoRechargeSettings, CreditPurchase, Notification, User, utcnow
from creditapp.platform import stripe_client
from creditapp.topups import charging, invoicing
from tests.support.jobs import run_queued
from tests.support.stripe_helpers import (
    checkout,
    credits,
    emulator_config,
    event,
    post_event,
    wait_for,
    wait_for_credits,
)
from tests.support.threads import race
from tests.topups.conftest import enable, recharges, settings
from tests.topups.test_topup_emails import RECEIPT, settle_everything, subjects

BERLIN = {"line1": "Unter den Linden 5", "postal_code": "10117", "city": "Berlin", "country": "DE"}


def test_a_top_up_is_charged_through_a_paid_invoice_that_its_receipt_e_mail_links(
    app, topups, client, card_user
):
    user = card_user(start=150, email="invoiced@example.com")
    enable(client, threshold=300)

    ledger.hold(user, "image", 10)
    settle_everything(app, topups)

    [done] = recharges(user, "completed")
    assert credits(user) == 340
    invoice = stripe_client.client().v1.invoices.retrieve(done.stripe_invoice_id).to_dict()
    assert invoice["status"] == "paid" and invoice["amount_paid"] == 500
    assert invoice["metadata"]["purchase_id"] == str(done.id)
    assert (done.invoice_number, done.invoice_pdf_url) == (invoice["number"], invoice["invoice_pdf"])
    assert done.stripe_payment_intent_id == invoices.paying_intent(
        stripe_client.client().v1.invoices.retrieve(invoice["id"], params={"expand": ["payments"]}).to_dict()
    )
    [mail] = topups.mail("invoiced@example.com")
    assert mail["subject"] == RECEIPT
    assert f"Invoice {invoice['number']}: {invoice['hosted_invoice_url']}" in mail["text"]
    assert invoice["invoice_pdf"] in mail["text"]


def test_a_top_up_with_automatic_tax_adds_the_buyers_vat_and_grants_the_packs_credits(
    app, topups, client, make_user, sign_in_as, monkeypatch
):
    monkeypatch.setitem(app.config, "STRIPE_AUTOMATIC_TAX", True)
    user = make_user(credits=150, email="taxed-topup@example.com")
    sign_in_as(client, user)
    session_id = checkout(client, 100, save_card="1")  # the address is kept on the Customer
    topups.pay(session_id, billing={"name": "Anna Schmidt", "address": BERLIN})
    wait_for_credits(user, 250)
    wait_for(lambda: settings(user) and settings(user).card_last4, what="the card saved")
    enable(client, threshold=300)

    ledger.hold(user, "image", 10)
    settle_everything(app, topups)

    [done] = recharges(user, "completed")
    assert credits(user) == 340  # the pack's 100, whatever the tax
    assert (done.amount_subtotal, done.amount_tax, done.amount_paid) == (500, 95, 595)
    html = client.get(f"/history/purchases/{done.id}").get_data(as_text=True)
    assert "$0.95" in html and "$5.95" in html and done.invoice_number in html
    assert "Visa ending in 4242" in html  # the saved card that paid it


def invoice_paid_answer_lost(user_id: int, purchase_id: int) -> dict[str, Any]:
    """The worker invoiced the top-up and paid the invoice, but neither its answer nor the
    webhook arrived: the paid invoice exists at Stripe, and its id on the purchase (kept before
    paying, as the worker does)."""
    db.session.rollback()
    purchase = db.session.get(CreditPurchase, purchase_id, populate_existing=True)
    method = db.session.get(AutoRechargeSettings, user_id, populate_existing=True).payment_method_id
    customer = db.session.get(User, user_id).stripe_customer_id
    metadata = {"purchase_id": str(purchase_id), "user_id": str(user_id), "source": "auto_recharge"}
    client = stripe_client.client()
    draft = client.v1.invoices.create(
        params={"customer": customer, "metadata": metadata, "auto_advance": False}
    )
    table = CreditPurchase.__table__
    db.session.execute(
        sa.update(table)
        .where(table.c.id == purchase_id)
        .values(stripe_invoice_id=draft.id, charge_attempted_at=utcnow())
    )
    db.session.commit()
    client.v1.invoice_items.create(
        params={
            "customer": customer,
            "invoice": draft.id,
            "amount": purchase.amount_paid,
            "currency": purchase.currency,
        }
    )
    client.v1.invoices.finalize_invoice(draft.id)
    paid = client.v1.invoices.pay(draft.id, params={"off_session": True, "payment_method": method})
    assert paid.status == "paid"
    return paid.to_dict()


def test_the_worker_and_the_invoice_paid_webhook_racing_credit_once_and_send_one_receipt(
    app, topups, client, card_user, live_server
):
    user = card_user(start=150, email="invoice-race@example.com")
    enable(client, threshold=300)
    with emulator_config(topups, live_server, webhooks_enabled=False):
        ledger.hold(user, "image", 10)
        [pending] = recharges(user, "pending")
        app.extensions["jobs"].money_huey.flush()
        invoice = invoice_paid_answer_lost(user, pending.id)
    # As Stripe sends it (the SDK reads its decimal fields as Decimal: back to JSON numbers).
    paid_event = json.dumps(event("invoice.paid", invoice["id"]), default=float).encode()

    def complete(i: int) -> object:
        if i % 2:
            return post_event(live_server, paid_event).status_code  # Stripe's webhook
        return invoicing.settle_paid_invoice(pending.id, invoice, charging.settle)  # the worker

    outcomes = race(app, complete, 8)
    run_queued(app)

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert credits(user) == 340
    db.session.rollback()
    receipts = db.session.scalars(sa.select(Notification).where(Notification.kind == "topup_receipt")).all()
    assert [(r.status, r.dedupe_key) for r in receipts] == [("sent", f"topup-receipt:{pending.id}")]
    assert subjects(topups, "invoice-race@example.com") == [RECEIPT]
    [mail] = topups.mail("invoice-race@example.com")
    assert invoice["number"] in mail["text"]
    assert ledger.audit() == []


def test_a_top_up_whose_paid_invoice_answer_was_lost_is_settled_from_the_invoice(
    app, topups, client, card_user, live_server
):
    user = card_user(start=150)
    enable(client, threshold=300)
    with emulator_config(topups, live_server, webhooks_enabled=False):
        ledger.hold(user, "image", 10)
        [pending] = recharges(user, "pending")
        app.extensions["jobs"].money_huey.flush()
        invoice_paid_answer_lost(user, pending.id)

    outcome = charging.recover(pending.id)

    assert outcome == "succeeded" and credits(user) == 340
    [done] = recharges(user, "completed")
    assert done.invoice_number and done.stripe_payment_intent_id


def test_with_automatic_tax_a_card_saved_without_an_address_fails_its_top_up_and_charges_nothing(
    app, topups, client, card_user, monkeypatch
):
    user = card_user(start=150, email="no-address@example.com")  # saved before tax was on
    enable(client, threshold=300)
    monkeypatch.setitem(app.config, "STRIPE_AUTOMATIC_TAX", True)

    ledger.hold(user, "image", 10)
    settle_everything(app, topups)

    [failed] = recharges(user, "failed")
    assert credits(user) == 240 and failed.stripe_payment_intent_id is None
    invoice = stripe_client.client().v1.invoices.retrieve(failed.stripe_invoice_id).to_dict()
    assert invoice["status"] == "draft" and invoice["amount_paid"] == 0
    [mail] = topups.mail("no-address@example.com")
    assert mail["subject"] == "Automatic top-up failed" and "Stripe refused the payment." in mail["text"]


def test_a_declined_top_ups_invoice_paid_later_credits_its_credits_once(app, topups, client, card_user):
    user = card_user(card="0341", start=150, email="paid-later@example.com")  # declines off-session
    enable(client, threshold=300)
    ledger.hold(user, "image", 10)
    settle_everything(app, topups)
    [failed] = recharges(user, "failed")
    assert credits(user) == 240

    # The open invoice is paid after all (the person on its hosted page, with the same card).
    method = db.session.get(AutoRechargeSettings, user).payment_method_id
    paid = stripe_client.client().v1.invoices.pay(failed.stripe_invoice_id, params={"payment_method": method})
    assert paid.status == "paid"
    settle_everything(app, topups)

    [done] = recharges(user, "completed")
    assert done.id == failed.id and credits(user) == 340  # the money Stripe took is credited
    assert subjects(topups, "paid-later@example.com") == ["Automatic top-up failed", RECEIPT]
    assert done.stripe_payment_intent_id == invoices.paying_intent(
        stripe_client.client().v1.invoices.retrieve(paid.id, params={"expand": ["payments"]}).to_dict()
    )
    assert ledger.audit() == []
