"""Finding the purchase a Stripe object pays for: by its ids, else by the metadata we put on it.

The lookups run in the caller's transaction and never end it: the caller's `read()` or
`write()` does. `purchase_for_payment` may have to ask Stripe, so it reads in `read()`s of
its own around that call.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from creditapp import ledger
from creditapp.extensions import db
from creditapp.models import CreditPurchase
from creditapp.platform import stripe_client
from creditapp.platform.transactions import read

purchases = CreditPurchase.__table__


def purchase_for_session(session: dict[str, Any]) -> int:
    """The purchase a Checkout Session pays for (by session id, else its metadata, adopting the id).

    In the caller's `write()`: adopting the session id is a write.
    """
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
    if adopted is None:
        raise ledger.UnknownPurchase(f"purchase {purchase_id} belongs to another checkout session")
    return purchase_id


def purchase_for_payment(payment_intent_id: str | None, metadata: dict[str, Any] | None) -> int:
    """The purchase a PaymentIntent paid for: by its id, else by `metadata.purchase_id`.

    Before a purchase is completed we do not know its PaymentIntent id yet, so the
    metadata we put on the PaymentIntent is the fallback (retrieved when not given). Its reads
    are `read()`s of their own: none is open while Stripe answers.
    """
    if payment_intent_id:
        with read() as session:
            purchase_id = session.execute(
                sa.select(purchases.c.id).where(purchases.c.stripe_payment_intent_id == payment_intent_id)
            ).scalar_one_or_none()
        if purchase_id is not None:
            return purchase_id
        if not (metadata or {}).get("purchase_id"):
            intent = stripe_client.client().v1.payment_intents.retrieve(payment_intent_id)
            metadata = intent.to_dict().get("metadata")
    with read() as session:
        purchase_id = _from_metadata(metadata)
        known_intent = session.execute(
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
