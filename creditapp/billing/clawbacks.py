"""Refunds and disputes: read what Stripe holds back from a charge, then move the clawback.

Every refund or dispute event (and `flask credits reconcile`) ends here. The charge's
current refunds and disputes are read from Stripe's API (events may be old, reordered or
missing, and charges no longer embed their refunds), with no database transaction open
during the calls; then the ledger moves the purchase's clawback to its target in one short
transaction under the purchase's row lock.
"""

from __future__ import annotations

import logging
from typing import Any

from creditapp import ledger
from creditapp.platform import stripe_client

log = logging.getLogger("creditapp.clawbacks")

# The events about refunds and disputes; each one only names the charge to read again.
EVENTS = (
    "charge.refunded",
    "refund.created",
    "refund.updated",
    "refund.failed",
    "charge.refund.updated",
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated",
    "charge.dispute.closed",
)
# A failed or canceled refund gave its money back; every other status (pending,
# requires_action, succeeded) holds it back from us.
REFUND_RETURNED = frozenset({"failed", "canceled"})
# Disputes that hold no funds: inquiries (warning_*) never withdraw them, a won dispute
# reinstated them, a prevented one never took them. Every other status (needs_response,
# under_review, lost, appeal_*) means the disputed amount is withdrawn.
DISPUTE_HOLDS_NOTHING = frozenset(
    {"warning_needs_response", "warning_under_review", "warning_closed", "won", "prevented"}
)


def held_back(charge_id: str, payment_intent_id: str | None = None) -> ledger.HeldBack:
    """What Stripe holds back from a charge right now: its live refunds and withdrawn disputes.

    With the PaymentIntent known, refunds are listed by it: some payment methods' refunds
    name no charge (`charge: null`) and only a list by PaymentIntent finds them.
    """
    client = stripe_client.client()
    by = {"payment_intent": payment_intent_id} if payment_intent_id else {"charge": charge_id}
    refunds = client.v1.refunds.list(params={**by, "limit": 100})
    refunded = sum(
        int(refund.amount) for refund in refunds.auto_paging_iter() if refund.status not in REFUND_RETURNED
    )
    disputes = client.v1.disputes.list(params={"charge": charge_id, "limit": 100})
    disputed = sum(
        int(dispute.amount)
        for dispute in disputes.auto_paging_iter()
        if dispute.status not in DISPUTE_HOLDS_NOTHING
    )
    return ledger.HeldBack(refunded=refunded, disputed=disputed)


def converge(
    purchase_id: int, charge_id: str, cause: str | None = None, payment_intent_id: str | None = None
) -> ledger.ClawbackMove:
    """Move a purchase's clawback to what Stripe holds back from its charge now.

    `cause` is the refund, dispute or charge that made us look (kept on the adjustment);
    `payment_intent_id`, when known, finds the refunds that name no charge too. Called with
    no transaction open: each ledger step is its own, and none is open while Stripe answers.
    """
    ticket = ledger.start_clawback_check(purchase_id)
    state = held_back(charge_id, payment_intent_id)
    move = ledger.move_clawback(purchase_id, state, stripe_object_id=cause or charge_id, ticket=ticket)
    if not move.applied:
        log.info("purchase %s: a newer read of charge %s was applied already", purchase_id, charge_id)
    return move


def charge_of(obj: dict[str, Any]) -> str:
    """The charge a refund, dispute or charge object is about."""
    if obj.get("object") == "charge":
        return obj["id"]
    charge = obj.get("charge")
    if isinstance(charge, dict):
        charge = charge.get("id")
    if not charge:
        raise ledger.UnknownPurchase(f"{obj.get('object')} {obj.get('id')} names no charge")
    return charge


def charge_or_intents_charge(obj: dict[str, Any]) -> str | None:
    """The charge an object is about; for a refund that names none (`charge: null`, as Stripe
    sends for some payment methods), its PaymentIntent's latest charge; None when neither."""
    try:
        return charge_of(obj)
    except ledger.UnknownPurchase:
        pass
    intent = obj.get("payment_intent")
    if isinstance(intent, dict):
        intent = intent.get("id")
    if not intent:
        return None
    latest = stripe_client.client().v1.payment_intents.retrieve(intent).to_dict().get("latest_charge")
    return (latest.get("id") if isinstance(latest, dict) else latest) or None


def payment_of(obj: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    """The PaymentIntent id and the metadata an object carries (either may be missing)."""
    intent = obj.get("payment_intent")
    if isinstance(intent, dict):
        intent = intent.get("id")
    metadata = obj.get("metadata") if obj.get("object") == "charge" else None
    if not intent and obj.get("object") != "charge":
        # Refunds and disputes name their charge; the charge names its PaymentIntent.
        charge = stripe_client.client().v1.charges.retrieve(charge_of(obj)).to_dict()
        intent, metadata = charge.get("payment_intent"), charge.get("metadata")
    return intent or None, metadata
