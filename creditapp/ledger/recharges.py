"""Automatic top-ups after they start: the PaymentIntent recorded, a failure counted.

Completion goes through `complete_purchase` like every purchase (whichever of the webhook
and the worker's own result comes first credits it; the other finds it completed). A
success also clears the failure count (`reset_failures`, called inside that transaction).
A failure is one transaction: the purchase pending → failed (only once, so the webhook and
the worker cannot both count it), the failure counted on the settings, auto top-up
switched off at the third failure in a row, and the e-mails written to the outbox.

Lock order (package docstring): the purchase row, the user row, then the settings row.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app

from creditapp.ledger._core import purchases, transaction, users
from creditapp.ledger.triggers import Effects, dispatch, settings_table
from creditapp.models import utcnow
from creditapp.services import notifications

FAILURES_BEFORE_OFF = 3


def record_intent(purchase_id: int, payment_intent_id: str) -> None:
    """Remember the top-up's PaymentIntent (refunds and events find the purchase by it)."""
    with transaction() as session:
        session.execute(
            sa.update(purchases)
            .where(purchases.c.id == purchase_id, purchases.c.stripe_payment_intent_id.is_(None))
            .values(stripe_payment_intent_id=payment_intent_id)
        )


def fail_recharge(purchase_id: int, code: str, message: str, count: bool = True) -> bool:
    """Fail a pending top-up, count the failure and e-mail the person; True when this call did.

    `count=False` (the card was removed meanwhile) fails it without counting or e-mail.
    """
    effects = Effects()
    with transaction() as session:
        row = session.execute(
            sa.update(purchases)
            .where(
                purchases.c.id == purchase_id,
                purchases.c.status == "pending",
                purchases.c.source == "auto_recharge",
            )
            .values(status="failed")
            .returning(purchases.c.user_id, purchases.c.credits_purchased)
        ).one_or_none()
        if row is None:
            return False
        if not count:
            return True
        user = session.execute(
            sa.select(users.c.email, users.c.credits)
            .where(users.c.id == row.user_id)
            .with_for_update(key_share=True)
        ).one()
        off_reason = f"Switched off after {FAILURES_BEFORE_OFF} failed top-ups in a row (the last: {message})"
        settings = session.execute(
            sa.update(settings_table)
            .where(settings_table.c.user_id == row.user_id)
            .values(
                consecutive_failures=settings_table.c.consecutive_failures + 1,
                last_attempt_at=utcnow(),
                enabled=sa.case(
                    (settings_table.c.consecutive_failures + 1 >= FAILURES_BEFORE_OFF, sa.false()),
                    else_=settings_table.c.enabled,
                ),
                disabled_reason=sa.case(
                    (settings_table.c.consecutive_failures + 1 >= FAILURES_BEFORE_OFF, off_reason[:255]),
                    else_=settings_table.c.disabled_reason,
                ),
            )
            .returning(
                settings_table.c.consecutive_failures,
                settings_table.c.enabled,
                settings_table.c.card_brand,
                settings_table.c.card_last4,
            )
        ).one_or_none()
        base_url = current_app.config["APP_BASE_URL"].rstrip("/")
        card = (
            f"{settings.card_brand} ending {settings.card_last4}"
            if settings and settings.card_last4
            else None
        )
        payload = {
            "balance": user.credits,
            "credits": row.credits_purchased,
            "code": code,
            "message": message,
            "card": card,
        }
        email = notifications.queue_email(
            session,
            "recharge_failed",
            row.user_id,
            user.email,
            f"recharge-failed:{purchase_id}",
            payload,
            base_url,
        )
        effects.emails += [email] if email else []
        if settings is not None and settings.consecutive_failures == FAILURES_BEFORE_OFF:
            payload = {"balance": user.credits, "failures": settings.consecutive_failures}
            email = notifications.queue_email(
                session,
                "recharge_disabled",
                row.user_id,
                user.email,
                f"recharge-off:{purchase_id}",
                payload,
                base_url,
            )
            effects.emails += [email] if email else []
    dispatch(effects)
    return True


def reset_failures(session: sa.orm.Session, purchase_id: int, user_id: int) -> None:
    """Inside a completing transaction: a top-up that succeeded ends the run of failures."""
    session.execute(
        sa.update(settings_table)
        .where(
            settings_table.c.user_id == user_id,
            settings_table.c.consecutive_failures > 0,
            sa.select(purchases.c.source).where(purchases.c.id == purchase_id).scalar_subquery()
            == "auto_recharge",
        )
        .values(consecutive_failures=0)
    )
