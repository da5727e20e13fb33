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

from creditapp import db_health, ledger
from creditapp.extensions import db
from creditapp.models import StripeEvent, utcnow
from creditapp.services import billing
from creditapp.sql import conflict_insert

log = logging.getLogger("creditapp.stripe_events")

events = StripeEvent.__table__


class RetryLater(Exception):
    """A transient failure: nothing was recorded; answer 5xx so Stripe retries."""


class EventError(Exception):
    """The event cannot be applied, now or later (stored as failed)."""


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
    purchase_id = billing.purchase_for_session(session)
    billing.fulfil_session(purchase_id, session)


def session_payment_failed(session: dict[str, Any]) -> None:
    """A delayed payment failed: the purchase is failed (never credited)."""
    ledger.mark_purchase(billing.purchase_for_session(session), "failed")


def session_expired(session: dict[str, Any]) -> None:
    """The session expired unpaid: the purchase is expired."""
    ledger.mark_purchase(billing.purchase_for_session(session), "expired")


def charge_refunded(charge: dict[str, Any]) -> None:
    """Claw back credits for Stripe's cumulative refunded amount."""
    purchase_id = billing.purchase_for_payment(charge.get("payment_intent"), charge.get("metadata"))
    refunds = (charge.get("refunds") or {}).get("data") or []
    latest = refunds[0].get("id") if refunds else None
    ledger.claw_back_refund(purchase_id, int(charge["amount_refunded"]), stripe_object_id=latest)


def dispute_created(dispute: dict[str, Any]) -> None:
    """Take the disputed share back while the dispute is open (not for an inquiry)."""
    if _is_inquiry(dispute):
        # An inquiry (warning_*) moves no money; if it escalates, Stripe withdraws the
        # funds and sends charge.dispute.funds_withdrawn, handled below.
        return
    purchase_id = billing.purchase_for_payment(_intent_of(dispute), None)
    ledger.claw_back_dispute(purchase_id, dispute["id"], int(dispute["amount"]))


def dispute_funds_withdrawn(dispute: dict[str, Any]) -> None:
    """Stripe took the disputed amount: take the credits back (once per dispute)."""
    purchase_id = billing.purchase_for_payment(_intent_of(dispute), None)
    ledger.claw_back_dispute(purchase_id, dispute["id"], int(dispute["amount"]))


def dispute_closed(dispute: dict[str, Any]) -> None:
    """A won dispute or a closed inquiry gives the credits back; a lost one changes nothing more."""
    if dispute.get("status") not in ("won", "warning_closed"):
        return
    purchase_id = billing.purchase_for_payment(_intent_of(dispute), None)
    ledger.return_dispute(purchase_id, dispute["id"])


def _is_inquiry(dispute: dict[str, Any]) -> bool:
    return str(dispute.get("status") or "").startswith("warning_")


def _intent_of(dispute: dict[str, Any]) -> str:
    intent = dispute.get("payment_intent")
    if isinstance(intent, dict):
        intent = intent.get("id")
    if not intent:
        raise EventError(f"dispute {dispute.get('id')} names no payment intent")
    return intent


HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": session_paid,
    "checkout.session.async_payment_succeeded": session_paid,
    "checkout.session.async_payment_failed": session_payment_failed,
    "checkout.session.expired": session_expired,
    "charge.refunded": charge_refunded,
    "charge.dispute.created": dispute_created,
    "charge.dispute.funds_withdrawn": dispute_funds_withdrawn,
    "charge.dispute.closed": dispute_closed,
}


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
        seen = db.session.execute(
            sa.select(events.c.status).where(events.c.id == event["id"])
        ).scalar_one_or_none()
    except sa.exc.SQLAlchemyError as exc:
        db.session.rollback()
        if _is_transient(exc):
            raise RetryLater(str(exc.__class__.__name__)) from exc
        raise
    if seen is not None:
        return Receipt(event["id"], event["type"], "duplicate")
    db.session.rollback()  # no transaction left open while a handler may call Stripe
    status, error = _run(event)
    _store(event, status, error)
    return Receipt(event["id"], event["type"], status, error)


def replay(event_id: str) -> Receipt:
    """Run a stored event through its handler again and store the new outcome."""
    row = db.session.execute(sa.select(events.c.payload).where(events.c.id == event_id)).one_or_none()
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
        if isinstance(exc, ledger.LedgerError | EventError | stripe.StripeError):
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


def _guard_db(write: Callable[[], Any]) -> None:
    """Run one write and commit it; transient database failures become RetryLater."""
    try:
        write()
        db.session.commit()
    except sa.exc.SQLAlchemyError as exc:
        db.session.rollback()
        if _is_transient(exc):
            raise RetryLater(exc.__class__.__name__) from exc
        raise
