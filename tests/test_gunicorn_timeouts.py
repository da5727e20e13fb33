"""gunicorn.conf.py's timeouts agree with what a request waits for."""

from __future__ import annotations

import runpy
from pathlib import Path

from dotenv import dotenv_values

from creditapp.platform import stripe_client

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ("GUNICORN_TIMEOUT", "GUNICORN_GRACEFUL_TIMEOUT")


def gunicorn_settings(monkeypatch, **env: str) -> dict:
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


def test_a_restart_lets_a_request_waiting_on_stripe_finish_by_default(monkeypatch):
    # Paid features run as jobs, so the longest wait inside a request is one Stripe attempt.
    settings = gunicorn_settings(monkeypatch)

    assert settings["graceful_timeout"] > stripe_client.TIMEOUT_SECONDS


def test_empty_timeout_settings_mean_the_defaults(monkeypatch):
    def timeouts(settings: dict) -> tuple:
        return settings["timeout"], settings["graceful_timeout"]

    empty = gunicorn_settings(monkeypatch, **dict.fromkeys(SETTINGS, ""))
    assert timeouts(empty) == timeouts(gunicorn_settings(monkeypatch))


def test_a_graceful_timeout_from_the_environment_is_used(monkeypatch):
    assert gunicorn_settings(monkeypatch, GUNICORN_GRACEFUL_TIMEOUT="45")["graceful_timeout"] == 45


def test_the_example_env_file_gives_the_default_timeouts(monkeypatch):
    # `make run` exports .env (copied from .env.example) before starting gunicorn.
    example = dotenv_values(ROOT / ".env.example")
    from_example = gunicorn_settings(monkeypatch, **{name: example[name] or "" for name in SETTINGS})

    assert from_example["graceful_timeout"] == gunicorn_settings(monkeypatch)["graceful_timeout"]
