"""`.env.example` as README says to use it: every value it lists, empty or not, is the default."""

from __future__ import annotations

import runpy
import types
from pathlib import Path

import pytest
from dotenv import dotenv_values

from creditapp.config import Config

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = dotenv_values(ROOT / ".env.example")


@pytest.fixture
def clean_env(monkeypatch):
    """No variable of .env.example set in the environment."""
    for name in EXAMPLE:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def settings(tmp_path) -> dict:
    found = vars(Config(str(tmp_path)))
    return {key: value for key, value in found.items() if key != "SECRET_KEY"}


def gunicorn_settings() -> dict:
    found = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    return {
        key: value
        for key, value in found.items()
        if not key.startswith("_") and not callable(value) and not isinstance(value, types.ModuleType)
    }


def test_env_example_lists_every_setting_it_documents():
    for name in ("PORT", "EMULATOR_PORT", "WEB_CONCURRENCY", "LOG_FORMAT", "ACCESS_LOG", "METRICS_TOKEN"):
        assert name in EXAMPLE, name
    assert "MAX_CONTENT_LENGTH" in EXAMPLE


def test_an_empty_value_means_the_default_for_the_app(clean_env, tmp_path):
    defaults = settings(tmp_path)
    for name in EXAMPLE:
        clean_env.setenv(name, "")
    assert settings(tmp_path) == defaults


def test_the_values_env_example_sets_are_the_defaults_for_the_app(clean_env, tmp_path):
    defaults = settings(tmp_path)
    for name, value in EXAMPLE.items():
        clean_env.setenv(name, value or "")
    assert settings(tmp_path) == defaults


def test_an_empty_value_means_the_default_for_gunicorn(clean_env):
    defaults = gunicorn_settings()
    for name in EXAMPLE:
        clean_env.setenv(name, "")
    assert gunicorn_settings() == defaults


def test_the_values_env_example_sets_are_the_defaults_for_gunicorn(clean_env):
    defaults = gunicorn_settings()
    for name, value in EXAMPLE.items():
        clean_env.setenv(name, value or "")
    assert gunicorn_settings() == defaults
