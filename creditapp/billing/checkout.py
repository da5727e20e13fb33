"""Buying credits: start a Checkout Session, fulfil a paid one, reconcile with Stripe.

Balances change only through `creditapp.ledger`; this module creates the pending
purchase rows and talks to Stripe. Functions take plain ids and values.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import stripe

from creditapp import ledger
from creditapp.billing import clawbacks, payment_methods, purchase_payments
from creditapp.billing.packs import Pack
from creditapp.extensions import db
from creditapp.models import CreditPurchase, User, utcnow
from creditapp.platform import stripe_client

log = logging.getLogger("creditapp.billing")

purchases = CreditPurchase.__table__
users = User.__table__
PAID = ("paid", "no_payment_required")


class CheckoutUnavailable(Exception):
    """Stripe could not create the Checkout Session; the purchase was marked failed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ReconcileLine:
    """The outcome for one Checkout Session seen by `reconcile`."""

    session_id: str
    outcome: str  # credited | already_completed | unpaid | not_pending | unknown | unread
    message: str


@dataclass(frozen=True)
class ClawbackLine:
    """The outcome for one charge with refunds or disputes seen by `reconcile_clawbacks`."""

    charge_id: str
    outcome: str  # moved | unchanged | not_credited | unknown
    message: str


def start_checkout(user_id: int, email: str, pack: Pack, base_url: str, save_card: bool = False) -> str:
    """Create the pending purchase and its Checkout Session; returns the session URL.

    `save_card` pays as the person's Stripe Customer with `setup_future_usage=off_session`,
    so the card can pay automatic top-ups later (stored when the session is fulfilled).
    """
    customer = None
    if save_card:
        try:
            customer = payment_methods.customer_for(user_id, email)
        except stripe.StripeError as exc:
            log.error("customer for user %s failed: %s", user_id, exc.__class__.__name__)
            raise CheckoutUnavailable(502, "Stripe could not save your card. Nothing was charged.") from exc
    # Committed before calling Stripe: whatever happens next, the webhook and
    # `reconcile` can find this row through the session metadata.
    created_at = utcnow()
    purchase_id = db.session.execute(
        sa.insert(purchases)
        .values(
            user_id=user_id,
            stripe_price_id=pack.price_id,
            credits_purchased=pack.credits,
            amount_paid=pack.unit_amount,
            currency=pack.currency,
            status="pending",
            created_at=created_at,
        )
        .returning(purchases.c.id)
    ).scalar_one()
    db.session.commit()
    metadata = {"purchase_id": str(purchase_id), "user_id": str(user_id)}
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [{"price": pack.price_id, "quantity": 1}],
        "client_reference_id": str(user_id),
        "metadata": metadata,
        "payment_intent_data": {"metadata": metadata},
        "customer_email": email,
        "success_url": f"{base_url}/checkout/success?session_id={{CHECKOUT_SESSION_ID}}",
        "cancel_url": f"{base_url}/checkout/cancel",
    }
    if customer is not None:
        # Stripe takes one of customer and customer_email; the Customer carries the e-mail.
        del params["customer_email"]
        params["customer"] = customer
        params["metadata"] = {**metadata, "save_card": "1"}
        params["payment_intent_data"] = {"metadata": metadata, "setup_future_usage": "off_session"}
    try:
        # Derived from the purchase: its id alone would repeat after a database reset (or in
        # another environment sharing the Stripe account) and replay an old session.
        key = f"checkout-purchase-{purchase_id}-{created_at.timestamp():.6f}"
        session = stripe_client.client().v1.checkout.sessions.create(
            params=params, options={"idempotency_key": key}
        )
    except stripe.StripeError as exc:
        ledger.mark_purchase(purchase_id, "failed")
        log.error("checkout session for purchase %s failed: %s", purchase_id, exc.__class__.__name__)
        if isinstance(exc, stripe.APIConnectionError):
            raise CheckoutUnavailable(503, "Stripe could not be reached. Nothing was charged.") from exc
        raise CheckoutUnavailable(502, "Stripe refused to start the checkout. Nothing was charged.") from exc
    db.session.execute(
        sa.update(purchases)
        .where(purchases.c.id == purchase_id)
        .values(stripe_checkout_session_id=session.id)
    )
    db.session.commit()
    return session.url


def fulfil_session(purchase_id: int, session: dict[str, Any]) -> bool:
    """Credit the purchase if the session is paid, then read its payment back; True when this call credited.

    Raises `stripe.StripeError` when that read fails (the credit stays: crediting is idempotent).
    A session completed but unpaid (a delayed method) records its PaymentIntent on the
    pending purchase: that is how History tells a payment in progress from a checkout
    that was abandoned.
    """
    intent = session.get("payment_intent")
    if isinstance(intent, dict):
        intent = intent.get("id")
    if session.get("payment_status") not in PAID:
        if session.get("status") == "complete" and intent:
            _note_processing(purchase_id, intent)
        return False
    credited = ledger.complete_purchase(
        purchase_id, intent or None, int(session.get("amount_total") or 0), session.get("currency") or "usd"
    )
    # On every paid delivery, not only the one that credited: until the payment has been read
    # back (and the method saved, if asked) this tries again, and raises if Stripe fails.
    purchase_payments.record(purchase_id, session)
    return credited


def _note_processing(purchase_id: int, payment_intent_id: str) -> None:
    """Record the PaymentIntent of a pending purchase whose payment is on its way (no credits move)."""
    db.session.execute(
        sa.update(purchases)
        .where(
            purchases.c.id == purchase_id,
            purchases.c.status == "pending",
            purchases.c.stripe_payment_intent_id.is_(None),
        )
        .values(stripe_payment_intent_id=payment_intent_id)
    )
    db.session.commit()


def purchase_for_session(session: dict[str, Any]) -> int:
    """The purchase a Checkout Session pays for (by session id, else its metadata)."""
    purchase_id = db.session.execute(
        sa.select(purchases.c.id).where(purchases.c.stripe_checkout_session_id == session["id"])
    ).scalar_one_or_none()
    if purchase_id is not None:
        return purchase_id
    purchase_id = _from_metadata(session.get("metadata"))
    # The session id was never stored (a crash right after Stripe answered): adopt it.
    adopted = db.session.execute(
        sa.update(purchases)
        .where(purchases.c.id == purchase_id, purchases.c.stripe_checkout_session_id.is_(None))
        .values(stripe_checkout_session_id=session["id"])
        .returning(purchases.c.id)
    ).scalar_one_or_none()
    db.session.commit()
    if adopted is None:
        raise ledger.UnknownPurchase(f"purchase {purchase_id} belongs to another checkout session")
    return purchase_id


def purchase_for_payment(payment_intent_id: str | None, metadata: dict[str, Any] | None) -> int:
    """The purchase a PaymentIntent paid for: by its id, else by `metadata.purchase_id`.

    Before a purchase is completed we do not know its PaymentIntent id yet, so the
    metadata we put on the PaymentIntent is the fallback (retrieved when not given).
    """
    if payment_intent_id:
        purchase_id = db.session.execute(
            sa.select(purchases.c.id).where(purchases.c.stripe_payment_intent_id == payment_intent_id)
        ).scalar_one_or_none()
        if purchase_id is not None:
            return purchase_id
        if not (metadata or {}).get("purchase_id"):
            db.session.rollback()  # no transaction stays open while Stripe answers
            intent = stripe_client.client().v1.payment_intents.retrieve(payment_intent_id)
            metadata = intent.to_dict().get("metadata")
    purchase_id = _from_metadata(metadata)
    known_intent = db.session.execute(
        sa.select(purchases.c.stripe_payment_intent_id).where(purchases.c.id == purchase_id)
    ).scalar_one()
    if known_intent and payment_intent_id and known_intent != payment_intent_id:
        raise ledger.UnknownPurchase(f"purchase {purchase_id} was paid by another payment")
    return purchase_id


def purchase_paid_directly(payment_intent_id: str) -> int | None:
    """The pending purchase created with this PaymentIntent and no Checkout Session, if any.

    Such a purchase (an automatic top-up) is credited by its PaymentIntent's events; a
    Checkout purchase records its PaymentIntent only when its session completes.
    """
    purchase_id = db.session.execute(
        sa.select(purchases.c.id).where(
            purchases.c.stripe_payment_intent_id == payment_intent_id,
            purchases.c.stripe_checkout_session_id.is_(None),
            purchases.c.status == "pending",
        )
    ).scalar_one_or_none()
    db.session.rollback()
    return purchase_id


def _from_metadata(metadata: dict[str, Any] | None) -> int:
    """The purchase named by our metadata, checked against its user; else UnknownPurchase."""
    metadata = metadata or {}
    try:
        purchase_id = int(metadata["purchase_id"])
        user_id = int(metadata["user_id"])
    except (KeyError, TypeError, ValueError):
        raise ledger.UnknownPurchase("no purchase_id/user_id in the metadata") from None
    found = db.session.execute(
        sa.select(purchases.c.id).where(purchases.c.id == purchase_id, purchases.c.user_id == user_id)
    ).scalar_one_or_none()
    if found is None:
        raise ledger.UnknownPurchase(f"no purchase {purchase_id} for user {user_id}")
    return purchase_id


def reconcile(since_hours: float) -> list[ReconcileLine]:
    """Fulfil every paid Checkout Session created in the window that is not credited yet."""
    since = int(time.time() - since_hours * 3600)
    db.session.rollback()  # no transaction stays open while Stripe answers
    sessions = stripe_client.client().v1.checkout.sessions.list(
        params={"created": {"gte": since}, "status": "complete", "limit": 100}
    )
    # Every page is fetched before the database is touched, for the same reason.
    listed = [session.to_dict() for session in sessions.auto_paging_iter()]
    return [_reconcile_one(session) for session in listed]


def _reconcile_one(session: dict[str, Any]) -> ReconcileLine:
    session_id = session["id"]
    try:
        purchase_id = purchase_for_session(session)
    except ledger.UnknownPurchase as exc:
        return ReconcileLine(session_id, "unknown", f"no matching purchase ({exc}); skipped")
    if session.get("payment_status") not in PAID:
        return ReconcileLine(session_id, "unpaid", f"purchase {purchase_id}: waiting for payment")
    try:
        credited = fulfil_session(purchase_id, session)
    except stripe.StripeError as exc:
        return ReconcileLine(
            session_id,
            "unread",
            f"purchase {purchase_id}: Stripe failed reading its payment back ({exc.__class__.__name__}); "
            "run reconcile again",
        )
    if credited:
        row = db.session.execute(
            sa.select(purchases.c.user_id, purchases.c.credits_purchased).where(purchases.c.id == purchase_id)
        ).one()
        return ReconcileLine(
            session_id,
            "credited",
            f"purchase {purchase_id}: credited {row.credits_purchased} credits to user {row.user_id}",
        )
    status = db.session.execute(
        sa.select(purchases.c.status).where(purchases.c.id == purchase_id)
    ).scalar_one()
    if status == "completed":
        return ReconcileLine(session_id, "already_completed", f"purchase {purchase_id}: already credited")
    return ReconcileLine(session_id, "not_pending", f"purchase {purchase_id} is {status}; not credited")


def reconcile_clawbacks(since_hours: float) -> list[ClawbackLine]:
    """Re-derive the clawback of every purchase whose refunds or disputes changed in the window.

    Refunds and disputes created in the window come from their lists; ones created earlier
    but updated since (a refund failing, a dispute closing) from the events of the window.
    """
    since = int(time.time() - since_hours * 3600)
    client = stripe_client.client()
    db.session.rollback()  # no transaction stays open while Stripe answers
    found: list[dict[str, Any]] = []
    created = {"created": {"gte": since}, "limit": 100}
    for listed in (client.v1.refunds.list(params=created), client.v1.disputes.list(params=created)):
        found += [obj.to_dict() for obj in listed.auto_paging_iter()]
    events = client.v1.events.list(params={**created, "types": list(clawbacks.EVENTS)})
    found += [evt.to_dict()["data"]["object"] for evt in events.auto_paging_iter()]
    touched: dict[str, dict[str, Any]] = {}
    unplaced: dict[str, ClawbackLine] = {}
    for obj in found:
        charge_id = clawbacks.charge_or_intents_charge(obj)
        if charge_id is None:
            name = f"{obj.get('object')} {obj.get('id')}"
            unplaced[name] = ClawbackLine(name, "unknown", "names no charge and no payment; skipped")
        else:
            touched.setdefault(charge_id, obj)
    lines = [_reconcile_clawback(charge_id, obj) for charge_id, obj in touched.items()]
    return lines + list(unplaced.values())


def _reconcile_clawback(charge_id: str, obj: dict[str, Any]) -> ClawbackLine:
    try:
        intent, metadata = clawbacks.payment_of({**obj, "charge": obj.get("charge") or charge_id})
        purchase_id = purchase_for_payment(intent, metadata)
    except ledger.UnknownPurchase as exc:
        return ClawbackLine(charge_id, "unknown", f"no matching purchase ({exc}); skipped")
    move = clawbacks.converge(purchase_id, charge_id, payment_intent_id=intent)
    state = f"{move.clawed_back} of {move.credits_purchased} credits taken back"
    if not move.completed:
        return ClawbackLine(
            charge_id, "not_credited", f"purchase {purchase_id}: not credited yet; applied when it is"
        )
    if move.moved:
        moved = (
            f"took back {-move.moved} credits from user {move.user_id}"
            if move.moved < 0
            else f"returned {move.moved} credits to user {move.user_id}"
        )
        return ClawbackLine(charge_id, "moved", f"purchase {purchase_id}: {moved}; now {state}")
    return ClawbackLine(charge_id, "unchanged", f"purchase {purchase_id}: already right ({state})")
