"""The Stripe account as the app needs it: the webhook endpoint, and a check of the setup.

`setup_webhook` makes the endpoint for a URL subscribe to exactly the handled events;
`check` lists what matches the configuration and what does not. Both take plain values
so the CLI (and tests) share them; they read and write Stripe only, never the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import stripe

from creditapp.billing.stripe_events import HANDLED_EVENTS
from creditapp.platform import stripe_client


@dataclass(frozen=True)
class WebhookSetup:
    """What `setup_webhook` did to the endpoint for one URL."""

    endpoint_id: str
    created: bool
    secret: str | None  # Stripe returns the signing secret only when it creates an endpoint
    api_version: str | None  # the endpoint's version (Stripe cannot change it on an update)
    duplicates: tuple[str, ...]  # other endpoints with the same URL (left alone)


@dataclass(frozen=True)
class Finding:
    """One line of `check`: `ok`, `warning` or `problem`, and what was found."""

    level: str
    subject: str
    message: str


def endpoints_for(url: str) -> list[dict[str, Any]]:
    """Every webhook endpoint of the account that posts to `url`, oldest first."""
    listed = stripe_client.client().v1.webhook_endpoints.list(params={"limit": 100})
    found = [e.to_dict() for e in listed.auto_paging_iter() if e.url == url]
    return sorted(found, key=lambda e: (e.get("created") or 0, e["id"]))


def setup_webhook(url: str) -> WebhookSetup:
    """Create the endpoint for `url`, or update the existing one: exactly the handled events.

    Idempotent: a second run finds the endpoint by its URL and sets the same events again,
    so there is never a second endpoint (nor a second delivery of each event).
    """
    client = stripe_client.client()
    existing = endpoints_for(url)
    events = list(HANDLED_EVENTS)
    if not existing:
        created = client.v1.webhook_endpoints.create(
            params={
                "url": url,
                "enabled_events": events,
                "api_version": stripe.api_version,
                "description": "creditapp",
            }
        )
        made = created.to_dict()
        return WebhookSetup(made["id"], True, made.get("secret"), made.get("api_version"), ())
    first, *others = existing
    updated = client.v1.webhook_endpoints.update(
        first["id"], params={"enabled_events": events, "disabled": False}
    ).to_dict()
    return WebhookSetup(
        updated["id"], False, None, updated.get("api_version"), tuple(other["id"] for other in others)
    )


def check(config: dict[str, Any], url: str) -> list[Finding]:
    """Compare the Stripe account with the configuration; every line says what was found."""
    findings = _check_keys(config)
    try:
        findings += _check_prices(config["CREDIT_PACK_LOOKUP_KEYS"])
        findings += _check_endpoint(url)
    except stripe.StripeError as exc:
        findings.append(
            Finding("problem", "Stripe", f"could not be asked: {exc.user_message or exc.__class__.__name__}")
        )
    return findings


def _check_keys(config: dict[str, Any]) -> list[Finding]:
    """Test keys with the local stand-in or outside production; live keys in production."""
    key = config.get("STRIPE_SECRET_KEY") or ""
    mode = (
        "test"
        if key.startswith(("sk_test_", "rk_test_"))
        else "live"
        if key.startswith(("sk_live_", "rk_live_"))
        else None
    )
    if config.get("STRIPE_API_BASE"):
        expected, why = "test", "STRIPE_API_BASE points at a local stand-in"
    elif config.get("ENV_NAME") == "production":
        expected, why = "live", "production takes real payments"
    else:
        expected, why = "test", "outside production"
    findings = []
    if mode is None:
        findings.append(Finding("problem", "STRIPE_SECRET_KEY", "is not a Stripe secret key (sk_… or rk_…)"))
    elif mode != expected:
        findings.append(
            Finding("problem", "STRIPE_SECRET_KEY", f"is a {mode} key; expected a {expected} key ({why})")
        )
    else:
        findings.append(Finding("ok", "STRIPE_SECRET_KEY", f"a {mode} key, as expected ({why})"))
    if (config.get("STRIPE_WEBHOOK_SECRET") or "").startswith("whsec_"):
        findings.append(Finding("ok", "STRIPE_WEBHOOK_SECRET", "is set"))
    else:
        findings.append(
            Finding("problem", "STRIPE_WEBHOOK_SECRET", "is not an endpoint signing secret (whsec_…)")
        )
    return findings


def _check_prices(lookup_keys: list[str]) -> list[Finding]:
    """Each lookup key has an active Price whose metadata.credits is a positive whole number."""
    if not lookup_keys:
        return [Finding("problem", "CREDIT_PACK_LOOKUP_KEYS", "is empty: nothing would be on sale")]
    listed = stripe_client.client().v1.prices.list(params={"lookup_keys": lookup_keys, "limit": 100})
    by_key: dict[str, list[dict[str, Any]]] = {}
    for listed_price in listed.auto_paging_iter():
        price = listed_price.to_dict()
        by_key.setdefault(price.get("lookup_key") or "", []).append(price)
    findings = []
    for key in lookup_keys:
        subject = f"price {key}"
        prices = by_key.get(key, [])
        active = [p for p in prices if p.get("active")]
        if not active:
            message = (
                "only an inactive Price has this lookup key" if prices else "no Price has this lookup key"
            )
            findings.append(Finding("problem", subject, message))
            continue
        price = active[0]
        raw = str((price.get("metadata") or {}).get("credits") or "").strip()
        if not raw.isdigit() or int(raw) <= 0:
            findings.append(
                Finding(
                    "problem", subject, f"{price['id']} has metadata.credits {raw or 'unset'!r}, not a count"
                )
            )
        else:
            findings.append(Finding("ok", subject, f"{price['id']} is active and buys {int(raw)} credits"))
    return findings


def _check_endpoint(url: str) -> list[Finding]:
    """The endpoint for `url` exists, is enabled and receives every handled event."""
    subject = f"webhook {url}"
    endpoints = endpoints_for(url)
    if not endpoints:
        return [Finding("problem", subject, "no endpoint; run `flask stripe setup-webhook URL`")]
    findings = []
    if len(endpoints) > 1:
        ids = ", ".join(e["id"] for e in endpoints)
        findings.append(
            Finding("problem", subject, f"{len(endpoints)} endpoints ({ids}): each event arrives twice")
        )
    endpoint = endpoints[0]
    if endpoint.get("status") != "enabled":
        findings.append(Finding("problem", subject, f"{endpoint['id']} is {endpoint.get('status')}"))
    enabled = set(endpoint.get("enabled_events") or [])
    missing = [] if "*" in enabled else [e for e in HANDLED_EVENTS if e not in enabled]
    if missing:
        findings.append(Finding("problem", subject, f"{endpoint['id']} does not send: {', '.join(missing)}"))
    version = endpoint.get("api_version")
    if version and version != stripe.api_version:
        findings.append(
            Finding(
                "warning",
                subject,
                f"{endpoint['id']} sends events as API {version}, the app speaks {stripe.api_version} "
                "(Stripe cannot change an endpoint's version: create a new endpoint to change it)",
            )
        )
    if not any(f.level == "problem" for f in findings):
        findings.append(
            Finding(
                "ok",
                subject,
                f"{endpoint['id']} is enabled and sends all {len(HANDLED_EVENTS)} handled events",
            )
        )
    return findings
