"""Configuration classes read from the environment (see .env.example)."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DEFAULT_PACKS = "credits_100,credits_500,credits_1000"
GOOGLE_DISCOVERY = "https://accounts.google.com/.well-known/openid-configuration"
LOG_FORMATS = ("json", "text")


def _str(name: str, default: str) -> str:
    """Read a text variable; unset and empty both mean the default (as in .env.example)."""
    return os.environ.get(name) or default


def _int(name: str, default: int) -> int:
    """Read an integer variable, failing loudly on a malformed value."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise RuntimeError(f"{name} must be an integer, got {raw!r}") from exc


def _flag(name: str, default: bool) -> bool:
    """Read a 1/0 switch; unset and empty mean the default, anything else fails loudly."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw not in ("0", "1"):
        raise RuntimeError(f"{name} must be 1 or 0, got {raw!r}")
    return raw == "1"


def _prices(name: str) -> dict[str, int]:
    """Read a JSON object of price names to whole credits, e.g. {"image_256": 5, "qr": 1}."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return {}
    try:
        found = json.loads(raw)
    except ValueError as exc:
        raise RuntimeError(f'{name} must be a JSON object such as {{"qr": 1}}, got {raw!r}') from exc
    if not isinstance(found, dict) or not all(
        isinstance(value, int) and not isinstance(value, bool) and value >= 0 for value in found.values()
    ):
        raise RuntimeError(f"{name} must map each price name to a whole number of credits, got {raw!r}")
    return {str(key): value for key, value in found.items()}


def price(config: Mapping[str, Any], key: str, default: int) -> int:
    """The price named `key` in FEATURE_PRICES, else `default` (a feature's own default price)."""
    prices = config.get("FEATURE_PRICES") or {}
    value = prices.get(key)
    return default if value is None else int(value)


def _float(name: str, default: float) -> float:
    """Read a number variable, failing loudly on a malformed value."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise RuntimeError(f"{name} must be a number, got {raw!r}") from exc


class Config:
    """Settings shared by every environment; values come from the environment."""

    ENV_NAME = "development"
    TESTING = False

    def __init__(self, instance_path: str) -> None:
        env = os.environ
        self.SECRET_KEY = env.get("SECRET_KEY") or secrets.token_hex(32)
        sqlite_path = Path(instance_path) / "creditapp.db"
        self.SQLALCHEMY_DATABASE_URI = env.get("DATABASE_URL") or f"sqlite:///{sqlite_path}"
        self.APP_BASE_URL = _str("APP_BASE_URL", "http://127.0.0.1:5000").rstrip("/")
        self.GOOGLE_CLIENT_ID = _str("GOOGLE_CLIENT_ID", "")
        self.GOOGLE_CLIENT_SECRET = _str("GOOGLE_CLIENT_SECRET", "")
        self.GOOGLE_DISCOVERY_URL = _str("GOOGLE_DISCOVERY_URL", GOOGLE_DISCOVERY)
        self.STRIPE_SECRET_KEY = _str("STRIPE_SECRET_KEY", "")
        self.STRIPE_WEBHOOK_SECRET = _str("STRIPE_WEBHOOK_SECRET", "")
        self.STRIPE_API_BASE = env.get("STRIPE_API_BASE") or None
        # All the calls to Stripe one webhook makes wait this long together, not retried;
        # past it the webhook answers 503 and Stripe delivers again (stripe_client.budget).
        self.STRIPE_WEBHOOK_BUDGET_SECONDS = _float("STRIPE_WEBHOOK_BUDGET_SECONDS", 5.0)
        # Invoices and tax (docs/invoices.md): Checkout creates an invoice for every purchase
        # unless STRIPE_INVOICES=0; STRIPE_AUTOMATIC_TAX=1 has Stripe Tax compute the tax.
        self.STRIPE_INVOICES = _flag("STRIPE_INVOICES", True)
        self.STRIPE_AUTOMATIC_TAX = _flag("STRIPE_AUTOMATIC_TAX", False)
        if self.STRIPE_AUTOMATIC_TAX and not self.STRIPE_INVOICES:
            # A top-up is taxed only through its invoice: without invoices it would go untaxed.
            raise RuntimeError(
                "STRIPE_AUTOMATIC_TAX=1 needs STRIPE_INVOICES=1 "
                "(automatic top-ups are taxed through their invoice)"
            )
        packs = _str("CREDIT_PACK_LOOKUP_KEYS", DEFAULT_PACKS)
        self.CREDIT_PACK_LOOKUP_KEYS = [k.strip() for k in packs.split(",") if k.strip()]
        self.SIGNUP_BONUS_CREDITS = _int("SIGNUP_BONUS_CREDITS", 500)
        # The staff console (/admin/, docs/staff.md): these e-mails are staff, as are users
        # made staff with `flask staff add`.
        self.STAFF_EMAILS = [e.strip().lower() for e in _str("STAFF_EMAILS", "").split(",") if e.strip()]
        # Lots (docs/design/lots.md): how long credits last, in days from when they arrive (0: never expire),
        # and how many days before an expiry the notice e-mail and the page line appear.
        self.SIGNUP_BONUS_EXPIRES_DAYS = _int("SIGNUP_BONUS_EXPIRES_DAYS", 90)
        self.PURCHASED_CREDITS_EXPIRE_DAYS = _int("PURCHASED_CREDITS_EXPIRE_DAYS", 365)
        self.LOT_EXPIRY_NOTICE_DAYS = _int("LOT_EXPIRY_NOTICE_DAYS", 7)
        self.IMAGE_PROVIDER = _str("IMAGE_PROVIDER", "local")
        self.OPENAI_API_KEY = _str("OPENAI_API_KEY", "")
        self.OPENAI_API_BASE = _str("OPENAI_API_BASE", "https://api.openai.com/v1")
        self.OPENAI_IMAGE_MODEL = _str("OPENAI_IMAGE_MODEL", "dall-e-3")
        # The model the assistant asks through the Responses API (docs/assistant.md).
        self.OPENAI_ASSISTANT_MODEL = _str("OPENAI_ASSISTANT_MODEL", "gpt-4o-mini")
        self.OPENAI_TIMEOUT_SECONDS = _int("OPENAI_TIMEOUT_SECONDS", 60)
        self.IMAGE_COSTS = {256: 5, 512: 10, 1024: 20}
        # Every feature's prices by name (docs/features.md), overriding each feature's defaults:
        # a JSON object such as {"image_256": 5, "qr": 1}.
        self.FEATURE_PRICES = _prices("FEATURE_PRICES")
        # How long one attempt of a feature may take unless the feature says otherwise.
        self.FEATURE_TIMEOUT_SECONDS = _float("FEATURE_TIMEOUT_SECONDS", 60.0)
        self.HOLD_TIMEOUT_SECONDS = _int("HOLD_TIMEOUT_SECONDS", 900)
        self.DB_IDLE_PING_SECONDS = _int("DB_IDLE_PING_SECONDS", 5)
        self.REDIS_URL = env.get("REDIS_URL") or None
        self.METRICS_TOKEN = env.get("METRICS_TOKEN") or None
        self.LOG_LEVEL = _str("LOG_LEVEL", "info")
        # json (one object a line, for log shippers) or text (one readable line, `make run`).
        self.LOG_FORMAT = _str("LOG_FORMAT", "json")
        if self.LOG_FORMAT not in LOG_FORMATS:
            raise RuntimeError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, got {self.LOG_FORMAT!r}")
        # full, or quiet: no access lines for successful polls and static files (gunicorn.conf.py).
        self.ACCESS_LOG = _str("ACCESS_LOG", "full")
        self.TRUSTED_PROXY_HOPS = _int("TRUSTED_PROXY_HOPS", 0)
        # Bodies larger than this get 413 before anything reads them (webhook, API, forms).
        self.MAX_CONTENT_LENGTH = _int("MAX_CONTENT_LENGTH", 1024 * 1024)
        self.RATELIMIT_STORAGE_URI = self.REDIS_URL or "memory://"
        self.RATELIMIT_KEY_PREFIX = "creditapp"
        self.RATELIMIT_HEADERS_ENABLED = True
        # A Redis outage must not turn into 500s: count in memory until it is back.
        self.RATELIMIT_SWALLOW_ERRORS = True
        self.RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
        # Stripe reads a person's receipt pages may make (a settled purchase makes none).
        self.RATELIMIT_STRIPE_READS = _str("RATELIMIT_STRIPE_READS", "20/minute")
        self.RATELIMIT_STAFF = _str("RATELIMIT_STAFF", "120/minute")
        self.SQLALCHEMY_ENGINE_OPTIONS = engine_options(self.SQLALCHEMY_DATABASE_URI)
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.REMEMBER_COOKIE_SAMESITE = "Lax"
        self.WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
        self.WTF_CSRF_SSL_STRICT = False  # we check the Origin via SameSite cookies instead
        self.configure_jobs(instance_path)

    def configure_jobs(self, instance_path: str) -> None:
        """Paid work runs as queued jobs (creditapp.jobs); see docs/design/jobs.md."""
        env = os.environ
        # redis://… in production; the embedded default is a SQLite file beside the database.
        self.JOBS_BROKER_URL = (
            env.get("JOBS_BROKER_URL") or self.REDIS_URL or f"sqlite:///{Path(instance_path) / 'jobs.db'}"
        )
        self.JOBS_QUEUE_NAME = env.get("JOBS_QUEUE_NAME") or "creditapp"
        # Threads per worker process: image calls wait on the network, not the CPU.
        self.JOB_WORKER_CONCURRENCY = _int("JOB_WORKER_CONCURRENCY", 16)
        # Threads per worker process for the money queue (top-ups, e-mails): quick, never waiting on features.
        self.MONEY_WORKER_CONCURRENCY = _int("MONEY_WORKER_CONCURRENCY", 2)
        self.JOB_DEADLINE_SECONDS = _int("JOB_DEADLINE_SECONDS", 300)
        self.JOB_MAX_ATTEMPTS = _int("JOB_MAX_ATTEMPTS", 3)
        self.JOB_RETRY_BASE_SECONDS = _float("JOB_RETRY_BASE_SECONDS", 2.0)
        self.RESULTS_DIR = env.get("RESULTS_DIR") or str(Path(instance_path) / "results")
        self.RESULT_TTL_DAYS = _int("RESULT_TTL_DAYS", 7)
        self.IMAGE_LOCAL_DELAY_SECONDS = _float("IMAGE_LOCAL_DELAY_SECONDS", 0.0)
        self.configure_topup_and_mail()

    def configure_topup_and_mail(self) -> None:
        """Automatic top-ups and e-mail (docs/using.md, Automatic top-up and e-mail)."""
        env = os.environ
        self.AUTO_RECHARGE_RETRY_MINUTES = _float("AUTO_RECHARGE_RETRY_MINUTES", 60.0)
        self.SMTP_URL = env.get("SMTP_URL") or ""
        self.MAIL_FROM = env.get("MAIL_FROM") or "creditapp <no-reply@creditapp.local>"
        self.SMTP_TIMEOUT_SECONDS = _float("SMTP_TIMEOUT_SECONDS", 10.0)
        # PEM file of the CA(s) to trust for the SMTP server's certificate (a private CA);
        # empty: the system's trusted CAs.
        self.SMTP_CA_FILE = env.get("SMTP_CA_FILE") or None
        self.NOTIFICATION_MAX_ATTEMPTS = _int("NOTIFICATION_MAX_ATTEMPTS", 8)
        self.NOTIFICATION_RETRY_SECONDS = _float("NOTIFICATION_RETRY_SECONDS", 30.0)
        # How long a sender may take before another may send the same e-mail (see notifications).
        self.NOTIFICATION_LEASE_SECONDS = _float("NOTIFICATION_LEASE_SECONDS", 60.0)

    def validate(self) -> None:
        """Raise when a setting this environment needs is missing."""


class DevelopmentConfig(Config):
    """Local development: SQLite by default, the local stand-ins when no keys are set."""


class TestingConfig(Config):
    """The test suite: the database URL is given by the test fixtures."""

    ENV_NAME = "testing"
    TESTING = True


class ProductionConfig(Config):
    """Production: refuses to start without its secrets; HTTPS-only cookies."""

    ENV_NAME = "production"

    def __init__(self, instance_path: str) -> None:
        super().__init__(instance_path)
        self.SESSION_COOKIE_SECURE = True
        self.REMEMBER_COOKIE_SECURE = True
        self.PREFERRED_URL_SCHEME = "https"

    def validate(self) -> None:
        """Refuse to run production without secrets or with the local Stripe stand-in."""
        required = [
            "SECRET_KEY",
            "STRIPE_SECRET_KEY",
            "STRIPE_WEBHOOK_SECRET",
            "GOOGLE_CLIENT_ID",
            "GOOGLE_CLIENT_SECRET",
            # /metrics shows traffic and balances-in-flight: never public in production.
            "METRICS_TOKEN",
        ]
        missing = [name for name in required if not os.environ.get(name)]
        if missing:
            raise RuntimeError(f"production needs these settings: {', '.join(missing)}")
        if self.STRIPE_API_BASE:
            raise RuntimeError("STRIPE_API_BASE must not be set in production")


def engine_options(url: str) -> dict:
    """Connection settings: PostgreSQL timeouts so no statement or lock waits forever.

    SQLite: how long a writer waits for the database's write lock (`BEGIN IMMEDIATE`, taken
    first by every ledger transaction) before it fails with "database is locked".
    """
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": _int("SQLITE_BUSY_TIMEOUT_MS", 15000) / 1000}}
    if not url.startswith("postgresql"):
        return {}
    timeouts = (
        f"-c statement_timeout={_int('PG_STATEMENT_TIMEOUT_MS', 15000)}"
        f" -c lock_timeout={_int('PG_LOCK_TIMEOUT_MS', 5000)}"
        f" -c idle_in_transaction_session_timeout={_int('PG_IDLE_TX_TIMEOUT_MS', 60000)}"
    )
    connect_args: dict = {"options": timeouts, "connect_timeout": 5}
    if os.environ.get("PGBOUNCER_TRANSACTION_MODE") == "1":
        # PgBouncer in transaction mode cannot keep server-side prepared statements, and
        # drops session options: set the timeouts on the database instead (docs/operations.md, PgBouncer).
        connect_args = {"prepare_threshold": None, "connect_timeout": 5}
    return {
        # No pool_pre_ping: creditapp.platform.db_health pings only connections that sat idle.
        "pool_size": _int("DB_POOL_SIZE", 10),
        "max_overflow": _int("DB_MAX_OVERFLOW", 10),
        "pool_recycle": 1800,
        "connect_args": connect_args,
    }


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def load_config(name: str | None, instance_path: str) -> Config:
    """Build the config object for `name` (default from FLASK_ENV / CREDITAPP_CONFIG)."""
    name = name or os.environ.get("CREDITAPP_CONFIG") or os.environ.get("FLASK_ENV") or "development"
    if name not in CONFIGS:
        raise RuntimeError(f"unknown config {name!r}; use one of {', '.join(CONFIGS)}")
    config = CONFIGS[name](instance_path)
    config.validate()
    return config
