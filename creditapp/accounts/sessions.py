"""Ending sign-ins on the server, so a copied session or remember-me cookie stops working."""

from __future__ import annotations

import secrets

import sqlalchemy as sa

from creditapp.models import RevokedSession, User
from creditapp.platform.sql import conflict_insert
from creditapp.platform.transactions import write


def new_sign_in_id() -> str:
    """A random id for one sign-in (16 URL-safe characters, never ':' or '|')."""
    return secrets.token_urlsafe(12)


def parse_token(token: str) -> tuple[int, int, str] | None:
    """`id:auth_version:sign-in id` (User.get_id) as a tuple; a bare id is auth version 0.

    None when the token is malformed.
    """
    parts = token.split(":")
    if len(parts) == 1:
        parts += ["0", ""]
    if len(parts) != 3:
        return None
    try:
        return int(parts[0]), int(parts[1]), parts[2]
    except ValueError:
        return None


def sign_out(user_id: int, session_token_id: str | None) -> None:
    """End one sign-in: its session and remember-me cookies stop working everywhere.

    A sign-in without its own id (none made by the app) can only be ended with the rest.
    """
    if not session_token_id:
        sign_out_everywhere(user_id)
        return
    # Two sign-outs of one session at once (a double click, two tabs) both land here: the
    # second finds the row written and is done, as if it came after.
    with write() as session:
        session.execute(
            conflict_insert(RevokedSession.__table__)
            .values(id=session_token_id, user_id=user_id)
            .on_conflict_do_nothing(index_elements=["id"])
        )


def sign_out_everywhere(user_id: int) -> None:
    """End every sign-in of the user, on every device, made before now."""
    with write() as session:
        session.execute(sa.update(User).where(User.id == user_id).values(auth_version=User.auth_version + 1))
