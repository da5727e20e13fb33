"""Reconciling with Stripe (`flask credits reconcile`): paid sessions the webhook missed, and
clawbacks re-derived from the refunds and disputes of a window. Stripe's lists are read
before the database is touched, and no transaction is open while Stripe answers. `run` does
both and records the run (`reconcile_runs`: the staff operations page shows the last).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import stripe

from creditapp import ledger
from creditapp.billing import clawbacks, reconcile_runs
from creditapp.billing.checkout import PAID, fulfil_session
from creditapp.billing.purchases import purchase_for_payment, purchase_for_session
from creditapp.models import CreditPurchase
from creditapp.platform import stripe_client
from creditapp.platform.transactions import read, write

purchases = CreditPurchase.__table__
log = logging.getLogger("creditapp.billing")


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


@dataclass(frozen=True)
class ReconcileReport:
    """What one run of reconcile saw: a line per Checkout Session and per charge."""

    sessions: list[ReconcileLine]
    charges: list[ClawbackLine]


def run(since_hours: float) -> ReconcileReport:
    """Reconcile sessions, then clawbacks, of the window, recording the run as a `reconcile_runs` row.

    The row is written before Stripe is asked and completed after (ok, or failed with the
    error, which is raised again); a crash in between leaves it without an end.
    """
    run_id = reconcile_runs.start(since_hours)
    try:
        report = ReconcileReport(reconcile(since_hours), reconcile_clawbacks(since_hours))
    except Exception as exc:
        try:
            reconcile_runs.fail(run_id, f"{exc.__class__.__name__}: {exc}")
        except Exception:  # noqa: BLE001 - the run's own error matters more; its row says "did not finish"
            log.exception("could not record reconcile run %s as failed", run_id)
        raise
    reconcile_runs.finish(run_id, report.sessions, report.charges)
    return report


def reconcile(since_hours: float) -> list[ReconcileLine]:
    """Fulfil every paid Checkout Session created in the window that is not credited yet."""
    since = int(time.time() - since_hours * 3600)
    sessions = stripe_client.client().v1.checkout.sessions.list(
        params={"created": {"gte": since}, "status": "complete", "limit": 100}
    )
    # Every page is fetched before the database is touched, for the same reason.
    listed = [session.to_dict() for session in sessions.auto_paging_iter()]
    return [_reconcile_one(session) for session in listed]


def _reconcile_one(session: dict[str, Any]) -> ReconcileLine:
    session_id = session["id"]
    try:
        with write():
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
    with read() as db_session:
        row = db_session.execute(
            sa.select(purchases.c.user_id, purchases.c.credits_purchased, purchases.c.status).where(
                purchases.c.id == purchase_id
            )
        ).one()
    if credited:
        return ReconcileLine(
            session_id,
            "credited",
            f"purchase {purchase_id}: credited {row.credits_purchased} credits to user {row.user_id}",
        )
    status = row.status
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
