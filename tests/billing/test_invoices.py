"""Invoices and tax for Checkout purchases (DESIGN §21): the credits are the pack's whatever the
tax; the purchase keeps and shows subtotal, tax, total and its invoice, whose PDF names the
buyer; the receipt e-mail goes out once. Against the Stripe stand-in, its webhooks into the live
app, real SMTP into its sink."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from flask import Flask

from creditapp.extensions import db
from creditapp.models import CreditPurchase, Notification
from creditapp.staff import members
from tests.support import stripe_helpers
from tests.support.jobs import run_queued
from tests.support.stripe_helpers import (
    checkout,
    emulator_config,
    event,
    post_event,
    purchase,
    wait_for,
    wait_for_credits,
)

stripe_env = stripe_helpers.stripe_env

BERLIN = {"line1": "Unter den Linden 5", "postal_code": "10117", "city": "Berlin", "country": "DE"}
PARIS = {"line1": "10 rue de Rivoli", "postal_code": "75001", "city": "Paris", "country": "FR"}
NEW_YORK = {"line1": "350 Fifth Avenue", "postal_code": "10118", "city": "New York", "country": "US"}


@pytest.fixture
def taxed(app: Flask, stripe_env, monkeypatch) -> Iterator[Any]:
    """Invoices and automatic tax on, e-mail into the stand-ins' sink."""
    monkeypatch.setitem(app.config, "STRIPE_AUTOMATIC_TAX", True)
    monkeypatch.setitem(app.config, "STRIPE_INVOICES", True)
    monkeypatch.setitem(app.config, "SMTP_URL", stripe_env.smtp_url)
    return stripe_env


def buy(stripe_env, client, user_id: int, billing: dict[str, Any], pack: int = 500) -> CreditPurchase:
    """Check out a pack, pay it with this billing address (and VAT number), wait until it is
    credited and its invoice recorded; the purchase as stored."""
    session_id = checkout(client, pack)
    stripe_env.pay(session_id, billing=billing)
    wait_for(
        lambda: purchase(session_id).payment_recorded_at and purchase(session_id).invoice_number,
        what="the payment and invoice recorded",
    )
    return purchase(session_id)


def pdf_text(url: str) -> str:
    """The text of every page of the PDF at `url`, as a PDF reader extracts it."""
    from pypdf import PdfReader

    with requests.Session() as http:
        http.trust_env = False
        answer = http.get(url, timeout=10)
    assert answer.status_code == 200 and answer.content.startswith(b"%PDF-")
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(answer.content)).pages)


def receipt_lines(html: str) -> dict[str, str]:
    """The receipt's lines as label → text."""
    found = re.findall(r"<dt>([^<]+)</dt><dd[^>]*>(.*?)</dd>", html, re.S)
    return {label: re.sub(r"<[^>]+>", "", text).strip() for label, text in found}


def test_a_consumer_in_germany_pays_19_percent_vat_on_top_and_gets_the_packs_credits(
    taxed, client, make_user, sign_in_as
):
    user = make_user(credits=500, email="anna@example.com")
    sign_in_as(client, user)

    bought = buy(taxed, client, user, {"name": "Anna Schmidt", "address": BERLIN})

    wait_for_credits(user, 1000)  # the pack's 500, not more for the tax
    assert (bought.amount_subtotal, bought.amount_tax, bought.amount_paid) == (2000, 380, 2380)
    assert bought.stripe_invoice_id.startswith("in_") and bought.invoice_pdf_url and bought.invoice_url
    lines = receipt_lines(client.get(f"/history/purchases/{bought.id}").get_data(as_text=True))
    assert lines["Invoice"] == bought.invoice_number
    assert (lines["Subtotal"], lines["Tax"], lines["Total"]) == ("$20.00", "$3.80", "$23.80")
    assert lines.get("Paid with") == "Visa ending in 4242", lines
    assert lines["Date"] and "Download invoice" in lines["Invoice PDF"]
    text = pdf_text(bought.invoice_pdf_url)
    for expected in (bought.invoice_number, "Anna Schmidt", "Berlin", "3.80", "23.80"):
        assert expected in text


def test_a_business_in_france_with_a_vat_number_pays_no_vat_under_the_reverse_charge(
    taxed, client, make_user, sign_in_as
):
    user = make_user(credits=500, email="ap@example.fr")
    sign_in_as(client, user)

    bought = buy(taxed, client, user, {"name": "Exemple SARL", "address": PARIS, "tax_id": "FR12345678901"})

    wait_for_credits(user, 1000)
    assert (bought.amount_subtotal, bought.amount_tax, bought.amount_paid) == (2000, 0, 2000)
    lines = receipt_lines(client.get(f"/history/purchases/{bought.id}").get_data(as_text=True))
    assert (lines["Subtotal"], lines["Tax"], lines["Total"]) == ("$20.00", "$0.00", "$20.00")
    text = pdf_text(bought.invoice_pdf_url)
    for expected in (bought.invoice_number, "Exemple SARL", "FR12345678901", "0.00", "20.00"):
        assert expected in text
    assert "reverse charge" in text.lower()


def test_someone_in_a_country_without_tax_pays_the_price_alone(taxed, client, make_user, sign_in_as):
    user = make_user(credits=500)
    sign_in_as(client, user)

    bought = buy(taxed, client, user, {"name": "Sam Lee", "address": NEW_YORK}, pack=100)

    wait_for_credits(user, 600)
    assert (bought.amount_subtotal, bought.amount_tax) == (bought.amount_paid, 0)
    text = pdf_text(bought.invoice_pdf_url)
    assert bought.invoice_number in text and "Sam Lee" in text


def test_checkout_asks_stripe_for_the_invoice_tax_address_and_vat_number(
    taxed, client, make_user, sign_in_as
):
    sign_in_as(client, make_user())

    session_id = checkout(client, 100)

    held = stripe_helpers.session(session_id)  # the session as Stripe holds it
    assert held["invoice_creation"]["enabled"] is True
    assert held["invoice_creation"]["invoice_data"]["metadata"]["purchase_id"] == str(purchase(session_id).id)
    assert held["automatic_tax"]["enabled"] is True
    assert held["billing_address_collection"] == "required"
    assert held["tax_id_collection"]["enabled"] is True
    assert held["customer"].startswith("cus_")  # where the name, address and VAT number are kept


def test_without_invoices_a_purchase_has_a_card_receipt_and_no_invoice(
    stripe_env, app, client, make_user, sign_in_as, monkeypatch
):
    monkeypatch.setitem(app.config, "STRIPE_INVOICES", False)
    user = make_user(credits=500)
    sign_in_as(client, user)
    session_id = checkout(client, 100)

    stripe_env.pay(session_id)
    wait_for(lambda: purchase(session_id).payment_recorded_at, what="the payment recorded")

    bought = purchase(session_id)
    assert bought.stripe_invoice_id is None and bought.invoice_number is None
    lines = receipt_lines(client.get(f"/history/purchases/{bought.id}").get_data(as_text=True))
    assert lines["Amount"] == "$5.00" and "Invoice" not in lines and "Receipt" in lines


def test_the_receipt_e_mail_goes_out_once_whether_the_success_page_or_the_webhook_records_first(
    taxed, live_server, client, make_user, sign_in_as
):
    user = make_user(credits=500, email="once@example.com")
    sign_in_as(client, user)
    session_id = checkout(client, 500)
    with emulator_config(taxed, live_server, webhooks_enabled=False):
        taxed.pay(session_id, billing={"name": "Anna Schmidt", "address": BERLIN})
    # The success page records first; then the webhook comes, twice (a redelivery).
    assert client.get(f"/checkout/success?session_id={session_id}").status_code == 200
    completed = event("checkout.session.completed", session_id)
    assert post_event(live_server, completed).status_code == 200
    assert post_event(live_server, {**completed, "id": completed["id"] + "x"}).status_code == 200
    run_queued(client.application)

    db.session.rollback()
    kept = db.session.scalars(sa.select(Notification).where(Notification.kind == "purchase_receipt")).all()
    bought = purchase(session_id)
    assert [(n.dedupe_key, n.status) for n in kept] == [(f"purchase-receipt:{bought.id}", "sent")]
    [mail] = taxed.mail("once@example.com")
    assert mail["subject"] == f"Receipt: 500 credits (invoice {bought.invoice_number})"
    assert "You paid $23.80 ($20.00 + $3.80 tax) with Visa ending in 4242." in mail["text"]
    assert bought.invoice_url in mail["text"] and f"/history/purchases/{bought.id}" in mail["text"]
    assert stripe_helpers.credits(user) == 1000


def test_history_and_the_csv_link_each_purchases_invoice(taxed, client, make_user, sign_in_as):
    user = make_user(credits=500)
    sign_in_as(client, user)
    bought = buy(taxed, client, user, {"name": "Anna Schmidt", "address": BERLIN})

    history = client.get("/history").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(client.get("/history.csv").get_data(as_text=True))))

    assert f'href="/history/purchases/{bought.id}"' in history
    assert f'href="{bought.invoice_pdf_url}"' in history and f"Invoice {bought.invoice_number}" in history
    [row] = [r for r in rows if r["kind"] == "purchase"]
    assert (row["amount"], row["tax"], row["invoice_number"], row["invoice_pdf"]) == (
        "23.80",
        "3.80",
        bought.invoice_number,
        bought.invoice_pdf_url,
    )


def test_someone_elses_receipt_is_not_found(taxed, client, make_user, sign_in_as):
    user = make_user(credits=500)
    sign_in_as(client, user)
    bought = buy(taxed, client, user, {"name": "Anna Schmidt", "address": BERLIN})
    stranger = client.application.test_client()
    sign_in_as(stranger, make_user())

    assert stranger.get(f"/history/purchases/{bought.id}").status_code == 404


def test_an_invoice_event_before_the_sessions_fills_in_the_invoice_and_credits_nothing(
    taxed, live_server, client, make_user, sign_in_as
):
    user = make_user(credits=500)
    sign_in_as(client, user)
    session_id = checkout(client, 500)
    with emulator_config(taxed, live_server, webhooks_enabled=False):
        taxed.pay(session_id, billing={"name": "Anna Schmidt", "address": BERLIN})
    invoice_id = stripe_helpers.session(session_id)["invoice"]
    # As Stripe sends it (the SDK reads decimal fields as Decimal: back to JSON numbers).
    finalized = json.dumps(event("invoice.finalized", invoice_id), default=float).encode()

    assert post_event(live_server, finalized).status_code == 200
    early = purchase(session_id)
    assert early.status == "pending" and stripe_helpers.credits(user) == 500
    assert (early.stripe_invoice_id, early.amount_subtotal, early.amount_tax) == (invoice_id, 2000, 380)
    assert early.invoice_number and early.invoice_pdf_url

    assert post_event(live_server, event("checkout.session.completed", session_id)).status_code == 200
    wait_for(lambda: purchase(session_id).payment_recorded_at, what="the payment recorded")
    done = purchase(session_id)
    assert (done.status, done.amount_paid, done.invoice_number) == ("completed", 2380, early.invoice_number)
    assert stripe_helpers.credits(user) == 1000


def test_the_staff_console_shows_a_customers_tax_and_links_the_invoice(
    taxed, app, client, make_user, sign_in_as
):
    user = make_user(credits=500)
    sign_in_as(client, user)
    bought = buy(taxed, client, user, {"name": "Anna Schmidt", "address": BERLIN})
    staff = make_user("support@example.com", name="Sam Support")
    members.set_staff("support@example.com", True)
    support = sign_in_as(app.test_client(), staff)

    page = support.get(f"/admin/customers/{user}").get_data(as_text=True)

    assert f'href="{bought.invoice_pdf_url}"' in page and f"Invoice {bought.invoice_number}" in page
    assert '$23.80 <span class="muted">(tax $3.80)</span>' in page  # 20.00 + 19 % German VAT


@pytest.mark.parametrize("first", ["session", "invoice"])
def test_a_discounted_purchase_keeps_a_subtotal_and_tax_that_add_up_to_what_was_paid(
    first, taxed, live_server, client, make_user, sign_in_as
):
    user = make_user(credits=500)
    sign_in_as(client, user)
    session_id = checkout(client, 500)
    with emulator_config(taxed, live_server, webhooks_enabled=False):
        taxed.pay(session_id, billing={"name": "Anna Schmidt", "address": BERLIN}, discount_percent=10)
    invoice_id = stripe_helpers.session(session_id)["invoice"]
    finalized = json.dumps(event("invoice.finalized", invoice_id), default=float).encode()
    completed = event("checkout.session.completed", session_id)

    for delivery in [completed, finalized] if first == "session" else [finalized, completed]:
        assert post_event(live_server, delivery).status_code == 200
    wait_for(lambda: purchase(session_id).payment_recorded_at, what="the payment recorded")

    bought = purchase(session_id)
    # $20.00 less 10 % is $18.00, and 19 % VAT on that is $3.42: $21.42 paid.
    assert (bought.amount_subtotal, bought.amount_tax, bought.amount_paid) == (1800, 342, 2142)
    lines = receipt_lines(client.get(f"/history/purchases/{bought.id}").get_data(as_text=True))
    assert (lines["Subtotal"], lines["Tax"], lines["Total"]) == ("$18.00", "$3.42", "$21.42")
    assert stripe_helpers.credits(user) == 1000  # the pack's credits, discount or not


def test_a_receipt_asked_for_by_an_id_past_any_purchase_is_not_found(
    stripe_env, client, make_user, sign_in_as
):
    sign_in_as(client, make_user(credits=500))
    beyond = 2**64  # past what the database's ids can hold

    assert client.get(f"/history/purchases/{beyond}").status_code == 404
    assert client.get(f"/history/purchases/{beyond}/receipt").status_code == 404
