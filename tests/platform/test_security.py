"""Security headers: a strict CSP the pages really satisfy, no framing, no sniffing."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from creditapp.platform.security import content_security_policy


def directives(response) -> dict[str, list[str]]:
    """The response's CSP as {directive: sources}."""
    policy = response.headers["Content-Security-Policy"]
    parsed = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        parsed[name] = sources
    return parsed


class InlineCode(HTMLParser):
    """Collects what `script-src 'self'; style-src 'self'` would block in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.blocked: list[str] = []
        self._in_inline_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Note inline scripts, <style> blocks, style= and on*= attributes, javascript: URLs."""
        names = dict(attrs)
        if tag == "script" and not names.get("src") and names.get("type") != "application/json":
            self._in_inline_script = True
        if tag == "style":
            self.blocked.append("<style> block")
        for name, value in attrs:
            if name == "style":
                self.blocked.append(f"<{tag} style=…>")
            if name.startswith("on"):
                self.blocked.append(f"<{tag} {name}=…>")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith("javascript:"):
                self.blocked.append(f"<{tag} {name}=javascript:…>")

    def handle_data(self, data: str) -> None:
        """Text inside a <script> without src is inline code."""
        if self._in_inline_script and data.strip():
            self.blocked.append(f"inline <script>: {data.strip()[:60]}")

    def handle_endtag(self, tag: str) -> None:
        """Leave a script element."""
        if tag == "script":
            self._in_inline_script = False


def pages(app) -> list[str]:
    """Every GET route without URL parameters that renders a page (not an API or fragment)."""
    skip = ("/api/", "/static", "/metrics", "/healthz", "/webhooks/", "/login", "/auth/", "/logout")
    return sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if "GET" in rule.methods and not rule.arguments and not rule.rule.startswith(skip)
    )


def test_every_response_forbids_inline_code_framing_and_sniffing(client):
    response = client.get("/")
    csp = directives(response)
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"]
    assert csp["default-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'self'"]
    assert csp["base-uri"] == ["'self'"]
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_json_errors_carry_the_headers_too(client):
    response = client.get("/api/no-such-thing")
    assert response.status_code == 404
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" in response.headers


def test_hsts_is_only_sent_in_production(client):
    assert "Strict-Transport-Security" not in client.get("/").headers


def test_checkout_form_may_continue_to_the_stripe_stand_in(app, client):
    # POST /billing/checkout answers 303 to the hosted page; Chrome checks form-action on it.
    stand_in = app.config["STRIPE_API_BASE"].rstrip("/")
    assert stand_in in directives(client.get("/"))["form-action"]


def test_without_a_stand_in_the_checkout_form_may_continue_to_stripe():
    policy = content_security_policy({"GOOGLE_DISCOVERY_URL": None})
    assert "form-action 'self' https://checkout.stripe.com;" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


def test_pages_contain_nothing_the_policy_would_block(app, client, make_user, sign_in_as, emulator):
    sign_in_as(client, make_user())
    checked = []
    for path in pages(app):
        response = client.get(path)
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        parser = InlineCode()
        parser.feed(response.get_data(as_text=True))
        assert parser.blocked == [], f"{path} has code the CSP blocks: {parser.blocked}"
        checked.append(path)
    assert {"/", "/buy-credits"} <= set(checked), checked


@pytest.mark.parametrize("page", ["/", "/buy-credits", "/nowhere"])
def test_signed_out_pages_have_the_headers(client, page):
    response = client.get(page)
    assert response.status_code < 500
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
