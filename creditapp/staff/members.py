"""Who is staff: an e-mail in STAFF_EMAILS, or a user made staff with `flask staff add`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import current_app

from creditapp.models import User
from creditapp.platform.transactions import read, write


class NoSuchUser(LookupError):
    """No user has that e-mail (they must sign in once before they can be made staff)."""


@dataclass(frozen=True)
class StaffMember:
    """A staff member as `flask staff list` shows them."""

    user_id: int | None
    email: str
    by_setting: bool  # in STAFF_EMAILS
    by_flag: bool  # made staff with `flask staff add`


def staff_emails() -> set[str]:
    """The e-mails STAFF_EMAILS names, lower-cased."""
    return {email.lower() for email in current_app.config.get("STAFF_EMAILS") or ()}


def is_staff(user: Any) -> bool:
    """Whether this (signed-in) user may use the staff console."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return bool(getattr(user, "is_staff", False)) or user.email.lower() in staff_emails()


def set_staff(email: str, staff: bool) -> int:
    """Make the user with this e-mail staff (or no longer staff); returns their id."""
    with write() as session:
        user_id = session.execute(
            sa.update(User)
            .where(sa.func.lower(User.email) == email.strip().lower())
            .values(is_staff=staff)
            .returning(User.id)
        ).scalar_one_or_none()
        if user_id is None:
            raise NoSuchUser(email)
    return user_id


def list_staff() -> list[StaffMember]:
    """Everyone who is staff, by flag or by setting (a setting's e-mail may have no user yet)."""
    emails = staff_emails()
    with read() as session:
        rows = session.execute(
            sa.select(User.id, User.email, User.is_staff)
            .where(sa.or_(User.is_staff.is_(True), sa.func.lower(User.email).in_(emails)))
            .order_by(User.email)
        ).all()
    found = [StaffMember(row.id, row.email, row.email.lower() in emails, bool(row.is_staff)) for row in rows]
    known = {member.email.lower() for member in found}
    found += [StaffMember(None, email, True, False) for email in sorted(emails - known)]
    return found
