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
    Called before anything imports prometheus_client (creditapp.observability).
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
    register_static_files(app)
    register_blueprints(app)
    register_input_checks(app)
    register_rate_limits(app)
    register_errorhandlers(app)
    register_commands(app)
    register_jobs(app)
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
    from creditapp import auth_setup, db_health, observability, security, stripe_client
    from creditapp.extensions import csrf, db, limiter, migrate

    db.init_app(app)
    db_health.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    limiter.init_app(app)
    auth_setup.init_app(app)
    stripe_client.init_app(app)
    security.init_app(app)
    observability.init_app(app)


def register_static_files(app: Flask) -> None:
    """Serve static/ compressed, under content-hashed URLs cached for a year (WhiteNoise)."""
    from creditapp import static_files

    static_files.init_app(app)


def register_blueprints(app: Flask) -> None:
    """Mount the blueprints: auth, billing, webhooks, features, jobs, account, keys, API doc, top-ups."""
    from creditapp import openapi
    from creditapp.blueprints import account, api_keys, auth, billing, features, jobs, topups, webhooks

    for module in (auth, billing, webhooks, features, jobs, account, api_keys, openapi, topups):
        app.register_blueprint(module.bp)


def register_input_checks(app: Flask) -> None:
    """Refuse text no database can store (NUL, lone surrogates) with a 422, before any view."""
    from creditapp import input_checks

    input_checks.init_app(app)


def register_rate_limits(app: Flask) -> None:
    """Limit sign-in, checkout creation and spending per user."""
    from creditapp import ratelimits

    ratelimits.init_app(app)


def register_errorhandlers(app: Flask) -> None:
    """Errors answer HTML for pages, JSON for /api/, fragments for htmx."""
    from creditapp import errors

    errors.init_app(app)


def register_commands(app: Flask) -> None:
    """Add the `flask credits` and `flask stripe` command groups."""
    from creditapp import cli

    cli.init_app(app)


def register_jobs(app: Flask) -> None:
    """The job queue paid features run on, and the `flask jobs` commands."""
    from creditapp import jobs

    jobs.init_app(app)


def register_context(app: Flask) -> None:
    """Values every template can use."""

    @app.context_processor
    def inject_mode() -> dict[str, Any]:
        return {"stripe_test_mode": bool(app.config.get("STRIPE_API_BASE"))}
