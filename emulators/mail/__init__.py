"""A local SMTP sink: every e-mail the app sends, readable at ``/_emulator/mail``.

The SMTP server is aiosmtpd's (on ``EMULATOR_SMTP_PORT``, default 12125), started by
``python -m emulators`` beside the HTTP stand-ins; it accepts any sender, recipient and
AUTH login (no TLS), and keeps the messages in memory until ``/_emulator/reset``.
"""

from __future__ import annotations

from flask import Flask

from . import routes
from .sink import MailSink, SmtpServer


def init_app(app: Flask) -> MailSink:
    """Give the emulator app an inbox and its routes."""
    sink = MailSink()
    app.extensions["mail_sink"] = sink
    app.register_blueprint(routes.bp)
    return sink


def start_smtp(app: Flask, host: str, port: int) -> SmtpServer:
    """Start the SMTP server delivering into the app's inbox; call ``stop()`` on the result."""
    server = SmtpServer(app.extensions["mail_sink"], host, port)
    server.start()
    return server


__all__ = ["MailSink", "SmtpServer", "init_app", "start_smtp"]
