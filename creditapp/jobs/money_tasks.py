"""The queue's tasks for automatic top-ups and e-mail: ids in, the services do the work.

Like the job task, each message carries only a row id, and the row is the truth: a lost
message is re-queued by `flask jobs sweep`, a repeated one finds the work done.
"""

from __future__ import annotations

from flask import Flask
from huey import Huey
from huey.api import TaskWrapper

CHARGE_RECHARGE = "creditapp.charge_recharge"
SEND_EMAIL = "creditapp.send_email"


def register(huey: Huey, app: Flask) -> dict[str, TaskWrapper]:
    """Register the tasks on the app's Huey; returns them by short name."""

    @huey.task(name=CHARGE_RECHARGE)
    def charge_recharge(purchase_id: int) -> None:
        from creditapp.topups import charging as recharge

        with app.app_context():
            recharge.charge(int(purchase_id))

    @huey.task(name=SEND_EMAIL)
    def send_email(notification_id: int) -> None:
        from creditapp.jobs.queue import current_queue
        from creditapp.notifications import email as notifications

        with app.app_context():
            outcome = notifications.send(int(notification_id), app.config)
            if outcome == "retry":
                delay = float(app.config["NOTIFICATION_RETRY_SECONDS"])
                current_queue().enqueue_task("send_email", notification_id, delay=delay)

    return {"charge_recharge": charge_recharge, "send_email": send_email}
