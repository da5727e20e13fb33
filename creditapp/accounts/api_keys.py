"""API keys: create, list, revoke, and authenticate a presented key. Plain ids, no request.

A key reads `ca_test_3f9a0c1b2d4e_<40 letters and digits>` (`ca_live_…` when the Stripe key
is a live one): the first part is the public prefix, stored and shown, unique, the lookup
key; the rest is the secret, about 238 bits from `secrets`, shown once and never stored.
What is stored is SHA-256 of the whole key. A slow password hash (bcrypt, scrypt) exists to
make guessing a low-entropy password expensive; a 238-bit random secret cannot be guessed,
so a plain SHA-256 is as strong and costs microseconds on every API request. Hashing the
whole key binds the prefix (and the live/test label) to the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from creditapp.extensions import db
from creditapp.models import (
    API_KEY_SCOPES,
    ApiKey,
    CreditSpend,
    FeatureJob,
    Membership,
    Organization,
    User,
    utcnow,
)
from creditapp.platform.clock import month_start
from creditapp.platform.transactions import read, write
from creditapp.teams.organizations import lock_organization, require_manager

SECRET_ALPHABET = string.ascii_letters + string.digits
SECRET_LENGTH = 40
KEY_PATTERN = re.compile(r"(ca_(?:live|test)_[0-9a-f]{12})_([A-Za-z0-9]{40})")
NAME_MAX = 100
LIMIT_MAX = 1_000_000_000
# last_used_at is written at most this often per key, so most requests add no write.
TOUCH_EVERY = timedelta(seconds=60)


class InvalidKeyRequest(ValueError):
    """A create request the person must correct; `field` names the form field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class CreatedKey:
    """A new key: `token` is the whole key, returned this once and never again."""

    id: int
    name: str
    prefix: str
    token: str


@dataclass(frozen=True)
class KeySummary:
    """A key as the list shows it."""

    id: int
    name: str
    prefix: str
    scopes: tuple[str, ...]
    monthly_credit_limit: int | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    spent_this_month: int
    made_by: str = ""  # the e-mail of who made it (an organization's list shows it)


@dataclass(frozen=True)
class KeyHolder:
    """A presented key that checked out: its user (detached) and what the key may do."""

    user: User
    key_id: int
    prefix: str
    scopes: frozenset[str]
    last_used_at: datetime | None
    wallet_id: int  # what the key spends from: its owner's own wallet, or an organization's
    org_id: int | None = None  # the organization whose wallet that is; None for a personal key


def hash_token(token: str) -> str:
    """SHA-256 hex of the whole key (see the module docstring for why no slow hash)."""
    return hashlib.sha256(token.encode()).hexdigest()


def parse_scopes(values: list[str]) -> tuple[str, ...]:
    """The known scopes among `values`, in a fixed order; raises when none is chosen."""
    unknown = set(values) - set(API_KEY_SCOPES)
    if unknown:
        raise InvalidKeyRequest("scopes", f"Unknown scope: {', '.join(sorted(unknown))}.")
    chosen = tuple(scope for scope in API_KEY_SCOPES if scope in values)
    if not chosen:
        raise InvalidKeyRequest("scopes", "Choose at least one scope: spend, read or both.")
    return chosen


def parse_limit(raw: str | None) -> int | None:
    """An optional monthly credit limit from a form field: empty means none."""
    raw = (raw or "").strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) <= LIMIT_MAX:
        raise InvalidKeyRequest(
            "monthly_credit_limit", "The monthly limit is a whole number of credits, 1 or more."
        )
    return int(raw)


def create_key(
    user_id: int,
    name: str,
    scopes: list[str],
    monthly_credit_limit: int | None,
    live: bool = False,
    org_id: int | None = None,
) -> CreatedKey:
    """Make a key; the returned token is the only copy of the secret.

    Without `org_id` it spends from the user's own wallet. With it, it is the organization's
    key (it spends from the organization's wallet, under its maker's member limit): only an
    owner or admin may make one (teams' NotFound for a non-member, Forbidden for a member;
    nothing written). The organization's row is locked first, as every change of its
    members does, so a maker being removed meanwhile either sees this key (and revokes it)
    or has already gone (and this is refused).
    """
    name = (name or "").strip()
    if not 0 < len(name) <= NAME_MAX:
        raise InvalidKeyRequest("name", f"Give the key a name of 1 to {NAME_MAX} characters.")
    chosen = parse_scopes(scopes)
    if monthly_credit_limit is not None and not 0 < monthly_credit_limit <= LIMIT_MAX:
        raise InvalidKeyRequest("monthly_credit_limit", "The monthly limit is 1 credit or more.")
    prefix = f"ca_{'live' if live else 'test'}_{secrets.token_hex(6)}"
    token = f"{prefix}_{''.join(secrets.choice(SECRET_ALPHABET) for _ in range(SECRET_LENGTH))}"
    with write() as session:
        if org_id is None:
            wallet_id = session.execute(sa.select(User.wallet_id).where(User.id == user_id)).scalar_one()
        else:
            lock_organization(session, org_id)
            require_manager(session, org_id, user_id)
            wallet_id = session.execute(
                sa.select(Organization.wallet_id).where(Organization.id == org_id)
            ).scalar_one()
        key = ApiKey(
            user_id=user_id,
            wallet_id=wallet_id,
            name=name,
            prefix=prefix,
            secret_hash=hash_token(token),
            scopes=" ".join(chosen),
            monthly_credit_limit=monthly_credit_limit,
            created_at=utcnow(),
        )
        session.add(key)
    return CreatedKey(key.id, name, prefix, token)


def summaries(where: sa.ColumnElement[bool], now: datetime | None = None) -> list[KeySummary]:
    """The keys matching `where`, newest first, with who made each and the credits each spent
    this month (held + captured)."""
    since = month_start(now or utcnow())
    spent = (
        sa.select(sa.func.coalesce(sa.func.sum(CreditSpend.credits_spent), 0))
        .where(
            CreditSpend.api_key_id == ApiKey.id,
            CreditSpend.status.in_(("held", "captured")),
            CreditSpend.created_at >= since,
        )
        .scalar_subquery()
    )
    with read() as session:
        rows = session.execute(
            sa.select(ApiKey, spent, User.email)
            .join(User, User.id == ApiKey.user_id)
            .where(where)
            .order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
        ).all()
    return [
        KeySummary(
            key.id,
            key.name,
            key.prefix,
            tuple(key.scopes.split()),
            key.monthly_credit_limit,
            key.created_at,
            key.last_used_at,
            key.revoked_at,
            int(total),
            email,
        )
        for key, total, email in rows
    ]


def _personal(user_id: int) -> sa.ColumnElement[bool]:
    """The user's own keys: made by them, spending from their own wallet."""
    own_wallet = sa.select(User.wallet_id).where(User.id == user_id).scalar_subquery()
    return sa.and_(ApiKey.user_id == user_id, ApiKey.wallet_id == own_wallet)


def list_keys(user_id: int, now: datetime | None = None) -> list[KeySummary]:
    """The user's personal keys (not the organization keys they made), newest first, with
    the credits each spent this month (held + captured)."""
    return summaries(_personal(user_id), now)


def find_key(user_id: int, key_id: int) -> KeySummary | None:
    """One of the user's personal keys, or None."""
    found = summaries(sa.and_(_personal(user_id), ApiKey.id == key_id))
    return found[0] if found else None


def revoke_key(user_id: int, key_id: int) -> bool:
    """Revoke one of the user's personal keys; False when it is not theirs or already revoked."""
    with write() as session:
        result = session.execute(
            sa.update(ApiKey)
            .where(ApiKey.id == key_id, _personal(user_id), ApiKey.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    return result.rowcount == 1


def authenticate(token: str) -> KeyHolder | None:
    """The key's holder when `token` is a live key, else None (malformed, unknown, revoked).

    One statement, looked up by the public prefix; the hash is compared in constant time.
    """
    match = KEY_PATTERN.fullmatch(token)
    if match is None:
        return None
    session = db.session()
    query = (
        sa.select(
            User,
            ApiKey.id,
            ApiKey.secret_hash,
            ApiKey.scopes,
            ApiKey.last_used_at,
            ApiKey.wallet_id,
            Organization.id.label("org_id"),
        )
        .join(ApiKey, ApiKey.user_id == User.id)
        .outerjoin(Organization, Organization.wallet_id == ApiKey.wallet_id)
        .where(ApiKey.prefix == match.group(1), ApiKey.revoked_at.is_(None), _maker_may_spend())
    )
    if session.in_transaction():
        row = session.execute(query).first()
    else:
        # As the session user loader does: no BEGIN/ROLLBACK round trips for one read.
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        try:
            row = session.execute(query).first()
            if row is not None:
                session.expunge(row[0])
        finally:
            session.commit()
    if row is None or not hmac.compare_digest(hash_token(token), row.secret_hash):
        return None
    return KeyHolder(
        row[0],
        row.id,
        match.group(1),
        frozenset(row.scopes.split()),
        row.last_used_at,
        row.wallet_id,
        row.org_id,
    )


def _maker_may_spend() -> sa.ColumnElement[bool]:
    """A personal key always; an organization's key while its maker is still a member.

    Removing a member (or leaving) revokes their keys of that organization in the same
    transaction; this is the guard behind it, so a membership that goes by any other road
    still stops the key at once.
    """
    still_member = (
        sa.select(Membership.user_id)
        .where(Membership.org_id == Organization.id, Membership.user_id == ApiKey.user_id)
        .exists()
    )
    return sa.or_(Organization.id.is_(None), still_member)


def touch(key_id: int, last_used_at: datetime | None, now: datetime | None = None) -> None:
    """Record that the key was used, at most once per TOUCH_EVERY (a conditional UPDATE)."""
    now = now or utcnow()
    if last_used_at is not None and last_used_at.tzinfo is None:
        last_used_at = last_used_at.replace(tzinfo=UTC)  # SQLite keeps no time zone
    if last_used_at is not None and now - last_used_at < TOUCH_EVERY:
        return
    stale = sa.or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < now - TOUCH_EVERY)
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.update(ApiKey).where(ApiKey.id == key_id, stale).values(last_used_at=now))


def job_key(user_id: int, job_id: uuid.UUID, wallet_id: int) -> tuple[bool, int | None]:
    """(the user started this job from this wallet, the API key whose spend started it or None)."""
    with read() as session:
        row = session.execute(
            sa.select(CreditSpend.api_key_id)
            .join(FeatureJob, FeatureJob.spend_id == CreditSpend.id)
            .where(FeatureJob.id == job_id, FeatureJob.user_id == user_id, CreditSpend.wallet_id == wallet_id)
        ).first()
    return (row is not None, row[0] if row is not None else None)
