"""Run ``python -m emulators`` in a subprocess and drive its controls from tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]


class EmulatorError(RuntimeError):
    """The emulator refused a control request or failed to start."""


def free_port() -> int:
    """Return a TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmulatorProcess:
    """The local Stripe + Google stand-ins as a subprocess; usable as a context manager."""

    def __init__(
        self,
        port: int | None = None,
        *,
        webhook_url: str = "http://127.0.0.1:5000/webhooks/stripe",
        webhook_secret: str = "whsec_local_development_secret",
        google_client_id: str = "local-client-id",
        google_client_secret: str = "local-client-secret",
        google_redirect_uris: Iterable[str] = ("http://127.0.0.1:5000/auth/callback",),
        webhooks_enabled: bool = True,
        max_attempts: int | None = None,
        retry_base_seconds: float | None = None,
        startup_timeout: float = 20.0,
        start: bool = True,
    ) -> None:
        self.port = port
        self.smtp_port: int | None = None
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.google_client_id = google_client_id
        self.google_client_secret = google_client_secret
        self.google_redirect_uris = list(google_redirect_uris)
        self.webhooks_enabled = webhooks_enabled
        self.max_attempts = max_attempts
        self.retry_base_seconds = retry_base_seconds
        self.startup_timeout = startup_timeout
        self.http = requests.Session()
        self.http.trust_env = False  # local calls must never go through an environment proxy
        self._process: subprocess.Popen[bytes] | None = None
        log_fd, self._log_path = tempfile.mkstemp(prefix="emulator-", suffix=".log")
        self._log_fd: int | None = log_fd
        if start:
            self.start()

    @property
    def base_url(self) -> str:
        """Return ``http://127.0.0.1:PORT`` (the value for ``STRIPE_API_BASE``)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def smtp_url(self) -> str:
        """Return the value for ``SMTP_URL`` (the stand-ins' SMTP sink)."""
        return f"smtp://127.0.0.1:{self.smtp_port}"

    def mail(self, to: str | None = None) -> list[dict[str, Any]]:
        """The e-mails the SMTP sink received, newest first (only those to ``to``)."""
        response = self.http.get(
            f"{self.base_url}/_emulator/mail", params={"to": to} if to else None, timeout=10
        )
        response.raise_for_status()
        return response.json()

    @property
    def google_discovery_url(self) -> str:
        """Return the value for ``GOOGLE_DISCOVERY_URL``."""
        return f"{self.base_url}/google/.well-known/openid-configuration"

    def start(self) -> None:
        """Start the subprocess and wait until ``/_emulator/health`` answers."""
        fixed_port = self.port is not None
        for _ in range(1 if fixed_port else 3):
            if not fixed_port:
                self.port = free_port()
            self._spawn()
            if self._wait_until_healthy():
                return
            self.stop()
        raise EmulatorError(f"emulator did not start on port {self.port}:\n{self.log_text()}")

    def _spawn(self) -> None:
        self.smtp_port = free_port()
        env = {key: value for key, value in os.environ.items() if not key.startswith("EMULATOR_")}
        env.update(
            EMULATOR_PORT=str(self.port),
            EMULATOR_SMTP_PORT=str(self.smtp_port),
            EMULATOR_WEBHOOK_URL=self.webhook_url,
            STRIPE_WEBHOOK_SECRET=self.webhook_secret,
            EMULATOR_WEBHOOKS_ENABLED="true" if self.webhooks_enabled else "false",
            GOOGLE_CLIENT_ID=self.google_client_id,
            GOOGLE_CLIENT_SECRET=self.google_client_secret,
            EMULATOR_GOOGLE_REDIRECT_URIS=",".join(self.google_redirect_uris),
            PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
            PYTHONUNBUFFERED="1",
        )
        if self.max_attempts is not None:
            env["EMULATOR_WEBHOOK_MAX_ATTEMPTS"] = str(self.max_attempts)
        if self.retry_base_seconds is not None:
            env["EMULATOR_WEBHOOK_RETRY_BASE"] = str(self.retry_base_seconds)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "emulators"],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_fd,
            stderr=subprocess.STDOUT,
        )

    def _wait_until_healthy(self) -> bool:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            try:
                if self.http.get(f"{self.base_url}/_emulator/health", timeout=1).ok:
                    return True
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        return False

    def stop(self) -> int | None:
        """Stop the subprocess (SIGTERM, then SIGKILL after 5 s); return its exit code."""
        process, self._process = self._process, None
        if process is None:
            return None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        return process.returncode

    @property
    def pid(self) -> int:
        """The stand-ins' process id (SIGSTOP freezes them like a Stripe that stops answering)."""
        assert self._process is not None, "the stand-ins are not running"
        return self._process.pid

    def log_text(self) -> str:
        """Return what the emulator printed so far (request log, tracebacks)."""
        return Path(self._log_path).read_text(errors="replace")

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the process and delete its log file."""
        self.stop()
        self.http.close()
        if self._log_fd is not None:
            os.close(self._log_fd)
            self._log_fd = None
            Path(self._log_path).unlink(missing_ok=True)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.http.request(method, f"{self.base_url}{path}", json=body, timeout=10)
        if not response.ok:
            raise EmulatorError(f"{method} {path} -> {response.status_code}: {response.text}")
        return response.json()

    def pay(self, session_id: str, outcome: str = "succeeded", **extra: Any) -> dict[str, Any]:
        """Finish hosted Checkout (``succeeded|async_pending|declined``; ``discount_percent``…).

        Returns ``{"session": ..., "redirect_url": ...}``.
        """
        return self._call("POST", f"/c/pay/{session_id}", {"outcome": outcome, **extra})

    def settle(self, session_id: str, outcome: str = "succeeded") -> dict[str, Any]:
        """Settle a delayed payment as ``succeeded`` or ``failed``; returns the session."""
        return self._call("POST", f"/_emulator/sessions/{session_id}/settle", {"outcome": outcome})

    def expire(self, session_id: str) -> dict[str, Any]:
        """Expire an open Checkout Session; returns the session."""
        return self._call("POST", f"/_emulator/sessions/{session_id}/expire", {})

    def dispute(
        self,
        charge_id: str,
        amount: int | None = None,
        *,
        reason: str | None = None,
        inquiry: bool = False,
    ) -> dict[str, Any]:
        """File a dispute on a charge; returns the Dispute.

        A chargeback (default) withdraws its funds at once (``charge.dispute.created`` +
        ``charge.dispute.funds_withdrawn``); ``inquiry=True`` moves no money. The amount
        defaults to what is left unrefunded on the charge.
        """
        body: dict[str, Any] = {"inquiry": inquiry}
        if amount is not None:
            body["amount"] = amount
        if reason is not None:
            body["reason"] = reason
        return self._call("POST", f"/_emulator/charges/{charge_id}/dispute", body)

    def inquiry(self, charge_id: str, amount: int | None = None) -> dict[str, Any]:
        """Open an inquiry (``warning_needs_response``) on a charge; returns the Dispute."""
        return self.dispute(charge_id, amount, inquiry=True)

    def escalate_dispute(self, dispute_id: str) -> dict[str, Any]:
        """Escalate an inquiry to a chargeback (funds withdrawn); returns the Dispute."""
        return self._call("POST", f"/_emulator/disputes/{dispute_id}/escalate", {})

    def close_dispute(self, dispute_id: str, outcome: str) -> dict[str, Any]:
        """Close a dispute as ``won``, ``lost`` or (an inquiry) ``warning_closed``."""
        return self._call("POST", f"/_emulator/disputes/{dispute_id}/close", {"outcome": outcome})

    def fail_refund(self, refund_id: str, failure_reason: str | None = None) -> dict[str, Any]:
        """Fail a refund: its amount goes back onto the charge; returns the Refund."""
        body = {} if failure_reason is None else {"failure_reason": failure_reason}
        return self._call("POST", f"/_emulator/refunds/{refund_id}/fail", body)

    def succeed_refund(self, refund_id: str) -> dict[str, Any]:
        """Settle a pending refund as succeeded; returns the Refund."""
        return self._call("POST", f"/_emulator/refunds/{refund_id}/succeed", {})

    def cancel_refund(self, refund_id: str) -> dict[str, Any]:
        """Cancel a pending refund; returns the Refund."""
        return self._call("POST", f"/_emulator/refunds/{refund_id}/cancel", {})

    def resend(self, event_id: str, endpoint: str | None = None) -> dict[str, Any]:
        """Deliver an event again (same body, fresh signature) to every endpoint that enables it."""
        body = {} if endpoint is None else {"endpoint": endpoint}
        return self._call("POST", f"/_emulator/events/{event_id}/resend", body)

    def deliveries(self, **filters: str) -> list[dict[str, Any]]:
        """Return webhook attempts, optionally filtered by ``event_id=``, ``type=``, ``endpoint=``."""
        response = self.http.get(f"{self.base_url}/_emulator/deliveries", params=filters, timeout=10)
        response.raise_for_status()
        return response.json()

    def wait_for_deliveries(
        self,
        predicate: Callable[[dict[str, Any]], bool] = lambda _delivery: True,
        timeout: float = 10.0,
        count: int = 1,
    ) -> list[dict[str, Any]]:
        """Poll until at least ``count`` attempts satisfy ``predicate``; return those attempts."""
        deadline = time.monotonic() + timeout
        while True:
            matching = [delivery for delivery in self.deliveries() if predicate(delivery)]
            if len(matching) >= count:
                return matching
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{len(matching)}/{count} matching webhook deliveries after {timeout}s; "
                    f"all: {self.deliveries()}"
                )
            time.sleep(0.05)

    def wait_until_idle(self, timeout: float = 10.0) -> None:
        """Wait until no webhook attempt is queued, scheduled or in flight."""
        deadline = time.monotonic() + timeout
        while self._call("GET", "/_emulator/health")["pending_deliveries"]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"webhook deliveries still pending after {timeout}s")
            time.sleep(0.02)

    def stripe_requests(self, path: str = "/v1/") -> list[dict[str, Any]]:
        """The ``/v1`` requests the Stripe stand-in received since the last reset (path prefix)."""
        seen = self._call("GET", "/_emulator/requests")["requests"]
        return [request for request in seen if request["path"].startswith(path)]

    def fail_next(self, path: str, method: str | None = None, times: int = 1, status: int = 500) -> None:
        """Answer the next ``times`` ``/v1`` requests to ``path`` (a prefix) with a Stripe api_error."""
        fault: dict[str, Any] = {"path": path, "times": times, "status": status}
        if method is not None:
            fault["method"] = method
        self._call("POST", "/_emulator/faults", fault)

    def configure(self, **cfg: Any) -> dict[str, Any]:
        """Change run-time settings (``webhook_url``, ``webhooks_enabled``, ``max_attempts``,
        ``retry_base_seconds``, ``webhook_secret``, ``google_redirect_uris``, and
        ``new_refund_status``: ``succeeded`` or ``pending``)."""
        return self._call("POST", "/_emulator/config", cfg)

    def config(self) -> dict[str, Any]:
        """Return the current run-time settings."""
        return self._call("GET", "/_emulator/config")

    def reset(self) -> None:
        """Forget sessions, payments, events, endpoints, deliveries and Google codes (prices stay)."""
        self._call("POST", "/_emulator/reset", {})

    def google_sign_in(
        self, authorize_url: str, email: str, name: str | None = None, email_verified: bool = True
    ) -> str:
        """Sign in on the Google authorize page as a browser would; return the redirect URL.

        The redirect (to the app's callback, with ``code`` and ``state``) is not followed.
        """
        return self._submit_google_form(
            authorize_url,
            {"email": email, **({"name": name} if name is not None else {})},
            email_verified,
            "sign_in",
        )

    def google_cancel(self, authorize_url: str) -> str:
        """Press Cancel on the Google authorize page; return the ``error=access_denied`` URL."""
        return self._submit_google_form(authorize_url, {}, True, "cancel")

    def _submit_google_form(
        self, authorize_url: str, values: dict[str, str], verified: bool, action: str
    ) -> str:
        page = self.http.get(authorize_url, allow_redirects=False, timeout=10)
        if page.is_redirect:
            return page.headers["Location"]
        if page.status_code != 200:
            raise EmulatorError(f"authorize page -> {page.status_code}: {page.text}")
        form = _FormReader()
        form.feed(page.text)
        fields = {**form.fields, **values, "action": action}
        if verified:
            fields["email_verified"] = "true"
        else:
            fields.pop("email_verified", None)
        answer = self.http.post(
            urljoin(page.url, form.action or page.url),
            data=fields,
            allow_redirects=False,
            timeout=10,
        )
        if not answer.is_redirect:
            raise EmulatorError(f"sign-in form -> {answer.status_code}: {answer.text}")
        return answer.headers["Location"]


class _FormReader(HTMLParser):
    """Collect the first form's action and its input values, as a browser would submit them."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {key: value or "" for key, value in attrs}
        if tag == "form" and self.action is None:
            self.action = attributes.get("action", "")
        elif tag == "input" and attributes.get("name"):
            kind = attributes.get("type", "text")
            if kind == "checkbox" and "checked" not in attributes:
                return
            self.fields[attributes["name"]] = attributes.get("value", "")
