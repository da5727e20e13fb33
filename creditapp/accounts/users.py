"""Sign-in rules: who a Google identity is, the first-sign-in welcome, safe `next` paths."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from creditapp import ledger
from creditapp.models import User
from creditapp.platform.transactions import write

MAX_NEXT_LENGTH = 2000
EMAIL_CONSTRAINT = "uq_users_email"


class SignInRefused(Exception):
    """The identity provider vouched for someone we must not sign in."""


class UnverifiedEmail(SignInRefused):
    """Google has not verified the account's e-mail address."""


class IncompleteProfile(SignInRefused):
    """The ID token lacks the subject or the e-mail address."""


class EmailChangeClash(SignInRefused):
    """The Google account's e-mail changed to an address another user here signed up with."""

    def __init__(self, email: str) -> None:
        super().__init__(email)
        self.email = email


@dataclass(frozen=True)
class GoogleProfile:
    """What we keep from a validated ID token."""

    sub: str
    email: str
    name: str
    avatar_url: str | None
    email_verified: bool


@dataclass(frozen=True)
class SignIn:
    """The outcome of a sign-in: whose account, and whether it was created just now."""

    user_id: int
    created: bool


def profile_from_claims(claims: Mapping[str, Any]) -> GoogleProfile:
    """Read a Google profile from validated ID-token claims; raises IncompleteProfile."""
    sub = str(claims.get("sub") or "").strip()
    email = str(claims.get("email") or "").strip().lower()
    if not sub or "@" not in email:
        raise IncompleteProfile("The Google account did not share an e-mail address.")
    verified = claims.get("email_verified")
    name = str(claims.get("name") or "").strip() or email.split("@", 1)[0]
    picture = claims.get("picture")
    return GoogleProfile(
        sub=sub,
        email=email,
        name=name[:255],
        avatar_url=str(picture)[:2048] if picture else None,
        # Google sends a boolean; some providers send the string "true".
        email_verified=verified is True or str(verified).lower() == "true",
    )


def sign_in(profile: GoogleProfile, bonus: int) -> SignIn:
    """Find or create the user for a Google profile; a new user gets `bonus` credits once.

    A returning user's e-mail, name and avatar follow the Google account. Raises
    UnverifiedEmail (nothing written), EmailChangeClash (the account's new address is
    another user's here; nothing written) and ledger.EmailTaken (a first sign-in with an
    address that belongs to another Google account; nothing written).
    """
    if not profile.email_verified:
        raise UnverifiedEmail(profile.email)
    user_id = refresh_profile(profile)
    if user_id is not None:
        return SignIn(user_id, created=False)
    # The ledger creates the user and the bonus in one transaction, and a concurrent
    # first sign-in for the same account ends up with the same user and no second bonus.
    user_id, created = ledger.register_user(
        profile.sub, profile.email, profile.name, profile.avatar_url, bonus=bonus
    )
    if not created:
        refresh_profile(profile)
    return SignIn(user_id, created=created)


def refresh_profile(profile: GoogleProfile) -> int | None:
    """Copy e-mail, name and avatar onto the user with this Google subject; its id, or None if new.

    Raises EmailChangeClash, with nothing written, when the new e-mail is another user's.
    """
    try:
        with write() as session:
            user_id = session.execute(
                sa.update(User)
                .where(User.google_sub == profile.sub)
                .values(email=profile.email, name=profile.name, avatar_url=profile.avatar_url)
                .returning(User.id)
            ).scalar_one_or_none()
    except sa.exc.IntegrityError as exc:
        if not _is_email_clash(exc):
            raise
        raise EmailChangeClash(profile.email) from None
    return user_id


def _is_email_clash(exc: sa.exc.IntegrityError) -> bool:
    """True when the unique e-mail constraint refused the update (PostgreSQL or SQLite)."""
    diag = getattr(exc.orig, "diag", None)
    if diag is not None and getattr(diag, "constraint_name", None):
        return diag.constraint_name == EMAIL_CONSTRAINT
    return "users.email" in str(exc.orig)


def safe_next_path(value: str | None) -> str | None:
    """Return `value` when it is a path on this site (`/…`), else None.

    Refuses protocol-relative URLs (`//host`, `/\\host`, which browsers treat alike),
    schemes, hosts, backslashes and control characters anywhere in the value.
    """
    if not value or len(value) > MAX_NEXT_LENGTH:
        return None
    if not value.startswith("/") or value.startswith(("//", "/\\")):
        return None
    if "\\" in value or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return None
    return value
