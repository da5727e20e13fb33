"""The ledger: the only code that changes a balance.

A balance belongs to a wallet (`wallets`; every user has a personal one), and every credit
in it to a lot (`credit_lots`, §17). Every public function that moves credits is one
database transaction: it changes `wallets.balance` with a single conditional statement
(never read-modify-write in Python), writes the matching ledger row and the lots' side of
it (draws, lot entries), and commits on its last line. A failure anywhere rolls the whole
transaction back. Functions take plain ids so views, webhook handlers, CLI commands and
tests share them.

The package splits by direction of money: `spending` (hold, capture, release) and
`stale_holds` (releasing holds abandoned past a cutoff), `income` (signup bonus, grants,
purchases, each a lot), `clawbacks` (refunds and disputes, moved to Stripe's current
state), `lots` (which lot each move touches: the spend order, giving back, what is owed),
`expiry` (the expiry sweep, the notice e-mails, voiding) and `reading` (balances, lots,
the audit of wallets, lots and each purchase's clawback); `triggers` is what a decrease
starts in its own transaction (an automatic top-up, a low-balance e-mail), written as
`outbox` rows the relay hands to the queue after the commit, and `topups` what happens to
a top-up after (its PaymentIntent recorded, a failure counted); `job_holds` holds credits
for a job and settles them when it ends, and `member_limits` what a spend from an
organization's wallet checks (the member's monthly limit). Import the names from here:
`from creditapp import ledger`.

Lock order. Every transaction here takes its row locks in one order, so two of them can
wait for each other only in one direction and never deadlock:

1. the purchase row, when the money comes from a purchase (completing it, clawing back a
   refund or a dispute: `SELECT … FOR UPDATE` or the conditional `UPDATE` on it);
2. the wallet row: the debit of `hold`, the `SELECT … FOR NO KEY UPDATE` that `release`,
   `release_stale` and the expiry sweep (all wallets of a batch, in id order), a grant,
   a void, a purchase's completion and a clawback start with (NO KEY: the lock an
   `UPDATE` of the balance takes anyway, which lets inserts referencing the wallet check
   their foreign key). It guards the wallet's lots too: nothing reads a lot to move its
   credits without holding its wallet's row;
3. that wallet's automatic top-up settings row (`auto_recharge_settings`, `FOR UPDATE`), which
   a decrease below the threshold locks to count the month's top-ups (`triggers`), a
   failed top-up locks to count the failure, and a top-up about to be charged locks to check
   it may still run (`topups`: purchase, wallet, then settings),
   and the spending API key's row (`key_limits`, `FOR UPDATE`) that a job hold locks to
   count the key's month. Both are locked only while their wallet row is held, so
   the wallet lock orders them whatever comes between. A spend from an organization's
   wallet (`member_limits`) locks the spender's membership row after the wallet and before
   the key: wallet, then membership, then key;
4. only then that wallet's lots, spend and adjustment rows, and the new rows a decrease writes
   (a pending top-up purchase, an outbox e-mail: `triggers`), and the outbox e-mails a
   settling top-up sends or drops (`triggers.settle_deferred_alerts`).

A path that knows only a spend id (`release`, a partial capture) looks its wallet up and
locks that row first. A full `capture` touches the spend row alone and waits for nothing
else. Inserting a new ledger
row can wait only on a unique key shared with another insert of the same kind (one
Idempotency-Key, one signup bonus), which is written under the same
first lock, so such an insert may come before the wallet row's update.

The rule matters most for keyed spends: `hold` holds the wallet row while its
`INSERT … ON CONFLICT` waits on a spend row with the same key; had `release` locked that
spend before the wallet, each would wait for the other.
"""

from creditapp.ledger._core import (
    Balance,
    EmailTaken,
    Granted,
    InsufficientCredits,
    InvalidAmount,
    LedgerError,
    SpendResult,
    UnknownLot,
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
from creditapp.ledger.expiry import Expired, expire_lots, void_lot, write_expiry_notices
from creditapp.ledger.income import (
    complete_purchase,
    grant,
    grant_signup_bonus,
    mark_purchase,
    register_user,
)
from creditapp.ledger.reading import (
    ClawbackMismatch,
    Expiring,
    LotMismatch,
    LotView,
    Mismatch,
    audit,
    balance,
    expiring,
    live_lots,
    lots_of,
    user_id_for_email,
    wallet_balance,
    wallet_lots,
)
from creditapp.ledger.spending import capture, hold, release
from creditapp.ledger.stale_holds import release_stale

__all__ = [
    "Balance",
    "ClawbackMismatch",
    "ClawbackMove",
    "EmailTaken",
    "Expired",
    "Expiring",
    "Granted",
    "HeldBack",
    "InsufficientCredits",
    "InvalidAmount",
    "LedgerError",
    "LotMismatch",
    "LotView",
    "Mismatch",
    "SpendResult",
    "UnknownLot",
    "UnknownPurchase",
    "UnknownUser",
    "audit",
    "balance",
    "capture",
    "claw_back_refund",
    "clawback_target",
    "complete_purchase",
    "expire_lots",
    "expiring",
    "grant",
    "grant_signup_bonus",
    "hold",
    "live_lots",
    "lots_of",
    "mark_purchase",
    "move_clawback",
    "register_user",
    "release",
    "release_stale",
    "start_clawback_check",
    "user_id_for_email",
    "void_lot",
    "wallet_balance",
    "wallet_lots",
    "write_expiry_notices",
]
