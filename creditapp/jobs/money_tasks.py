"""The money queue's tasks for the outbox: a top-up to charge, an e-mail to send; ids in.

Like the job task, each message carries only a row id, and the row is the truth: a lost
message is re-queued by `flask jobs sweep`, a repeated one finds the work done.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from huey import Huey
from huey.api import TaskWrapper

from creditapp.notifications import email
from creditapp.topups import charging

CHARGE_TOPUP = "creditapp.charge_recharge"  # the Huey task name, kept: queued messages name it
SEND_EMAIL = "creditapp.send_email"


def register(huey: Huey, app: Flask, enqueue_task: Callable[..., bool]) -> dict[str, TaskWrapper]:
    """Register the tasks on the app's money Huey; returns them by short name.

    `enqueue_task` is the queue's, for an e-mail to try again later.
    """

    @huey.task(name=CHARGE_TOPUP)
    def charge_topup(purchase_id: int) -> None:
        with app.app_context():
            charging.charge(int(purchase_id))

    @huey.task(name=SEND_EMAIL)
    def send_email(notification_id: int) -> None:
        with app.app_context():
            outcome = email.send(int(notification_id), app.config)
            if outcome == "retry":
                delay = float(app.config["NOTIFICATION_RETRY_SECONDS"])
                enqueue_task("send_email", notification_id, delay=delay)

    return {"charge_topup": charge_topup, "send_email": send_email}
