"""The inbox and the aiosmtpd server that fills it."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


class MailSink:
    """Received messages, newest first; safe to use from the SMTP thread and the web threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    def receive(self, mail_from: str, rcpt_tos: list[str], content: bytes) -> dict[str, Any]:
        """Parse one message as received over SMTP and keep it."""
        message: EmailMessage = BytesParser(policy=policy.default).parsebytes(content)
        text = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        with self._lock:
            record = {
                "id": str(next(self._ids)),
                "to": str(message.get("To") or ", ".join(rcpt_tos)),
                "from": str(message.get("From") or mail_from),
                "subject": str(message.get("Subject") or ""),
                "text": text.get_content() if text is not None else "",
                "html": html.get_content() if html is not None else "",
                "received_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "envelope": {"from": mail_from, "to": list(rcpt_tos)},
                "message_id": str(message.get("Message-ID") or ""),
            }
            self._messages.insert(0, record)
        return record

    def messages(self, to: str | None = None) -> list[dict[str, Any]]:
        """Every message, newest first (only those to ``to`` when given)."""
        with self._lock:
            found = list(self._messages)
        if to:
            found = [m for m in found if to.lower() in m["to"].lower()]
        return found

    def get(self, message_id: str) -> dict[str, Any] | None:
        """One message by id."""
        with self._lock:
            return next((m for m in self._messages if m["id"] == message_id), None)

    def clear(self) -> None:
        """Forget every message."""
        with self._lock:
            self._messages.clear()


class _Handler:
    def __init__(self, sink: MailSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.sink.receive(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
        return "250 Message accepted for delivery"


def _accept_any_login(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    """A sink takes any user name and password (an app configured with credentials still works)."""
    return AuthResult(success=True)


class SmtpServer:
    """aiosmtpd's threaded controller on ``host:port``."""

    def __init__(self, sink: MailSink, host: str, port: int) -> None:
        self.controller = Controller(
            _Handler(sink),
            hostname=host,
            port=port,
            authenticator=_accept_any_login,
            auth_require_tls=False,
        )

    @property
    def port(self) -> int:
        return self.controller.port

    def start(self) -> None:
        """Listen (raises when the port is taken)."""
        self.controller.start()

    def stop(self) -> None:
        """Stop listening."""
        self.controller.stop()
