"""`flask staff add|remove|list`: who may use the staff console."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from creditapp.staff import members

staff_cli = AppGroup("staff", help="Who may use the staff console (/admin/).")


@staff_cli.command("add")
@click.argument("email")
def add_command(email: str) -> None:
    """Make the user with EMAIL staff (they must have signed in once)."""
    try:
        user_id = members.set_staff(email, True)
    except members.NoSuchUser:
        raise click.ClickException(f"No user has the e-mail {email}: they must sign in once first.") from None
    click.echo(f"{email} (user {user_id}) is staff.")


@staff_cli.command("remove")
@click.argument("email")
def remove_command(email: str) -> None:
    """Take staff away from the user with EMAIL (STAFF_EMAILS still counts)."""
    try:
        members.set_staff(email, False)
    except members.NoSuchUser:
        raise click.ClickException(f"No user has the e-mail {email}.") from None
    if email.strip().lower() in members.staff_emails():
        click.echo(f"{email} is no longer staff by `flask staff add`, but STAFF_EMAILS still names them.")
    else:
        click.echo(f"{email} is no longer staff.")


@staff_cli.command("list")
def list_command() -> None:
    """One line per staff member: e-mail, user id, and what makes them staff."""
    for member in members.list_staff():
        how = " and ".join(
            word
            for word, on in (("flask staff add", member.by_flag), ("STAFF_EMAILS", member.by_setting))
            if on
        )
        user = f"user {member.user_id}" if member.user_id is not None else "has not signed in yet"
        click.echo(f"{member.email}\t{user}\t{how}")
