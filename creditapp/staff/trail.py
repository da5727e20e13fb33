"""The trail: one `admin_actions` row per staff action, written so a double submit acts once.

An action's confirmation form carries a one-time token; the row's unique
`idempotency_token` is that token. `perform` writes the row and runs the action:

- **joined**: when the domain function commits the app's session (`platform.transactions.write`:
  a grant, a debit, a void, revoking a key, signing out everywhere, switching a top-up off),
  the row is flushed first and the function's own commit writes the row and the change
  together; if the function refuses, its rollback takes the row with it.
- **claimed**: when the function commits on a connection of its own or calls Stripe (releasing
  a hold, cancelling a job, a refund, replaying an event), the row is committed first (the
  claim), then the function runs, then the outcome is written. A retry finds the claim and
  acts no more; if the process dies between the two, the trail shows the action without an
  outcome (at most once, never twice).

A second submit of one token, at once or later, finds the first row (the unique key makes a
concurrent insert wait for the first, then fail) and shows its outcome.

Lock order (the ledger's docstring): flushing the row before the ledger locks the wallet is
the "insert that waits only on a unique key shared with another insert of the same kind"
the ledger allows; its foreign keys take KEY SHARE locks on the users it names, which no
ledger path's lock conflicts with (none locks a users row FOR UPDATE).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import current_app

from creditapp.extensions import db
from creditapp.models import AdminAction, User
from creditapp.platform.transactions import read, write
from creditapp.staff.actions.base import ORGANIZATION

PAGE_SIZE = 50


@dataclass(frozen=True)
class Request:
    """What a staff member asked for, checked: ready to perform."""

    action: str
    actor_user_id: int
    customer_user_id: int | None
    target_type: str
    target_id: str
    parameters: dict[str, Any]
    reason: str
    token: str


def new_token(action: str, target: str | None, parameters: dict[str, Any], reason: str) -> str:
    """A one-time token for a confirmation form, bound to what it confirms.

    A random part (what makes it one-time) and an HMAC, under the app's secret key, of that
    part with the action, its target (`customer:7`, `organization:3`, None), the parameters
    and the reason: a confirmation whose fields were changed after it was shown, one made
    up without the first step, or one posted for another customer or organization does
    not match (`token_matches`).
    """
    nonce = secrets.token_urlsafe(18)
    return f"{nonce}.{_seal(nonce, action, target, parameters, reason)}"


def token_matches(
    token: str, action: str, target: str | None, parameters: dict[str, Any], reason: str
) -> bool:
    """Whether `token` was made by `new_token` for exactly this action, target, parameters and reason."""
    nonce, _, seal = token.partition(".")
    expected = _seal(nonce, action, target, parameters, reason)
    return bool(nonce) and hmac.compare_digest(seal, expected)


def _seal(nonce: str, action: str, target: str | None, parameters: dict[str, Any], reason: str) -> str:
    what = json.dumps([nonce, action, target, parameters, reason], sort_keys=True, default=str)
    key = str(current_app.secret_key).encode()
    digest = hmac.new(key, what.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def find(token: str) -> AdminAction | None:
    """The action a token already performed (or claimed), if any."""
    with read() as session:
        row = session.execute(
            sa.select(AdminAction).where(AdminAction.idempotency_token == token)
        ).scalar_one_or_none()
        if row is not None:
            session.expunge(row)
    return row


def _row(asked: Request) -> AdminAction:
    return AdminAction(
        actor_user_id=asked.actor_user_id,
        action=asked.action,
        target_type=asked.target_type,
        target_id=asked.target_id,
        customer_user_id=asked.customer_user_id,
        parameters=asked.parameters,
        reason=asked.reason,
        idempotency_token=asked.token,
    )


def perform(asked: Request, act: Callable[[], str], joined: bool) -> tuple[AdminAction, bool]:
    """Write the trail row and run `act` once per token; returns the row and whether this call acted.

    `act` returns the outcome in words; any exception it raises propagates (for a joined
    action nothing was written then; for a claimed one the row records the failure).
    """
    session = db.session
    session.add(_row(asked))
    try:
        if joined:
            session.flush()  # waits for, then fails on, a concurrent submit of the same token
        else:
            session.commit()  # the claim
    except sa.exc.IntegrityError:
        session.rollback()
        existing = find(asked.token)
        if existing is None:
            raise
        return existing, False
    try:
        outcome = act()
    except Exception as exc:
        if not joined:
            _set_outcome(asked.token, f"Failed: {exc}")
        else:
            session.rollback()
        raise
    if joined:
        session.commit()  # in case the function found nothing to change and wrote nothing itself
    _set_outcome(asked.token, outcome)
    done = find(asked.token)
    assert done is not None
    return done, True


def _set_outcome(token: str, outcome: str) -> None:
    with write() as session:
        session.execute(
            sa.update(AdminAction)
            .where(AdminAction.idempotency_token == token)
            .values(outcome=outcome[:1000])
        )


@dataclass(frozen=True)
class TrailLine:
    """One row of /admin/audit."""

    action: AdminAction
    actor_email: str
    customer_email: str | None


def page(
    before_id: int | None = None,
    customer_user_id: int | None = None,
    limit: int = PAGE_SIZE,
    organization_id: int | None = None,
) -> list[TrailLine]:
    """Up to `limit` actions older than `before_id`, newest first (optionally one customer's, or
    one organization's: the actions whose target is that organization)."""
    actor = sa.orm.aliased(User)
    customer = sa.orm.aliased(User)
    query = (
        sa.select(AdminAction, actor.email, customer.email)
        .join(actor, actor.id == AdminAction.actor_user_id)
        .outerjoin(customer, customer.id == AdminAction.customer_user_id)
        .order_by(AdminAction.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(AdminAction.id < before_id)
    if customer_user_id is not None:
        query = query.where(AdminAction.customer_user_id == customer_user_id)
    if organization_id is not None:
        query = query.where(
            AdminAction.target_type == ORGANIZATION, AdminAction.target_id == str(organization_id)
        )
    with read() as session:
        rows = session.execute(query).all()
        for row in rows:
            session.expunge(row[0])
    return [TrailLine(row[0], row[1], row[2]) for row in rows]
