"""Emulator settings: defaults and the environment variables that override them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

APP_BASE_URL = "http://127.0.0.1:5000"

DEFAULTS: dict[str, Any] = {
    "host": "127.0.0.1",
    "port": 12111,
    "smtp_port": 12125,
    "public_url": None,  # None: URLs are built from the Host the request came in on
    "webhook_url": f"{APP_BASE_URL}/webhooks/stripe",
    "webhook_secret": "whsec_local_development_secret",
    "webhooks_enabled": True,
    "max_attempts": 5,
    "retry_base_seconds": 0.5,
    "google_client_id": "local-client-id",
    "google_client_secret": "local-client-secret",
    "google_redirect_uris": [f"{APP_BASE_URL}/auth/callback"],
}


def from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return the settings, with defaults overridden by environment variables."""
    env = os.environ if environ is None else environ
    app_url = env.get("APP_BASE_URL", "").rstrip("/")
    redirect_uris = list(DEFAULTS["google_redirect_uris"])
    if app_url and f"{app_url}/auth/callback" not in redirect_uris:
        redirect_uris.append(f"{app_url}/auth/callback")
    settings = dict(DEFAULTS, google_redirect_uris=redirect_uris)
    if app_url:
        settings["webhook_url"] = f"{app_url}/webhooks/stripe"
    readers = {
        "EMULATOR_HOST": ("host", str),
        "EMULATOR_PORT": ("port", int),
        "EMULATOR_SMTP_PORT": ("smtp_port", int),
        "EMULATOR_PUBLIC_URL": ("public_url", lambda v: v.rstrip("/") or None),
        "EMULATOR_WEBHOOK_URL": ("webhook_url", str),
        "STRIPE_WEBHOOK_SECRET": ("webhook_secret", str),
        "EMULATOR_WEBHOOKS_ENABLED": ("webhooks_enabled", parse_bool),
        "EMULATOR_WEBHOOK_MAX_ATTEMPTS": ("max_attempts", int),
        "EMULATOR_WEBHOOK_RETRY_BASE": ("retry_base_seconds", float),
        "GOOGLE_CLIENT_ID": ("google_client_id", str),
        "GOOGLE_CLIENT_SECRET": ("google_client_secret", str),
        "EMULATOR_GOOGLE_REDIRECT_URIS": ("google_redirect_uris", split_list),
    }
    for variable, (key, parse) in readers.items():
        value = env.get(variable)
        if value:
            settings[key] = parse(value)
    return settings


def parse_bool(value: str) -> bool:
    """Read ``1/true/yes/on`` as True, anything else as False."""
    return value.strip().lower() in {"1", "true", "yes", "on"}


def split_list(value: str) -> list[str]:
    """Split a comma-separated variable into its non-empty items."""
    return [item.strip() for item in value.split(",") if item.strip()]
