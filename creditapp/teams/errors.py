"""What a refused team action raises; views map them to 404, 403 and 400/409."""

from __future__ import annotations


class TeamsError(Exception):
    """A team action that was refused; nothing was written."""


class NotFound(TeamsError):
    """No such organization, or the person is not in it (a 404: nothing leaks)."""


class Forbidden(TeamsError):
    """A member of the organization whose role may not do this (a 403)."""


class Refused(TeamsError):
    """The action breaks a rule of the organization (the last owner, an unknown role…)."""
