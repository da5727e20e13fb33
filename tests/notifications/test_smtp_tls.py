"""SMTP over TLS: the password goes out only encrypted, to a server whose certificate verifies.

Real SMTP servers (aiosmtpd) with real certificates made here: a private CA the app may be
told to trust (`SMTP_CA_FILE`), STARTTLS on an ordinary port (not 587), implicit TLS
(`smtps://`), and a plain server that would take a password in clear text.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from creditapp.extensions import db
from creditapp.ledger import outbox
from creditapp.models import Notification
from creditapp.notifications import email as notifications
from tests.conftest import free_port

PASSWORD = "s3cret-smtp-password"


@dataclass
class Certificates:
    """A private CA and a certificate it signed for 127.0.0.1, as PEM files."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> Certificates:
    """A CA nobody's system trusts, and the server certificate it signed."""
    folder = tmp_path_factory.mktemp("smtp-tls")
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("creditapp test SMTP CA"))
        .issuer_name(_name("creditapp test SMTP CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    found = Certificates(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    found.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    found.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    found.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return found


@dataclass
class Server:
    """What one SMTP server received: the passwords offered (and whether over TLS), the messages."""

    port: int
    logins: list[tuple[str, bool]] = field(default_factory=list)
    messages: list[bytes] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        # STARTTLS sets session.ssl; implicit TLS shows on the transport.
        over_tls = session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None
        with self.lock:
            self.logins.append((data.password.decode(), over_tls))
        return AuthResult(success=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        with self.lock:
            self.messages.append(envelope.original_content)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server(certificates) -> Iterator[Any]:
    """Start an SMTP server: `mode` is starttls, implicit (TLS from the first byte) or plain."""
    controllers: list[Controller] = []

    def start(mode: str) -> Server:
        server = Server(port=free_port())
        options: dict[str, Any] = {"authenticator": server.authenticate, "auth_require_tls": False}
        if mode == "starttls":
            options["tls_context"] = certificates.server_context()
        elif mode == "implicit":
            options["ssl_context"] = certificates.server_context()
        controller = Controller(server, hostname="127.0.0.1", port=server.port, **options)
        controller.start()
        controllers.append(controller)
        return server

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def outbox_email(app, make_user) -> Iterator[Any]:
    """Write one e-mail to the outbox and send it with the given SMTP settings; its row after."""
    saved = {name: app.config.get(name) for name in ("SMTP_URL", "SMTP_CA_FILE")}

    def send(smtp_url: str, ca_file: Path | None = None) -> tuple[str, Notification]:
        user = make_user(email="tls@example.com")
        with db.engine.begin() as conn:
            notification_id = outbox.write_email(
                conn, "low_balance", user, "tls@example.com", f"tls:{user}", {"balance": 90, "level": 100}
            )
        app.config.update(SMTP_URL=smtp_url, SMTP_CA_FILE=str(ca_file) if ca_file else None)
        outcome = notifications.send(notification_id, app.config)
        db.session.rollback()
        row = db.session.scalars(sa.select(Notification).where(Notification.id == notification_id)).one()
        return outcome, row

    yield send
    app.config.update(saved)


def assert_refused(outcome: str, row: Notification, server: Server) -> None:
    """Nothing delivered, the password never offered, the e-mail kept for a later attempt."""
    assert outcome == "retry"
    assert row.status == "pending" and row.sent_at is None and row.last_error
    assert server.messages == []
    assert server.logins == []


@pytest.mark.parametrize("mode, scheme", [("starttls", "smtp"), ("implicit", "smtps")])
def test_an_untrusted_certificate_gets_nothing_neither_by_starttls_on_any_port_nor_by_smtps(
    smtp_server, outbox_email, mode, scheme
):
    server = smtp_server(mode)

    outcome, row = outbox_email(f"{scheme}://mailer:{PASSWORD}@127.0.0.1:{server.port}")

    assert_refused(outcome, row, server)
    assert "CERTIFICATE_VERIFY_FAILED" in row.last_error


@pytest.mark.parametrize("mode, scheme", [("starttls", "smtp"), ("implicit", "smtps")])
def test_a_trusted_certificate_gets_the_password_over_tls_and_the_email(
    smtp_server, outbox_email, certificates, mode, scheme
):
    server = smtp_server(mode)

    outcome, row = outbox_email(
        f"{scheme}://mailer:{PASSWORD}@127.0.0.1:{server.port}", ca_file=certificates.ca_file
    )

    assert outcome == "sent" and row.status == "sent"
    assert server.logins == [(PASSWORD, True)]
    assert len(server.messages) == 1 and b"Subject: Your balance is 90 credits" in server.messages[0]


def test_a_server_without_starttls_never_gets_the_password(smtp_server, outbox_email):
    server = smtp_server("plain")

    outcome, row = outbox_email(f"smtp://mailer:{PASSWORD}@127.0.0.1:{server.port}")

    assert_refused(outcome, row, server)
    assert "refusing to send the password in clear text" in row.last_error


def test_smtp_insecure_sends_in_clear_text_because_the_url_says_so(smtp_server, outbox_email):
    server = smtp_server("plain")

    outcome, row = outbox_email(f"smtp+insecure://mailer:{PASSWORD}@127.0.0.1:{server.port}")

    assert outcome == "sent" and row.status == "sent"
    assert server.logins == [(PASSWORD, False)]
    assert len(server.messages) == 1


def test_a_plain_relay_without_a_login_still_gets_the_email(smtp_server, outbox_email):
    server = smtp_server("plain")  # like the stand-ins' sink under `make run`

    outcome, row = outbox_email(f"smtp://127.0.0.1:{server.port}")

    assert outcome == "sent" and row.status == "sent"
    assert len(server.messages) == 1
