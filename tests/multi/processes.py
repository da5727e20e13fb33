"""Real processes for the multi-instance and fault tests: gunicorn, PgBouncer, a PostgreSQL cluster."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from tests.support.emulator import free_port
from tests.support.system import missing

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PGBOUNCER = Path("/usr/sbin/pgbouncer")
RUN_AS = "postgres"  # initdb, postgres and pgbouncer refuse to run as root


def unavailable(reason: str) -> None:
    """Skip for lack of a system part; under CI (CI=true) that is a failure instead."""
    missing(reason)


def _as_service_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", RUN_AS, "--", *cmd] if os.geteuid() == 0 else cmd


def _service_dir(prefix: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        shutil.chown(folder, RUN_AS, RUN_AS)
    return folder


def wait_for_http(
    url: str, timeout: float, process: subprocess.Popen | None = None, log: Path | None = None
) -> None:
    """Poll `url` until it answers 200; fail with the process log otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            break
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-3000:] if log else ""
    raise RuntimeError(f"{url} did not come up within {timeout}s:\n{tail}")


def children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (gunicorn's workers of a master)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return sorted(found)


def stop_gracefully(process: subprocess.Popen, log: Path, grace: float) -> None:
    """SIGTERM, `grace` seconds to finish, then SIGKILL for the whole group; deletes the log."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    log.unlink(missing_ok=True)


class Gunicorn:
    """`python -m gunicorn -c gunicorn.conf.py wsgi:app` on a port of its own (also used by bench/)."""

    def __init__(
        self, env: dict[str, str], workers: int = 2, port: int | None = None, app_module: str = "wsgi:app"
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = Path(tempfile.mkstemp(prefix="gunicorn-", suffix=".log")[1])
        full_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(ROOT),
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "WEB_CONCURRENCY": str(workers),
            "APP_BASE_URL": self.url,
            "CREDITAPP_CONFIG": "development",
            **env,
        }
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", app_module],
                cwd=ROOT,
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for_http(f"{self.url}/healthz", 60, self.process, self.log)

    def workers(self) -> list[int]:
        """The pids of the live workers."""
        return children(self.process.pid)

    def wait_for_workers(self, count: int, timeout: float = 30) -> list[int]:
        """Wait until `count` workers run (after one was killed, the master boots another)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = self.workers()
            if len(pids) >= count:
                return pids
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn has {self.workers()} workers, expected {count}")

    def stop(self) -> None:
        """Graceful stop (SIGTERM), then SIGKILL for the whole group."""
        stop_gracefully(self.process, self.log, grace=20)


class PostgresCluster:
    """A throwaway PostgreSQL 15 cluster in a temporary directory (never the machine's service)."""

    def __init__(self) -> None:
        self.dir = _service_dir("creditapp-pg-")
        self.data = self.dir / "data"
        self.port = free_port()
        self.log = self.dir / "postgres.log"
        subprocess.run(
            _as_service_user([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust"]),
            check=True,
            capture_output=True,
            timeout=120,
        )
        self.start()

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the cluster's `postgres` database."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str, timeout: float = 60) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=200"
        cmd = [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", *args]
        subprocess.run(_as_service_user(cmd), check=True, capture_output=True, timeout=timeout)

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._ctl("start")

    def crash(self) -> None:
        """Stop like a crash (`-m immediate`: no checkpoint; WAL replays on the next start)."""
        self._ctl("stop", "-m", "immediate")

    def destroy(self) -> None:
        """Stop the server and delete the cluster."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self._ctl("stop", "-m", "immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


class PgBouncer:
    """PgBouncer in transaction mode in front of a PostgreSQL server, on a free port."""

    def __init__(self, server_port: int, pool_size: int = 20) -> None:
        self.dir = _service_dir("creditapp-pgbouncer-")
        self.port = free_port()
        (self.dir / "userlist.txt").write_text('"postgres" ""\n')
        ini = self.dir / "pgbouncer.ini"
        ini.write_text(
            "\n".join(
                [
                    "[databases]",
                    f"* = host=127.0.0.1 port={server_port}",
                    "[pgbouncer]",
                    "listen_addr = 127.0.0.1",
                    f"listen_port = {self.port}",
                    f"unix_socket_dir = {self.dir}",
                    "auth_type = trust",
                    f"auth_file = {self.dir / 'userlist.txt'}",
                    "pool_mode = transaction",
                    f"default_pool_size = {pool_size}",
                    "max_client_conn = 500",
                    # psycopg sends `options` (session timeouts); in transaction mode they would
                    # not stick to a server connection, so they are set with ALTER DATABASE instead.
                    "ignore_startup_parameters = extra_float_digits,options",
                    f"logfile = {self.dir / 'pgbouncer.log'}",
                    "",
                ]
            )
        )
        for path in self.dir.iterdir():
            if os.geteuid() == 0:
                shutil.chown(path, RUN_AS, RUN_AS)
        self.process = subprocess.Popen(
            _as_service_user([str(PGBOUNCER), str(ini)]),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._wait()

    def _wait(self, timeout: float = 15) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"):
                    return
            except psycopg.OperationalError:
                time.sleep(0.1)
        log = (
            (self.dir / "pgbouncer.log").read_text(errors="replace")
            if (self.dir / "pgbouncer.log").exists()
            else ""
        )
        raise RuntimeError(f"pgbouncer did not start:\n{log[-2000:]}")

    def url(self, database: str) -> str:
        """SQLAlchemy URL of `database` through the bouncer."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        """Stop the bouncer and delete its directory."""
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)
