"""A finalized invoice's hosted page (``hosted_invoice_url``) and its PDF (``invoice_pdf``).

The PDF is drawn with fpdf2 (in requirements.txt, like the mail stand-in's aiosmtpd, so
`make run` serves it):
number, dates, seller, buyer with address and tax id, the lines, discount, tax and total.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, render_template_string
from fpdf import FPDF

from ..context import current
from . import tax

bp = Blueprint("invoice_pages", __name__)

PAGES = Path(__file__).with_name("pages")
STYLE = (PAGES / "checkout.css").read_text(encoding="utf-8")
PAGE = (PAGES / "invoice.html").read_text(encoding="utf-8")
NOT_FOUND = "<!doctype html><title>Not found</title><h1>Invoice not found</h1>", 404


def money(currency: str):
    """Format cents as the invoice's currency: ``$20.00``, ``EUR 20.00``."""
    symbol = "$" if currency == "usd" else currency.upper() + " "
    return lambda cents: f"{'-' if cents < 0 else ''}{symbol}{abs(cents) / 100:,.2f}"


def day(timestamp: int | None) -> str:
    """A date as invoices print it: ``7 December 2026``."""
    if timestamp is None:
        return ""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return f"{moment.day} {moment:%B %Y}"


def _finalized(invoice_id: str) -> dict[str, Any] | None:
    store = current().store
    with store.lock:
        invoice = store.objects["invoice"].get(invoice_id)
        if invoice is None or invoice["status"] == "draft":
            return None
        return _view(invoice)


def _view(invoice: dict[str, Any]) -> dict[str, Any]:
    """What the page and the PDF show, worked out once."""
    taxes = invoice["total_taxes"]
    reasons = {entry["taxability_reason"] for entry in taxes}
    address = invoice["customer_address"] or {}
    lines = [
        {
            "description": line["description"] or "",
            "quantity": line["quantity"] or 1,
            "unit": line["amount"] // max(line["quantity"] or 1, 1),
            "amount": line["amount"],
        }
        for line in invoice["lines"]["data"]
    ]
    return {
        "invoice": invoice,
        "seller": tax.SELLER,
        "seller_country": tax.country_name(tax.SELLER["address"]["country"]),
        "buyer_lines": [
            value
            for value in (
                invoice["customer_name"],
                address.get("line1"),
                address.get("line2"),
                " ".join(filter(None, (address.get("postal_code"), address.get("city")))),
                address.get("state"),
                tax.country_name(address.get("country")),
                invoice["customer_email"],
            )
            if value
        ],
        "buyer_tax_ids": [
            f"{t['type'].replace('_', ' ').upper()} {t['value']}" for t in invoice["customer_tax_ids"]
        ],
        "lines": lines,
        "discount": sum(entry["amount"] for entry in invoice["total_discount_amounts"]),
        "tax_lines": [(_tax_label(invoice, entry), entry["amount"]) for entry in taxes],
        "tax_total": sum(entry["amount"] for entry in taxes),
        "reverse_charge": "reverse_charge" in reasons,
        "money": money(invoice["currency"]),
        "issued": day(invoice["status_transitions"]["finalized_at"]),
        "paid": day(invoice["status_transitions"]["paid_at"]),
    }


def _tax_label(invoice: dict[str, Any], entry: dict[str, Any]) -> str:
    country = (invoice["customer_address"] or {}).get("country")
    taxable = entry["taxable_amount"] or 0
    percent = round(entry["amount"] * 100 / taxable) if taxable and entry["amount"] else 0
    return tax.Tax(entry["amount"], percent, country, entry["taxability_reason"], taxable).label


@bp.get("/i/<invoice_id>")
def hosted(invoice_id: str):
    """The hosted invoice page: the invoice, its status, and its PDF."""
    view = _finalized(invoice_id)
    if view is None:
        return NOT_FOUND
    return render_template_string(PAGE, style=STYLE, **view)


@bp.get("/i/<invoice_id>/pdf")
def pdf(invoice_id: str):
    """The invoice as a PDF (``invoice_pdf``)."""
    view = _finalized(invoice_id)
    if view is None:
        return NOT_FOUND
    body = render_pdf(view)
    number = view["invoice"]["number"]
    return Response(
        body,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="Invoice-{number}.pdf"'},
    )


def _latin1(text: str) -> str:
    """The PDF's core font covers Latin-1: other letters lose their accents, the rest becomes ``?``."""
    if all(ord(char) < 256 for char in text):
        return text
    folded = unicodedata.normalize("NFKD", text)
    return (
        "".join(char for char in folded if not unicodedata.combining(char))
        .encode("latin-1", "replace")
        .decode("latin-1")
    )


def render_pdf(view: dict[str, Any]) -> bytes:
    """Draw the invoice on one A4 page and return the PDF's bytes."""
    invoice, money_of = view["invoice"], view["money"]
    doc = FPDF(format="A4")
    doc.set_title(_latin1(f"Invoice {invoice['number']}"))
    doc.set_author(_latin1(view["seller"]["name"]))
    doc.set_creation_date(datetime.fromtimestamp(invoice["status_transitions"]["finalized_at"], UTC))
    doc.add_page()
    doc.set_auto_page_break(True, 20)

    def text(value: str, size: float = 10, style: str = "", height: float = 5, **options: Any) -> None:
        doc.set_font("Helvetica", style, size)
        doc.cell(text=_latin1(value), h=height, new_x="LMARGIN", new_y="NEXT", **options)

    text("Invoice", 22, "B", 10)
    text("Test mode - local Stripe stand-in. No real money moved.", 8)
    doc.ln(4)
    for label, value in (
        ("Invoice number", invoice["number"]),
        ("Date of issue", view["issued"]),
        ("Date paid", view["paid"] or "not paid"),
    ):
        doc.set_font("Helvetica", "B", 10)
        doc.cell(40, 5, _latin1(label))
        doc.set_font("Helvetica", "", 10)
        doc.cell(text=_latin1(value), h=5, new_x="LMARGIN", new_y="NEXT")
    doc.ln(6)
    seller = view["seller"]
    address = seller["address"]
    top = doc.get_y()
    blocks = (
        (
            "From",
            [
                seller["name"],
                address["line1"],
                f"{address['postal_code']} {address['city']}",
                view["seller_country"],
                seller["email"],
                f"VAT {seller['tax_id']}",
            ],
        ),
        ("Bill to", view["buyer_lines"] + view["buyer_tax_ids"]),
    )
    bottom = top
    for column, (heading, rows) in enumerate(blocks):
        doc.set_xy(doc.l_margin + column * 95, top)
        doc.set_font("Helvetica", "B", 10)
        doc.cell(90, 5, heading)
        doc.set_font("Helvetica", "", 10)
        for row in rows:
            doc.set_xy(doc.l_margin + column * 95, doc.get_y() + 5)
            doc.cell(90, 5, _latin1(row))
        bottom = max(bottom, doc.get_y() + 5)
    doc.set_xy(doc.l_margin, bottom + 8)
    widths = (100, 20, 35, 35)
    doc.set_font("Helvetica", "B", 10)
    for width, heading, align in zip(
        widths, ("Description", "Qty", "Unit price", "Amount"), "LRRR", strict=True
    ):
        doc.cell(width, 7, heading, border="B", align=align)
    doc.ln(7)
    doc.set_font("Helvetica", "", 10)
    for line in view["lines"]:
        cells = (line["description"], str(line["quantity"]), money_of(line["unit"]), money_of(line["amount"]))
        for width, value, align in zip(widths, cells, "LRRR", strict=True):
            doc.cell(width, 7, _latin1(value), align=align)
        doc.ln(7)
    doc.ln(2)
    totals = [("Subtotal", invoice["subtotal"])]
    if view["discount"]:
        totals.append(("Discount", -view["discount"]))
    totals += view["tax_lines"] or [("Tax", 0)]
    totals += [("Total", invoice["total"]), ("Amount paid", invoice["amount_paid"])]
    for label, cents in totals:
        bold = label in ("Total",)
        doc.set_font("Helvetica", "B" if bold else "", 10)
        doc.cell(widths[0], 6, "")
        doc.cell(widths[1] + widths[2], 6, _latin1(label), border="T" if bold else 0)
        doc.cell(widths[3], 6, _latin1(money_of(cents)), border="T" if bold else 0, align="R")
        doc.ln(6)
    doc.ln(6)
    if view["reverse_charge"]:
        text("Reverse charge: VAT to be accounted for by the recipient (Art. 196, Directive 2006/112/EC).", 9)
    if invoice["footer"]:
        text(invoice["footer"], 9)
    if invoice["description"]:
        text(invoice["description"], 9)
    return bytes(doc.output())
