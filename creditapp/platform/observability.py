"""JSON logs with a request id on every line, and Prometheus metrics at /metrics.

LOG_FORMAT=text writes one readable line per record instead (what `make run` shows), and
ACCESS_LOG=quiet leaves out the access lines of successful polls, static files and health
checks (also `make run`'s default); production keeps JSON and every access line.

Metrics live in prometheus_client's default registry. Under gunicorn with several
workers, set PROMETHEUS_MULTIPROC_DIR (a directory of its own; gunicorn.conf.py clears
it at start) so /metrics adds up every worker; without it each worker reports only its
own counts. Spend and purchase counters are fed by the ledger's own log records.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Mapping

import sqlalchemy as sa
from flask import Flask, Response, abort, current_app, has_request_context, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from pythonjsonlogger.json import JsonFormatter

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_KEY = "creditapp.request_id"
_STARTED_KEY = "creditapp.request_started"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
TEXT_LOG_FORMAT = "%(asctime)s %(levelname)-5s %(name)s: %(message)s"
TEXT_DATE_FORMAT = "%H:%M:%S"
# Requests a browser repeats on its own; under ACCESS_LOG=quiet their successes are not logged.
QUIET_PATHS = ("/static/", "/credits/badge", "/healthz", "/metrics", "/favicon.ico")
METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

HTTP_REQUESTS = Counter(
    "creditapp_http_requests_total", "HTTP responses sent", ["endpoint", "method", "status"]
)
HTTP_LATENCY = Histogram(
    "creditapp_http_request_duration_seconds",
    "Time from the first before_request hook to the response",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
SPENDS = Counter("creditapp_spends_total", "Credit spends by outcome", ["outcome"])
PURCHASES = Counter("creditapp_purchases_completed_total", "Purchases credited to a balance")
WEBHOOKS = Counter(
    "creditapp_webhook_events_total",
    "Stripe webhook deliveries by event type and outcome",
    ["type", "status"],
)


# Ledger log `operation` -> spend outcome label.
SPEND_OUTCOMES = {"hold": "held", "capture": "captured", "release": "released", "refused": "insufficient"}


def count_webhook(event_type: str, status: str) -> None:
    """Count a verified webhook delivery: processed, ignored, failed, duplicate or retry."""
    WEBHOOKS.labels(event_type, status).inc()


def request_id() -> str | None:
    """This request's id: a sane incoming X-Request-ID, else a new one; None outside requests."""
    if not has_request_context():
        return None
    # Kept in the WSGI environ, not in `g`: an app context (and its `g`) may span requests.
    rid = request.environ.get(_REQUEST_ID_KEY)
    if rid is None:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        rid = incoming if _SANE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        request.environ[_REQUEST_ID_KEY] = rid
    return rid


class RequestIdFilter(logging.Filter):
    """Stamp every log record with the current request id (null outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add `request_id` to the record; never drops it."""
        if not hasattr(record, "request_id"):
            record.request_id = request_id()
        access_line = record.name == "gunicorn.access" and isinstance(record.args, Mapping)
        if record.request_id is None and access_line:
            # gunicorn logs access after the request is gone: take the id from the response header.
            record.request_id = record.args.get("{x-request-id}o")
        return True


class LedgerMetricsHandler(logging.Handler):
    """Turn the ledger's own log records into counters, so no caller can forget to count."""

    def emit(self, record: logging.LogRecord) -> None:
        """Count spends by outcome and completed purchases, from the record's `operation`."""
        operation = getattr(record, "operation", None)
        if operation in SPEND_OUTCOMES:
            SPENDS.labels(SPEND_OUTCOMES[operation]).inc()
        elif operation == "purchase":
            PURCHASES.inc()


def json_formatter() -> JsonFormatter:
    """One JSON object per line: time, level, logger, message, request_id and any extras."""
    return JsonFormatter(
        LOG_FORMAT, rename_fields={"asctime": "time", "levelname": "level", "name": "logger"}
    )


class TextFormatter(logging.Formatter):
    """One readable line, extras appended: `08:15:03 INFO  creditapp.ledger: ledger hold user_id=1 …`."""

    STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id"}

    def __init__(self) -> None:
        super().__init__(TEXT_LOG_FORMAT, TEXT_DATE_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        """The standard line plus ` key=value` for each extra field the record carries."""
        line = super().format(record)
        extras = [f"{key}={value}" for key, value in record.__dict__.items() if key not in self.STANDARD]
        if not extras:
            return line
        first, newline, rest = line.partition("\n")  # keep a traceback below the line
        return f"{first} {' '.join(extras)}{newline}{rest}"


def text_formatter() -> logging.Formatter:
    """The LOG_FORMAT=text formatter."""
    return TextFormatter()


class QuietAccessFilter(logging.Filter):
    """Drop gunicorn's access lines for successful polls, static files and health checks."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a 2xx/3xx access line of a QUIET_PATHS request; True otherwise."""
        if record.name != "gunicorn.access" or not isinstance(record.args, Mapping):
            return True
        path = str(record.args.get("U") or "")
        try:
            status = int(record.args.get("s") or 0)
        except ValueError:
            return True
        return not (status < 400 and path.startswith(QUIET_PATHS))


def configure_logging(level: str = "INFO", log_format: str = "json", quiet: bool = False) -> None:
    """Send every log record to stdout (JSON or text), once per process (gunicorn may have done it).

    `quiet` (ACCESS_LOG=quiet) also leaves out the Stripe SDK's two lines per API call.
    """
    if quiet:
        logging.getLogger("stripe").setLevel(logging.WARNING)
    root = logging.getLogger()
    if not any(getattr(h, "creditapp_output", False) or _is_gunicorn_output(h) for h in root.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.creditapp_output = True
        handler.setFormatter(text_formatter() if log_format == "text" else json_formatter())
        handler.addFilter(RequestIdFilter())
        # The level sits on the handler too: the ledger logger stays at INFO for the metrics.
        handler.setLevel(level.upper())
        root.addHandler(handler)
    root.setLevel(level.upper())


def _is_gunicorn_output(handler: logging.Handler) -> bool:
    # gunicorn.conf.py's handlers carry the request-id filter: their records are formatted already.
    return any(isinstance(f, RequestIdFilter) for f in handler.filters)


def _install_ledger_metrics() -> None:
    ledger_log = logging.getLogger("creditapp.ledger")
    # The counters need the INFO records whatever level the output is set to.
    ledger_log.setLevel(logging.INFO)
    if not any(isinstance(h, LedgerMetricsHandler) for h in ledger_log.handlers):
        ledger_log.addHandler(LedgerMetricsHandler())


class HoldsCollector:
    """Holds open right now, read with one query at scrape time."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self):
        """Yield the holds gauges (count and age of the oldest)."""
        from creditapp.extensions import db
        from creditapp.models import CreditSpend

        with self.app.app_context():
            row = db.session.execute(
                sa.select(sa.func.count(), sa.func.min(CreditSpend.created_at)).where(
                    CreditSpend.status == "held"
                )
            ).one()
            db.session.remove()
        yield GaugeMetricFamily("creditapp_holds_open", "Spends held and not yet settled", value=row[0])
        oldest = time.time() - row[1].timestamp() if row[1] else 0.0
        yield GaugeMetricFamily(
            "creditapp_oldest_hold_age_seconds", "Age of the oldest open hold (0 when none)", value=oldest
        )


def metrics() -> Response:
    """Prometheus metrics; needs `Authorization: Bearer <METRICS_TOKEN>` when that is set.

    Production refuses to start without a token (config.ProductionConfig); should one
    still be missing there, nothing is served.
    """
    token = current_app.config.get("METRICS_TOKEN")
    if not token and current_app.config.get("ENV_NAME") == "production":
        abort(404)
    sent = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
    if token and not hmac.compare_digest(sent, f"Bearer {token}".encode()):
        abort(404)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    holds = CollectorRegistry()
    holds.register(HoldsCollector(current_app._get_current_object()))
    body = generate_latest(registry) + generate_latest(holds)
    return Response(body, mimetype=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    """JSON logging (not under the test suite, which captures logs itself), request ids, metrics."""
    if not app.testing:
        configure_logging(
            app.config.get("LOG_LEVEL") or "INFO",
            app.config.get("LOG_FORMAT") or "json",
            quiet=app.config.get("ACCESS_LOG") == "quiet",
        )
    _install_ledger_metrics()

    def start_timer() -> None:
        request.environ[_STARTED_KEY] = time.perf_counter()

    # First hook of all, so requests refused by CSRF or rate limits are timed too.
    app.before_request_funcs.setdefault(None, []).insert(0, start_timer)

    @app.after_request
    def record_request(response: Response) -> Response:
        response.headers[REQUEST_ID_HEADER] = request_id()
        endpoint = request.endpoint or "unmatched"
        method = request.method if request.method in METHODS else "other"  # bounded label values
        HTTP_REQUESTS.labels(endpoint, method, str(response.status_code)).inc()
        started = request.environ.get(_STARTED_KEY)
        if started is not None:
            HTTP_LATENCY.labels(endpoint).observe(time.perf_counter() - started)
        return response

    app.add_url_rule("/metrics", "metrics", metrics)
