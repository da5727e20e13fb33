"""The ledger: the only code that changes a balance.

Every public function that moves credits is one database transaction: it changes
`users.credits` with a single conditional statement (never read-modify-write in
Python), writes the matching ledger row, and commits on its last line. A failure
anywhere rolls the whole transaction back. Functions take plain ids so views,
webhook handlers, CLI commands and tests share them.

The package splits by direction of money: `spending` (hold, capture, release),
`income` (signup bonus, grants, purchases), `clawbacks` (refunds and disputes, moved
to Stripe's current state) and `reading` (balance, audit). Import the names from here:
`from creditapp import ledger`.
"""

from creditapp.ledger._core import (
    Balance,
    EmailTaken,
    InsufficientCredits,
    InvalidAmount,
    LedgerError,
    SpendResult,
    UnknownPurchase,
    UnknownUser,
)
from creditapp.ledger.clawbacks import (
    ClawbackMove,
    HeldBack,
    claw_back_refund,
    clawback_target,
    move_clawback,
    start_clawback_check,
)
from creditapp.ledger.income import (
    complete_purchase,
    grant,
    grant_signup_bonus,
    mark_purchase,
    register_user,
)
from creditapp.ledger.reading import Mismatch, audit, balance, user_id_for_email
from creditapp.ledger.spending import capture, hold, release, release_stale

__all__ = [
    "Balance",
    "ClawbackMove",
    "EmailTaken",
    "HeldBack",
    "InsufficientCredits",
    "InvalidAmount",
    "LedgerError",
    "Mismatch",
    "SpendResult",
    "UnknownPurchase",
    "UnknownUser",
    "audit",
    "balance",
    "capture",
    "claw_back_refund",
    "clawback_target",
    "complete_purchase",
    "grant",
    "grant_signup_bonus",
    "hold",
    "mark_purchase",
    "move_clawback",
    "register_user",
    "release",
    "release_stale",
    "start_clawback_check",
    "user_id_for_email",
]
