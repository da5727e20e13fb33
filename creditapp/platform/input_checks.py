"""Text no database can store is refused once, before any view reads the request.

PostgreSQL's text type has no NUL character, and a lone UTF-16 surrogate (JSON's "\\ud800")
has no UTF-8 form at all; SQLite stores both. So a prompt holding either was a 500 on one
database and a stored row on the other. Every form field, query argument and JSON string
(keys included) is checked here, so every database answers the same clear 422 and no new
field can forget the check. Nothing has been written when it answers.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask, jsonify, make_response, request

from creditapp.platform.errors import error_response


class InvalidInput(ValueError):
    """The request is malformed; nothing was charged. `field` names the culprit."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
MESSAGE = (
    "{field} contains a character that cannot be stored (a NUL character or an unpaired "
    "surrogate, which no keyboard types). Remove it and send again."
)


def replace_unstorable(text: str) -> str:
    """`text` with each unstorable character shown as U+FFFD, to hand what was typed back."""
    return UNSTORABLE.sub("\ufffd", text)


def _bad_field(value: Any, path: str) -> str | None:
    """The dotted path of the first unstorable string in a JSON value, or None."""
    if isinstance(value, str):
        return path if UNSTORABLE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            if UNSTORABLE.search(key):
                return path or "a field name"
            found = _bad_field(item, f"{path}.{key}" if path else key)
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _bad_field(item, f"{path}[{index}]")
            if found:
                return found
    return None


def _bad_request_field() -> str | None:
    """The name of the first query argument, form field or JSON string that cannot be stored."""
    for source in (request.args, request.form):
        for key, values in source.lists():
            if UNSTORABLE.search(key) or any(UNSTORABLE.search(v) for v in values):
                return replace_unstorable(key)
    if request.is_json:
        # Parsed once here and cached; a body that is not JSON is left to the view's own 400.
        body = request.get_json(silent=True)
        found = _bad_field(body, "")
        if found is not None:
            return replace_unstorable(found) or "the body"
    return None


def refuse_unstorable_text():
    """Before each request: 422 when any text of it cannot be stored (JSON for /api/, HTML for pages)."""
    if request.path.startswith("/webhooks/"):
        return None  # Stripe's signed body: the webhook view verifies it and stores it as sent
    field = _bad_request_field()
    if field is None:
        return None
    message = MESSAGE.format(field=f"The field “{field}”")
    if request.path.startswith("/api/"):
        body = {"error": "invalid_input", "message": message, "field": field}
        return make_response(jsonify(body), 422)
    return error_response(422, message, "invalid_input")


def init_app(app: Flask) -> None:
    """Check every request's text after sign-in and CSRF have had their say."""
    app.before_request(refuse_unstorable_text)
