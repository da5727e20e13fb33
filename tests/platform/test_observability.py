"""JSON logs carrying the request id, and the Prometheus metrics at /metrics."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from prometheus_client.parser import text_string_to_metric_families

from creditapp import ledger
from creditapp.platform.observability import RequestIdFilter, json_formatter
from tests.support.stripe_helpers import sign

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


@contextmanager
def json_log_lines() -> Iterator[list[dict]]:
    """Everything logged under `creditapp` in the block, as the JSON objects production writes."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("creditapp")
    logger.addHandler(handler)
    lines: list[dict] = []
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        lines.extend(json.loads(line) for line in stream.getvalue().splitlines())


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    """GET /metrics and return {(sample name, sorted labels): value}."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    """One sample's value (0 when it was never incremented)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_a_sane_request_id_is_echoed_back(client):
    response = client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.42:1"})
    assert response.headers["X-Request-ID"] == "lb-7f3a.42:1"


@pytest.mark.parametrize("sent", [None, "", "has spaces", "x" * 200, "<script>", "-leading-dash"])
def test_a_missing_or_odd_request_id_is_replaced_by_a_fresh_one(client, sent):
    headers = {"X-Request-ID": sent} if sent is not None else {}
    first = client.get("/healthz", headers=headers).headers["X-Request-ID"]
    second = client.get("/healthz", headers=headers).headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first != second


def test_every_log_line_of_a_spend_is_json_with_its_request_id(client, make_user, sign_in_as):
    user_id = make_user(credits=100)
    sign_in_as(client, user_id)
    token = CSRF_META.search(client.get("/").get_data(as_text=True)).group(1)
    with json_log_lines() as lines:
        response = client.post(
            "/api/features/image",
            json={"prompt": "a lighthouse", "size": 256},
            headers={"X-CSRFToken": token, "X-Request-ID": "req-spend-1"},
        )
    assert response.status_code == 202
    assert response.headers["X-Request-ID"] == "req-spend-1"
    holds = [line for line in lines if line["message"] == "ledger hold"]
    assert holds, lines
    assert holds[0]["request_id"] == "req-spend-1"
    assert holds[0]["user_id"] == user_id
    assert holds[0]["amount"] == -5 and holds[0]["balance"] == 95
    assert {"time", "level", "logger"} <= holds[0].keys()
    assert all(line["request_id"] == "req-spend-1" for line in lines)


def test_log_lines_outside_a_request_have_a_null_request_id(app, make_user):
    user_id = make_user(credits=10)
    with json_log_lines() as lines:
        ledger.hold(user_id, "cli", 1)
    assert lines[-1]["message"] == "ledger hold"
    assert lines[-1]["request_id"] is None


def test_requests_are_counted_by_endpoint_and_status(client):
    before = scrape(client)
    client.get("/healthz")
    client.get("/healthz")
    client.get("/no-such-page")
    after = scrape(client)
    ok = {"endpoint": "account.healthz", "method": "GET", "status": "200"}
    missing = {"endpoint": "unmatched", "method": "GET", "status": "404"}
    assert (
        value(after, "creditapp_http_requests_total", **ok)
        - value(before, "creditapp_http_requests_total", **ok)
        == 2
    )
    assert (
        value(after, "creditapp_http_requests_total", **missing)
        - value(before, "creditapp_http_requests_total", **missing)
        == 1
    )
    assert value(after, "creditapp_http_request_duration_seconds_count", endpoint="account.healthz") >= 2


def test_open_holds_are_reported_from_the_database(client, make_user):
    user_id = make_user(credits=100)
    assert value(scrape(client), "creditapp_holds_open") == 0
    first = ledger.hold(user_id, "image_generation", 5)
    ledger.hold(user_id, "image_generation", 5)
    ledger.capture(first.spend_id)
    samples = scrape(client)
    assert value(samples, "creditapp_holds_open") == 1
    assert value(samples, "creditapp_oldest_hold_age_seconds") >= 0


def test_holds_are_counted_from_the_ledger_itself(client, make_user):
    user_id = make_user(credits=100)
    before = value(scrape(client), "creditapp_spends_total", outcome="held")
    ledger.hold(user_id, "image_generation", 5)
    ledger.hold(user_id, "image_generation", 5)
    with pytest.raises(ledger.InsufficientCredits):
        ledger.hold(user_id, "image_generation", 500)
    assert value(scrape(client), "creditapp_spends_total", outcome="held") - before == 2


def test_captures_releases_and_refusals_are_counted_from_the_ledger(client, make_user):
    user_id = make_user(credits=10)
    before = scrape(client)
    ledger.capture(ledger.hold(user_id, "image_generation", 5).spend_id)
    ledger.release(ledger.hold(user_id, "image_generation", 5).spend_id)
    with pytest.raises(ledger.InsufficientCredits):
        ledger.hold(user_id, "image_generation", 500)
    after = scrape(client)

    for outcome in ("captured", "released", "insufficient"):
        grew = value(after, "creditapp_spends_total", outcome=outcome)
        assert grew - value(before, "creditapp_spends_total", outcome=outcome) == 1, outcome


def test_webhook_deliveries_are_counted_by_type_and_outcome(client):
    event = {"id": "evt_metrics_1", "type": "customer.created", "created": 1, "data": {"object": {}}}
    body = json.dumps(event).encode()
    headers = {"Stripe-Signature": sign(body), "Content-Type": "application/json"}
    labels = {"type": "customer.created"}
    before = scrape(client)

    assert client.post("/webhooks/stripe", data=body, headers=headers).status_code == 200
    assert client.post("/webhooks/stripe", data=body, headers=headers).status_code == 200
    after = scrape(client)

    for status in ("ignored", "duplicate"):
        grew = value(after, "creditapp_webhook_events_total", status=status, **labels)
        assert grew - value(before, "creditapp_webhook_events_total", status=status, **labels) == 1


def test_metrics_need_the_token_when_one_is_configured(app, client):
    app.config["METRICS_TOKEN"] = "scrape-secret"
    try:
        assert client.get("/metrics").status_code == 404
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
        assert scrape(client, Authorization="Bearer scrape-secret")
    finally:
        del app.config["METRICS_TOKEN"]
