"""E-mail: the low-balance alert once per crossing, the outbox sent once, even across a worker crash."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta

import sqlalchemy as sa

from creditapp import ledger
from creditapp.extensions import db
from creditapp.jobs import sweep
from creditapp.models import Notification
from tests.support.emulator import REPO_ROOT
from tests.support.jobs import run_queued
from tests.support.stripe_helpers import csrf_token, wait_for


def set_alert(client, level: int | None) -> None:
    data = {"alert": "1", "level": str(level)} if level else {"level": ""}
    response = client.post("/account/notifications", data={**data, "csrf_token": csrf_token(client)})
    assert response.status_code == 303, response.get_data(as_text=True)


def outbox() -> list[Notification]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(Notification).order_by(Notification.id)))


def test_the_low_balance_email_is_sent_once_per_crossing(app, topups, client, make_user, sign_in_as):
    user = make_user(email="low@example.com", credits=150)
    sign_in_as(client, user)
    set_alert(client, 100)

    for cost in (30, 30, 10):  # 150 → 120 → 90 (crosses) → 80
        ledger.hold(user, "image", cost)
        run_queued(app)
    ledger.grant(user, 50, note="back above")  # 130: re-armed
    ledger.hold(user, "image", 40)  # 90: crosses again
    run_queued(app)

    mails = topups.mail("low@example.com")
    assert [m["subject"] for m in mails] == ["Your balance is 90 credits", "Your balance is 90 credits"]
    assert "below the 100 credits" in mails[0]["text"] and "/buy-credits" in mails[0]["text"]
    assert "<a href=" in mails[0]["html"] and "90 credits" in mails[0]["html"]
    assert [n.status for n in outbox()] == ["sent", "sent"]


def test_bad_alert_levels_are_refused_and_keep_what_was_typed(app, client, make_user, sign_in_as):
    user = make_user()
    sign_in_as(client, user)

    response = client.post(
        "/account/notifications", data={"alert": "1", "level": "ten", "csrf_token": csrf_token(client)}
    )

    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'value="ten"' in page and 'aria-invalid="true"' in page and "whole number" in page


class SilentSmtp:
    """A server that accepts connections and never greets: a send stuck mid-way."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        for conn in self.held:
            conn.close()
        self.sock.close()


SENDER = """
import sys
from creditapp import create_app
from creditapp.notifications import email as notifications
from tests.conftest import app_settings
app = create_app(app_settings(sys.argv[1], sys.argv[2], SMTP_URL=sys.argv[3],
                 NOTIFICATION_LEASE_SECONDS=1, SMTP_TIMEOUT_SECONDS=60))
with app.app_context():
    notifications.send(int(sys.argv[4]), app.config)
"""


def test_an_email_whose_worker_died_mid_send_is_sent_once_after_restart(
    app, topups, client, make_user, sign_in_as, database_url
):
    user = make_user(email="crash@example.com", credits=150)
    sign_in_as(client, user)
    set_alert(client, 100)
    ledger.hold(user, "image", 60)  # the crossing writes the e-mail in the outbox
    [email] = outbox()
    app.extensions["jobs"].money_huey.flush()  # the worker that would have sent it is the one we kill
    stuck = SilentSmtp()
    worker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SENDER,
            database_url,
            topups.base_url,
            f"smtp://127.0.0.1:{stuck.port}",
            str(email.id),
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        wait_for(lambda: outbox()[0].status == "sending", timeout=30, what="the worker to claim the e-mail")
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        stuck.close()
    assert outbox()[0].status == "sending" and topups.mail("crash@example.com") == []

    time.sleep(1.1)  # the dead worker's lease runs out
    report = sweep.sweep(app.config, lost_after=timedelta(seconds=60))
    run_queued(app)
    sweep.sweep(app.config, lost_after=timedelta(seconds=0))
    run_queued(app)

    assert report.emails_requeued == 1
    assert [n.status for n in outbox()] == ["sent"]
    assert len(topups.mail("crash@example.com")) == 1


def test_an_email_the_smtp_server_refused_is_retried_and_sent_once(
    app, topups, client, make_user, sign_in_as
):
    user = make_user(email="retry@example.com", credits=150)
    sign_in_as(client, user)
    set_alert(client, 100)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        app.config["SMTP_URL"] = f"smtp://127.0.0.1:{closed.getsockname()[1]}"  # nobody listens
        ledger.hold(user, "image", 60)
        run_queued(app)
    [waiting] = outbox()
    assert (waiting.status, waiting.attempts) == ("pending", 1) and waiting.last_error

    app.config["SMTP_URL"] = topups.smtp_url  # the server is back
    sweep.sweep(app.config, lost_after=timedelta(0))
    run_queued(app)
    sweep.sweep(app.config, lost_after=timedelta(0))  # nothing left to send
    run_queued(app)

    assert [(n.status, n.attempts) for n in outbox()] == [("sent", 2)]
    assert len(topups.mail("retry@example.com")) == 1
