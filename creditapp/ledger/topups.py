"""Automatic top-ups after they start: the turn to charge, the PaymentIntent recorded, a
failure counted, a cancellation.

Before the worker asks Stripe, `take_charge_turn` checks again, in a short transaction under
the trigger's locks, that the top-up may still run (auto top-up on, a saved card, the month's
cap not reached): settings changed while it waited in the queue win over the queued message.
Completion goes through `complete_purchase` like every purchase (whichever of the webhook
and the worker's own result comes first credits it; the other finds it completed). A
success also clears the failure count and writes the receipt (`after_topup_completed`,
called inside that transaction). A failure is one transaction: the purchase pending →
failed (only once, so the webhook and the worker cannot both count it), the failure counted
on the settings, auto top-up switched off at the third failure in a row, and the e-mails
written to the outbox. A top-up that may no longer run is `canceled`: not charged, not a
failure.

A top-up fills one wallet (a person's own, or an organization's: `purchases.wallet_id`),
under that wallet's settings row; its e-mails go to the wallet's recipients (the person, or
the organization's owners and admins: `outbox.recipients`).

Lock order (package docstring): the purchase row, the wallet row, then the settings row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from creditapp.ledger._core import lock_wallet, purchases
from creditapp.ledger.outbox import Outbox, recipients, write_email
from creditapp.ledger.triggers import settings_table, settle_deferred_alerts
from creditapp.models import utcnow, wallet_customer
from creditapp.platform.clock import month_start
from creditapp.platform.transactions import stage, write

FAILURES_BEFORE_OFF = 3


@dataclass(frozen=True)
class ChargeTurn:
    """What the worker may do with a top-up now, and what it needs to charge it.

    `charge`: ask Stripe (the attempt is recorded as `attempted_at` first); `canceled`: it may
    no longer run and never reached Stripe, so it was canceled; `ask_stripe`: it may no longer
    be charged, but an earlier attempt may have reached Stripe, so only Stripe's record can
    settle it; `not_pending`: settled already.
    """

    outcome: str
    user_id: int = 0
    amount: int = 0
    currency: str = "usd"
    credits: int = 0
    created_at: datetime | None = None
    customer_id: str | None = None
    payment_method_id: str | None = None
    attempted_at: datetime | None = None


def take_charge_turn(purchase_id: int, too_old_before: datetime) -> ChargeTurn:
    """In one short transaction, under the trigger's locks: may this pending top-up be charged now?

    Allowed: auto top-up on, a saved card and Stripe Customer, and fewer than the monthly cap of
    other top-ups pending or completed this UTC month. A top-up created before `too_old_before`
    (Stripe may have forgotten its idempotency key) is never sent again.
    """
    with write() as session:
        purchase = session.execute(
            sa.select(
                purchases.c.user_id,
                purchases.c.wallet_id,
                purchases.c.status,
                purchases.c.amount_paid,
                purchases.c.currency,
                purchases.c.credits_purchased,
                purchases.c.created_at,
                purchases.c.charge_attempted_at,
                (purchases.c.created_at < too_old_before).label("too_old"),
            )
            .where(purchases.c.id == purchase_id, purchases.c.source == "auto_recharge")
            .with_for_update()
        ).one_or_none()
        if purchase is None or purchase.status != "pending":
            return ChargeTurn("not_pending")
        lock_wallet(session, purchase.wallet_id)
        customer_id = session.execute(sa.select(wallet_customer(purchase.wallet_id))).scalar_one()
        s = settings_table.c
        settings = session.execute(
            sa.select(s.enabled, s.payment_method_id, s.monthly_cap)
            .where(settings_table.c.wallet_id == purchase.wallet_id)
            .with_for_update()
        ).one_or_none()
        now = utcnow()
        others = session.execute(
            sa.select(sa.func.count())
            .select_from(purchases)
            .where(
                purchases.c.wallet_id == purchase.wallet_id,
                purchases.c.source == "auto_recharge",
                purchases.c.status.in_(("pending", "completed")),
                purchases.c.created_at >= month_start(now),
                purchases.c.id != purchase_id,
            )
        ).scalar_one()
        allowed = bool(
            settings is not None
            and settings.enabled
            and settings.payment_method_id
            and customer_id
            and others < settings.monthly_cap
        )
        turn = ChargeTurn(
            "charge",
            purchase.user_id,
            purchase.amount_paid,
            purchase.currency,
            purchase.credits_purchased,
            purchase.created_at,
            customer_id,
            settings.payment_method_id if settings is not None else None,
            purchase.charge_attempted_at,
        )
        if allowed and not purchase.too_old:
            # Recorded before Stripe is asked: a top-up without it has never reached Stripe.
            session.execute(
                sa.update(purchases).where(purchases.c.id == purchase_id).values(charge_attempted_at=now)
            )
            return ChargeTurn(**{**turn.__dict__, "attempted_at": now})
        if purchase.charge_attempted_at is not None:
            return ChargeTurn(**{**turn.__dict__, "outcome": "ask_stripe"})
        canceled = _cancel(session, purchase_id, purchase.user_id, None)
        outcome = "canceled" if canceled else "not_pending"
    return ChargeTurn(outcome, purchase.user_id)


def cancel_topup(purchase_id: int, attempted_at: datetime | None) -> bool:
    """Cancel a pending top-up Stripe holds no payment for; True when this call did.

    Only if no attempt started since `attempted_at` (what the caller saw before asking
    Stripe): a newer attempt may be at Stripe right now.
    """
    with write() as session:
        canceled = _cancel(session, purchase_id, None, attempted_at)
    return canceled


def _cancel(
    session: sa.orm.Session, purchase_id: int, user_id: int | None, attempted_at: datetime | None
) -> bool:
    """pending → canceled, then the low-balance e-mail that waited on it goes out; False if not pending."""
    canceled = session.execute(
        sa.update(purchases)
        .where(
            purchases.c.id == purchase_id,
            purchases.c.status == "pending",
            purchases.c.source == "auto_recharge",
            purchases.c.charge_attempted_at.is_not_distinct_from(attempted_at),
        )
        .values(status="canceled")
        .returning(purchases.c.wallet_id)
    ).scalar_one_or_none()
    if canceled is None:
        return False
    balance = lock_wallet(session, canceled).balance
    stage(session, Outbox(emails=settle_deferred_alerts(session, canceled, balance, send=True)).handoffs())
    return True


def record_intent(purchase_id: int, payment_intent_id: str) -> None:
    """Remember the top-up's PaymentIntent (refunds and events find the purchase by it)."""
    with write() as session:
        session.execute(
            sa.update(purchases)
            .where(purchases.c.id == purchase_id, purchases.c.stripe_payment_intent_id.is_(None))
            .values(stripe_payment_intent_id=payment_intent_id)
        )


def fail_topup(purchase_id: int, code: str, message: str) -> bool:
    """Fail a pending top-up, count the failure and e-mail the wallet's people (the person, or
    the organization's owners and admins); True when this call did."""
    effects = Outbox()
    with write() as session:
        row = session.execute(
            sa.update(purchases)
            .where(
                purchases.c.id == purchase_id,
                purchases.c.status == "pending",
                purchases.c.source == "auto_recharge",
            )
            .values(status="failed")
            .returning(purchases.c.wallet_id, purchases.c.credits_purchased)
        ).one_or_none()
        if row is None:
            return False
        balance = lock_wallet(session, row.wallet_id).balance
        people = recipients(session, row.wallet_id)
        # The top-up did not refill the balance: a low-balance e-mail that waited on it goes out.
        effects.emails += settle_deferred_alerts(session, row.wallet_id, balance, send=True)
        off_reason = f"Switched off after {FAILURES_BEFORE_OFF} failed top-ups in a row (the last: {message})"
        settings = session.execute(
            sa.update(settings_table)
            .where(settings_table.c.wallet_id == row.wallet_id)
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
        card = (
            f"{settings.card_brand} ending {settings.card_last4}"
            if settings and settings.card_last4
            else None
        )
        payload = people.payload(
            {
                "balance": balance,
                "credits": row.credits_purchased,
                "code": code,
                "message": message,
                "card": card,
            }
        )
        switched_off = settings is not None and settings.consecutive_failures == FAILURES_BEFORE_OFF
        off_payload = people.payload({"balance": balance, "failures": FAILURES_BEFORE_OFF})
        for user_id, address in people.people:
            key = people.dedupe_key(f"recharge-failed:{purchase_id}", user_id)
            email = write_email(session, "recharge_failed", user_id, address, key, payload)
            effects.emails += [email] if email else []
            if switched_off:
                key = people.dedupe_key(f"recharge-off:{purchase_id}", user_id)
                email = write_email(session, "recharge_disabled", user_id, address, key, off_payload)
                effects.emails += [email] if email else []
        stage(session, effects.handoffs())
    return True


def reset_failures(session: sa.orm.Session, purchase_id: int, wallet_id: int) -> None:
    """Inside a completing transaction: a top-up that succeeded ends the run of failures."""
    session.execute(
        sa.update(settings_table)
        .where(
            settings_table.c.wallet_id == wallet_id,
            settings_table.c.consecutive_failures > 0,
            sa.select(purchases.c.source).where(purchases.c.id == purchase_id).scalar_subquery()
            == "auto_recharge",
        )
        .values(consecutive_failures=0)
    )


def after_topup_completed(
    session: sa.orm.Session, purchase_id: int, wallet_id: int, balance: int
) -> list[int]:
    """Inside the transaction that completes an automatic top-up, after the wallet row's update:
    write its receipt e-mail (once per purchase and recipient, whoever completes it) and drop
    the low-balance e-mails that waited on it; returns the e-mails to send after the commit."""
    row = session.execute(
        sa.select(
            purchases.c.credits_purchased,
            purchases.c.amount_paid,
            purchases.c.currency,
            settings_table.c.card_brand,
            settings_table.c.card_last4,
            purchases.c.amount_tax,
            purchases.c.invoice_number,
            purchases.c.invoice_url,
            purchases.c.invoice_pdf_url,
        )
        .select_from(purchases)
        .outerjoin(settings_table, settings_table.c.wallet_id == purchases.c.wallet_id)
        .where(purchases.c.id == purchase_id)
    ).one()
    settle_deferred_alerts(session, wallet_id, balance, send=False)
    card = f"{(row.card_brand or 'card').title()} ending {row.card_last4}" if row.card_last4 else None
    people = recipients(session, wallet_id)
    payload = people.payload(
        {
            "purchase_id": purchase_id,
            "balance": balance,
            "credits": row.credits_purchased,
            "amount": row.amount_paid,
            "currency": row.currency,
            "card": card,
            # Its invoice, when it was charged through one (kept before it was paid).
            "tax": row.amount_tax,
            "invoice_number": row.invoice_number,
            "invoice_url": row.invoice_url,
            "invoice_pdf": row.invoice_pdf_url,
        }
    )
    sent = []
    for user_id, address in people.people:
        key = people.dedupe_key(f"topup-receipt:{purchase_id}", user_id)
        email = write_email(session, "topup_receipt", user_id, address, key, payload)
        sent += [email] if email else []
    return sent
