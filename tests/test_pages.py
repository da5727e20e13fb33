"""Pages: home signed in and out, the layout, and markup a strict CSP allows."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from creditapp import ledger
from creditapp.extensions import db
from creditapp.models import CreditPurchase
from tests.support.jobs import run_queued
from tests.support.spending import API, balance, csrf_token


class Markup(HTMLParser):
    """Collects what a Content-Security-Policy of `script-src 'self'; style-src 'self'` forbids."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.assets: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        for name, _ in attrs:
            if name == "style" or name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…>")
        if tag == "style":
            self.problems.append("<style> element")
        if tag == "script":
            self._in_script = "src" not in names
            self.assets.append(names.get("src") or "")
        if tag == "link" and names.get("rel") == "stylesheet":
            self.assets.append(names.get("href") or "")
        if tag == "img" and not (names.get("src") or "").startswith("data:"):
            self.assets.append(names.get("src") or "")
        for name in ("href", "src", "hx-get", "hx-post"):
            if (names.get(name) or "").startswith("javascript:"):
                self.problems.append(f"javascript: URL in <{tag} {name}>")

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.problems.append("inline <script>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False


def check(html: str) -> Markup:
    """Parse a page and return what it found."""
    parser = Markup()
    parser.feed(html)
    return parser


@pytest.fixture
def signed_in_client(client, make_user, sign_in_as):
    """A client signed in as a user with 500 credits."""
    user_id = make_user(name="Ada Lovelace")
    sign_in_as(client, user_id)
    return client, user_id


def test_signed_out_home_pitches_sign_in(client):
    html = client.get("/").get_data(as_text=True)

    assert "Sign in with Google to get 500 free credits." in html
    assert 'href="/login"' in html
    assert "credit-badge" not in html and 'href="/history"' not in html


def test_signed_in_home_shows_balance_links_and_the_live_badge(signed_in_client):
    client, _ = signed_in_client

    html = client.get("/").get_data(as_text=True)

    assert "Welcome, Ada Lovelace" in html
    assert 'You have <strong id="home-balance" data-balance>500</strong> credits.' in html
    for label, href in (("Home", "/"), ("Generate image", "/features/image"), ("History", "/history")):
        assert f'<a href="{href}"' in html and f">{label}</a>" in html
    assert re.search(r'<a href="/buy-credits"[^>]*>Buy credits</a>', html)
    assert '<a href="/" aria-current="page">Home</a>' in html
    badge = re.search(r'<span id="credit-badge"[^>]*>([^<]*)</span>', html, re.S)
    assert badge.group(1) == "500 credits"
    assert 'hx-trigger="credits-changed from:body"' in badge.group(0)
    assert 'aria-live="polite"' in badge.group(0)


def test_the_home_page_explains_a_negative_balance(signed_in_client):
    client, user_id = signed_in_client
    purchase = CreditPurchase(
        user_id=user_id, stripe_price_id="price_x", credits_purchased=100, amount_paid=500, currency="usd"
    )
    db.session.add(purchase)
    db.session.commit()
    ledger.complete_purchase(purchase.id, "pi_neg", 500, "usd")
    ledger.capture(ledger.hold(user_id, "image_generation", 600).spend_id)
    ledger.claw_back_refund(purchase.id, 500, "re_neg")

    html = client.get("/").get_data(as_text=True)

    assert 'class="badge badge-negative"' in html and "-100 credits" in html
    assert "Your balance is negative because a purchase was refunded" in html


def test_htmx_is_configured_for_a_strict_csp(client):
    html = client.get("/").get_data(as_text=True)

    config = json.loads(re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", html).group(1))
    assert config["includeIndicatorStyles"] is False
    assert {"code": "402", "swap": True, "error": False} in config["responseHandling"]
    assert re.search(r'<meta name="csrf-token" content="[^"]+">', html)


@pytest.mark.parametrize(
    "path", ["/", "/features/image", "/history", "/account", "/account/credits", "/nope-404"]
)
def test_pages_have_no_inline_script_style_or_handlers_and_only_local_assets(signed_in_client, path):
    client, _ = signed_in_client

    markup = check(client.get(path).get_data(as_text=True))

    assert markup.problems == []
    assert markup.assets and all(src.startswith("/static/") for src in markup.assets), markup.assets


def test_a_generated_image_fragment_is_csp_clean(signed_in_client):
    client, _ = signed_in_client
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)

    response = client.post(
        "/features/image",
        data={"prompt": "<script>alert(1)</script>", "size": "256"},
        headers={"X-CSRFToken": token, "HX-Request": "true"},
    )

    html = response.get_data(as_text=True)
    assert response.status_code == 202
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert check(html).problems == []


def test_signed_out_pages_redirect_to_sign_in_with_next(client):
    for path in ("/features/image", "/history", "/features/image/quote?size=512"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login?next=")


# --- the image page -------------------------------------------------------------------


def test_the_form_shows_the_price_before_spending_and_the_quote_follows_the_size(signed_in_client):
    client, _ = signed_in_client

    page = client.get("/features/image").get_data(as_text=True)
    quote = client.get("/features/image/quote?size=1024", headers={"HX-Request": "true"})
    bad = client.get("/features/image/quote?size=300", headers={"HX-Request": "true"})

    assert "A 512 × 512 image costs <strong>10 credits</strong>. You have 500." in page
    assert 'hx-get="/features/image/quote"' in page and 'hx-indicator="#generating"' in page
    assert 'id="generating"' in page and 'class="htmx-indicator' in page
    assert quote.status_code == 200
    assert "costs <strong>20 credits</strong>" in quote.get_data(as_text=True)
    assert bad.status_code == 422


def test_the_form_works_without_javascript(signed_in_client):
    client, user_id = signed_in_client
    token = csrf_token(client)

    response = client.post("/features/image", data={"prompt": "a kite", "size": "256", "csrf_token": token})
    run_queued(client.application)
    html = client.get(response.headers["Location"]).get_data(as_text=True)

    assert response.status_code == 303 and response.headers["Location"].startswith("/jobs/")
    assert "<html" in html and re.search(r'<img src="/api/jobs/[0-9a-f-]+/result.png"', html)
    assert "5 credits spent" in html and 'http-equiv="refresh"' not in html
    assert balance(user_id) == 495


def test_signed_out_people_are_sent_to_sign_in(client):
    token = csrf_token(client)

    page = client.get("/features/image")
    api = client.post(API, json={"prompt": "a fox", "size": 256}, headers={"X-CSRFToken": token})
    fragment = client.post(
        "/features/image", data={"prompt": "a fox"}, headers={"X-CSRFToken": token, "HX-Request": "true"}
    )

    assert page.status_code == 302 and page.headers["Location"] == "/login?next=%2Ffeatures%2Fimage"
    assert api.status_code == 401 and api.get_json()["error"] == "unauthorized"
    assert fragment.status_code == 401 and fragment.headers["HX-Redirect"].startswith("/login")


def test_a_malformed_polling_target_is_a_400_not_a_database_error(client, make_user, sign_in_as):
    sign_in_as(client, make_user())

    for until in ("\x00", "cs_" + "x" * 300, "not-a-session", ""):
        response = client.get("/credits/badge", query_string={"until": until})
        # A NUL is refused before any view by the request check (422); the others by the badge.
        assert response.status_code == (422 if "\x00" in until else 400), until
