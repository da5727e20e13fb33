"""Stripe events: one handler per type, every event stored once with its outcome.

Flow for a delivery (dj-stripe style, adapted to a ledger whose operations commit
themselves): look the event id up; a stored event is a duplicate and costs one
statement. Otherwise run its handler, then store the event row with the outcome.
A crash between the two is safe because every ledger operation is idempotent, so
the redelivery re-runs the handler to the same result and stores the row then.
A transient failure (database or Stripe unreachable) stores nothing and raises
RetryLater so Stripe delivers again; a permanent one is stored as `failed`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import stripe

from creditapp import ledger
from creditapp.billing import checkout, clawbacks, invoices, off_session, purchases
from creditapp.extensions import db
from creditapp.models import StripeEvent, utcnow
from creditapp.platform import db_health
from creditapp.platform.sql import conflict_insert
from creditapp.platform.transactions import read, write

log = logging.getLogger("creditapp.stripe_events")

events = StripeEvent.__table__


class RetryLater(Exception):
    """A transient failure: nothing was recorded; answer 5xx so Stripe retries."""


@dataclass(frozen=True)
class Receipt:
    """What happened to one event: processed, ignored, failed or duplicate."""

    event_id: str
    type: str
    status: str
    error: str | None = None


Handler = Callable[[dict[str, Any]], None]


# --- handlers: each gets the event's data.object -----------------------------------------


def session_paid(session: dict[str, Any]) -> None:
    """Credit a completed session once it is paid; an unpaid (delayed) one waits."""
    with write():
        purchase_id = purchases.purchase_for_session(session)
    checkout.fulfil_session(purchase_id, session)


def session_payment_failed(session: dict[str, Any]) -> None:
    """A delayed payment failed: the purchase is failed (never credited)."""
    with write():
        purchase_id = purchases.purchase_for_session(session)
    ledger.mark_purchase(purchase_id, "failed")


def session_expired(session: dict[str, Any]) -> None:
    """The session expired unpaid: the purchase is expired."""
    with write():
        purchase_id = purchases.purchase_for_session(session)
    ledger.mark_purchase(purchase_id, "expired")


def money_taken_back(obj: dict[str, Any]) -> None:
    """A refund or dispute changed: move the purchase's clawback to Stripe's current state.

    The event's object only says which charge to look at; its amounts and statuses may be
    stale by the time it arrives, so the charge's refunds and disputes are read afresh. A
    refund that names no charge (some payment methods) is traced through its PaymentIntent.
    """
    charge_id = clawbacks.charge_or_intents_charge(obj)
    if charge_id is None:
        raise ledger.UnknownPurchase(f"{obj.get('object')} {obj.get('id')} names no charge nor payment")
    intent, metadata = clawbacks.payment_of(obj)
    purchase_id = purchases.purchase_for_payment(intent, metadata)
    # By PaymentIntent when known: a listing by charge misses the refunds that name none.
    clawbacks.converge(purchase_id, charge_id, cause=obj.get("id"), payment_intent_id=intent)


def payment_intent_succeeded(intent: dict[str, Any]) -> None:
    """Credit a purchase paid by this PaymentIntent alone (no Checkout Session); else a no-op.

    Checkout purchases are credited by their session's events, which carry the amount
    the session charged; they learn their PaymentIntent only then, so none is found here.
    """
    payments = off_session.current()
    with read():
        purchase_id = payments.purchase_for_intent(intent) or purchases.purchase_paid_directly(intent["id"])
    if purchase_id is not None:
        payments.settle(purchase_id, intent)


def payment_intent_failed(intent: dict[str, Any]) -> None:
    """Fail a pending purchase paid by this PaymentIntent alone; a Checkout purchase is left alone."""
    payments = off_session.current()
    with read():
        top_up = payments.purchase_for_intent(intent)
        direct = None if top_up is not None else purchases.purchase_paid_directly(intent["id"])
    if top_up is not None:
        payments.settle(top_up, {**intent, "status": "requires_payment_method"})
    elif direct is not None:
        ledger.mark_purchase(direct, "failed")


def invoice_issued(invoice: dict[str, Any]) -> None:
    """An invoice was finalized or paid: its purchase keeps its number, links and amounts, and
    a paid top-up invoice credits its top-up.

    Only what is still empty is filled (the success page or the session's webhook may have
    been first); an invoice that is not for one of our purchases is left alone.
    """
    with write():
        purchase_id = invoices.purchase_for_invoice(invoice)
        if purchase_id is None:
            return
        invoices.keep(purchase_id, invoices.from_invoice(invoice))
    if (invoice.get("metadata") or {}).get("source") == "auto_recharge":
        # An automatic top-up's invoice, paid: credited by its PaymentIntent, whether or not the
        # worker's own answer came first (the ledger credits once).
        intent = invoices.paid_by(invoice)
        if intent is not None:
            off_session.current().settle(purchase_id, intent)


HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": session_paid,
    "checkout.session.async_payment_succeeded": session_paid,
    "checkout.session.async_payment_failed": session_payment_failed,
    "checkout.session.expired": session_expired,
    "charge.refunded": money_taken_back,
    "refund.created": money_taken_back,
    "refund.updated": money_taken_back,
    "refund.failed": money_taken_back,
    "charge.refund.updated": money_taken_back,
    "charge.dispute.created": money_taken_back,
    "charge.dispute.updated": money_taken_back,
    "charge.dispute.funds_withdrawn": money_taken_back,
    "charge.dispute.funds_reinstated": money_taken_back,
    "charge.dispute.closed": money_taken_back,
    "payment_intent.succeeded": payment_intent_succeeded,
    "payment_intent.payment_failed": payment_intent_failed,
    "invoice.finalized": invoice_issued,
    "invoice.paid": invoice_issued,
}
# The event types the app handles: `flask stripe setup-webhook` subscribes to exactly these.
HANDLED_EVENTS: tuple[str, ...] = tuple(HANDLERS)


# --- receiving and replaying ---------------------------------------------------------------


def _is_transient(exc: BaseException) -> bool:
    """Connection-level failures Stripe's retry can fix (not constraint violations)."""
    if db_health.is_transient(exc):
        return True
    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError):
        return True
    return isinstance(exc, stripe.APIError) and not isinstance(exc, stripe.InvalidRequestError)


def receive(event: dict[str, Any]) -> Receipt:
    """Apply a verified event once and store it; duplicates are a one-statement no-op."""
    try:
        with read() as session:  # ended before a handler may call Stripe
            seen = session.execute(
                sa.select(events.c.status).where(events.c.id == event["id"])
            ).scalar_one_or_none()
    except sa.exc.SQLAlchemyError as exc:
        if _is_transient(exc):
            raise RetryLater(str(exc.__class__.__name__)) from exc
        raise
    if seen is not None:
        return Receipt(event["id"], event["type"], "duplicate")
    status, error = _run(event)
    _store(event, status, error)
    return Receipt(event["id"], event["type"], status, error)


def replay(event_id: str) -> Receipt:
    """Run a stored event through its handler again and store the new outcome."""
    with read() as session:
        row = session.execute(sa.select(events.c.payload).where(events.c.id == event_id)).one_or_none()
    if row is None:
        raise LookupError(f"no stored event {event_id}")
    event = row.payload
    status, error = _run(event)
    _guard_db(
        lambda: db.session.execute(
            sa.update(events)
            .where(events.c.id == event_id)
            .values(status=status, error=error, processed_at=utcnow())
        )
    )
    return Receipt(event_id, event["type"], status, error)


def failed_event_ids() -> list[str]:
    """Ids of the stored events whose processing failed, oldest first."""
    return list(
        db.session.execute(
            sa.select(events.c.id).where(events.c.status == "failed").order_by(events.c.created, events.c.id)
        ).scalars()
    )


def _run(event: dict[str, Any]) -> tuple[str, str | None]:
    """Run the event's handler: (status, error); raises RetryLater on transient failures."""
    handler = HANDLERS.get(event["type"])
    if handler is None:
        return "ignored", None
    try:
        handler(event["data"]["object"])
    except Exception as exc:
        db.session.rollback()
        if _is_transient(exc):
            log.warning("event %s: transient failure %s", event["id"], exc.__class__.__name__)
            raise RetryLater(exc.__class__.__name__) from exc
        # Anything else will fail the same way on redelivery: keep the record and
        # answer 200; `flask stripe replay --failed` re-runs it once fixed.
        if isinstance(exc, ledger.LedgerError | stripe.StripeError):
            log.error("event %s (%s) failed: %s", event["id"], event["type"], exc)
        else:
            log.exception("event %s (%s) failed unexpectedly", event["id"], event["type"])
        return "failed", f"{exc.__class__.__name__}: {exc}"[:1000]
    return "processed", None


def _store(event: dict[str, Any], status: str, error: str | None) -> None:
    """Insert the event row; a concurrent duplicate already stored it (no-op)."""
    insert = conflict_insert(events)
    now = utcnow()
    statement = insert.values(
        id=event["id"],
        type=event["type"],
        created=int(event.get("created") or 0),
        received_at=now,
        processed_at=now,
        status=status,
        error=error,
        payload=event,
    ).on_conflict_do_nothing(index_elements=["id"])
    _guard_db(lambda: db.session.execute(statement))


def _guard_db(statement: Callable[[], Any]) -> None:
    """Run one write in its own transaction; transient database failures become RetryLater."""
    try:
        with write():
            statement()
    except sa.exc.SQLAlchemyError as exc:
        if _is_transient(exc):
            raise RetryLater(exc.__class__.__name__) from exc
        raise
