"""Shoppers driving the app over real HTTP: sign in with Google, spend, buy, read results."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests

from tests.support.emulator import EmulatorProcess

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
PRICE_FIELD = re.compile(r'name="price_id" value="([^"]+)"')
TIMEOUT = 30

_local = threading.local()


def http() -> requests.Session:
    """This thread's keep-alive HTTP session (no cookies of its own; shoppers send theirs)."""
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
        session.trust_env = False  # local traffic never goes through an environment proxy
    return session


@dataclass
class Shopper:
    """A signed-in person: their session cookie and CSRF token work on every instance."""

    email: str
    cookie: str
    csrf: str
    user_id: int | None = None

    def headers(self, **extra: str) -> dict[str, str]:
        """Cookie and CSRF headers for a state-changing request."""
        return {"Cookie": self.cookie, "X-CSRFToken": self.csrf, **extra}


@dataclass
class Outcome:
    """What one request got back (status None: no answer, e.g. the connection dropped)."""

    kind: str
    email: str
    instance: str
    status: int | None
    body: dict = field(default_factory=dict)
    key: str | None = None
    error: str | None = None


def sign_in(base_url: str, emulator: EmulatorProcess, email: str) -> Shopper:
    """The real OpenID Connect flow against the Google stand-in; returns the signed-in shopper."""
    with requests.Session() as browser:
        browser.trust_env = False
        start = browser.get(f"{base_url}/login", allow_redirects=False, timeout=TIMEOUT)
        assert start.status_code == 302, start.text[:500]
        callback = emulator.google_sign_in(start.headers["Location"], email, name=email.split("@")[0])
        done = browser.get(callback, allow_redirects=False, timeout=TIMEOUT)
        assert done.status_code == 302, done.text[:500]
        page = browser.get(f"{base_url}/", timeout=TIMEOUT)
        csrf = CSRF_META.search(page.text).group(1)
        cookie = "; ".join(f"{c.name}={c.value}" for c in browser.cookies)
    return Shopper(email, cookie, csrf)


def price_ids(base_url: str, shopper: Shopper) -> list[str]:
    """The packs on sale, read from the buy page."""
    page = http().get(f"{base_url}/buy-credits", headers={"Cookie": shopper.cookie}, timeout=TIMEOUT)
    assert page.status_code == 200, page.text[:500]
    return PRICE_FIELD.findall(page.text)


def spend(base_url: str, shopper: Shopper, size: int = 256, key: str | None = None) -> Outcome:
    """POST /api/features/image; never raises, the outcome records what happened."""
    headers = shopper.headers(**({"Idempotency-Key": key} if key else {}))
    try:
        response = http().post(
            f"{base_url}/api/features/image",
            json={"prompt": "a small bank", "size": size},
            headers=headers,
            timeout=TIMEOUT,
        )
    except requests.RequestException as exc:
        return Outcome("spend", shopper.email, base_url, None, key=key, error=exc.__class__.__name__)
    body = response.json() if response.headers.get("Content-Type", "").startswith("application/json") else {}
    body.pop("image", None)  # keep memory small: thousands of data URLs add up
    body["size"] = size
    return Outcome("spend", shopper.email, base_url, response.status_code, body, key=key)


def checkout(base_url: str, shopper: Shopper, price_id: str) -> Outcome:
    """POST /billing/checkout; the body records the Checkout Session id on a 303."""
    try:
        response = http().post(
            f"{base_url}/billing/checkout",
            data={"price_id": price_id, "csrf_token": shopper.csrf},
            headers={"Cookie": shopper.cookie},
            allow_redirects=False,
            timeout=TIMEOUT,
        )
    except requests.RequestException as exc:
        return Outcome("checkout", shopper.email, base_url, None, error=exc.__class__.__name__)
    body = {}
    if response.status_code == 303:
        body["session_id"] = urlsplit(response.headers["Location"]).path.rsplit("/", 1)[-1]
    return Outcome("checkout", shopper.email, base_url, response.status_code, body)


def success_page(base_url: str, shopper: Shopper, session_id: str) -> Outcome:
    """GET /checkout/success for a session (races the webhook to credit it)."""
    response = http().get(
        f"{base_url}/checkout/success",
        params={"session_id": session_id},
        headers={"Cookie": shopper.cookie},
        timeout=TIMEOUT,
    )
    return Outcome("success_page", shopper.email, base_url, response.status_code, {"session_id": session_id})
