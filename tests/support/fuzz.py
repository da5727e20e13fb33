"""Schemathesis over a running app's OpenAPI document, run as its own process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def fuzz(
    base_url: str,
    token: str,
    workdir: Path,
    *run_options: str,
    config: Path | None = None,
    timeout: float = 120,
) -> None:
    """Every check, with a Bearer key, seed 1, one worker: the test fails on any finding.

    `run_options` narrow or size the run (`--max-examples`, `--include-path-regex`);
    `config` is a schemathesis.toml for the whole run.
    """
    settings = ["--config-file", str(config)] if config else []
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            *settings,
            "run",
            f"{base_url}/api/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            "all",
            # Every route refuses text no database stores (a NUL, a lone surrogate) with a
            # 422 (`platform.input_checks`), which no JSON Schema can say: not generated.
            "--generation-allow-x00",
            "false",
            "--generation-codec",
            "utf-8",
            *run_options,
            "--seed",
            "1",
            "--workers",
            "1",
            "--no-color",
            "--report-dir",
            str(workdir),
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=workdir,
    )
    print(run.stdout[-6000:])
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
