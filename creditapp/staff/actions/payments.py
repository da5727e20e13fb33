"""Actions through Stripe: refund a purchase (the webhook then claws back), replay a stored event."""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa

from creditapp.billing import refunds, stripe_events
from creditapp.models import StripeEvent
from creditapp.platform.money import format_money
from creditapp.platform.transactions import read
from creditapp.staff.actions.base import Checked, Refused, Target, whole_number


def check_refund(customer: Target, form: Mapping[str, str]) -> Checked:
    """Refund a purchase through Stripe, all that is left or part (in minor units); the webhook claws back."""
    user_id = customer.id
    purchase_id = whole_number(form, "purchase_id", "The purchase", 1, 2**62)
    try:
        found = refunds.refundable(purchase_id, user_id)
    except refunds.NotRefundable as exc:
        raise Refused(f"Not refundable: {exc}.") from None
    if found is None:
        raise Refused(f"This customer has no purchase {purchase_id}.", 404)
    if found.left <= 0:
        raise Refused(f"Purchase {purchase_id} is refunded in full already.")
    amount = whole_number(
        form, "amount", "The amount to refund (in cents)", 1, found.left, default=found.left
    )
    words = format_money(amount, found.currency)

    def act(actor: int, reason: str, token: str) -> str:
        try:
            refund_id = refunds.refund(found, amount, f"staff-refund-{token}", reason)
        except refunds.NotRefundable as exc:
            raise Refused(f"Not refundable: {exc}.") from None
        return f"Stripe refund {refund_id} of {words} created; its webhook takes the credits back."

    whole = "in full" if amount == found.left else "in part"
    return Checked(
        "purchase",
        str(purchase_id),
        {"purchase_id": purchase_id, "amount": amount, "currency": found.currency},
        f"Refund {words} of purchase {purchase_id} through Stripe ({whole}).",
        act,
    )


def check_replay_event(_: None, form: Mapping[str, str]) -> Checked:
    """Run a stored Stripe event that failed (or was ignored) through its handler again."""
    event_id = (form.get("event_id") or "").strip()
    with read() as session:
        status = session.execute(
            sa.select(StripeEvent.status).where(StripeEvent.id == event_id)
        ).scalar_one_or_none()
    if status is None:
        raise Refused(f"No stored Stripe event {event_id or '(none given)'}.", 404)
    if status == "processed":
        raise Refused(f"Event {event_id} was processed already.")

    def act(actor: int, reason: str, token: str) -> str:
        receipt = stripe_events.replay(event_id)
        return f"Replayed {event_id} ({receipt.type}): {receipt.status}" + (
            f" — {receipt.error}" if receipt.error else "."
        )

    return Checked(
        "stripe_event", event_id, {"event_id": event_id}, f"Replay Stripe event {event_id} ({status}).", act
    )
