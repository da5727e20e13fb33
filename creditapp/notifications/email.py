"""E-mail: what each e-mail says, and sending the outbox (`notifications`) over SMTP.

An e-mail is a row the ledger writes in the same transaction as the change that causes it
(`ledger.outbox.write_email`: its kind, address and payload), so a committed change always
has its e-mail and a rolled-back one never does. After the commit a queue task sends it
(`send`), composing its subject and bodies from the kind and payload (`compose`) and
keeping them on the row.

Sending is at least once, made as close to once as SMTP allows: a sender first claims the
row (`pending` → `sending`, with a lease), sends, then marks it `sent`. A second delivery
of the task finds it `sending` or `sent` and does nothing; a failed send puts it back to
`pending` for a later attempt. The one edge: a worker that dies after the SMTP server
accepted the message but before `sent` was committed leaves the row `sending`; once the
lease runs out the sweep sends it again. Each message carries a Message-ID derived from
its dedupe key, so that rare second copy is recognisably the same message.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any
from urllib.parse import unquote, urlsplit

import sqlalchemy as sa
from markupsafe import escape

from creditapp.extensions import db
from creditapp.models import Notification, utcnow
from creditapp.platform.money import format_money

log = logging.getLogger("creditapp.notifications")

notifications = Notification.__table__


@dataclass(frozen=True)
class Email:
    """What one e-mail says."""

    subject: str
    text: str
    html: str

    def columns(self) -> dict[str, str]:
        """What the outbox row keeps of the e-mail it sent."""
        return {"subject": self.subject, "body_text": self.text, "body_html": self.html}


# --- what each e-mail says ----------------------------------------------------------------


def compose(kind: str, payload: Mapping[str, Any], base_url: str) -> Email:
    """The subject and both bodies of one kind of e-mail, with the balance and a link.

    Credits are written as the pages write them (thousands separators), money with
    `format_money` as the pages do.
    """
    balance = _credits(payload.get("balance"))
    if payload.get("org_id") is not None and kind in ORGANIZATION_KINDS:
        return _organization_email(kind, payload, base_url)
    if kind == "low_balance":
        link = f"{base_url}/buy-credits"
        level = _credits(payload["level"])
        subject = f"Your balance is {balance} credits"
        lines = [
            f"Your creditapp balance fell to {balance} credits, below the {level} "
            "credits you asked to be told about.",
            "Buy credits before you run out:",
        ]
        return _email(
            subject,
            lines,
            link,
            "Buy credits",
            "You get this e-mail once each time the balance "
            f"falls below {level} credits; change the level at {base_url}/account/notifications.",
        )
    if kind == "topup_receipt":
        credits = _credits(payload["credits"])
        amount = format_money(int(payload["amount"]), str(payload["currency"]))
        subject = f"Receipt: automatic top-up of {credits} credits"
        tax = int(payload.get("tax") or 0)
        taxed = f" ({format_money(tax, str(payload['currency']))} tax included)" if tax else ""
        lines = [
            f"Your balance was low, so we topped it up automatically: {credits} credits for "
            f"{amount}{taxed}, charged to your saved card ({payload.get('card') or 'card on file'}).",
            f"Your balance is now {balance} credits.",
            *_invoice_lines(payload),
            f"Your receipt: {base_url}/history/purchases/{payload['purchase_id']}",
            f"Stripe's card receipt: {base_url}/history/purchases/{payload['purchase_id']}/receipt",
            "Every purchase and spend is in your history:",
        ]
        return _email(
            subject,
            lines,
            f"{base_url}/history",
            "Your history",
            f"Change or switch off automatic top-up at {base_url}/account/auto-recharge.",
        )
    if kind == "purchase_receipt":
        return _purchase_receipt(payload, base_url)
    if kind == "recharge_failed":
        link = f"{base_url}/buy-credits"
        why = payload.get("message") or "The payment did not go through."
        subject = "Automatic top-up failed"
        lines = [
            f"We tried to top up {_credits(payload['credits'])} credits with your saved card "
            f"({payload.get('card') or 'card'}), and it did not go through: {why}",
            f"Your balance is {balance} credits. Nothing was charged. Buy credits by hand here:",
        ]
        return _email(
            subject,
            lines,
            link,
            "Buy credits",
            f"Manage automatic top-ups at {base_url}/account/auto-recharge.",
        )
    if kind == "recharge_disabled":
        link = f"{base_url}/account/auto-recharge"
        subject = "Automatic top-up is switched off"
        lines = [
            f"Automatic top-up failed {payload['failures']} times in a row, so we switched it off: "
            "we will not try your saved card again.",
            f"Your balance is {balance} credits. Buy credits at {base_url}/buy-credits, or check your "
            "card and switch automatic top-up back on:",
        ]
        return _email(subject, lines, link, "Automatic top-up settings", "")
    if kind == "lot_expiring":
        return _lot_expiring(payload, base_url)
    if kind == "invitation":
        return _invitation(payload, base_url)
    raise ValueError(f"no e-mail of kind {kind!r}")


# E-mails about an organization's wallet, sent to each of its owners and admins.
ORGANIZATION_KINDS = ("low_balance", "topup_receipt", "recharge_failed", "recharge_disabled")


def _organization_email(kind: str, payload: Mapping[str, Any], base_url: str) -> Email:
    """An e-mail about an organization's wallet (teams): it names the organization, and its
    links open the organization's pages (`?org=<id>`), which only its owners and admins use."""
    name, org = str(payload["organization"]), f"?org={payload['org_id']}"
    balance = _credits(payload.get("balance"))
    buy, topup = f"{base_url}/buy-credits{org}", f"{base_url}/account/auto-recharge{org}"
    why = "You get this e-mail as an owner or admin of " + name + "."
    if kind == "low_balance":
        level = _credits(payload["level"])
        lines = [
            f"{name}'s balance fell to {balance} credits, below the {level} credits its owners and admins "
            "asked to be told about.",
            "Buy credits for the organization before its members run out:",
        ]
        footer = f"{why} Change the level at {base_url}/account/notifications{org}."
        return _email(f"{name}'s balance is {balance} credits", lines, buy, "Buy credits", footer)
    if kind == "topup_receipt":
        credits = _credits(payload["credits"])
        amount = format_money(int(payload["amount"]), str(payload["currency"]))
        lines = [
            f"{name}'s balance was low, so we topped it up automatically: {credits} credits for {amount}, "
            f"charged to the organization's saved card ({payload.get('card') or 'card on file'}).",
            f"Its balance is now {balance} credits.",
            *_invoice_lines(payload),
        ]
        footer = f"{why} Change or switch off automatic top-up at {topup}."
        return _email(
            f"Receipt: automatic top-up of {credits} credits for {name}",
            lines,
            topup,
            "Top-up settings",
            footer,
        )
    if kind == "recharge_failed":
        reason = payload.get("message") or "The payment did not go through."
        lines = [
            f"We tried to top up {name} with {_credits(payload['credits'])} credits on its saved card "
            f"({payload.get('card') or 'card'}), and it did not go through: {reason}",
            f"Its balance is {balance} credits. Nothing was charged. Buy credits for it by hand here:",
        ]
        return _email(
            f"Automatic top-up failed for {name}", lines, buy, "Buy credits", f"{why} Manage it at {topup}."
        )
    lines = [
        f"Automatic top-up of {name} failed {payload['failures']} times in a row, so we switched it off: "
        "we will not try its saved card again.",
        f"Its balance is {balance} credits. Buy credits at {buy}, or check the card and switch automatic "
        "top-up back on:",
    ]
    return _email(f"Automatic top-up is switched off for {name}", lines, topup, "Top-up settings", why)


def _purchase_receipt(payload: Mapping[str, Any], base_url: str) -> Email:
    """A Checkout purchase's receipt: credits, what was paid (tax apart), how, and its invoice."""
    credits, currency = _credits(payload["credits"]), str(payload["currency"])
    total = format_money(int(payload["amount"]), currency)
    number = payload.get("invoice_number")
    subject = f"Receipt: {credits} credits" + (f" (invoice {number})" if number else "")
    org = payload.get("org_id")
    whose = f"{payload['organization']}'s balance" if org else "your balance"
    paid = f"{credits} credits were added to {whose}. You paid {total}"
    if payload.get("tax") is not None and payload.get("subtotal") is not None:
        subtotal = format_money(int(payload["subtotal"]), currency)
        paid += f" ({subtotal} + {format_money(int(payload['tax']), currency)} tax)"
    if payload.get("method"):
        paid += f" with {payload['method']}"
    lines = [paid + ".", *_invoice_lines(payload)]
    lines.append(f"The receipt, with the invoice, stays in {'its' if org else 'your'} history:")
    return _email(
        subject,
        lines,
        f"{base_url}/history/purchases/{payload['purchase_id']}" + (f"?org={org}" if org else ""),
        "Your receipt",
        "You get this e-mail once for each purchase.",
    )


def _invoice_lines(payload: Mapping[str, Any]) -> list[str]:
    """A receipt's lines about its invoice: the hosted page and the PDF, when there is one."""
    number = payload.get("invoice_number")
    lines = []
    if payload.get("invoice_url"):
        lines.append(
            f"Invoice {number}: {payload['invoice_url']}" if number else f"Invoice: {payload['invoice_url']}"
        )
    if payload.get("invoice_pdf"):
        lines.append(f"Invoice PDF: {payload['invoice_pdf']}")
    return lines


# Where a lot's credits came from, as the notice names it (`credit_lots.source`).
LOT_SOURCES = {
    "signup_bonus": "your signup bonus",
    "purchase": "a purchase",
    "top_up": "an automatic top-up",
    "grant": "a grant",
    "migration": "your earlier balance",
}


def _lot_expiring(payload: Mapping[str, Any], base_url: str) -> Email:
    """The notice before a lot expires: what expires, from which lot, when, and where to see it."""
    credits, amount = int(payload["credits"]), int(payload["amount"])
    expires_at = datetime.fromisoformat(str(payload["expires_at"])).astimezone(UTC)
    day = f"{expires_at.day} {expires_at:%B %Y}"
    source = LOT_SOURCES.get(str(payload.get("source")), "one of your lots of credits")
    noun, verb = ("credit", "expires") if credits == 1 else ("credits", "expire")
    what = f"{_credits(credits)} {noun}"
    if credits < amount:
        what = f"{_credits(credits)} of the {_credits(amount)} credits"
    subject = f"{_credits(credits)} {noun} {verb} on {day}"
    footer = "You get this e-mail once for each lot of credits, shortly before it expires."
    where, button = f"{base_url}/account/credits", "Your credits"
    if payload.get("org_id"):  # an organization's lot (teams): its owners and admins hear of it
        name = str(payload["organization"])
        subject = f"{name}: {subject}"
        source = f"{source.replace('your ', 'its ')} in {name}'s wallet"
        where, button = f"{where}?org={payload['org_id']}", f"{name}'s credits"
        footer = f"You get this e-mail as an owner or admin of {name}. {footer}"
    lines = [
        f"{what} from {source} {verb} on {day} at {expires_at:%H:%M} UTC. Spend "
        f"{'it' if credits == 1 else 'them'} before then: whatever is left at that moment expires.",
        "Every lot of credits, what is left of it and when it expires:",
    ]
    return _email(subject, lines, where, button, footer)


def _invitation(payload: Mapping[str, Any], base_url: str) -> Email:
    """An invitation to an organization (teams): who invites, to what, with which role, until when.

    Teams sits above this package, so the payload carries everything the e-mail says.
    """
    expires_at = datetime.fromisoformat(str(payload["expires_at"])).astimezone(UTC)
    day = f"{expires_at.day} {expires_at:%B %Y}"
    organization, role = str(payload["organization"]), str(payload["role"])
    article = "an" if role[:1] in "aeiou" else "a"
    subject = f"{payload['inviter']} invited you to {organization} on creditapp"
    lines = [
        f"{payload['inviter']} invited you to join {organization} as {article} {role}: "
        "you will spend from the organization's credits.",
        f"Sign in with the Google account of this e-mail address to accept. The link works once, "
        f"until {day} at {expires_at:%H:%M} UTC.",
    ]
    return _email(
        subject,
        lines,
        f"{base_url}{payload['path']}",
        f"Join {organization}",
        "If you did not expect this invitation, ignore this e-mail: nothing happens unless you accept.",
    )


def _credits(value: Any) -> str:
    """A number of credits as the pages write it: 12,345 (a negative balance too)."""
    return f"{value:,}" if isinstance(value, int) else str(value)


def _email(subject: str, lines: list[str], link: str, link_text: str, footer: str) -> Email:
    text = "\n\n".join([*lines, link, *([footer] if footer else [])]) + "\n"
    paragraphs = "".join(f"<p>{escape(line)}</p>" for line in lines)
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(subject)}</title></head><body>{paragraphs}"
        f'<p><a href="{escape(link)}">{escape(link_text)}</a></p>'
        + (f'<p style="color:#555">{escape(footer)}</p>' if footer else "")
        + "</body></html>"
    )
    return Email(subject, text, html)


# --- sending ------------------------------------------------------------------------------


def send(notification_id: int, config: Mapping[str, Any]) -> str:
    """Send one e-mail of the outbox at most once per claim; returns what happened.

    `sent`; `not_claimed` (already sent, or another sender holds it); `retry` (SMTP failed,
    back to pending); `gave_up` (failed `NOTIFICATION_MAX_ATTEMPTS` times: status failed).
    """
    now = utcnow()
    with db.engine.connect() as conn:
        row = conn.execute(
            sa.update(notifications)
            .where(
                notifications.c.id == notification_id,
                sa.or_(
                    notifications.c.status == "pending",
                    sa.and_(notifications.c.status == "sending", notifications.c.lease_until < now),
                ),
            )
            .values(
                status="sending",
                attempts=notifications.c.attempts + 1,
                lease_until=now + timedelta(seconds=float(config["NOTIFICATION_LEASE_SECONDS"])),
            )
            .returning(
                notifications.c.kind,
                notifications.c.payload,
                notifications.c.to_address,
                notifications.c.dedupe_key,
                notifications.c.attempts,
            )
        ).one_or_none()
        conn.commit()
    if row is None:
        return "not_claimed"
    email = compose(row.kind, row.payload, config["APP_BASE_URL"].rstrip("/"))
    try:
        deliver(config, row.to_address, email.subject, email.text, email.html, row.dedupe_key)
    except (OSError, smtplib.SMTPException) as exc:
        gave_up = row.attempts >= int(config["NOTIFICATION_MAX_ATTEMPTS"])
        with db.engine.connect() as conn:
            conn.execute(
                sa.update(notifications)
                .where(notifications.c.id == notification_id, notifications.c.status == "sending")
                .values(
                    status="failed" if gave_up else "pending",
                    lease_until=None,
                    last_error=f"{exc.__class__.__name__}: {exc}"[:500],
                )
            )
            conn.commit()
        log.warning("e-mail %s not sent (attempt %s): %s", notification_id, row.attempts, exc)
        return "gave_up" if gave_up else "retry"
    with db.engine.connect() as conn:
        conn.execute(
            sa.update(notifications)
            .where(notifications.c.id == notification_id, notifications.c.status == "sending")
            .values(status="sent", sent_at=utcnow(), lease_until=None, last_error=None, **email.columns())
        )
        conn.commit()
    log.info("e-mail %s sent", notification_id, extra={"notification_id": notification_id})
    return "sent"


def deliver(config: Mapping[str, Any], to: str, subject: str, text: str, html: str, dedupe_key: str) -> None:
    """Hand one message to the SMTP server `SMTP_URL` names, over TLS whenever it can.

    How TLS is chosen: docs/operations.md, E-mail (SMTP).
    """
    url = config.get("SMTP_URL") or ""
    if not url:
        raise smtplib.SMTPException("SMTP_URL is not set")
    parts = urlsplit(url)
    message = EmailMessage()
    message["From"] = config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    # The same message (same id) however many times it is handed over.
    message["Message-ID"] = make_msgid(idstring=dedupe_key.replace(":", "."), domain="creditapp.local")
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    timeout = float(config["SMTP_TIMEOUT_SECONDS"])
    host = parts.hostname or "127.0.0.1"
    if parts.scheme == "smtps":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(
            host, parts.port or 465, timeout=timeout, context=_tls_context(config)
        )
    elif parts.scheme in ("smtp", "smtp+insecure"):
        smtp = smtplib.SMTP(host, parts.port or 25, timeout=timeout)
    else:
        raise smtplib.SMTPException(
            f"SMTP_URL must be smtp://…, smtps://… or smtp+insecure://…, not {parts.scheme}://"
        )
    with smtp:
        if parts.scheme == "smtp":
            _start_tls_if_offered(smtp, config, wants_login=bool(parts.username))
        if parts.username:
            smtp.login(unquote(parts.username), unquote(parts.password or ""))
        smtp.send_message(message)


def _tls_context(config: Mapping[str, Any]) -> ssl.SSLContext:
    """A context that verifies the server's certificate and name: against `SMTP_CA_FILE` when
    set (a private CA), else the system's trusted CAs."""
    return ssl.create_default_context(cafile=config.get("SMTP_CA_FILE") or None)


def _start_tls_if_offered(smtp: smtplib.SMTP, config: Mapping[str, Any], wants_login: bool) -> None:
    """Upgrade a smtp:// connection with STARTTLS whenever the server offers it (whatever the
    port); refuse to go on without TLS when a password would follow."""
    smtp.ehlo()
    if smtp.has_extn("starttls"):
        # A certificate that does not verify raises ssl.SSLCertVerificationError: nothing is sent.
        smtp.starttls(context=_tls_context(config))
        smtp.ehlo()
    elif wants_login:
        raise smtplib.SMTPException(
            "the SMTP server offers no STARTTLS: refusing to send the password in clear text "
            "(use smtps://, or smtp+insecure:// for a server on a trusted network)"
        )
