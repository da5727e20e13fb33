"""`make run` as a newcomer runs it: a copy of the tree, `cp .env.example .env`, scripts/run.sh.

Each test starts the real script (stand-ins, migration, gunicorn) in a temporary copy of
the project with free ports, reads what it prints, and stops it.

Every wait is on an event (a line printed, the process ending, the output closing) with a
deadline only a hang reaches: a busy machine makes the tests slower, never red.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
RUNNING = "creditapp is running at"
# Deadlines for what normally takes seconds: only a hang gets near them.
RESTORE_CTRL_C = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execvp(sys.argv[1], sys.argv[1:])"
)
START_DEADLINE = 240.0
STOP_DEADLINE = 240.0
HTTP_TIMEOUT = 30.0
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
            # Ctrl-C must reach the script whoever started the suite: a runner started in the
            # background of a non-interactive shell ignores SIGINT, children inherit that, and a
            # shell cannot trap a signal ignored on entry; so the script starts with it restored.
            [sys.executable, "-c", RESTORE_CTRL_C, "bash", "scripts/run.sh"],
            cwd=tree,
            env={**clean, **env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self.output_closed = False  # the reader's end mark was taken from the queue
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def read_until(self, text: str, timeout: float = START_DEADLINE) -> bool:
        """Collect output until a line contains `text` (True) or the script ends (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                self.output_closed = True
                return False
            self.lines.append(line)
            if text in line:
                return True
        raise AssertionError(f"no {text!r} within {timeout}s:\n" + "\n".join(self.lines))

    def read_to_the_end(self, timeout: float = STOP_DEADLINE) -> None:
        """Collect output until the script's output closes (every process that shared it ended)."""
        deadline = time.monotonic() + timeout
        while not self.output_closed and time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                self.output_closed = True
                return
            self.lines.append(line)
        if self.output_closed:
            return
        raise AssertionError(f"the output stayed open {timeout}s after the end:\n" + "\n".join(self.lines))

    def stop(self) -> None:
        """Ctrl-C, as a person would; everything the script started must stop.

        Waits for the script to end, however long a loaded machine takes; only a hang past
        the deadline is killed (and then fails the test through its exit code).
        """
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=STOP_DEADLINE)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
        if not self.process.stdout.closed:
            self.read_to_the_end()
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


@pytest.mark.timeout(START_DEADLINE + 2 * STOP_DEADLINE)
def test_a_fresh_copy_with_env_example_starts_and_prints_the_url_last(started, tree, ports):
    assert started.read_until(RUNNING), "\n".join(started.lines)
    url = f"http://127.0.0.1:{ports['PORT']}"
    assert started.lines[-1] == f"{RUNNING} {url}  (Ctrl-C stops everything)"
    assert requests.get(f"{url}/healthz", timeout=HTTP_TIMEOUT).json() == {"status": "ok"}
    # A page, a poll and a static file, then a last page: the pages are logged in one
    # readable line each, the rest not. The last page's line marks the end (no fixed wait).
    printed_before = len(started.lines)
    assert requests.get(f"{url}/", timeout=HTTP_TIMEOUT).status_code == 200
    requests.get(f"{url}/credits/badge", timeout=HTTP_TIMEOUT, allow_redirects=False)
    requests.get(f"{url}/static/css/app.css", timeout=HTTP_TIMEOUT)
    assert requests.get(f"{url}/?last", timeout=HTTP_TIMEOUT).status_code == 200
    assert started.read_until('"GET /?last HTTP/1.1" 200'), started.lines
    later = [line for line in started.lines[printed_before:] if line.strip()]
    assert len(later) == 2 and '"GET / HTTP/1.1" 200' in later[0], later
    assert not later[0].startswith("{"), "development logs are text, not JSON"
    startup = "\n".join(started.lines)
    assert "Traceback" not in startup and '{"time"' not in startup, startup
    # No OpenAI key in .env: the assistant's answers come from the OpenAI stand-in.
    assert "Local stand-ins for Stripe and Google and OpenAI and mail at" in startup, startup
    stand_in = f"http://127.0.0.1:{ports['EMULATOR_PORT']}/_emulator/openai/config"
    assert requests.get(stand_in, timeout=HTTP_TIMEOUT).status_code == 200
    started.stop()  # Ctrl-C
    assert started.process.returncode == 0 and "Stopping creditapp." in started.lines, started.lines[-5:]
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/healthz", timeout=HTTP_TIMEOUT)
    # .env.example leaves PROMETHEUS_MULTIPROC_DIR empty: no metrics files in the project root.
    assert sorted(p.name for p in tree.glob("*.db")) == []


@pytest.mark.timeout(START_DEADLINE + 2 * STOP_DEADLINE)
@pytest.mark.parametrize("taken", ["PORT", "EMULATOR_PORT"])
def test_a_taken_port_is_a_clear_error_and_nothing_claims_to_run(tree, ports, taken):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", int(ports[taken])))
        holder.listen()
        run = Run(tree, **ports)
        try:
            assert not run.read_until(RUNNING)
            code = run.process.wait(timeout=STOP_DEADLINE)
        finally:
            run.stop()
    output = "\n".join(run.lines)
    assert code != 0
    assert f"port {ports[taken]} ({taken}) is already in use" in output, output
    assert "running" not in output


@pytest.mark.timeout(2 * START_DEADLINE + 2 * STOP_DEADLINE)
def test_a_second_make_run_fails_clearly_while_the_first_keeps_running(started, tree, ports):
    assert started.read_until(RUNNING)
    second = Run(
        tree, PORT=str(free_port()), EMULATOR_PORT=str(free_port()), EMULATOR_SMTP_PORT=str(free_port())
    )
    try:
        assert not second.read_until(RUNNING)
        code = second.process.wait(timeout=STOP_DEADLINE)
    finally:
        second.stop()
    assert code != 0
    assert "another `make run` is already running" in "\n".join(second.lines), second.lines
    assert requests.get(f"http://127.0.0.1:{ports['PORT']}/healthz", timeout=HTTP_TIMEOUT).status_code == 200


SLOW_TO_STOP = """#!/usr/bin/env bash
# Stands in for scripts/run.sh on a loaded machine: Ctrl-C takes longer than the
# 20 s these tests used to allow before they SIGKILLed the stack.
stop() { sleep 22; echo "Stopping creditapp."; exit 0; }
trap stop INT
echo "creditapp is running at http://127.0.0.1:1  (Ctrl-C stops everything)"
while true; do sleep 0.2; done
"""


@pytest.mark.timeout(START_DEADLINE + 2 * STOP_DEADLINE)
def test_a_stack_slow_to_stop_is_waited_for_not_killed(tmp_path):
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "run.sh").write_text(SLOW_TO_STOP)
    run = Run(tmp_path)
    assert run.read_until(RUNNING)

    run.stop()

    assert run.process.returncode == 0, run.process.returncode  # -9: killed by the test
    assert "Stopping creditapp." in run.lines
