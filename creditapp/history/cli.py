"""History's `flask credits history` command."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from creditapp.history import entries as history
from creditapp.history import lots
from creditapp.ledger.cli import user_id


@click.command("history")
@click.argument("email")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@with_appcontext
def history_command(email: str, limit: int) -> None:
    """Print a user's ledger, newest first."""
    entries = history.page(user_id(email), limit=limit).entries
    if not entries:
        click.echo("no ledger entries")
    for entry in entries:
        drawn = f" ({lots.drawn_from(entry.drawn_from)})" if entry.drawn_from else ""
        click.echo(
            f"{entry.created_at:%Y-%m-%d %H:%M:%S}  {entry.amount:+7d}  {entry.kind:<10} "
            f"{entry.description}{drawn}"
        )


COMMANDS = (history_command,)
