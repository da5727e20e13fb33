"""Staff: the console under /admin/ where support finds a customer, sees their money and acts.

Only staff (STAFF_EMAILS, or `flask staff add`) reach it; to anyone else every /admin/ path
is a 404. Each action goes through the ledger or the domain's own function and leaves an
`admin_actions` row (docs/staff.md).
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """The guard in front of /admin/, the console's pages and `flask staff`."""
    from creditapp.staff import cli, guard, views

    guard.init_app(app)
    app.register_blueprint(views.bp)
    app.cli.add_command(cli.staff_cli)
