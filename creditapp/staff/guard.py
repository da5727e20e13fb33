"""The door of /admin/: staff only, everyone else a 404; never cached; every request logged.

The guard runs before every other before-request function of the app (the CSRF check, the
Bearer check), so a visitor who is not staff gets the same 404 for any /admin/ path, method
or token: the console's existence is not revealed. A request carrying an Authorization
header is refused too: an API key never reaches the console.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, abort, g, request
from flask_login import current_user

from creditapp.staff import members

PREFIX = "/admin"
log = logging.getLogger("creditapp.staff")


def is_console(path: str) -> bool:
    """Whether a request path is the console's (`/admin` or under `/admin/`)."""
    return path == PREFIX or path.startswith(PREFIX + "/")


def admit_staff_only() -> None:
    """Before any other check: 404 unless a staff member signed in with a browser session."""
    if not is_console(request.path):
        return
    if "Authorization" in request.headers or not members.is_staff(current_user):
        abort(404)
    g.staff_admitted = True
    log.info(
        "staff request",
        extra={"actor_user_id": current_user.id, "method": request.method, "path": request.path},
    )


def never_cached(response: Response) -> Response:
    """No browser or proxy keeps a console page: they show customers' money and details.

    Only for staff: the 404 anyone else gets carries the headers of any other 404.
    """
    if g.get("staff_admitted"):
        response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    """Put the guard first among the app's before-request functions, and no-store on every answer."""
    app.before_request_funcs.setdefault(None, []).insert(0, admit_staff_only)
    app.after_request(never_cached)
