"""What the buyer types on the hosted Checkout page, and what it leads to.

The billing name and address and a VAT number (``read_billing``), checked against what the
session collects; the tax they bring (``apply_tax``); and the Customer that keeps them
(``keep_on_customer``: ``customer_update``, or a Customer created for an invoice).
"""

from __future__ import annotations

from typing import Any

from . import customers, invoice_objects, invoice_totals, tax
from .errors import invalid_param, missing_param
from .state import Store


def check_params(params: dict[str, Any], customer: dict[str, Any] | None) -> None:
    """Refuse the combinations Stripe refuses for ``customer_update``, tax and tax ids."""
    update = params.get("customer_update") or {}
    if update and customer is None:
        raise invalid_param("customer_update", "`customer_update` can only be used with `customer`.")
    if customer is None:
        return
    if (params.get("tax_id_collection") or {}).get("enabled") and update.get("name") != "auto":
        raise invalid_param(
            "tax_id_collection[enabled]",
            "Tax ID collection requires updating business name on the customer. To enable tax "
            "ID collection for an existing customer, please set `customer_update[name]` to `auto`.",
        )
    if (
        (params.get("automatic_tax") or {}).get("enabled")
        and update.get("address") != "auto"
        and not (customer.get("address") or {}).get("country")
    ):
        raise invalid_param(
            "automatic_tax[enabled]",
            "Automatic tax calculation in Checkout requires a valid address on the Customer. Add "
            "a valid address to the Customer or set `customer_update[address]` to 'auto' to save "
            "the address entered in Checkout to the Customer.",
        )


def read_billing(session: dict[str, Any], billing: dict[str, Any] | None) -> dict[str, Any]:
    """Check what was typed on the page against what the session collects."""
    billing = dict(billing or {})
    unknown = sorted(set(billing) - {"name", "address", "tax_id"})
    if unknown:
        raise invalid_param(f"billing[{unknown[0]}]", f"Unknown billing field: {unknown[0]}")
    raw = billing.get("address") or {}
    if not isinstance(raw, dict):
        raise invalid_param("billing[address]", "The billing address must be an object.")
    fields = invoice_objects.ADDRESS_FIELDS
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise invalid_param(f"billing[address][{unknown[0]}]", f"Unknown address field: {unknown[0]}")
    address = {name: str(raw[name]).strip() for name in fields if str(raw.get(name) or "").strip()}
    if "country" in address:
        address["country"] = address["country"].upper()
        if len(address["country"]) != 2 or not address["country"].isalpha():
            raise invalid_param("billing[address][country]", "Enter a country as its two-letter code.")
    name = str(billing.get("name") or "").strip() or None
    taxed = session["automatic_tax"]["enabled"]
    if session["billing_address_collection"] == "required":
        wanted = {"name": name, **{k: address.get(k) for k in ("line1", "postal_code", "city", "country")}}
        missing = [key for key, value in wanted.items() if not value]
        if missing:
            where = "billing[name]" if missing[0] == "name" else f"billing[address][{missing[0]}]"
            raise missing_param(where, f"Enter your billing address: {', '.join(missing)} is required.")
    elif taxed and not address.get("country"):
        raise missing_param("billing[address][country]", "Enter your country: tax depends on it.")
    vat = billing.get("tax_id")
    if vat not in (None, "") and not session["tax_id_collection"]["enabled"]:
        raise invalid_param("billing[tax_id]", "This Checkout Session does not collect tax IDs.")
    return {
        "name": name,
        "address": address or None,
        "tax_id": tax.normalise_vat(vat, "billing[tax_id]") if vat else None,
    }


def apply_tax(store: Store, session: dict[str, Any], entered: dict[str, Any]) -> None:
    """Share the discount between the line items and add the tax (automatic tax only)."""
    items = store.line_items.get(session["id"], [])
    amounts = [item["amount_subtotal"] for item in items]
    discounts = invoice_totals.split(session["total_details"]["amount_discount"], amounts)
    taxed = session["automatic_tax"]["enabled"]
    country = (entered["address"] or {}).get("country")
    taxes = invoice_totals.line_taxes(amounts, discounts, country, entered["tax_id"]) if taxed else None
    for index, (item, off) in enumerate(zip(items, discounts, strict=True)):
        amount_tax = taxes[index].amount if taxes else 0
        total = item["amount_subtotal"] - off + amount_tax
        item.update(amount_discount=off, amount_tax=amount_tax, amount_total=total)
    if taxes is None:
        return
    amount_tax = sum(line_tax.amount for line_tax in taxes)
    session["total_details"]["amount_tax"] = amount_tax
    session["amount_total"] += amount_tax
    session["automatic_tax"]["status"] = "complete"


def keep_on_customer(store: Store, session: dict[str, Any]) -> None:
    """Keep the name and address on the Customer (``customer_update``), or create one for an invoice."""
    details = session["customer_details"]
    extras = store.session_extras.get(session["id"], {})
    customer = store.objects["customer"].get(session["customer"] or "")
    if customer is None:
        if not (session["invoice_creation"]["enabled"] or session["customer_creation"] == "always"):
            return
        # Asked for, or needed by an invoice (customer_creation=if_required): Checkout creates one.
        customer = customers.create_customer(store, {"email": details["email"], "name": details["name"]})
        customer["address"] = details["address"]
        session["customer"] = customer["id"]
        store.customer_tax_ids[customer["id"]] = list(details["tax_ids"])
        store.emit("customer.created", customer)
        return
    update = extras.get("customer_update") or {}
    before: dict[str, Any] = {}
    if update.get("name") == "auto" and details["name"] and details["name"] != customer["name"]:
        before["name"] = customer["name"]
        customer["name"] = details["name"]
    if update.get("address") == "auto" and details["address"] and details["address"] != customer["address"]:
        before["address"] = customer["address"]
        customer["address"] = details["address"]
    if details["tax_ids"] and session["tax_id_collection"]["enabled"]:
        store.customer_tax_ids[customer["id"]] = list(details["tax_ids"])
    if before:
        store.emit("customer.updated", customer, previous_attributes=before)
