"""What a balance decrease starts, inside its own transaction: a top-up, a low-balance e-mail.

Every decrease (a hold, a job's hold, a clawback moving credits out) calls `after_decrease`
(or `after_wallet_decrease`) right after its balance update, while it holds the wallet row.
That lock is what makes the rules atomic: every decrease of one wallet runs one at a time here.

- **Automatic top-up.** When the balance is left below the threshold, auto top-up is on
  with a saved card, no top-up is in flight, the monthly cap (top-ups pending or completed
  this calendar month, UTC) is not reached and the last failure is at least
  `AUTO_RECHARGE_RETRY_MINUTES` old, one `INSERT … SELECT` writes the pending
  `auto_recharge` purchase. The partial unique index (one pending top-up per wallet) is the
  guarantee; `ON CONFLICT DO NOTHING` on it turns a second one into nothing.
- **Low-balance e-mail.** When the decrease takes the balance from at or above the
  person's alert level to below it, an e-mail is written to the outbox. The crossing is
  read from the balance before and after, so it fires once per crossing and is re-armed by
  any increase that brings the balance back to the level. While a top-up is in flight
  (started by this decrease, or already pending) the e-mail is written `deferred`: the
  top-up's outcome decides it in its own transaction (`settle_deferred_alerts`): sent if
  the top-up fails or is canceled, dropped if it refills the balance.

Lock order (package docstring): the wallet row is already held; the settings row is locked
next (`FOR UPDATE`), then the purchase is inserted. The insert never waits on another
transaction: it skips when a committed pending top-up exists (a completion or failure in
progress still shows it pending), and any other insert of one would need the wallet row.

An organization's wallet (teams) follows the same rules with its own settings row and alert
level (`organizations.low_balance_alert_level`); its e-mails go to each of its owners and
admins (`outbox.recipients`), never to plain members. `after_wallet_decrease` serves any
wallet; `after_decrease` is the personal spend's fast path.

Both are outbox rows (`outbox`): the queue is told after the commit. A caller on its own
connection hands the returned `Outbox` over itself; inside `write()` this stages it, and
`write()` hands it over once committed.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from creditapp.extensions import db
from creditapp.ledger._core import purchases, users
from creditapp.ledger.outbox import Outbox, Recipients, organizations, recipients, write_email
from creditapp.models import RECHARGE_IN_FLIGHT, AutoRechargeSettings, Notification, utcnow
from creditapp.platform import transactions
from creditapp.platform.clock import month_start
from creditapp.platform.sql import conflict_insert

log = logging.getLogger("creditapp.ledger")

settings_table = AutoRechargeSettings.__table__
outbox = Notification.__table__

# What the rules need to know about the user, returned by the debit itself (no extra round
# trip on the hot path): the e-mail, the alert level, the threshold when auto top-up is on.
RULES = (
    users.c.email,
    users.c.low_balance_alert_level,
    sa.select(settings_table.c.threshold)
    .where(settings_table.c.wallet_id == users.c.wallet_id, settings_table.c.enabled)
    .scalar_subquery()
    .label("topup_threshold"),
    users.c.wallet_id.label("personal_wallet_id"),
)
USER_RULES = sa.select(*RULES).where(users.c.id == sa.bindparam("user_id"))
# The same rules for an organization's wallet.
ORG_RULES = sa.select(
    organizations.c.id,
    organizations.c.low_balance_alert_level,
    sa.select(settings_table.c.threshold)
    .where(settings_table.c.wallet_id == organizations.c.wallet_id, settings_table.c.enabled)
    .scalar_subquery()
    .label("topup_threshold"),
).where(organizations.c.wallet_id == sa.bindparam("wallet_id"))
LOCK_SETTINGS = (
    sa.select(settings_table.c.wallet_id)
    .where(settings_table.c.wallet_id == sa.bindparam("wallet_id"))
    .with_for_update()
)
_p = purchases.alias("p")
_TOPUP_COLUMNS = [
    "user_id", "wallet_id", "stripe_price_id", "credits_purchased", "amount_paid",
    "currency", "status", "source", "created_at",
]  # fmt: skip
_TOPUP_ROW = sa.select(
    settings_table.c.user_id,
    settings_table.c.wallet_id,
    settings_table.c.stripe_price_id,
    settings_table.c.pack_credits,
    settings_table.c.pack_amount,
    settings_table.c.currency,
    sa.literal_column("'pending'"),
    sa.literal_column("'auto_recharge'"),
    sa.bindparam("now", type_=sa.DateTime(timezone=True)),
).where(
    settings_table.c.wallet_id == sa.bindparam("wallet_id"),
    settings_table.c.enabled,
    settings_table.c.payment_method_id.is_not(None),
    settings_table.c.stripe_price_id.is_not(None),
    settings_table.c.pack_credits > 0,
    sa.bindparam("balance", type_=sa.BigInteger) < settings_table.c.threshold,
    sa.or_(
        settings_table.c.consecutive_failures == 0,
        settings_table.c.last_attempt_at.is_(None),
        settings_table.c.last_attempt_at <= sa.bindparam("retry_after", type_=sa.DateTime(timezone=True)),
    ),
    # A committed pending top-up: skip without touching the unique index (see above).
    ~sa.exists().where(
        _p.c.wallet_id == settings_table.c.wallet_id,
        _p.c.source == sa.literal_column("'auto_recharge'"),
        _p.c.status == sa.literal_column("'pending'"),
    ),
    sa.select(sa.func.count())
    .select_from(_p)
    .where(
        _p.c.wallet_id == settings_table.c.wallet_id,
        _p.c.source == sa.literal_column("'auto_recharge'"),
        _p.c.status.in_([sa.literal_column("'pending'"), sa.literal_column("'completed'")]),
        _p.c.created_at >= sa.bindparam("month_start", type_=sa.DateTime(timezone=True)),
    )
    .scalar_subquery()
    < settings_table.c.monthly_cap,
)
_start_topup_statements: dict[str, sa.Insert] = {}


def _start_topup_statement() -> sa.Insert:
    """The `INSERT … SELECT … ON CONFLICT DO NOTHING` for this database, built once.

    The conflict target is the partial unique index, its predicate as literal SQL: as a
    bound parameter, a prepared statement's generic plan could not match the index.
    """
    dialect = db.engine.dialect.name
    if dialect not in _start_topup_statements:
        _start_topup_statements[dialect] = (
            conflict_insert(purchases)
            .from_select(_TOPUP_COLUMNS, _TOPUP_ROW)
            .on_conflict_do_nothing(index_elements=["wallet_id"], index_where=sa.text(RECHARGE_IN_FLIGHT))
            .returning(purchases.c.id)
        )
    return _start_topup_statements[dialect]


def after_decrease(
    conn: sa.Connection | sa.orm.Session,
    user_id: int,
    before: int,
    after: int,
    cause: str | None = None,
    rules: sa.Row | None = None,
) -> Outbox:
    """Inside a decreasing transaction of the person's own wallet, after its balance update:
    start what it asks for.

    `rules` is the debit's row when it returned RULES; otherwise they are read here. Inside
    `write()` the outbox rows are staged for the relay; on a connection of its own, the
    caller hands the returned `Outbox` over after its commit.
    """
    if rules is None:
        rules = conn.execute(USER_RULES, {"user_id": user_id}).one_or_none()
        if rules is None:
            return Outbox()
    people = Recipients([(user_id, rules.email)])
    return _start_effects(
        conn,
        rules.personal_wallet_id,
        before,
        after,
        f"{cause or uuid.uuid4().hex}",
        rules.topup_threshold,
        rules.low_balance_alert_level,
        people,
    )


def after_wallet_decrease(
    conn: sa.Connection | sa.orm.Session, wallet_id: int, before: int, after: int, cause: str | None = None
) -> Outbox:
    """`after_decrease` for any wallet: a person's own, or an organization's (its settings, its
    alert level, its owners and admins)."""
    person = conn.execute(sa.select(users.c.id).where(users.c.wallet_id == wallet_id)).scalar_one_or_none()
    if person is not None:
        return after_decrease(conn, person, before, after, cause)
    rules = conn.execute(ORG_RULES, {"wallet_id": wallet_id}).one_or_none()
    if rules is None:
        return Outbox()
    return _start_effects(
        conn,
        wallet_id,
        before,
        after,
        f"org-{rules.id}:{cause or uuid.uuid4().hex}",
        rules.topup_threshold,
        rules.low_balance_alert_level,
        None,
    )


def _start_effects(
    conn: sa.Connection | sa.orm.Session,
    wallet_id: int,
    before: int,
    after: int,
    cause: str,
    threshold: int | None,
    level: int | None,
    people: Recipients | None,
) -> Outbox:
    """The top-up and the low-balance e-mails one decrease of the wallet starts; `people`
    None: the wallet's recipients, read only when an e-mail is due."""
    effects = Outbox()
    if threshold is not None and after < threshold:
        topup = _start_topup(conn, wallet_id, after)
        if topup is not None:
            effects.topups.append(topup)
    if level is not None and before >= level > after:
        # A top-up in flight may refill the balance in a moment: the e-mail waits for it.
        waits = bool(effects.topups) or _topup_pending(conn, wallet_id)
        people = people if people is not None else recipients(conn, wallet_id)
        payload = people.payload({"balance": after, "level": level})
        for user_id, address in people.people:
            email = write_email(
                conn,
                "low_balance",
                user_id,
                address,
                f"low-balance:{user_id}:{cause}",
                payload,
                status="deferred" if waits else "pending",
                wallet_id=wallet_id,
            )
            if email is not None and not waits:
                effects.emails.append(email)
    if effects and isinstance(conn, sa.orm.Session):
        transactions.stage(conn, effects.handoffs())
    return effects


def _start_topup(conn: sa.Connection | sa.orm.Session, wallet_id: int, balance: int) -> int | None:
    """Write the pending top-up if every rule allows it; its purchase id, else None."""
    conn.execute(LOCK_SETTINGS, {"wallet_id": wallet_id})
    now = utcnow()
    retry = timedelta(minutes=float(current_app.config["AUTO_RECHARGE_RETRY_MINUTES"]))
    purchase_id = conn.execute(
        _start_topup_statement(),
        {
            "wallet_id": wallet_id,
            "balance": balance,
            "now": now,
            "retry_after": now - retry,
            "month_start": month_start(now),
        },
    ).scalar_one_or_none()
    if purchase_id is not None:
        conn.execute(
            sa.update(settings_table)
            .where(settings_table.c.wallet_id == wallet_id)
            .values(last_attempt_at=now)
        )
        log.info(
            "auto top-up started",
            extra={"wallet_id": wallet_id, "purchase_id": purchase_id, "balance": balance},
        )
    return purchase_id


def _topup_pending(conn: sa.Connection | sa.orm.Session, wallet_id: int) -> bool:
    """A committed top-up is in flight (one being settled right now still counts: its
    settling transaction waits on the user row this one holds, then sees the deferred e-mail)."""
    return (
        conn.execute(
            sa.select(purchases.c.id).where(purchases.c.wallet_id == wallet_id, sa.text(RECHARGE_IN_FLIGHT))
        ).first()
        is not None
    )


def settle_deferred_alerts(
    conn: sa.Connection | sa.orm.Session, wallet_id: int, balance: int, send: bool
) -> list[int]:
    """Inside a top-up's settling transaction, after the wallet row's lock: decide the
    low-balance e-mails about this wallet that waited on it; returns the ids to send.

    `send` (the top-up failed or was canceled): each recipient's newest one goes out with the
    balance as it is now, if that is still below the level; otherwise (it succeeded, or the
    balance is back up) they are dropped.
    """
    waiting = conn.execute(
        sa.select(outbox.c.id, outbox.c.user_id, outbox.c.payload)
        .where(outbox.c.wallet_id == wallet_id, outbox.c.status == "deferred")
        .order_by(outbox.c.id.desc())
    ).all()
    if not waiting:
        return []
    level = conn.execute(
        sa.select(
            sa.func.coalesce(
                sa.select(users.c.low_balance_alert_level)
                .where(users.c.wallet_id == wallet_id)
                .scalar_subquery(),
                sa.select(organizations.c.low_balance_alert_level)
                .where(organizations.c.wallet_id == wallet_id)
                .scalar_subquery(),
            )
        )
    ).scalar_one_or_none()
    sending: list[int] = []
    if send and level is not None and balance < level:
        newest: dict[int, sa.Row] = {}
        for row in waiting:
            newest.setdefault(row.user_id, row)
        for row in newest.values():
            conn.execute(
                sa.update(outbox)
                .where(outbox.c.id == row.id)
                .values(
                    status="pending",
                    payload={**(row.payload or {}), "balance": balance, "level": level},
                    created_at=utcnow(),
                )
            )
            sending.append(row.id)
    dropped = [row.id for row in waiting if row.id not in sending]
    if dropped:
        conn.execute(sa.update(outbox).where(outbox.c.id.in_(dropped)).values(status="dropped"))
    return sorted(sending)
