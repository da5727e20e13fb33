"""gunicorn settings: `gunicorn -c gunicorn.conf.py wsgi:app`. Every value can come from the environment.

PORT (platforms that assign one) binds 0.0.0.0:PORT; GUNICORN_BIND overrides; the default
is 127.0.0.1:5000. WEB_CONCURRENCY sets the worker count (default 2 × CPUs + 1),
GUNICORN_THREADS the threads per worker. Logs go to stdout as JSON lines (LOG_FORMAT=text:
readable lines; ACCESS_LOG=quiet: no access lines for successful polls, static files and
health checks); the access line carries the request time and the X-Request-ID the app
answered with.
"""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

# Empty means unset, as for every setting: prometheus_client would otherwise run in
# multiprocess mode with no directory and write its files into the working directory.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


if os.environ.get("GUNICORN_BIND"):
    bind = os.environ["GUNICORN_BIND"].split(",")
elif os.environ.get("PORT"):
    bind = [f"0.0.0.0:{os.environ['PORT']}"]
else:
    bind = ["127.0.0.1:5000"]

workers = _int("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1)
worker_class = "gthread"
threads = _int("GUNICORN_THREADS", 4)

# Timeouts. Under gthread the master hears from a worker's main loop, which keeps running
# while request threads wait, so `timeout` bounds no request: it replaces a worker whose
# main loop froze. Requests are bounded by the timeouts of what they wait for (database
# statement_timeout, Stripe and Google clients, the image provider's HTTP timeout).
timeout = _int("GUNICORN_TIMEOUT", 30)
# Paid features run as jobs on the queue (creditapp/jobs), so no request waits on the image
# provider: the longest waits are a Stripe call (stripe_client.TIMEOUT_SECONDS per attempt)
# and a database statement (statement_timeout). A restart (SIGTERM, deploy) or a
# max_requests recycle lets in-flight requests finish for graceful_timeout seconds, then
# kills the worker; even a request cut off then loses no money, because every ledger change
# is one committed transaction and a job is written with its hold (docs/operations.md, Timeouts).
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = 5
# Each worker imports the app itself: no database connection or client is shared across a fork.
preload_app = False
# Recycle workers now and then so a slow leak never grows unbounded; jitter avoids all at once.
# A recycle is graceful: the worker stops accepting and finishes in-flight requests first.
max_requests = _int("GUNICORN_MAX_REQUESTS", 10000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 1000)
# Only the proxy in front may set X-Forwarded-Proto (see TRUSTED_PROXY_HOPS for the client IP).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS") or "127.0.0.1"
# The control socket defaults to one path per user; two instances on one host would clash.
control_socket_disable = not os.environ.get("GUNICORN_CONTROL_SOCKET")
if os.environ.get("GUNICORN_CONTROL_SOCKET"):
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]

loglevel = (os.environ.get("LOG_LEVEL") or "info").lower()
# LOG_FORMAT=text: one readable line per record (`make run`); JSON otherwise.
log_format = "text" if os.environ.get("LOG_FORMAT") == "text" else "json"
# ACCESS_LOG=quiet leaves out successful polls, static files and health checks (`make run`).
access_filters = ["request_id", "quiet"] if os.environ.get("ACCESS_LOG") == "quiet" else ["request_id"]
accesslog = "-"
errorlog = "-"
# The JSON line's request_id field comes from the response's X-Request-ID (RequestIdFilter).
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms'
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger", "process": "pid"},
        },
        "text": {"()": "creditapp.platform.observability.TextFormatter"},
    },
    "filters": {
        "request_id": {"()": "creditapp.platform.observability.RequestIdFilter"},
        "quiet": {"()": "creditapp.platform.observability.QuietAccessFilter"},
    },
    "handlers": {
        # The level is on the handler: the ledger logger stays at INFO to feed the metrics.
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": log_format,
            "filters": ["request_id"],
            "level": loglevel.upper(),
        },
        "access": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": log_format,
            "filters": access_filters,
        },
    },
    "root": {"level": loglevel.upper(), "handlers": ["stdout"]},
    "loggers": {
        "gunicorn.error": {"level": loglevel.upper(), "handlers": [], "propagate": True},
        "gunicorn.access": {"level": "INFO", "handlers": ["access"], "propagate": False},
        "alembic": {"level": "WARNING"},
    },
}


def on_starting(server) -> None:
    """Clear the Prometheus multiprocess files of an earlier run so counts start from zero."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        for stale in Path(folder).glob("*.db"):
            stale.unlink()


def child_exit(server, worker) -> None:
    """Drop a dead worker's live gauges from the multiprocess metrics."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
