"""Taxed Checkout in the Stripe stand-in: billing details, tax by country, the invoice it makes.

Each purchase goes through the real SDK and the hosted page (its JSON form, or its HTML form
as a browser posts it); the invoice's PDF is read back with pypdf.
"""

from __future__ import annotations

import pytest
import requests
import stripe

from tests.support.emulator import EmulatorError

from .buyers import ACME, ANNA, SAM, TAXED, customer_with_card, pdf_text


@pytest.mark.parametrize(
    ("billing", "tax", "reason", "label"),
    [
        (ANNA, 380, "standard_rated", "VAT (DE 19%) $3.80"),
        (ACME, 0, "reverse_charge", "VAT reverse charge (FR 0%) $0.00"),
        (SAM, 0, "not_collecting", "No tax collected $0.00"),
    ],
    ids=["consumer-in-germany", "business-in-france", "no-tax-country"],
)
def test_a_taxed_checkout_charges_the_tax_and_makes_a_paid_invoice_with_a_pdf(
    emulator, stripe_client, create_session, webhook_receiver, billing, tax, reason, label
):
    session = create_session("credits_500", **TAXED)
    assert session.automatic_tax.status == "requires_location_inputs"

    paid = emulator.pay(session.id, billing=billing)["session"]

    assert (paid["amount_subtotal"], paid["total_details"]["amount_tax"]) == (2000, tax)
    assert paid["amount_total"] == 2000 + tax and paid["automatic_tax"]["status"] == "complete"
    intent = stripe_client.v1.payment_intents.retrieve(paid["payment_intent"])
    assert intent.amount == 2000 + tax
    [item] = stripe_client.v1.checkout.sessions.line_items.list(session.id).data
    assert (item.amount_subtotal, item.amount_tax, item.amount_total) == (2000, tax, 2000 + tax)
    assert item.price.metadata["credits"] == "500"  # the pack is the same whatever the tax
    details = paid["customer_details"]
    assert details["name"] == billing["name"]
    assert details["address"]["country"] == billing["address"]["country"]
    assert details["tax_ids"] == (
        [{"type": "eu_vat", "value": "FR12345678901"}] if "tax_id" in billing else []
    )

    invoice = stripe_client.v1.invoices.retrieve(paid["invoice"], params={"expand": ["payments"]})
    assert (invoice.status, invoice.customer) == ("paid", paid["customer"])
    assert (invoice.subtotal, invoice.total, invoice.amount_paid) == (2000, 2000 + tax, 2000 + tax)
    [total_tax] = invoice.total_taxes
    assert (total_tax.amount, total_tax.taxability_reason) == (tax, reason)
    assert invoice.payments.data[0].payment.payment_intent == intent.id
    assert invoice.number.endswith("-0001") and invoice.footer == "Prepaid credits"
    [line] = invoice.lines.data
    assert (line.amount, line.description, line.taxes[0].amount) == (2000, "500 credits", tax)

    text = pdf_text(invoice.invoice_pdf)
    for shown in (invoice.number, billing["name"], label, f"Total ${(2000 + tax) / 100:.2f}"):
        assert shown in text
    assert "creditapp GmbH" in text and "VAT DE123456789" in text
    assert ("EU VAT FR12345678901" in text) == ("tax_id" in billing)
    assert ("Reverse charge" in text) == (reason == "reverse_charge")
    page = requests.get(invoice.hosted_invoice_url, timeout=10)
    assert page.status_code == 200 and invoice.number in page.text and invoice.invoice_pdf in page.text

    types = [d.event_type for d in webhook_receiver.wait_for(lambda d: True, count=6)]
    assert types == [
        "customer.created",
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_succeeded",
        "checkout.session.completed",
    ]
    completed = webhook_receiver.deliveries[-1].event().data.object
    assert completed.invoice == invoice.id and completed.total_details.amount_tax == tax


def test_a_domestic_business_pays_vat_and_a_discount_is_taxed_after_it(
    emulator, stripe_client, create_session
):
    session = create_session("credits_1000", **TAXED)
    business = {**ANNA, "name": "Muster GmbH", "tax_id": "DE811111111"}

    paid = emulator.pay(session.id, billing=business, discount_percent=10)["session"]

    # 3500 - 350 = 3150, 19 %: 598.5 rounds to 599.
    assert (paid["total_details"]["amount_discount"], paid["total_details"]["amount_tax"]) == (350, 599)
    assert paid["amount_total"] == 3150 + 599
    invoice = stripe_client.v1.invoices.retrieve(paid["invoice"])
    assert (invoice.subtotal, invoice.total_excluding_tax, invoice.total) == (3500, 3150, 3749)
    assert invoice.total_discount_amounts[0].amount == 350
    assert invoice.total_taxes[0].taxability_reason == "standard_rated"
    assert "Discount -$3.50" in pdf_text(invoice.invoice_pdf)


def test_a_delayed_payment_gets_its_invoice_when_it_settles(emulator, stripe_client, create_session):
    session = create_session("credits_100", **TAXED)

    pending = emulator.pay(session.id, "async_pending", billing=ANNA)["session"]
    assert pending["invoice"] is None
    settled = emulator.settle(session.id, "succeeded")

    invoice = stripe_client.v1.invoices.retrieve(settled["invoice"])
    assert (invoice.status, invoice.total) == ("paid", 595)


def test_without_invoice_creation_or_tax_nothing_changes(emulator, stripe_client, create_session):
    paid = emulator.pay(create_session("credits_500").id)["session"]

    assert (paid["invoice"], paid["customer"], paid["amount_total"]) == (None, None, 2000)
    assert (
        stripe_client.v1.customers is not None
        and not stripe_client.v1.events.list(params={"type": "invoice.*"}).data
    )


def test_the_page_asks_for_the_billing_address_and_a_vat_number(emulator, create_session):
    session = create_session(**TAXED)
    http = requests.Session()
    http.trust_env = False

    page = http.get(session.url, timeout=10).text
    for field in ('name="name"', 'name="line1"', 'name="postal_code"', 'name="city"', 'name="country"'):
        assert field in page
    assert 'name="tax_id"' in page and "VAT number" in page

    refused = http.post(session.url, data={"action": "pay", "name": "Acme", "country": "FR"}, timeout=10)
    assert refused.status_code == 400 and "line1" in refused.text and 'value="Acme"' in refused.text
    form = {"action": "pay", "name": ACME["name"], **ACME["address"], "tax_id": "FR12345678901"}
    answer = http.post(session.url, data=form, allow_redirects=False, timeout=10)
    assert answer.status_code == 303


def test_a_page_collecting_only_tax_ids_asks_for_a_business_name_and_vat_number(
    emulator, stripe_client, create_session
):
    session = create_session(tax_id_collection={"enabled": True}, invoice_creation={"enabled": True})
    http = requests.Session()
    http.trust_env = False

    page = http.get(session.url, timeout=10).text
    assert 'name="tax_id"' in page and 'name="line1"' not in page
    form = {"action": "pay", "name": "Acme SARL", "tax_id": "FR12345678901"}
    assert http.post(session.url, data=form, allow_redirects=False, timeout=10).status_code == 303

    paid = stripe_client.v1.checkout.sessions.retrieve(session.id)
    assert paid.customer_details.tax_ids[0].value == "FR12345678901" and paid.customer_details.address is None
    invoice = stripe_client.v1.invoices.retrieve(paid.invoice)
    assert (invoice.total, invoice.total_taxes, invoice.customer_tax_ids[0].value) == (
        2000,
        [],
        "FR12345678901",
    )


def test_an_untaxed_page_asks_for_no_address(emulator, create_session):
    http = requests.Session()
    http.trust_env = False
    page = http.get(create_session().url, timeout=10).text
    assert 'name="line1"' not in page and 'name="tax_id"' not in page


@pytest.mark.parametrize(
    ("billing", "param"),
    [
        ({}, "billing[name]"),
        ({**ANNA, "address": {**ANNA["address"], "city": ""}}, "billing[address][city]"),
        ({**ANNA, "tax_id": "not a vat number"}, "billing[tax_id]"),
        ({**ANNA, "company": "x"}, "billing[company]"),
    ],
    ids=["nothing", "no-city", "bad-vat", "unknown-field"],
)
def test_a_missing_address_or_a_malformed_vat_number_is_refused_and_nothing_is_paid(
    emulator, stripe_client, create_session, billing, param
):
    session = create_session(**TAXED)

    with pytest.raises(EmulatorError) as refused:
        emulator.pay(session.id, billing=billing)

    assert param in str(refused.value)
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).status == "open"


def test_a_vat_number_is_refused_where_tax_ids_are_not_collected(emulator, create_session):
    session = create_session(automatic_tax={"enabled": True})
    with pytest.raises(EmulatorError, match="tax IDs"):
        emulator.pay(session.id, billing={**ANNA, "tax_id": "DE811111111"})


@pytest.mark.parametrize(
    ("params", "param", "code", "says"),
    [
        ({"automatic_tax": {"enabled": True, "bogus": "1"}}, "automatic_tax[bogus]", "parameter_unknown", ""),
        (
            {"invoice_creation": {"invoice_data": {"footer": "x"}}},
            "invoice_creation[enabled]",
            "parameter_missing",
            "",
        ),
        ({"automatic_tax": {"enabled": "yes"}}, "automatic_tax[enabled]", None, "Invalid boolean"),
        (
            {"automatic_tax": {"enabled": True, "liability": {"type": "self"}}},
            "automatic_tax[liability]",
            None,
            "does not implement",
        ),
        (
            {"tax_id_collection": {"enabled": True, "required": "if_supported"}},
            "tax_id_collection[required]",
            None,
            "does not implement",
        ),
        (
            {"invoice_creation": {"enabled": True, "invoice_data": {"issuer": {"type": "self"}}}},
            "invoice_creation[invoice_data][issuer]",
            None,
            "does not implement",
        ),
        ({"customer_update": {"name": "auto"}}, "customer_update", None, "only be used with `customer`"),
        ({"customer_update": {"name": "sometimes"}}, "customer_update[name]", None, "must be one of"),
        ({"customer_update": {"shipping": "auto"}}, "customer_update[shipping]", None, "does not implement"),
        ({"billing_address_collection": "always"}, "billing_address_collection", None, "must be one of"),
    ],
)
def test_tax_parameters_are_checked_as_stripe_checks_them(create_session, params, param, code, says):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        create_session(**params)

    error = refused.value.error
    assert (refused.value.http_status, error.param, error.code) == (400, param, code)
    assert says in error.message


def test_with_a_customer_tax_ids_need_the_name_and_tax_needs_the_address(stripe_client, create_session):
    customer = stripe_client.v1.customers.create(params={"email": "firm@example.com"})
    bare = {"customer_email": None, "customer": customer.id}

    with pytest.raises(stripe.InvalidRequestError) as no_name:
        create_session(**bare, tax_id_collection={"enabled": True})
    with pytest.raises(stripe.InvalidRequestError) as no_address:
        create_session(**bare, automatic_tax={"enabled": True})

    assert no_name.value.error.param == "tax_id_collection[enabled]"
    assert no_address.value.error.param == "automatic_tax[enabled]"


def test_checkout_keeps_the_name_and_address_on_the_customer(emulator, stripe_client, create_session):
    customer_id, _method = customer_with_card(emulator, stripe_client, create_session)

    customer = stripe_client.v1.customers.retrieve(customer_id)
    assert (customer.name, customer.address.city, customer.address.country) == ("Acme SARL", "Paris", "FR")
    updated = stripe_client.v1.events.list(params={"type": "customer.updated"}).data[0]
    assert updated.data.previous_attributes.to_dict() == {"name": None, "address": None}


def test_the_receipt_names_the_payment_method_and_links_the_invoice(emulator, stripe_client, create_session):
    paid = emulator.pay(create_session(**TAXED).id, billing=ANNA)["session"]
    charge = stripe_client.v1.payment_intents.retrieve(
        paid["payment_intent"], params={"expand": ["latest_charge"]}
    )
    invoice = stripe_client.v1.invoices.retrieve(paid["invoice"])

    page = requests.get(charge.latest_charge.receipt_url, timeout=10)

    assert page.status_code == 200
    for shown in ("$23.80", "Visa ending in 4242", invoice.number, invoice.invoice_pdf, "Date paid"):
        assert shown in page.text


def test_customer_creation_always_makes_a_customer_even_without_an_invoice(
    emulator, stripe_client, create_session
):
    paid = emulator.pay(create_session(customer_creation="always").id)["session"]

    customer = stripe_client.v1.customers.retrieve(paid["customer"])
    assert (customer.email, paid["invoice"]) == ("buyer@example.com", None)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        create_session(customer_email=None, customer=customer.id, customer_creation="always")
    assert refused.value.error.param == "customer_creation"
