"""Credits going back: a purchase's clawback follows what Stripe currently holds back.

The rule (docs/design/ledger.md): `taken` = the charge's net refunds (succeeded or pending) plus its
disputes whose funds are withdrawn and not reinstated; the purchase's clawback target is
`ceil(credits × min(taken, paid) / paid)`. Each call moves the clawback to its target with
one signed adjustment under the purchase's row lock, down as well as up, so replays,
reordering, failed refunds, won disputes and missed events all end on the same balance.

Reading Stripe happens outside any transaction (the services do it), so two reads for one
purchase can finish in either order. A ticket taken before each read
(`start_clawback_check`) settles that: a read is applied only when no read that started
after it was applied first, so a slow, stale answer never overwrites a newer one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import sqlalchemy as sa

from creditapp.ledger import lots, triggers
from creditapp.ledger._core import (
    UnknownPurchase,
    add_to_balance,
    adjustments,
    lock_wallet,
    log_write,
    purchases,
    wallets,
)
from creditapp.models import CreditPurchase, utcnow
from creditapp.platform.transactions import write


@dataclass(frozen=True)
class HeldBack:
    """What Stripe holds back from one payment right now, in minor units."""

    refunded: int  # refunds succeeded, pending or awaiting action (failed/canceled excluded)
    disputed: int  # disputes whose funds are withdrawn and not reinstated


@dataclass(frozen=True)
class ClawbackMove:
    """The outcome of moving one purchase's clawback to its target."""

    purchase_id: int
    user_id: int
    moved: int  # credits added to the balance by this move (negative: taken back)
    clawed_back: int  # credits taken back from the purchase in total, after the move
    credits_purchased: int
    applied: bool  # False when a read that started later was already applied (stale)
    completed: bool  # False while the purchase is not credited yet (kept for completion)


def start_clawback_check(purchase_id: int) -> int:
    """Take a ticket before reading Stripe for this purchase; returns the ticket number."""
    with write() as session:
        ticket = session.execute(
            sa.update(purchases)
            .where(purchases.c.id == purchase_id)
            .values(clawback_checks=purchases.c.clawback_checks + 1)
            .returning(purchases.c.clawback_checks)
        ).scalar_one_or_none()
        if ticket is None:
            raise UnknownPurchase(f"no purchase {purchase_id}")
    return ticket


def move_clawback(
    purchase_id: int, held_back: HeldBack, stripe_object_id: str | None = None, ticket: int | None = None
) -> ClawbackMove:
    """Record what Stripe holds back and move the clawback to its target, in one transaction.

    `ticket` comes from `start_clawback_check` taken before Stripe was read; a read older
    than one already applied changes nothing. Without a ticket the amounts apply as given.
    A purchase that is not completed keeps the amounts, applied when it completes.
    """
    with write() as session:
        purchase = _locked_purchase(session, purchase_id)
        if ticket is not None and ticket <= purchase.clawback_check_applied:
            return _outcome(purchase, 0, applied=False)
        if ticket is not None:
            purchase.clawback_check_applied = ticket
        previous = HeldBack(purchase.amount_refunded, purchase.amount_disputed)
        purchase.amount_refunded = max(0, held_back.refunded)
        purchase.amount_disputed = max(0, held_back.disputed)
        moved = _move_to_target(session, purchase, previous, stripe_object_id)
        outcome = _outcome(purchase, moved, applied=True)
    return outcome


def claw_back_refund(purchase_id: int, amount_refunded: int, stripe_object_id: str | None = None) -> int:
    """Record the payment's net refunded amount (disputes as last known); returns credits taken now.

    A negative result means credits were given back (the refunded amount went down).
    """
    with write() as session:
        disputed = session.execute(
            sa.select(purchases.c.amount_disputed).where(purchases.c.id == purchase_id)
        ).scalar_one_or_none()
    if disputed is None:
        raise UnknownPurchase(f"no purchase {purchase_id}")
    move = move_clawback(purchase_id, HeldBack(amount_refunded, disputed), stripe_object_id)
    return -move.moved


def apply_clawback_target(session: sa.orm.Session, purchase_id: int) -> int:
    """Inside the caller's transaction: move a completed purchase to its stored target.

    The completing transaction calls this, so a refund or dispute Stripe reported before
    the purchase was credited is taken back in the same commit. Returns the credits moved.
    """
    purchase = _locked_purchase(session, purchase_id)
    held_back = HeldBack(purchase.amount_refunded, purchase.amount_disputed)
    return _move_to_target(session, purchase, held_back, stripe_object_id=None)


def clawback_target(purchase: CreditPurchase) -> int:
    """Credits the purchase's stored Stripe state takes back, rounded up, within the purchase."""
    if purchase.amount_paid <= 0:
        return 0
    taken = min(purchase.amount_refunded + purchase.amount_disputed, purchase.amount_paid)
    share = math.ceil(purchase.credits_purchased * taken / purchase.amount_paid)
    return max(0, min(purchase.credits_purchased, share))


def _locked_purchase(session: sa.orm.Session, purchase_id: int) -> CreditPurchase:
    """Lock the purchase row: every clawback move on one purchase runs one at a time."""
    purchase = session.execute(
        sa.select(CreditPurchase)
        .where(CreditPurchase.id == purchase_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if purchase is None:
        raise UnknownPurchase(f"no purchase {purchase_id}")
    return purchase


def _move_to_target(
    session: sa.orm.Session, purchase: CreditPurchase, previous: HeldBack, stripe_object_id: str | None
) -> int:
    """One signed adjustment from the current clawback to the target; returns credits moved."""
    if purchase.status != "completed":
        session.flush()
        return 0
    target = clawback_target(purchase)
    moved = purchase.credits_clawed_back - target
    if moved == 0:
        session.flush()
        return 0
    reason = _reason(purchase, previous, moved)
    now = utcnow()
    adjustment_id = session.execute(
        sa.insert(adjustments)
        .values(
            user_id=purchase.user_id,
            wallet_id=purchase.wallet_id,
            amount=moved,
            reason=reason,
            purchase_id=purchase.id,
            stripe_object_id=stripe_object_id,
            note=_note(purchase, target, moved),
            created_at=now,
        )
        .returning(adjustments.c.id)
    ).scalar_one()
    purchase.credits_clawed_back = target
    session.flush()
    # Lock order: the purchase (locked above), then its wallet, then the wallet's lots.
    wallet = lock_wallet(session, purchase.wallet_id)
    if moved < 0:
        owed = lots.take(session, wallet.id, -moved, "clawback", adjustment_id, now, purchase_id=purchase.id)
        if owed:
            session.execute(
                sa.update(wallets).where(wallets.c.id == wallet.id).values(owed=wallets.c.owed + owed)
            )
    else:
        lots.return_taken(session, wallet.id, wallet.owed, moved, purchase.id, now)
    balance = add_to_balance(session, purchase.wallet_id, moved)
    log_write(purchase.user_id, reason, moved, balance)
    if moved < 0:  # its outbox rows are staged, handed over by write() after the commit
        triggers.after_wallet_decrease(session, purchase.wallet_id, balance - moved, balance)
    return moved


def _reason(purchase: CreditPurchase, previous: HeldBack, moved: int) -> str:
    """`refund` when refunds caused the move; `dispute` / `dispute_won` when disputes did."""
    refund_change = abs(purchase.amount_refunded - previous.refunded)
    dispute_change = abs(purchase.amount_disputed - previous.disputed)
    if refund_change == dispute_change == 0:
        # Nothing new from Stripe (a purchase completing with a known state): name the larger part.
        by_dispute = purchase.amount_disputed > purchase.amount_refunded
    else:
        by_dispute = dispute_change > refund_change
    if not by_dispute:
        return "refund"
    return "dispute" if moved < 0 else "dispute_won"


def _note(purchase: CreditPurchase, target: int, moved: int) -> str:
    """A line a person reads in History: what moved and why, without currency formatting."""
    action = f"{-moved} credits taken back" if moved < 0 else f"{moved} credits returned"
    parts = []
    if purchase.amount_refunded:
        parts.append(f"{_share(purchase.amount_refunded, purchase.amount_paid)} refunded")
    if purchase.amount_disputed:
        parts.append(f"{_share(purchase.amount_disputed, purchase.amount_paid)} disputed")
    state = " and ".join(parts) or "nothing refunded or disputed"
    return f"{action}; {state} of the payment, {target} of {purchase.credits_purchased} credits taken back"


def _share(amount: int, paid: int) -> str:
    return f"{min(100.0, 100 * amount / paid):.4g}%" if paid > 0 else "0%"


def _outcome(purchase: CreditPurchase, moved: int, applied: bool) -> ClawbackMove:
    return ClawbackMove(
        purchase_id=purchase.id,
        user_id=purchase.user_id,
        moved=moved,
        clawed_back=purchase.credits_clawed_back,
        credits_purchased=purchase.credits_purchased,
        applied=applied,
        completed=purchase.status == "completed",
    )
