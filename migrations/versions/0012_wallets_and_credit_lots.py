"""Wallets, and credits that come in lots (§17)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 10:00:00

A balance moves from `users.credits` to a `wallets` row (every user gets a personal wallet,
with the same id as the user when migrated), and every credit in it belongs to a lot.
Purchases, spends, adjustments, API keys and top-up settings name the wallet they move.

Existing credits become lots rebuilt from each user's ledger history (`rebuild_lots`):
every balance is what it was and `flask credits audit` is clean afterwards. The rows of each
user are replayed in time order (purchases at `completed_at`, the rest at `created_at`; rows
of one time: credits arriving before credits leaving, then by id), moving credits between
lots as the live ledger does (creditapp/ledger/lots.py):

- the signup bonus becomes a `signup_bonus` lot (promotional); a completed purchase a
  `purchase` lot, an automatic top-up a `top_up` lot (paid, effective when it completed);
  a positive `admin` adjustment a `grant` lot (promotional, granted by its admin). The
  adjustments of the bonus and the grants name their lot (`lot_id`);
- held and captured spends draw from the live lots in spend order (all lots here have
  priority 50 and no expiry: promotional before paid, then oldest, then id); released
  spends moved nothing and are skipped;
- a negative `admin` adjustment takes from the lots in spend order (`debit` entries); a
  refund or dispute takes from its purchase's lot first, then the other lots in spend order,
  and what they cannot cover is owed (`clawback` entries); a clawback undone (a failed
  refund, a won dispute) gives back what is owed first, then to the lots it took from
  (latest first); a lot arriving while something is owed pays it first (`owed` entries).

Lots made here never expire (`expires_at` NULL): their credits were granted and bought under
terms without expiry, which lots do not change after the fact.

Where the history does not add up to the balance (rows that disagree with `users.credits`,
or a spend dated before the credits it used arrived), the balance wins and is never changed:
a spend still short when its credits arrive draws from them; a balance that differs from the
ledger's sum gets an `admin` adjustment recording the difference (a `migration` lot when
positive, taken from the lots or owed when negative); and whatever the lots still lack or
hold too much is a `migration` lot (paid) or owed. The wallets concerned are logged.

Reads and writes are batched (`USERS_PER_BATCH` users: three reads, one bulk write per
table); the replay itself runs in Python, one user at a time.
"""

import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)
LIVE = "remaining > 0 AND voided_at IS NULL"
EXPIRING = "remaining > 0 AND voided_at IS NULL AND expires_at IS NOT NULL"

log = logging.getLogger("alembic.runtime.migration")


def upgrade():
    op.create_table(
        "wallets",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("balance", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("owed", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.CheckConstraint("owed >= 0", name=op.f("ck_wallets_owed_not_negative")),
    )
    op.create_table(
        "credit_lots",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("wallet_id", BigId, sa.ForeignKey("wallets.id"), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("remaining", sa.BigInteger(), nullable=False),
        sa.Column("priority", sa.Integer(), server_default="50", nullable=False),
        sa.Column("effective_at", WHEN, nullable=False),
        sa.Column("expires_at", WHEN, nullable=True),
        sa.Column("voided_at", WHEN, nullable=True),
        sa.Column("purchase_id", BigId, sa.ForeignKey("credit_purchases.id"), nullable=True),
        sa.Column("granted_by", BigId, sa.ForeignKey("users.id"), nullable=True),
        sa.Column("reason", sa.String(1000), server_default="", nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.CheckConstraint(
            "source IN ('signup_bonus', 'purchase', 'top_up', 'grant', 'migration')",
            name=op.f("ck_credit_lots_source"),
        ),
        sa.CheckConstraint("category IN ('paid', 'promotional')", name=op.f("ck_credit_lots_category")),
        sa.CheckConstraint("amount > 0", name=op.f("ck_credit_lots_amount_positive")),
        sa.CheckConstraint("remaining >= 0", name=op.f("ck_credit_lots_remaining_not_negative")),
        sa.CheckConstraint("priority >= 0 AND priority <= 100", name=op.f("ck_credit_lots_priority_range")),
        sa.UniqueConstraint("purchase_id", name=op.f("uq_credit_lots_purchase_id")),
    )
    op.create_index(
        "ix_credit_lots_wallet_live",
        "credit_lots",
        ["wallet_id", "priority", "expires_at"],
        postgresql_where=sa.text(LIVE),
        sqlite_where=sa.text(LIVE),
    )
    op.create_index(
        "ix_credit_lots_expiring",
        "credit_lots",
        ["expires_at"],
        postgresql_where=sa.text(EXPIRING),
        sqlite_where=sa.text(EXPIRING),
    )
    op.create_index("ix_credit_lots_wallet_created", "credit_lots", ["wallet_id", "created_at", "id"])
    op.create_table(
        "credit_lot_draws",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("spend_id", BigId, sa.ForeignKey("credit_spends.id"), nullable=False),
        sa.Column("lot_id", BigId, sa.ForeignKey("credit_lots.id"), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_credit_lot_draws_amount_not_negative")),
    )
    op.create_index("ix_credit_lot_draws_spend_id", "credit_lot_draws", ["spend_id"])
    op.create_index("ix_credit_lot_draws_lot_id", "credit_lot_draws", ["lot_id"])

    with op.batch_alter_table("credit_adjustments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("wallet_id", BigId, nullable=True))
        batch_op.add_column(sa.Column("lot_id", BigId, nullable=True))
        batch_op.drop_constraint(op.f("ck_credit_adjustments_reason"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_credit_adjustments_reason"),
            "reason IN ('signup_bonus', 'admin', 'refund', 'dispute', 'dispute_won', 'expired', 'voided')",
        )
        batch_op.create_foreign_key(
            op.f("fk_credit_adjustments_wallet_id_wallets"), "wallets", ["wallet_id"], ["id"]
        )
        batch_op.create_foreign_key(
            op.f("fk_credit_adjustments_lot_id_credit_lots"), "credit_lots", ["lot_id"], ["id"]
        )
    op.create_table(
        "credit_lot_entries",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("lot_id", BigId, sa.ForeignKey("credit_lots.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("adjustment_id", BigId, sa.ForeignKey("credit_adjustments.id"), nullable=True),
        sa.Column("purchase_id", BigId, sa.ForeignKey("credit_purchases.id"), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.CheckConstraint(
            "kind IN ('expired', 'voided', 'clawback', 'debit', 'owed')",
            name=op.f("ck_credit_lot_entries_kind"),
        ),
    )
    op.create_index("ix_credit_lot_entries_lot", "credit_lot_entries", ["lot_id", "id"])
    op.create_index("ix_credit_lot_entries_adjustment_id", "credit_lot_entries", ["adjustment_id"])
    op.create_index("ix_credit_lot_entries_purchase_id", "credit_lot_entries", ["purchase_id"])

    for table in ("users", "credit_purchases", "credit_spends", "api_keys", "auto_recharge_settings"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("wallet_id", BigId, nullable=True))
    with op.batch_alter_table("credit_spends", schema=None) as batch_op:
        batch_op.add_column(sa.Column("credits_held", sa.Integer(), nullable=True))

    rebuild_lots(op.get_bind())

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column("wallet_id", existing_type=BigId, nullable=False)
        batch_op.create_unique_constraint(op.f("uq_users_wallet_id"), ["wallet_id"])
        batch_op.create_foreign_key(op.f("fk_users_wallet_id_wallets"), "wallets", ["wallet_id"], ["id"])
        batch_op.drop_column("credits")
    for table in ("credit_purchases", "credit_spends", "credit_adjustments"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column("wallet_id", existing_type=BigId, nullable=False)
            if table != "credit_adjustments":
                batch_op.create_foreign_key(
                    op.f(f"fk_{table}_wallet_id_wallets"), "wallets", ["wallet_id"], ["id"]
                )
            batch_op.create_index(op.f(f"ix_{table}_wallet_id"), ["wallet_id"])
    for table in ("api_keys", "auto_recharge_settings"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_foreign_key(
                op.f(f"fk_{table}_wallet_id_wallets"), "wallets", ["wallet_id"], ["id"]
            )


def rebuild_lots(bind: sa.Connection) -> None:
    """One wallet per user (same id), holding the user's balance; its lots rebuilt from the ledger."""
    bind.execute(
        sa.text(
            "INSERT INTO wallets (id, balance, owed, created_at) SELECT id, credits, 0, created_at FROM users"
        )
    )
    for table in (
        "users",
        "credit_purchases",
        "credit_spends",
        "credit_adjustments",
        "api_keys",
        "auto_recharge_settings",
    ):
        column = "id" if table == "users" else "user_id"
        bind.execute(sa.text(f"UPDATE {table} SET wallet_id = {column}"))
    bind.execute(sa.text("UPDATE credit_spends SET credits_held = credits_spent"))
    now = datetime.now(UTC)
    lot_ids = itertools.count(1)  # credit_lots is new and empty: its ids are given here
    fallbacks: list[int] = []
    last = None
    while True:
        batch = bind.execute(
            sa.select(users_t.c.id, users_t.c.credits)
            .where(users_t.c.id > last if last is not None else sa.true())
            .order_by(users_t.c.id)
            .limit(USERS_PER_BATCH)
        ).all()
        if not batch:
            break
        last = batch[-1].id
        history = _history(bind, batch[0].id, last)
        replays = []
        for user in batch:
            replay, exact = _rebuild_wallet(
                bind, user.id, int(user.credits), history.get(user.id, []), lot_ids, now
            )
            replays.append(replay)
            if not exact:
                fallbacks.append(user.id)
        _write(bind, replays)
    if bind.dialect.name == "postgresql":
        for table in ("wallets", "credit_lots"):
            bind.execute(
                sa.text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1, false)"
                    f" FROM {table}"
                )
            )
    if fallbacks:
        shown = ", ".join(str(i) for i in fallbacks[:20]) + (" …" if len(fallbacks) > 20 else "")
        log.warning(
            "0012: %d wallet(s) whose ledger history did not add up to their balance kept it (an `admin`"
            " adjustment recording the difference, a `migration` lot, or credits owed): %s",
            len(fallbacks),
            shown,
        )


def _rebuild_wallet(
    bind: sa.Connection,
    user_id: int,
    credits: int,
    events: "list[Event]",
    lot_ids: Iterator[int],
    now: datetime,
) -> "tuple[Replay, bool]":
    """Replay one user's history into their wallet's lots, then make them hold exactly
    `credits`; True when the history alone did (no fallback was needed)."""
    replay = Replay(user_id, lot_ids)
    ledger_sum = replay.run(events)
    if credits != ledger_sum:
        correction = _correction(bind, user_id, credits - ledger_sum, now)
        replay.record_difference(correction, credits - ledger_sum, now)
    settled = replay.settle(credits, now)
    return replay, credits == ledger_sum and not settled


# 0011's ledger rows as the replay reads them, and the rows it writes. Typed, so that the
# times SQLite stores as text come back as datetimes.
users_t = sa.table("users", sa.column("id", sa.BigInteger), sa.column("credits", sa.BigInteger))
purchases_t = sa.table(
    "credit_purchases",
    sa.column("id", sa.BigInteger),
    sa.column("user_id", sa.BigInteger),
    sa.column("credits_purchased", sa.Integer),
    sa.column("source", sa.String),
    sa.column("status", sa.String),
    sa.column("created_at", WHEN),
    sa.column("completed_at", WHEN),
)
spends_t = sa.table(
    "credit_spends",
    sa.column("id", sa.BigInteger),
    sa.column("user_id", sa.BigInteger),
    sa.column("credits_spent", sa.Integer),
    sa.column("status", sa.String),
    sa.column("created_at", WHEN),
)
adjustments_t = sa.table(
    "credit_adjustments",
    sa.column("id", sa.BigInteger),
    sa.column("user_id", sa.BigInteger),
    sa.column("wallet_id", sa.BigInteger),
    sa.column("amount", sa.BigInteger),
    sa.column("reason", sa.String),
    sa.column("admin_user_id", sa.BigInteger),
    sa.column("purchase_id", sa.BigInteger),
    sa.column("note", sa.String),
    sa.column("lot_id", sa.BigInteger),
    sa.column("created_at", WHEN),
)
wallets_t = sa.table("wallets", sa.column("id", sa.BigInteger), sa.column("owed", sa.BigInteger))
lots_t = sa.table(
    "credit_lots",
    *(
        sa.column(name, sa.BigInteger)
        for name in ("id", "wallet_id", "amount", "remaining", "purchase_id", "granted_by")
    ),
    *(sa.column(name, sa.String) for name in ("source", "category", "reason")),
    sa.column("priority", sa.Integer),
    *(sa.column(name, WHEN) for name in ("effective_at", "expires_at", "created_at")),
)
draws_t = sa.table(
    "credit_lot_draws", *(sa.column(name, sa.BigInteger) for name in ("spend_id", "lot_id", "amount"))
)
entries_t = sa.table(
    "credit_lot_entries",
    *(sa.column(name, sa.BigInteger) for name in ("lot_id", "amount", "adjustment_id", "purchase_id")),
    sa.column("kind", sa.String),
    sa.column("created_at", WHEN),
)

# Users replayed per batch: three reads (their purchases, spends and adjustments) and one
# bulk write per table, whatever the number of rows.
USERS_PER_BATCH = 1000
PROMOTIONAL, PAID = "promotional", "paid"
CLAWBACK_REASONS = ("refund", "dispute", "dispute_won")
# Order of rows with the same time: credits arriving before credits leaving.
SIGNUP, PURCHASE, GIVEN, SPEND, TAKEN = range(5)


@dataclass(frozen=True)
class Event:
    """One ledger row of a user, in the replay's order: its time, then its kind, then its id."""

    at: datetime
    rank: int
    id: int
    row: sa.Row


def _history(bind: sa.Connection, first: int, last: int) -> dict[int, list[Event]]:
    """The ledger rows of users `first`..`last` that moved credits, per user, in time order."""

    def of_batch(table: sa.TableClause) -> sa.ColumnElement[bool]:
        return sa.and_(table.c.user_id >= first, table.c.user_id <= last)

    history: dict[int, list[Event]] = {}
    for row in bind.execute(
        sa.select(purchases_t).where(of_batch(purchases_t), purchases_t.c.status == "completed")
    ):
        at = _utc(row.completed_at or row.created_at)
        history.setdefault(row.user_id, []).append(Event(at, PURCHASE, row.id, row))
    for row in bind.execute(
        sa.select(spends_t).where(of_batch(spends_t), spends_t.c.status.in_(("held", "captured")))
    ):
        history.setdefault(row.user_id, []).append(Event(_utc(row.created_at), SPEND, row.id, row))
    for row in bind.execute(
        sa.select(adjustments_t).where(of_batch(adjustments_t), adjustments_t.c.amount != 0)
    ):
        rank = TAKEN if row.amount < 0 else SIGNUP if row.reason == "signup_bonus" else GIVEN
        history.setdefault(row.user_id, []).append(Event(_utc(row.created_at), rank, row.id, row))
    for events in history.values():
        events.sort(key=lambda e: (e.at, e.rank, e.id))
    return history


def _utc(when: datetime) -> datetime:
    """SQLite gives times back without their zone; every stored time is UTC."""
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _correction(bind: sa.Connection, user_id: int, amount: int, now: datetime) -> int:
    """The adjustment that records where a balance differs from its ledger's sum (the balance
    stays what it is; the ledger gains the row that explains it)."""
    return bind.execute(
        sa.insert(adjustments_t)
        .values(
            user_id=user_id,
            wallet_id=user_id,
            amount=amount,
            reason="admin",
            note=f"Carried over by migration 0012: the balance differed from the ledger's sum by {amount:+d}",
            created_at=now,
        )
        .returning(adjustments_t.c.id)
    ).scalar_one()


@dataclass
class Lot:
    """A lot being rebuilt: what it was given, what it has left."""

    id: int
    source: str
    category: str
    amount: int
    remaining: int
    effective_at: datetime
    purchase_id: int | None = None
    granted_by: int | None = None
    reason: str = ""

    def spend_order(self) -> tuple:
        # Priority 50 and no expiry for all: promotional before paid, oldest, then id.
        return (self.category != PROMOTIONAL, self.effective_at, self.id)


@dataclass
class Short:
    """A spend dated before the credits it used arrived (clocks, commit order): the next lots
    supply what it still lacks."""

    spend_id: int
    missing: int


class Replay:
    """One wallet's lots rebuilt by replaying its owner's ledger in time order, moving credits
    between lots as the live ledger does (creditapp/ledger/lots.py)."""

    def __init__(self, wallet_id: int, lot_ids: Iterator[int]) -> None:
        self.wallet_id = wallet_id
        self.lot_ids = lot_ids
        self.lots: list[Lot] = []
        self.by_purchase: dict[int, Lot] = {}
        self.owed = 0
        self.short: list[Short] = []
        self.draws: list[dict] = []
        self.entries: list[dict] = []
        self.links: list[dict] = []  # adjustment → the lot it made

    def run(self, events: list[Event]) -> int:
        """Replay the events; returns their sum (what the balance should be)."""
        total = 0
        for event in events:
            row = event.row
            if event.rank == PURCHASE:
                source = "top_up" if row.source == "auto_recharge" else "purchase"
                self.add(source, PAID, row.credits_purchased, event.at, purchase_id=row.id)
                total += row.credits_purchased
            elif event.rank == SPEND:
                self.spend(row.id, row.credits_spent)
                total -= row.credits_spent
            else:
                self.adjust(row, event.at)
                total += row.amount
        return total

    def adjust(self, row: sa.Row, at: datetime) -> None:
        """A signup bonus or a grant makes a lot; a debit takes from the lots in spend order;
        a clawback takes from its purchase's lot first, and its undoing gives back."""
        amount = int(row.amount)
        if row.reason in CLAWBACK_REASONS:
            if amount < 0:
                self.owed += self.take(-amount, "clawback", row.id, at, row.purchase_id)
            else:
                self.give_back(amount, row.id, at, row.purchase_id)
        elif amount > 0:
            signup = row.reason == "signup_bonus"
            lot = self.add(
                "signup_bonus" if signup else "grant",
                PROMOTIONAL,
                amount,
                at,
                granted_by=None if signup else row.admin_user_id,
                reason="" if signup else row.note or "",
            )
            self.links.append({"b_id": row.id, "b_lot": lot.id})
        else:
            self.owed += self.take(-amount, "debit", row.id, at)

    def add(self, source: str, category: str, amount: int, at: datetime, **columns) -> Lot:
        """A lot arrives: spends still short draw from it first, then it pays what is owed."""
        lot = Lot(next(self.lot_ids), source, category, amount, amount, at, **columns)
        self.lots.append(lot)
        if lot.purchase_id is not None:
            self.by_purchase[lot.purchase_id] = lot
        for short in self.short:
            supplied = min(short.missing, lot.remaining)
            self.draw(short.spend_id, lot, supplied)
            short.missing -= supplied
        self.short = [short for short in self.short if short.missing]
        paid = min(self.owed, lot.remaining)
        self.owed -= paid
        self.move([(lot, paid)], "owed", at)
        return lot

    def spend(self, spend_id: int, cost: int) -> None:
        """A held or captured spend draws from the live lots in spend order."""
        plan = self.plan(cost)
        for lot, amount in plan:
            self.draw(spend_id, lot, amount)
        missing = cost - sum(amount for _, amount in plan)
        if missing:
            self.short.append(Short(spend_id, missing))

    def take(
        self, amount: int, kind: str, adjustment_id: int | None, at: datetime, purchase_id: int | None = None
    ) -> int:
        """Take from the purchase's own lot first, then the live lots in spend order; returns
        what no lot covered."""
        own = self.by_purchase.get(purchase_id) if purchase_id is not None else None
        plan = [(own, min(own.remaining, amount))] if own is not None and own.remaining > 0 else []
        plan += self.plan(amount - sum(n for _, n in plan), skip=own)
        self.move(plan, kind, at, adjustment_id, purchase_id)
        return amount - sum(n for _, n in plan)

    def give_back(self, amount: int, adjustment_id: int, at: datetime, purchase_id: int | None) -> None:
        """Undo a clawback: what is owed first, then the lots the clawback took from (latest
        first), then lots that paid what was owed, then the purchase's own lot."""
        cleared = min(self.owed, amount)
        self.owed -= cleared
        left = amount - cleared
        for kind in ("clawback", "owed"):
            net: dict[int, list[int]] = {}  # lot id → [net taken, last entry]
            for seq, entry in enumerate(self.entries):
                if entry["kind"] == kind and (kind == "owed" or entry["purchase_id"] == purchase_id):
                    found = net.setdefault(entry["lot_id"], [0, seq])
                    found[0] += entry["amount"]
                    found[1] = seq
            back = []
            for lot_id, (taken, _) in sorted(net.items(), key=lambda item: -item[1][1]):
                share = min(left, taken)
                if share > 0:
                    back.append((self.lot(lot_id), -share))
                    left -= share
            self.move(back, kind, at, adjustment_id, purchase_id if kind == "clawback" else None)
        own = self.by_purchase.get(purchase_id) if purchase_id is not None else None
        if left > 0 and own is not None:
            self.move([(own, -left)], "clawback", at, adjustment_id, purchase_id)
        # Anything still left had nowhere to go: `settle` carries it in a `migration` lot.

    def record_difference(self, adjustment_id: int, amount: int, at: datetime) -> None:
        """The adjustment recording a balance's difference from its ledger moves credits like
        a grant (a `migration` lot) or a debit."""
        if amount > 0:
            lot = self.add(
                "migration", PAID, amount, at, reason="balance above the ledger's history before lots"
            )
            self.links.append({"b_id": adjustment_id, "b_lot": lot.id})
        else:
            self.owed += self.take(-amount, "debit", adjustment_id, at)

    def settle(self, credits: int, now: datetime) -> bool:
        """Make the lots hold exactly `credits` (Σ remaining − owed) with spends still short
        supplied, by a `migration` lot or by what is owed; True when anything was needed."""
        held = sum(lot.remaining for lot in self.lots)
        short = sum(short.missing for short in self.short)
        lacking = credits - (held - self.owed)  # what a lot covering the short spends must add
        changed = False
        if short or lacking > 0:
            reason = "credits held before lots existed that the ledger's history did not place"
            self.add("migration", PAID, short + max(lacking, 0), now, reason=reason)
            changed = True
        if lacking < 0:
            self.owed -= lacking
            changed = True
        # What is owed is paid from what the lots still hold, as an arriving lot would pay it.
        if self.owed:
            plan = self.plan(self.owed)
            self.owed -= sum(n for _, n in plan)
            self.move(plan, "owed", now)
        return changed

    def plan(self, amount: int, skip: Lot | None = None) -> list[tuple[Lot, int]]:
        """(lot, credits) taking `amount` from the live lots in spend order (less if short)."""
        plan = []
        for lot in sorted(
            (lot for lot in self.lots if lot.remaining > 0 and lot is not skip), key=Lot.spend_order
        ):
            if amount <= 0:
                break
            taken = min(amount, lot.remaining)
            plan.append((lot, taken))
            amount -= taken
        return plan

    def draw(self, spend_id: int, lot: Lot, amount: int) -> None:
        """A spend takes credits from a lot."""
        if amount:
            lot.remaining -= amount
            self.draws.append({"spend_id": spend_id, "lot_id": lot.id, "amount": amount})

    def move(
        self,
        moves: list[tuple[Lot, int]],
        kind: str,
        at: datetime,
        adjustment_id: int | None = None,
        purchase_id: int | None = None,
    ) -> None:
        """Credits leaving lots (positive) or coming back (negative), one entry each."""
        for lot, amount in moves:
            if amount:
                lot.remaining -= amount
                self.entries.append(
                    {
                        "lot_id": lot.id,
                        "kind": kind,
                        "amount": amount,
                        "adjustment_id": adjustment_id,
                        "purchase_id": purchase_id,
                        "created_at": at,
                    }
                )

    def lot(self, lot_id: int) -> Lot:
        """The wallet's lot with this id."""
        return next(lot for lot in self.lots if lot.id == lot_id)


def _write(bind: sa.Connection, replays: list[Replay]) -> None:
    """One bulk insert per table for a batch of rebuilt wallets."""
    lots = [
        {
            "id": lot.id,
            "wallet_id": replay.wallet_id,
            "source": lot.source,
            "category": lot.category,
            "amount": lot.amount,
            "remaining": lot.remaining,
            "priority": 50,
            "effective_at": lot.effective_at,
            "expires_at": None,
            "purchase_id": lot.purchase_id,
            "granted_by": lot.granted_by,
            "reason": lot.reason,
            "created_at": lot.effective_at,
        }
        for replay in replays
        for lot in replay.lots
    ]
    if lots:
        bind.execute(sa.insert(lots_t), lots)
    for table, rows in (
        (draws_t, [row for replay in replays for row in replay.draws]),
        (entries_t, [row for replay in replays for row in replay.entries]),
    ):
        if rows:
            bind.execute(sa.insert(table), rows)
    links = [link for replay in replays for link in replay.links]
    if links:
        bind.execute(
            sa.update(adjustments_t)
            .where(adjustments_t.c.id == sa.bindparam("b_id"))
            .values(lot_id=sa.bindparam("b_lot")),
            links,
        )
    owed = [{"b_id": replay.wallet_id, "b_owed": replay.owed} for replay in replays if replay.owed]
    if owed:
        bind.execute(
            sa.update(wallets_t)
            .where(wallets_t.c.id == sa.bindparam("b_id"))
            .values(owed=sa.bindparam("b_owed")),
            owed,
        )


def downgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("credits", sa.BigInteger(), server_default="0", nullable=False))
    op.execute("UPDATE users SET credits = (SELECT balance FROM wallets WHERE wallets.id = users.wallet_id)")
    for table in ("api_keys", "auto_recharge_settings", "credit_purchases", "credit_spends"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(f"fk_{table}_wallet_id_wallets"), type_="foreignkey")
            if table in ("credit_purchases", "credit_spends"):
                batch_op.drop_index(op.f(f"ix_{table}_wallet_id"))
            batch_op.drop_column("wallet_id")
    with op.batch_alter_table("credit_spends", schema=None) as batch_op:
        batch_op.drop_column("credits_held")
    op.drop_table("credit_lot_entries")
    # Expiries and voids become admin adjustments: 0011 knows no other reason for them.
    op.execute("UPDATE credit_adjustments SET reason = 'admin' WHERE reason IN ('expired', 'voided')")
    with op.batch_alter_table("credit_adjustments", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("fk_credit_adjustments_lot_id_credit_lots"), type_="foreignkey")
        batch_op.drop_constraint(op.f("fk_credit_adjustments_wallet_id_wallets"), type_="foreignkey")
        batch_op.drop_index(op.f("ix_credit_adjustments_wallet_id"))
        batch_op.drop_column("lot_id")
        batch_op.drop_column("wallet_id")
        batch_op.drop_constraint(op.f("ck_credit_adjustments_reason"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_credit_adjustments_reason"),
            "reason IN ('signup_bonus', 'admin', 'refund', 'dispute', 'dispute_won')",
        )
    op.drop_table("credit_lot_draws")
    op.drop_table("credit_lots")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("fk_users_wallet_id_wallets"), type_="foreignkey")
        batch_op.drop_constraint(op.f("uq_users_wallet_id"), type_="unique")
        batch_op.drop_column("wallet_id")
    op.drop_table("wallets")
