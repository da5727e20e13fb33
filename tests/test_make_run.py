"""`make run` as a newcomer runs it: a copy of the tree, `cp .env.example .env`, scripts/run.sh.

Each test starts the real script (stand-ins, migration, gunicorn) in a temporary copy of
the project with free ports, reads what it prints, and stops it.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
RUNNING = "creditapp is running at"
SKIP = shutil.ignore_patterns(
    ".venv", ".git", "instance", "__pycache__", ".pytest_cache", ".ruff_cache", ".env", "test-artifacts"
)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the project with .env copied from .env.example, as README says."""
    copy = tmp_path / "creditapp"
    shutil.copytree(ROOT, copy, ignore=SKIP)
    (copy / ".venv").symlink_to(ROOT / ".venv")
    shutil.copy(copy / ".env.example", copy / ".env")
    return copy


class Run:
    """scripts/run.sh as a process of its own, its output read line by line."""

    def __init__(self, tree: Path, **env: str) -> None:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "FLASK", "CREDITAPP"))}
        self.process = subprocess.Popen(
            ["bash", "scripts/run.sh"],
            cwd=tree,
            env={**clean, **env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def read_until(self, text: str, timeout: float = 90) -> bool:
        """Collect output until a line contains `text` (True) or the script ends (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                return False
            self.lines.append(line)
            if text in line:
                return True
        raise AssertionError(f"no {text!r} within {timeout}s:\n" + "\n".join(self.lines))

    def settle(self, seconds: float) -> list[str]:
        """Lines printed in the next `seconds`."""
        found = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            if line is None:
                break
            found.append(line)
        self.lines += found
        return found

    def stop(self) -> None:
        """Ctrl-C, as a person would; everything the script started must stop."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.settle(0.5)
        self.process.stdout.close()


@pytest.fixture
def ports() -> dict[str, str]:
    return {
        "PORT": str(free_port()),
        "EMULATOR_PORT": str(free_port()),
        "EMULATOR_SMTP_PORT": str(free_port()),
    }


@pytest.fixture
def started(tree: Path, ports: dict[str, str]) -> Iterator[Run]:
    run = Run(tree, **ports)
    yield run
    run.stop()


def test_a_fresh_copy_with_env_example_starts_and_prints_the_url_last(started, ports):
    assert started.read_until(RUNNING), "\n".join(started.lines)
    url = f"http://127.0.0.1:{ports['PORT']}"
    assert started.lines[-1] == f"{RUNNING} {url}  (Ctrl-C stops everything)"
    assert requests.get(f"{url}/healthz", timeout=5).json() == {"status": "ok"}
    # A page, a poll and a static file: the page is logged in one readable line, the rest not.
    # Wait for the page's line however long a loaded machine takes to print it, then allow
    # a moment for any line the poll or the static file would (wrongly) print after it.
    printed_before = len(started.lines)
    assert requests.get(f"{url}/", timeout=5).status_code == 200
    requests.get(f"{url}/credits/badge", timeout=5, allow_redirects=False)
    requests.get(f"{url}/static/css/app.css", timeout=5)
    assert started.read_until('"GET / HTTP/1.1" 200', timeout=30), started.lines
    later = [line for line in started.lines[printed_before:] + started.settle(1.5) if line.strip()]
    assert len(later) == 1 and '"GET / HTTP/1.1" 200' in later[0], later
    assert not later[0].startswith("{"), "development logs are text, not JSON"
    startup = "\n".join(started.lines)
    assert "Traceback" not in startup and '{"time"' not in startup, startup
    started.stop()  # Ctrl-C
    assert started.process.returncode == 0 and "Stopping creditapp." in started.lines, started.lines[-5:]
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/healthz", timeout=5)


@pytest.mark.parametrize("taken", ["PORT", "EMULATOR_PORT"])
def test_a_taken_port_is_a_clear_error_and_nothing_claims_to_run(tree, ports, taken):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", int(ports[taken])))
        holder.listen()
        run = Run(tree, **ports)
        try:
            assert not run.read_until(RUNNING, timeout=60)
            code = run.process.wait(timeout=20)
        finally:
            run.stop()
    output = "\n".join(run.lines)
    assert code != 0
    assert f"port {ports[taken]} ({taken}) is already in use" in output, output
    assert "running" not in output


def test_a_second_make_run_fails_clearly_while_the_first_keeps_running(started, tree, ports):
    assert started.read_until(RUNNING)
    second = Run(
        tree, PORT=str(free_port()), EMULATOR_PORT=str(free_port()), EMULATOR_SMTP_PORT=str(free_port())
    )
    try:
        assert not second.read_until(RUNNING, timeout=60)
        code = second.process.wait(timeout=20)
    finally:
        second.stop()
    assert code != 0
    assert "another `make run` is already running" in "\n".join(second.lines), second.lines
    assert requests.get(f"http://127.0.0.1:{ports['PORT']}/healthz", timeout=5).status_code == 200
