"""A purchase with tax in the browser: the billing address on Stripe's Checkout page, the receipt
with its invoice, subtotal, VAT and total, and the invoice PDF it links (DESIGN §21)."""

from __future__ import annotations

import re

import requests
from playwright.sync_api import expect

from tests.browser.pages import ARTIFACTS, States
from tests.browser.test_journey import Journey


def test_a_purchase_from_germany_shows_its_invoice_and_vat_on_the_receipt(
    app, live_server, emulator, browser_page, monkeypatch
):
    monkeypatch.setitem(app.config, "STRIPE_AUTOMATIC_TAX", True)
    page, states = browser_page, States("invoice")
    journey = Journey(page, ARTIFACTS, live_server)
    journey.sign_in("anna@example.com", "Anna Schmidt")

    page.goto("/buy-credits")
    page.get_by_role("button", name=re.compile(r"^Buy 500 credits")).click()
    page.wait_for_url(re.compile(r"/c/pay/cs_"))
    page.get_by_label(re.compile(r"^Full name")).fill("Anna Schmidt")
    page.get_by_label("Address", exact=True).fill("Unter den Linden 5")
    page.get_by_label("Postal code").fill("10117")
    page.get_by_label("City").fill("Berlin")
    page.get_by_label("Country").select_option("DE")
    page.get_by_role("button", name="Pay", exact=True).click()

    heading = page.locator("#receipt-heading")
    expect(heading).to_have_text("Payment received", timeout=20_000)
    expect(page.locator(".receipt-invoice-number")).to_have_text(re.compile(r"^[A-Z0-9]+-\d{4}$"))
    expect(page.locator(".receipt-subtotal")).to_have_text("$20.00")
    expect(page.locator(".receipt-tax")).to_have_text("$3.80")
    expect(page.locator(".receipt-amount")).to_have_text("$23.80")
    expect(page.locator(".receipt-method")).to_have_text("Visa ending in 4242")
    expect(page.locator(".receipt-balance")).to_have_text("1,000 credits")  # the pack's 500, tax apart
    states.check(page, "receipt-invoice")

    page.goto("/history")
    page.get_by_role("link", name=re.compile(r"^Receipt")).first.click()
    expect(page.locator(".receipt-tax")).to_have_text("$3.80")
    pdf = page.get_by_role("link", name=re.compile(r"^Download invoice"))
    with requests.Session() as http:
        http.trust_env = False
        answer = http.get(pdf.get_attribute("href"), timeout=10)
    assert answer.status_code == 200 and answer.content.startswith(b"%PDF-")
    (ARTIFACTS / "invoice.pdf").write_bytes(
        answer.content
    )  # docs/screenshots/invoice-pdf.png is drawn from it

    assert states.problems == [], "\n".join(states.problems)
    assert journey.problems == [] and journey.app_errors == [], (journey.problems, journey.app_errors)
