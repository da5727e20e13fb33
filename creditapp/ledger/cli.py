"""The ledger's `flask credits …` commands: balance, grant, audit, release-stale.

Plain lines on stdout; errors on stderr, non-zero exit. `create_app` puts them in the
`credits` group with the other domains' (`history`, `reconcile`).
"""

from __future__ import annotations

from datetime import timedelta

import click
from flask import current_app
from flask.cli import with_appcontext

from creditapp import ledger


def user_id(email: str) -> int:
    """The user with this e-mail address, or a ClickException naming the unknown address."""
    try:
        return ledger.user_id_for_email(email)
    except ledger.UnknownUser as exc:
        raise click.ClickException(str(exc)) from exc


@click.command("balance")
@click.argument("email")
@with_appcontext
def balance_command(email: str) -> None:
    """Print a user's balance."""
    result = ledger.balance(user_id(email))
    held = f" ({result.held} on hold)" if result.held else ""
    click.echo(f"{email.lower()}: {result.credits} credits{held}")


# ignore_unknown_options lets a negative AMOUNT ("-5") through as an argument.
@click.command("grant", context_settings={"ignore_unknown_options": True})
@click.argument("email")
@click.argument("amount", type=int)
@click.option("--reason", required=True, help="Why; recorded with the adjustment.")
@with_appcontext
def grant_command(email: str, amount: int, reason: str) -> None:
    """Add (or, with a negative AMOUNT, remove) credits, recorded with a reason."""
    try:
        new_balance = ledger.grant(user_id(email), amount, note=reason).balance
    except ledger.InvalidAmount as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{email.lower()}: {amount:+d} credits ({reason}); balance now {new_balance}")


@click.command("audit")
@with_appcontext
def audit_command() -> None:
    """Check every balance against its ledger and every purchase's clawback against its
    entries; exit 1 listing any mismatch."""
    mismatches = ledger.audit()
    if not mismatches:
        click.echo(
            "audit clean: every balance equals its ledger sum, every clawback its refund and dispute entries"
        )
        return
    for m in mismatches:
        click.echo(m.describe(), err=True)
    raise click.exceptions.Exit(1)


@click.command("release-stale")
@click.option(
    "--older-than", type=click.IntRange(min=0), default=None, help="Seconds (default HOLD_TIMEOUT_SECONDS)."
)
@with_appcontext
def release_stale_command(older_than: int | None) -> None:
    """Release holds abandoned by crashed workers (safe to run from cron)."""
    seconds = older_than if older_than is not None else current_app.config["HOLD_TIMEOUT_SECONDS"]
    released = ledger.release_stale(timedelta(seconds=seconds))
    for spend_id, user_id, amount in released:
        click.echo(f"released spend {spend_id}: {amount} credits back to user {user_id}")
    click.echo(f"released {len(released)} stale hold(s) older than {seconds}s")


COMMANDS = (balance_command, grant_command, audit_command, release_stale_command)
