"""The SMTP sink: real SMTP in, the inbox out as JSON (newest first) or a page, emptied on reset."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import requests


def send(emulator, to: str, subject: str, login: bool = False) -> None:
    message = EmailMessage()
    message["From"] = "app@example.com"
    message["To"] = to
    message["Subject"] = subject
    message.set_content(f"{subject} in plain text")
    message.add_alternative(f"<p>{subject} in <b>HTML</b></p>", subtype="html")
    with smtplib.SMTP("127.0.0.1", emulator.smtp_port, timeout=10) as smtp:
        if login:
            smtp.login("any-user", "any-password")
        smtp.send_message(message)


def test_mail_sent_over_smtp_is_listed_newest_first_with_both_bodies(emulator, fresh_emulator):
    send(emulator, "first@example.com", "First")
    send(emulator, "second@example.com", "Second", login=True)

    inbox = emulator.mail()

    assert [m["subject"] for m in inbox] == ["Second", "First"]
    assert set(inbox[0]) == {"id", "to", "from", "subject", "text", "html", "received_at"}
    assert inbox[1]["to"] == "first@example.com" and inbox[1]["from"] == "app@example.com"
    assert inbox[1]["text"].strip() == "First in plain text" and "<b>HTML</b>" in inbox[1]["html"]
    assert [m["subject"] for m in emulator.mail("first@example.com")] == ["First"]


def test_a_browser_gets_a_readable_inbox_and_reset_empties_it(emulator, fresh_emulator):
    send(emulator, "reader@example.com", "Readable")

    page = requests.get(f"{emulator.base_url}/_emulator/mail", headers={"Accept": "text/html"}, timeout=10)
    [message] = emulator.mail()
    html = requests.get(f"{emulator.base_url}/_emulator/mail/{message['id']}.html", timeout=10)
    emulator.reset()

    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert "Readable" in page.text and "reader@example.com" in page.text
    assert "<b>HTML</b>" in html.text
    assert emulator.mail() == []
