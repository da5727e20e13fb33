"""Oversize request bodies get 413 before anything reads them, and write nothing."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import sqlalchemy as sa

from creditapp import create_app, ledger
from creditapp.extensions import db
from creditapp.models import CreditSpend, StripeEvent
from tests.support import spending
from tests.support.spending import API

FORTY_MIB = 40 * 1024 * 1024
signed_in = spending.signed_in


def send_headers_only(base_url: str, path: str, headers: dict[str, str], length: int) -> tuple[int, bytes]:
    """Announce a `length`-byte POST, send one small slice of it, and read the answer.

    The server can only answer now if it decides without reading the body: the rest of the
    40 MiB is never sent. Returns the status code and the response body.
    """
    url = urlsplit(base_url)
    lines = [f"POST {path} HTTP/1.1", f"Host: {url.netloc}", f"Content-Length: {length}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + b"{" + b" " * 65535)
        received = b""
        while b"\r\n\r\n" not in received or len(received) < _expected_length(received):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split()[1]), body[: _expected_length(received) - len(head) - 4]


def _expected_length(received: bytes) -> int:
    head, sep, _ = received.partition(b"\r\n\r\n")
    if not sep:
        return len(received) + 1
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(head) + 4 + int(value)
    return len(received)


def test_a_40_mib_webhook_is_refused_with_json_before_it_is_read(app, live_server):
    headers = {"Content-Type": "application/json", "Stripe-Signature": "t=1,v1=00"}
    status, body = send_headers_only(live_server, "/webhooks/stripe", headers, FORTY_MIB)
    assert status == 413
    assert json.loads(body)["error"] == "too_large"
    assert db.session.execute(sa.select(sa.func.count()).select_from(StripeEvent)).scalar_one() == 0


def test_a_40_mib_api_spend_is_refused_with_json_and_charges_nothing(app, live_server, signed_in):
    client, user_id, token = signed_in()
    cookie = client.get_cookie("session").value
    headers = {"Content-Type": "application/json", "Cookie": f"session={cookie}", "X-CSRFToken": token}
    status, body = send_headers_only(live_server, API, headers, FORTY_MIB)
    assert status == 413
    assert json.loads(body) == {
        "error": "too_large",
        "message": "The request body is larger than the 1 MiB this service accepts.",
    }
    assert ledger.balance(user_id).credits == 500
    assert db.session.execute(sa.select(sa.func.count()).select_from(CreditSpend)).scalar_one() == 0


def test_an_oversize_form_gets_a_413_page_and_htmx_a_fragment(signed_in):
    client, user_id, token = signed_in()
    form = {"csrf_token": token, "prompt": "a fox " * 200_000, "size": "256"}
    page = client.post("/features/image", data=form)
    assert page.status_code == 413
    assert "<html" in page.get_data(as_text=True) and "1 MiB" in page.get_data(as_text=True)
    fragment = client.post("/features/image", data=form, headers={"HX-Request": "true"})
    assert fragment.status_code == 413
    html = fragment.get_data(as_text=True)
    assert "<html" not in html and 'role="alert"' in html and "1 MiB" in html
    assert ledger.balance(user_id).credits == 500


def test_the_size_limit_is_configurable(monkeypatch, database_url):
    monkeypatch.setenv("MAX_CONTENT_LENGTH", "4096")
    app = create_app({"CONFIG_NAME": "testing", "SQLALCHEMY_DATABASE_URI": database_url})
    client = app.test_client()
    small = client.post("/webhooks/stripe", data=b"x" * 4000, content_type="application/json")
    large = client.post("/webhooks/stripe", data=b"x" * 5000, content_type="application/json")
    assert (small.status_code, large.status_code) == (400, 413)
    assert large.get_json()["message"] == "The request body is larger than the 4 KiB this service accepts."
    with app.app_context():
        db.engine.dispose()
