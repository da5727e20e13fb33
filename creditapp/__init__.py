"""creditapp: sell prepaid credits through Stripe and spend them on paid features."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dotenv import load_dotenv
from flask import Flask

ROOT = Path(__file__).resolve().parent.parent


def drop_empty_metrics_dir() -> None:
    """An empty PROMETHEUS_MULTIPROC_DIR means unset, as an empty value does for every setting.

    prometheus_client switches to multiprocess mode when the variable merely exists and then
    writes counter_<pid>.db files into the working directory; .env.example lists it empty.
    Called before anything imports prometheus_client (creditapp.platform.observability).
    """
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)


drop_empty_metrics_dir()


def create_app(config: str | dict[str, Any] | None = None) -> Flask:
    """Application factory: `config` is a config name or a dict of overrides."""
    load_dotenv(ROOT / ".env")
    drop_empty_metrics_dir()  # .env may have just set it empty
    app = Flask(
        __name__,
        instance_path=str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    configure(app, config)
    register_extensions(app)
    register_platform(app)
    register_domains(app)
    register_relay(app)
    register_after_views(app)
    register_commands(app)
    register_context(app)
    return app


def configure(app: Flask, config: str | dict[str, Any] | None) -> None:
    """Load the config class for the environment, then apply any overrides."""
    from creditapp.config import load_config

    overrides = config if isinstance(config, dict) else {}
    name = config if isinstance(config, str) else overrides.get("CONFIG_NAME")
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.from_object(load_config(name, app.instance_path))
    app.config.update(overrides)
    if "SQLALCHEMY_DATABASE_URI" in overrides and "SQLALCHEMY_ENGINE_OPTIONS" not in overrides:
        from creditapp.config import engine_options

        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(app.config["SQLALCHEMY_DATABASE_URI"])


def register_extensions(app: Flask) -> None:
    """Bind the extension objects to this app."""
    from creditapp.extensions import csrf, db, limiter, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    limiter.init_app(app)


def register_platform(app: Flask) -> None:
    """Database health, the Stripe client, security headers, logs and metrics, static files."""
    from creditapp import platform

    platform.init_app(app)


def register_domains(app: Flask) -> None:
    """Each domain's pages, hooks and commands; accounts first (sign-in and Bearer auth), staff last."""
    from creditapp import accounts, api, billing, features, history, jobs, notifications, staff, teams, topups

    for domain in (accounts, billing, topups, notifications, teams, features, jobs, history, api, staff):
        domain.init_app(app)


def register_relay(app: Flask) -> None:
    """The one after-commit relay: outbox rows the ledger wrote go to the job queue once committed."""
    from creditapp.jobs import relay

    relay.init_app(app)


def register_after_views(app: Flask) -> None:
    """Input checks, rate limits (they wrap the views just registered) and error handlers."""
    from creditapp import platform

    platform.init_after_views(app)


def register_commands(app: Flask) -> None:
    """The `flask credits` group, made of the commands the ledger, history and billing declare."""
    from flask.cli import AppGroup

    from creditapp.billing import cli as billing_cli
    from creditapp.history import cli as history_cli
    from creditapp.ledger import cli as ledger_cli

    credits_cli = AppGroup("credits", help="Balances, grants, lots and expiry, history, audit, stale holds.")
    for command in (*ledger_cli.COMMANDS, *history_cli.COMMANDS, *billing_cli.COMMANDS):
        credits_cli.add_command(command)
    app.cli.add_command(credits_cli)


def register_context(app: Flask) -> None:
    """Values every template can use."""

    @app.context_processor
    def inject_mode() -> dict[str, Any]:
        return {"stripe_test_mode": bool(app.config.get("STRIPE_API_BASE"))}
