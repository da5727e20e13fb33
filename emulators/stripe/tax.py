"""Tax as Stripe Tax computes it for the stand-in's seller: a small table of test rates by country.

The seller (``SELLER``) is a German business registered for VAT. Tax is added on top of the
price (Stripe's ``exclusive`` tax behaviour), so a pack costs the same before tax everywhere:

- a buyer in a country of ``RATES`` pays that country's VAT rate (``standard_rated``);
- an EU business that gives a VAT number of its own country, when that country is not the
  seller's, pays no VAT: the EU reverse charge (0 %, ``reverse_charge``); a business in the
  seller's own country pays the domestic rate;
- a buyer anywhere else pays nothing: the seller is not registered there (``not_collecting``,
  as Stripe Tax says when it has no registration for the location).

These are test rates (the EU standard rates of a few countries), not tax advice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import invalid_param
from .objects import stable_id

SELLER: dict[str, Any] = {
    "name": "creditapp GmbH (test mode)",
    "address": {
        "line1": "Teststraße 1",
        "line2": None,
        "postal_code": "10115",
        "city": "Berlin",
        "state": None,
        "country": "DE",
    },
    "email": "billing@creditapp.example",
    "tax_id": "DE123456789",
}

# Country -> VAT rate in percent (the standard rates, as test data).
RATES: dict[str, int] = {
    "AT": 20, "BE": 21, "DE": 19, "DK": 25, "ES": 21, "FR": 20, "IE": 23, "IT": 22,
    "NL": 21, "PL": 23, "PT": 23, "SE": 25,
}  # fmt: skip
EU = frozenset(
    ("AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU"),
) | frozenset(("IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"))
COUNTRY_NAMES: dict[str, str] = {
    "AT": "Austria", "AU": "Australia", "BE": "Belgium", "BG": "Bulgaria", "CA": "Canada",
    "CH": "Switzerland", "CY": "Cyprus", "CZ": "Czechia", "DE": "Germany", "DK": "Denmark",
    "EE": "Estonia", "ES": "Spain", "FI": "Finland", "FR": "France", "GB": "United Kingdom",
    "GR": "Greece", "HR": "Croatia", "HU": "Hungary", "IE": "Ireland", "IT": "Italy",
    "JP": "Japan", "LT": "Lithuania", "LU": "Luxembourg", "LV": "Latvia", "MT": "Malta",
    "NL": "Netherlands", "NO": "Norway", "PL": "Poland", "PT": "Portugal", "RO": "Romania",
    "SE": "Sweden", "SI": "Slovenia", "SK": "Slovakia", "US": "United States",
}  # fmt: skip
# An EU VAT number: the country's prefix (Greece: EL) and 2 to 13 letters or digits.
_EU_VAT = re.compile(r"([A-Z]{2})[0-9A-Z]{2,13}")


@dataclass(frozen=True)
class Tax:
    """The tax on one amount: how much, at what rate, and why."""

    amount: int
    percent: int
    country: str | None
    reason: str  # Stripe's taxability_reason
    taxable_amount: int

    @property
    def rate_id(self) -> str:
        """A stable Tax Rate id for this country and rate (Stripe Tax makes one per rate)."""
        return stable_id("txr_", f"{self.country} {self.percent} {self.reason}")

    @property
    def label(self) -> str:
        """How an invoice names this tax: ``VAT (DE 19%)``, ``Reverse charge (FR 0%)``…"""
        if self.reason == "reverse_charge":
            return f"VAT reverse charge ({self.country} 0%)"
        if self.reason == "not_collecting":
            return "No tax collected"
        return f"VAT ({self.country} {self.percent}%)"

    def total_tax(self) -> dict[str, Any]:
        """An Invoice ``total_taxes`` / line ``taxes`` entry."""
        return {
            "amount": self.amount,
            "tax_behavior": "exclusive",
            "tax_rate_details": {"tax_rate": self.rate_id},
            "taxability_reason": self.reason,
            "taxable_amount": self.taxable_amount,
            "type": "tax_rate_details",
        }


def normalise_vat(value: str | None, param: str = "tax_id") -> str | None:
    """Return an EU VAT number without spaces, upper case; refuse one that is malformed."""
    if value is None or not value.strip():
        return None
    vat = re.sub(r"[\s.-]", "", value).upper()
    match = _EU_VAT.fullmatch(vat)
    if match is None or _vat_country(match.group(1)) not in EU:
        raise invalid_param(
            param,
            "Enter an EU VAT number: the country prefix and the number, e.g. FR12345678901.",
            "tax_id_invalid",
        )
    return vat


def _vat_country(prefix: str) -> str:
    return "GR" if prefix == "EL" else prefix


def compute(amount: int, country: str | None, vat_number: str | None) -> Tax:
    """The tax on ``amount`` for a buyer in ``country`` (with a VAT number, a business)."""
    country = (country or "").upper() or None
    business_abroad = (
        vat_number is not None
        and country in EU
        and _vat_country(vat_number[:2]) == country
        and country != SELLER["address"]["country"]
    )
    if business_abroad:
        return Tax(0, 0, country, "reverse_charge", amount)
    if country in RATES:
        percent = RATES[country]
        return Tax(_round_half_up(amount * percent, 100), percent, country, "standard_rated", amount)
    return Tax(0, 0, country, "not_collecting", 0)


def _round_half_up(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)


def country_name(code: str | None) -> str:
    """The country's English name where the stand-in knows it, else its code."""
    return COUNTRY_NAMES.get(code or "", code or "")
