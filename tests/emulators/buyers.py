"""Buyers and taxed Checkout parameters shared by the stand-in's invoice and tax tests."""

from __future__ import annotations

import io
from typing import Any

import pypdf
import requests

TAXED = {
    "invoice_creation": {"enabled": True, "invoice_data": {"footer": "Prepaid credits"}},
    "automatic_tax": {"enabled": True},
    "billing_address_collection": "required",
    "tax_id_collection": {"enabled": True},
}
ANNA = {
    "name": "Anna Muster",
    "address": {"line1": "Hauptstraße 5", "postal_code": "80331", "city": "München", "country": "DE"},
}
ACME = {
    "name": "Acme SARL",
    "address": {"line1": "12 rue de la Paix", "postal_code": "75002", "city": "Paris", "country": "FR"},
    "tax_id": "FR 12 345678901",
}
SAM = {
    "name": "Sam Smith",
    "address": {"line1": "1 Main St", "postal_code": "94103", "city": "San Francisco", "country": "US"},
}


def pdf_text(url: str) -> str:
    http = requests.Session()
    http.trust_env = False
    answer = http.get(url, timeout=10)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/pdf"
    assert answer.content.startswith(b"%PDF-")
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(answer.content)).pages)


def customer_with_card(
    emulator: Any, stripe_client: Any, create_session: Any, card: str = "4242", billing: dict = ACME
) -> tuple[str, str]:
    """A Customer whose card, name, address and VAT number were saved at a taxed Checkout."""
    customer = stripe_client.v1.customers.create(params={"email": "firm@example.com"})
    session = create_session(
        customer_email=None,
        customer=customer.id,
        customer_update={"name": "auto", "address": "auto"},
        payment_intent_data={"setup_future_usage": "off_session"},
        **TAXED,
    )
    emulator.pay(session.id, billing=billing, card=card)
    method = stripe_client.v1.payment_methods.list(params={"customer": customer.id}).data[0].id
    return customer.id, method
