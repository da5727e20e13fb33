"""gunicorn.conf.py's timeouts agree with what a request waits for."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from dotenv import dotenv_values

from creditapp.config import Config
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ("GUNICORN_TIMEOUT", "GUNICORN_GRACEFUL_TIMEOUT", "OPENAI_TIMEOUT_SECONDS")


def gunicorn_settings(monkeypatch, **env: str) -> dict:
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


def longest_image_call(provider_timeout: float) -> float:
    """What OpenAIImageProvider waits at most: its connect timeout plus its read timeout."""
    return min(10.0, provider_timeout) + provider_timeout


def test_a_restart_waits_longer_than_the_slowest_feature_call_by_default(monkeypatch, tmp_path):
    settings = gunicorn_settings(monkeypatch)

    app_default = Config(str(tmp_path)).OPENAI_TIMEOUT_SECONDS
    assert settings["graceful_timeout"] > longest_image_call(app_default)


def test_a_longer_provider_timeout_lengthens_the_graceful_timeout_with_it(monkeypatch):
    settings = gunicorn_settings(monkeypatch, OPENAI_TIMEOUT_SECONDS="120")

    assert settings["graceful_timeout"] > longest_image_call(120)


def test_empty_timeout_settings_mean_the_defaults(monkeypatch):
    def timeouts(settings: dict) -> tuple:
        return settings["timeout"], settings["graceful_timeout"]

    empty = gunicorn_settings(monkeypatch, **dict.fromkeys(SETTINGS, ""))
    assert timeouts(empty) == timeouts(gunicorn_settings(monkeypatch))


def test_gunicorn_refuses_to_start_when_a_restart_would_cut_a_feature_call_off():
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GUNICORN_BIND": f"127.0.0.1:{free_port()}",
        "GUNICORN_GRACEFUL_TIMEOUT": "30",
        "OPENAI_TIMEOUT_SECONDS": "60",
    }

    started = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert started.returncode != 0
    assert "GUNICORN_GRACEFUL_TIMEOUT=30 must be longer than the longest feature call (70 s" in started.stderr


@pytest.mark.parametrize("graceful", ["71", "100"])
def test_a_graceful_timeout_longer_than_the_feature_call_is_accepted(monkeypatch, graceful):
    settings = gunicorn_settings(monkeypatch, GUNICORN_GRACEFUL_TIMEOUT=graceful)

    assert settings["graceful_timeout"] == int(graceful)


def test_the_example_env_file_gives_coherent_timeouts(monkeypatch):
    # `make run` exports .env (copied from .env.example) before starting gunicorn.
    example = dotenv_values(ROOT / ".env.example")
    settings = gunicorn_settings(monkeypatch, **{name: example[name] or "" for name in SETTINGS})

    assert settings["graceful_timeout"] > longest_image_call(int(example["OPENAI_TIMEOUT_SECONDS"]))
