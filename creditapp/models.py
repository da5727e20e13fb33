"""Database models. Table names are part of the contract: operators' queries and scripts name them."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, mapped_column

from creditapp.extensions import db

# BIGINT ids on PostgreSQL; SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")

# `canceled`: an automatic top-up that was no longer allowed when its turn came (switched
# off, over the cap, card removed): nothing was charged.
PURCHASE_STATUSES = ("pending", "completed", "failed", "expired", "canceled")
SPEND_STATUSES = ("held", "captured", "released")
# `expired` / `voided`: a lot's remaining credits leaving the wallet (§17); `lot_id` says which.
ADJUSTMENT_REASONS = ("signup_bonus", "admin", "refund", "dispute", "dispute_won", "expired", "voided")
LOT_SOURCES = ("signup_bonus", "purchase", "top_up", "grant", "migration")
LOT_CATEGORIES = ("paid", "promotional")
# What a lot entry records leaving the lot (a positive amount) or coming back (negative):
# `expired`, `voided`, `clawback` (a refund or dispute took it; given back when undone),
# `debit` (an admin debit), `owed` (it paid what the wallet owed).
LOT_ENTRY_KINDS = ("expired", "voided", "clawback", "debit", "owed")
EVENT_STATUSES = ("processed", "ignored", "failed")
PURCHASE_SOURCES = ("checkout", "auto_recharge")
# `deferred`: a low-balance e-mail waiting on the top-up in flight (sent if it fails, `dropped`
# if it refills the balance).
NOTIFICATION_STATUSES = ("pending", "sending", "sent", "failed", "deferred", "dropped")
# The partial unique index's predicate, as literal SQL: rendered as bound parameters, a
# prepared statement's generic plan could not match the index (see the ledger).
RECHARGE_IN_FLIGHT = "source = 'auto_recharge' AND status = 'pending'"


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


class Wallet(db.Model):
    """Where a balance lives: every user has a personal one (`users.wallet_id`).

    `balance` = Σ remaining of the wallet's lots − `owed` (§17); it includes credits of a
    lot whose expiry passed until the sweep writes its entry, so what may be spent is
    `balance` minus those (`ledger.reading`). `owed`: credits taken back that no lot could
    cover; the next lot to arrive pays them first.
    """

    __tablename__ = "wallets"
    __table_args__ = (sa.CheckConstraint("owed >= 0", name="owed_not_negative"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    balance: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    owed: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


class User(db.Model):
    """A person who signed in with Google; their balance is their personal wallet's."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    google_sub: Mapped[str] = mapped_column(sa.String(255), unique=True)
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    name: Mapped[str] = mapped_column(sa.String(255), default="")
    avatar_url: Mapped[str | None] = mapped_column(sa.String(2048))
    wallet_id: Mapped[int] = mapped_column(sa.ForeignKey("wallets.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    # Raised by "Sign out of all devices": every session and remember-me cookie made before stops working.
    auth_version: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    # The Stripe Customer that saved cards belong to (created the first time a card is saved).
    stripe_customer_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    # Low-balance e-mail when a decrease takes the balance from at or above this level to
    # below it (None: no alert). The balance before and after each decrease is known under
    # the user row's lock, so the crossing itself is the "armed" state: no flag to keep.
    low_balance_alert_level: Mapped[int | None] = mapped_column(sa.Integer)
    # Made staff with `flask staff add` (STAFF_EMAILS makes staff too): may use /admin/.
    is_staff: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())

    # Flask-Login protocol, spelled out so the model carries no mixin state.
    is_active = True
    is_authenticated = True
    is_anonymous = False
    # The sign-in this instance was loaded for (see get_id); not a column.
    session_token_id = None  # str once known

    def get_id(self) -> str:
        """What Flask-Login keeps in the session and the remember-me cookie: `id:auth_version:sign-in id`.

        A fresh sign-in gets a new random sign-in id; signing out revokes just that one
        (revoked_sessions), signing out of all devices raises auth_version.
        """
        if not self.session_token_id:  # the sign-in view sets it; never share one by accident
            self.session_token_id = secrets.token_urlsafe(12)
        return f"{self.id}:{self.auth_version}:{self.session_token_id}"


class RevokedSession(db.Model):
    """A signed-out sign-in: its session and remember-me cookies no longer sign anyone in."""

    __tablename__ = "revoked_sessions"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    revoked_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


class CreditPurchase(db.Model):
    """One Stripe Checkout Session, created pending when the session is created."""

    __tablename__ = "credit_purchases"
    __table_args__ = (
        sa.CheckConstraint(_in("status", PURCHASE_STATUSES), name="status"),
        sa.CheckConstraint("credits_purchased > 0", name="credits_positive"),
        sa.CheckConstraint(
            "credits_clawed_back >= 0 AND credits_clawed_back <= credits_purchased",
            name="clawback_bounded",
        ),
        sa.Index("ix_credit_purchases_user_created", "user_id", "created_at", "id"),
        # An organization's History reads its wallet's lines newest first (teams).
        sa.Index("ix_credit_purchases_wallet_created", "wallet_id", "created_at", "id"),
        sa.CheckConstraint(_in("source", PURCHASE_SOURCES), name="source"),
        # At most one automatic top-up in flight per wallet: the database refuses a second.
        sa.Index(
            "uq_credit_purchases_recharge_in_flight",
            "wallet_id",
            unique=True,
            postgresql_where=sa.text(RECHARGE_IN_FLIGHT),
            sqlite_where=sa.text(RECHARGE_IN_FLIGHT),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=False)
    # The wallet the credits go to.
    wallet_id: Mapped[int] = mapped_column(sa.ForeignKey("wallets.id"), index=True)
    stripe_checkout_session_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    stripe_price_id: Mapped[str] = mapped_column(sa.String(255))
    credits_purchased: Mapped[int] = mapped_column(sa.Integer)
    amount_paid: Mapped[int] = mapped_column(sa.Integer)
    currency: Mapped[str] = mapped_column(sa.String(3))
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    source: Mapped[str] = mapped_column(sa.String(16), default="checkout", server_default="checkout")
    # What Stripe last said it holds back from the payment (minor units): the net of its
    # refunds (succeeded or pending) and the disputes whose funds are withdrawn and not
    # reinstated. The clawback target follows their sum (docs/design/ledger.md).
    amount_refunded: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    amount_disputed: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    credits_clawed_back: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    # Tickets for reading Stripe: one is taken before each read, and a read is applied only
    # if no read that started later was applied first (a slow, stale read never wins).
    clawback_checks: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    clawback_check_applied: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # Read back from Stripe once after the purchase is credited, so its receipt pages need no
    # Stripe call: the charge's receipt and what paid (billing.payment_methods.MethodSummary).
    receipt_url: Mapped[str | None] = mapped_column(sa.String(2048))
    payment_method: Mapped[dict[str, Any] | None] = mapped_column(Json)
    payment_recorded_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # An automatic top-up: when its PaymentIntent was last sent to Stripe. Set before the
    # request, so a top-up without it has certainly never reached Stripe.
    charge_attempted_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # What its Stripe Invoice says (DESIGN §21), in minor units: `amount_paid` is the total,
    # tax included; the credits never depend on the tax. Empty without an invoice.
    amount_subtotal: Mapped[int | None] = mapped_column(sa.Integer)
    amount_tax: Mapped[int | None] = mapped_column(sa.Integer)
    stripe_invoice_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    invoice_number: Mapped[str | None] = mapped_column(sa.String(255))
    invoice_url: Mapped[str | None] = mapped_column(sa.String(2048))  # Stripe's hosted page
    invoice_pdf_url: Mapped[str | None] = mapped_column(sa.String(2048))
    invoiced_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))


class CreditSpend(db.Model):
    """Credits held for, then captured by or released from, one feature use."""

    __tablename__ = "credit_spends"
    __table_args__ = (
        sa.CheckConstraint(_in("status", SPEND_STATUSES), name="status"),
        sa.CheckConstraint("credits_spent > 0", name="credits_positive"),
        # A key replays only within the credential that used it (see idempotency_scope).
        sa.UniqueConstraint(
            "user_id", "idempotency_scope", "idempotency_key", name="uq_credit_spends_user_scope_key"
        ),
        sa.Index("ix_credit_spends_user_created", "user_id", "created_at", "id"),
        # An organization's History reads its wallet's lines newest first (teams).
        sa.Index("ix_credit_spends_wallet_created", "wallet_id", "created_at", "id"),
        sa.Index(
            "ix_credit_spends_api_key_created",
            "api_key_id",
            "created_at",
            postgresql_where=sa.text("api_key_id IS NOT NULL"),
            sqlite_where=sa.text("api_key_id IS NOT NULL"),
        ),
        sa.Index(
            "ix_credit_spends_held_created",
            "created_at",
            postgresql_where=sa.text("status = 'held'"),
            sqlite_where=sa.text("status = 'held'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    # The wallet the credits come from (the spender's own, or later a team's).
    wallet_id: Mapped[int] = mapped_column(sa.ForeignKey("wallets.id"), index=True)
    feature_used: Mapped[str] = mapped_column(sa.String(64))
    # What the spend costs now: held, then what capture charged (never more than was held).
    credits_spent: Mapped[int] = mapped_column(sa.Integer)
    # What the hold took; more than credits_spent when a capture charged less.
    credits_held: Mapped[int | None] = mapped_column(sa.Integer)
    status: Mapped[str] = mapped_column(sa.String(16), default="held")
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(255))
    # Who may replay the key: "key:<api key id>" for an API key, "session:<sign-in id>" for a
    # browser sign-in, "" for the ledger's own callers. One key string never crosses scopes.
    idempotency_scope: Mapped[str] = mapped_column(sa.String(64), default="", server_default="")
    # Hash of the request a key was first used for: the same key for another request is refused.
    request_fingerprint: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    settled_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # The API key that spent (None: the browser); a key's monthly limit sums these.
    api_key_id: Mapped[int | None] = mapped_column(sa.ForeignKey("api_keys.id"))


class CreditAdjustment(db.Model):
    """A signed balance change that is neither a purchase nor a spend."""

    __tablename__ = "credit_adjustments"
    __table_args__ = (
        sa.CheckConstraint(_in("reason", ADJUSTMENT_REASONS), name="reason"),
        # The signup bonus is granted once per user, whatever races.
        sa.Index(
            "uq_credit_adjustments_signup_bonus",
            "user_id",
            unique=True,
            postgresql_where=sa.text("reason = 'signup_bonus'"),
            sqlite_where=sa.text("reason = 'signup_bonus'"),
        ),
        sa.Index("ix_credit_adjustments_user_created", "user_id", "created_at", "id"),
        # An organization's History reads its wallet's lines newest first (teams).
        sa.Index("ix_credit_adjustments_wallet_created", "wallet_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    wallet_id: Mapped[int] = mapped_column(sa.ForeignKey("wallets.id"), index=True)
    amount: Mapped[int] = mapped_column(sa.BigInteger)
    reason: Mapped[str] = mapped_column(sa.String(32))
    # The lot an `expired` or `voided` entry took credits from (and a grant's lot).
    lot_id: Mapped[int | None] = mapped_column(sa.ForeignKey("credit_lots.id", use_alter=True))
    admin_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    purchase_id: Mapped[int | None] = mapped_column(sa.ForeignKey("credit_purchases.id"))
    stripe_object_id: Mapped[str | None] = mapped_column(sa.String(255))
    note: Mapped[str] = mapped_column(sa.String(1000), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


class CreditLot(db.Model):
    """Credits that entered a wallet together: where they came from, how they rank, when they end.

    Holds draw from a wallet's live lots (effective, not expired, not voided, remaining > 0)
    by priority, soonest expiry (none last), promotional before paid, oldest effective_at,
    then id (§17). `amount = remaining + drawn by held or captured spends + Σ entries`.
    """

    __tablename__ = "credit_lots"
    __table_args__ = (
        sa.CheckConstraint(_in("source", LOT_SOURCES), name="source"),
        sa.CheckConstraint(_in("category", LOT_CATEGORIES), name="category"),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("remaining >= 0", name="remaining_not_negative"),
        sa.CheckConstraint("priority >= 0 AND priority <= 100", name="priority_range"),
        # The lots a hold may draw from, found without reading spent ones.
        sa.Index(
            "ix_credit_lots_wallet_live",
            "wallet_id",
            "priority",
            "expires_at",
            postgresql_where=sa.text("remaining > 0 AND voided_at IS NULL"),
            sqlite_where=sa.text("remaining > 0 AND voided_at IS NULL"),
        ),
        # The sweep and the notice e-mails look only at lots that still hold credits.
        sa.Index(
            "ix_credit_lots_expiring",
            "expires_at",
            postgresql_where=sa.text("remaining > 0 AND voided_at IS NULL AND expires_at IS NOT NULL"),
            sqlite_where=sa.text("remaining > 0 AND voided_at IS NULL AND expires_at IS NOT NULL"),
        ),
        sa.Index("ix_credit_lots_wallet_created", "wallet_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    wallet_id: Mapped[int] = mapped_column(sa.ForeignKey("wallets.id"))
    source: Mapped[str] = mapped_column(sa.String(16))
    category: Mapped[str] = mapped_column(sa.String(16))
    amount: Mapped[int] = mapped_column(sa.BigInteger)
    remaining: Mapped[int] = mapped_column(sa.BigInteger)
    priority: Mapped[int] = mapped_column(sa.Integer, default=50, server_default="50")
    effective_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    voided_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    purchase_id: Mapped[int | None] = mapped_column(sa.ForeignKey("credit_purchases.id"), unique=True)
    granted_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(sa.String(1000), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


class CreditLotDraw(db.Model):
    """What one spend took from one lot. A released spend's draws went back to their lots."""

    __tablename__ = "credit_lot_draws"
    __table_args__ = (sa.CheckConstraint("amount >= 0", name="amount_not_negative"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    spend_id: Mapped[int] = mapped_column(sa.ForeignKey("credit_spends.id"), index=True)
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("credit_lots.id"), index=True)
    amount: Mapped[int] = mapped_column(sa.BigInteger)


class CreditLotEntry(db.Model):
    """Credits leaving a lot other than by a spend (positive), or coming back to it (negative)."""

    __tablename__ = "credit_lot_entries"
    __table_args__ = (
        sa.CheckConstraint(_in("kind", LOT_ENTRY_KINDS), name="kind"),
        sa.Index("ix_credit_lot_entries_lot", "lot_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("credit_lots.id"))
    kind: Mapped[str] = mapped_column(sa.String(16))
    amount: Mapped[int] = mapped_column(sa.BigInteger)
    # The wallet-level entry it belongs to (an expiry, a void, a clawback move, a debit).
    adjustment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("credit_adjustments.id"), index=True)
    # The purchase whose clawback took (or gave back) these credits.
    purchase_id: Mapped[int | None] = mapped_column(sa.ForeignKey("credit_purchases.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


class sql_now(sa.sql.functions.FunctionElement):  # noqa: N801 (a SQL function's name)
    """The database's clock for a read that needs "now" inside SQL (a column property):
    the statement's start on PostgreSQL (not the transaction's), milliseconds on SQLite."""

    type = sa.DateTime(timezone=True)
    inherit_cache = True


@compiles(sql_now)
def _now_default(_element: Any, _compiler: Any, **_kw: Any) -> str:
    return "CURRENT_TIMESTAMP"


@compiles(sql_now, "postgresql")
def _now_postgresql(_element: Any, _compiler: Any, **_kw: Any) -> str:
    return "statement_timestamp()"


@compiles(sql_now, "sqlite")
def _now_sqlite(_element: Any, _compiler: Any, **_kw: Any) -> str:
    # The stored format (`YYYY-MM-DD HH:MM:SS.ffffff`, UTC) compares as text.
    return "strftime('%Y-%m-%d %H:%M:%f', 'now')"


def unspendable(wallet_id: sa.ColumnElement, now: datetime | sa.ColumnElement) -> sa.ScalarSelect:
    """Credits a wallet's stored balance still counts that no spend may take: those of lots
    whose expiry has passed, until the sweep writes their `expired` entries."""
    lots = CreditLot.__table__
    return (
        sa.select(sa.func.coalesce(sa.func.sum(lots.c.remaining), 0))
        .where(
            lots.c.wallet_id == wallet_id,
            lots.c.remaining > 0,
            lots.c.voided_at.is_(None),
            lots.c.expires_at <= now,
        )
        .scalar_subquery()
    )


def spendable(wallet_id: sa.ColumnElement, now: datetime | sa.ColumnElement) -> sa.ScalarSelect:
    """What the wallet may spend at `now`: its balance less what `unspendable` finds."""
    wallets = Wallet.__table__
    return (
        sa.select(sa.cast(wallets.c.balance - unspendable(wallets.c.id, now), sa.BigInteger))
        .where(wallets.c.id == wallet_id)
        .scalar_subquery()
    )


def personal_wallet(user_id: int | sa.ColumnElement) -> sa.ScalarSelect:
    """The user's personal wallet id, as a subquery an INSERT can carry (no round trip)."""
    users = User.__table__
    return sa.select(users.c.wallet_id).where(users.c.id == user_id).scalar_subquery()


def wallet_customer(wallet_id: int | sa.ColumnElement) -> sa.ColumnElement:
    """The Stripe Customer that pays for a wallet: its person's, or its organization's."""
    users = User.__table__
    organizations = Organization.__table__
    return sa.func.coalesce(
        sa.select(users.c.stripe_customer_id).where(users.c.wallet_id == wallet_id).scalar_subquery(),
        sa.select(organizations.c.stripe_customer_id)
        .where(organizations.c.wallet_id == wallet_id)
        .scalar_subquery(),
    )


# The balance a person sees and may spend: their personal wallet's, right now.
User.credits = sa.orm.column_property(spendable(User.wallet_id, sql_now()))


class StripeEvent(db.Model):
    """Every Stripe webhook delivery we accepted, stored once with its outcome."""

    __tablename__ = "stripe_events"
    __table_args__ = (sa.CheckConstraint(_in("status", EVENT_STATUSES), name="status"),)

    id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(255))
    created: Mapped[int] = mapped_column(sa.BigInteger)
    received_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    status: Mapped[str] = mapped_column(sa.String(16))
    error: Mapped[str | None] = mapped_column(sa.Text)
    payload: Mapped[dict[str, Any]] = mapped_column(Json)


JOB_STATUSES = ("queued", "running", "succeeded", "failed", "canceled")
OPEN_JOB_STATUSES = ("queued", "running")


class FeatureJob(db.Model):
    """One use of a paid feature, run by a queue worker; its hold is `spend_id`.

    `available_at` is when the next attempt may start (later after a transient failure);
    `lease_until` is how long the worker that claimed it may take before another may.
    """

    __tablename__ = "feature_jobs"
    __table_args__ = (
        sa.CheckConstraint(_in("status", JOB_STATUSES), name="status"),
        sa.Index("ix_feature_jobs_user_created", "user_id", "created_at"),
        # The sweep looks only at unfinished jobs, and at results still on disk.
        sa.Index(
            "ix_feature_jobs_open_deadline",
            "deadline_at",
            postgresql_where=sa.text(_in("status", OPEN_JOB_STATUSES)),
            sqlite_where=sa.text(_in("status", OPEN_JOB_STATUSES)),
        ),
        sa.Index(
            "ix_feature_jobs_stored_finished",
            "finished_at",
            postgresql_where=sa.text("result_key IS NOT NULL"),
            sqlite_where=sa.text("result_key IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    feature: Mapped[str] = mapped_column(sa.String(64))
    params: Mapped[dict[str, Any]] = mapped_column(Json)
    spend_id: Mapped[int] = mapped_column(sa.ForeignKey("credit_spends.id"), unique=True)
    status: Mapped[str] = mapped_column(sa.String(16), default="queued")
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(sa.String(64))
    error_message: Mapped[str | None] = mapped_column(sa.String(500))
    result_key: Mapped[str | None] = mapped_column(sa.String(255))
    # The stored result's content type (`image/png`, `text/plain; charset=utf-8`, …).
    result_type: Mapped[str | None] = mapped_column(sa.String(255))
    # While it runs: the text a person watches arrive (`ctx.partial`), what `ctx.progress`
    # said, and when the person pressed Stop (`ctx.stopped()` reads it).
    partial_text: Mapped[str | None] = mapped_column(sa.Text)
    progress: Mapped[float | None] = mapped_column(sa.Float)
    progress_message: Mapped[str | None] = mapped_column(sa.String(200))
    stop_requested_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    available_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    deadline_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


API_KEY_SCOPES = ("spend", "read")


class ApiKey(db.Model):
    """A key for the JSON API: `prefix` is public and unique; only a hash of the whole key is kept."""

    __tablename__ = "api_keys"
    __table_args__ = (
        sa.CheckConstraint("monthly_credit_limit IS NULL OR monthly_credit_limit > 0", name="limit_positive"),
        sa.Index("ix_api_keys_user_created", "user_id", "created_at"),
        sa.Index("ix_api_keys_wallet_created", "wallet_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    # The wallet the key spends from: its maker's own, or an organization's (§19).
    wallet_id: Mapped[int] = mapped_column(sa.ForeignKey("wallets.id"))
    name: Mapped[str] = mapped_column(sa.String(100))
    prefix: Mapped[str] = mapped_column(sa.String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(sa.String(64))
    # Space-separated, from API_KEY_SCOPES ("read spend").
    scopes: Mapped[str] = mapped_column(sa.String(64))
    monthly_credit_limit: Mapped[int | None] = mapped_column(sa.Integer)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))


class AutoRechargeSettings(db.Model):
    """A wallet's automatic top-up: the saved card, the threshold, the pack and the monthly cap.

    One row per wallet: a person's own, or an organization's (teams). `monthly_cap` is the
    most automatic recharges per calendar month (UTC); failed attempts do not count. Three
    failures in a row switch it off (`disabled_reason`).
    """

    __tablename__ = "auto_recharge_settings"
    __table_args__ = (
        sa.CheckConstraint("threshold >= 0", name="threshold_not_negative"),
        sa.CheckConstraint("monthly_cap >= 1", name="cap_positive"),
    )

    # The wallet the top-ups fill.
    wallet_id: Mapped[int] = mapped_column(sa.ForeignKey("wallets.id"), primary_key=True, autoincrement=False)
    # Whose they are: the person (personal wallet), or the owner or admin who last saved them
    # (an organization's); its top-up purchases are recorded under this person.
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())
    threshold: Mapped[int] = mapped_column(sa.Integer, default=100, server_default="100")
    # The pack a top-up buys, as its Price said when the person chose it.
    stripe_price_id: Mapped[str | None] = mapped_column(sa.String(255))
    pack_credits: Mapped[int | None] = mapped_column(sa.Integer)
    pack_amount: Mapped[int | None] = mapped_column(sa.Integer)
    currency: Mapped[str | None] = mapped_column(sa.String(3))
    monthly_cap: Mapped[int] = mapped_column(sa.Integer, default=3, server_default="3")
    payment_method_id: Mapped[str | None] = mapped_column(sa.String(255))
    card_brand: Mapped[str | None] = mapped_column(sa.String(32))
    card_last4: Mapped[str | None] = mapped_column(sa.String(4))
    # The saved method of any type (a card, Link, a bank debit): a MethodSummary as JSON.
    # card_brand and card_last4 stay filled for cards.
    payment_method: Mapped[dict[str, Any] | None] = mapped_column(Json)
    consecutive_failures: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    disabled_reason: Mapped[str | None] = mapped_column(sa.String(255))
    last_attempt_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


class Notification(db.Model):
    """An e-mail to send (the outbox), written in the same transaction as its cause."""

    __tablename__ = "notifications"
    __table_args__ = (
        sa.CheckConstraint(_in("status", NOTIFICATION_STATUSES), name="status"),
        sa.Index(
            "ix_notifications_unsent_created",
            "created_at",
            postgresql_where=sa.text("status IN ('pending', 'sending')"),
            sqlite_where=sa.text("status IN ('pending', 'sending')"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    # The wallet whose balance the e-mail is about (low balance), when it is about one: a
    # top-up of that wallet decides the e-mails waiting on it, whoever they go to.
    wallet_id: Mapped[int | None] = mapped_column(sa.ForeignKey("wallets.id"), index=True)
    dedupe_key: Mapped[str] = mapped_column(sa.String(255), unique=True)
    to_address: Mapped[str] = mapped_column(sa.String(320))
    subject: Mapped[str] = mapped_column(sa.String(255))
    body_text: Mapped[str] = mapped_column(sa.Text)
    body_html: Mapped[str] = mapped_column(sa.Text)
    payload: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    status: Mapped[str] = mapped_column(sa.String(16), default="pending", server_default="pending")
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    # A sending attempt's claim: another worker may take the row over once it has passed.
    lease_until: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))


class AdminAction(db.Model):
    """One staff action in the console (the trail at /admin/audit).

    `idempotency_token` is the one-time token of the confirmation form: unique, so a double
    submit finds the row the first wrote and shows its outcome instead of acting again.
    `outcome` is what the action did, in words, once it is known.
    """

    __tablename__ = "admin_actions"
    __table_args__ = (sa.Index("ix_admin_actions_created", "created_at", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    actor_user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(sa.String(64))
    target_type: Mapped[str] = mapped_column(sa.String(32))
    target_id: Mapped[str] = mapped_column(sa.String(255))
    # The customer the action concerns (their page lists it), when there is one.
    customer_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    parameters: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    reason: Mapped[str] = mapped_column(sa.String(1000))
    idempotency_token: Mapped[str] = mapped_column(sa.String(64), unique=True)
    outcome: Mapped[str | None] = mapped_column(sa.String(1000))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


RECONCILE_OUTCOMES = ("ok", "failed")


class ReconcileRun(db.Model):
    """One run of `flask credits reconcile` (the operations page shows the last).

    Written when the run starts and completed when it ends, each in a short transaction of
    its own: a run that crashed keeps `finished_at` (and `outcome`) empty. The counts are
    what the command prints: Checkout Sessions checked and credited, charges with refunds
    or disputes checked and moved, and every outcome's count (`session_outcomes`,
    `charge_outcomes`, e.g. `{"credited": 1, "unpaid": 1}`).
    """

    __tablename__ = "reconcile_runs"
    __table_args__ = (
        sa.CheckConstraint(f"outcome IS NULL OR {_in('outcome', RECONCILE_OUTCOMES)}", name="outcome"),
        sa.Index("ix_reconcile_runs_started", "started_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    since_hours: Mapped[float] = mapped_column(sa.Float)
    started_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(sa.String(16))
    sessions_checked: Mapped[int | None] = mapped_column(sa.Integer)
    sessions_credited: Mapped[int | None] = mapped_column(sa.Integer)
    charges_checked: Mapped[int | None] = mapped_column(sa.Integer)
    charges_moved: Mapped[int | None] = mapped_column(sa.Integer)
    session_outcomes: Mapped[dict[str, Any] | None] = mapped_column(Json)
    charge_outcomes: Mapped[dict[str, Any] | None] = mapped_column(Json)
    error: Mapped[str | None] = mapped_column(sa.Text)


MEMBERSHIP_ROLES = ("owner", "admin", "member")


class Organization(db.Model):
    """A team (§19): its members spend from its own wallet, each under their own monthly limit."""

    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(255))
    wallet_id: Mapped[int] = mapped_column(sa.ForeignKey("wallets.id"), unique=True)
    # The organization's own Stripe Customer (made the first time it buys).
    stripe_customer_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    # Its owners and admins get a low-balance e-mail when a decrease takes its balance from
    # at or above this level to below it (None: no alert), as `users.low_balance_alert_level`.
    low_balance_alert_level: Mapped[int | None] = mapped_column(sa.Integer)
    created_by: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


class Membership(db.Model):
    """A person in an organization, with their role and monthly credit limit (None: no limit)."""

    __tablename__ = "memberships"
    __table_args__ = (
        sa.CheckConstraint(_in("role", MEMBERSHIP_ROLES), name="role"),
        sa.CheckConstraint(
            "monthly_credit_limit IS NULL OR monthly_credit_limit >= 0", name="limit_not_negative"
        ),
    )

    org_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(sa.String(16))
    monthly_credit_limit: Mapped[int | None] = mapped_column(sa.BigInteger)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


class Invitation(db.Model):
    """An e-mailed invitation: its link works once, for that e-mail's Google account, until it expires.

    Only the SHA-256 of the link's token is kept (`token_hash`).
    """

    __tablename__ = "invitations"
    __table_args__ = (
        sa.CheckConstraint(_in("role", MEMBERSHIP_ROLES), name="role"),
        sa.Index("ix_invitations_org_created", "org_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"))
    email: Mapped[str] = mapped_column(sa.String(320))
    role: Mapped[str] = mapped_column(sa.String(16))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    accepted_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    invited_by: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


@sa.event.listens_for(CreditPurchase, "before_insert")
@sa.event.listens_for(CreditSpend, "before_insert")
@sa.event.listens_for(CreditAdjustment, "before_insert")
@sa.event.listens_for(ApiKey, "before_insert")
@sa.event.listens_for(AutoRechargeSettings, "before_insert")
def _personal_wallet_by_default(_mapper: Any, connection: Any, target: Any) -> None:
    """A row added through the ORM without a wallet moves its user's personal wallet."""
    if target.wallet_id is None and target.user_id is not None:
        if isinstance(target, AutoRechargeSettings):
            # Its primary key: the ORM needs the value itself, not a subquery.
            target.wallet_id = connection.execute(sa.select(personal_wallet(target.user_id))).scalar_one()
        else:
            target.wallet_id = personal_wallet(target.user_id)
