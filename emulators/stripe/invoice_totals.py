"""An invoice's amounts: each line's discount and tax, and the totals Stripe shows.

A Checkout Session and the invoice made from it price their lines with the same functions
(``split`` shares the discount, ``line_taxes`` taxes what is left), so they always agree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import invoice_objects, objects, tax

# Taxes for the lines' amounts and discounts.
TaxFor = Callable[[list[int], list[int]], list[tax.Tax]]


def line_taxes(
    amounts: list[int], discounts: list[int], country: str | None, vat: str | None
) -> list[tax.Tax]:
    """The tax of each line (after its discount): the session and its invoice agree on it."""
    return [tax.compute(amount - off, country, vat) for amount, off in zip(amounts, discounts, strict=True)]


def split(total: int, amounts: list[int]) -> list[int]:
    """Share ``total`` (a discount) between lines in proportion to their amounts."""
    whole = sum(amounts)
    if not total or not whole:
        return [0] * len(amounts)
    shares = [total * amount // whole for amount in amounts]
    shares[-1] += total - sum(shares)
    return shares


def vat_number(tax_ids: list[dict[str, Any]]) -> str | None:
    """The buyer's EU VAT number among its tax ids, if any."""
    return next((t["value"] for t in tax_ids if t.get("type") == "eu_vat" and t.get("value")), None)


def tax_for(invoice: dict[str, Any], buyer: dict[str, Any]) -> TaxFor | None:
    """The invoice's tax rule for its buyer (None without automatic tax)."""
    if not invoice["automatic_tax"]["enabled"]:
        return None
    country = (buyer.get("address") or {}).get("country")
    vat = vat_number(buyer["tax_ids"])
    return lambda amounts, discounts: line_taxes(amounts, discounts, country, vat)


def snapshot_buyer(invoice: dict[str, Any], buyer: dict[str, Any]) -> None:
    """Copy the buyer's name, e-mail, address and tax ids onto the invoice, as finalized."""
    invoice.update(
        customer_name=buyer.get("name"),
        customer_email=buyer.get("email"),
        customer_address=invoice_objects.address(buyer.get("address")),
        customer_tax_ids=[{"type": t["type"], "value": t["value"]} for t in buyer["tax_ids"]],
    )


def price_lines(invoice: dict[str, Any], *, discounts: list[int] | None, tax_for: TaxFor | None) -> None:
    """Set each line's discount and taxes and the invoice's totals."""
    lines = invoice["lines"]["data"]
    amounts = [line["amount"] for line in lines]
    discounts = discounts or [0] * len(lines)
    taxes = tax_for(amounts, discounts) if tax_for else [None] * len(lines)
    discount_id = objects.stable_id("di_", invoice["id"])
    total_taxes: dict[str, dict[str, Any]] = {}
    for line, off, line_tax in zip(lines, discounts, taxes, strict=True):
        line["discount_amounts"] = [{"amount": off, "discount": discount_id}] if off else []
        line["taxes"] = [line_tax.total_tax()] if line_tax else []
        if line_tax:
            empty = {**line_tax.total_tax(), "amount": 0, "taxable_amount": 0}
            entry = total_taxes.setdefault(line_tax.rate_id, empty)
            entry["amount"] += line_tax.amount
            entry["taxable_amount"] += line_tax.taxable_amount
    subtotal, discount = sum(amounts), sum(discounts)
    tax_amount = sum(line_tax.amount for line_tax in taxes if line_tax)
    total = subtotal - discount + tax_amount
    invoice.update(
        subtotal=subtotal,
        subtotal_excluding_tax=subtotal,
        total_excluding_tax=subtotal - discount,
        total=total,
        amount_due=total,
        amount_remaining=total - invoice["amount_paid"],
        total_taxes=list(total_taxes.values()),
        total_discount_amounts=[{"amount": discount, "discount": discount_id}] if discount else [],
        discounts=[discount_id] if discount else [],
    )
    if tax_for:
        invoice["automatic_tax"]["status"] = "complete"
