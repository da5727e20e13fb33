"""The app over real HTTP for the suite: Werkzeug's server, made to close every response."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

RESPONSE_KEY = "tests.live_server.response"


class ClosingRequestHandler(WSGIRequestHandler):
    """Werkzeug's request handler, closing the app's response when the client went away.

    Werkzeug closes the response last in a `finally` that first reads what is left of the
    request. When the client has already dropped the connection (Chromium cancelling an
    image as it navigates), that read raises and the response, with the file it streams, is
    left to the garbage collector: a ResourceWarning that pytest pins on whichever test runs
    then. gunicorn closes responses in its own `finally`, so only the suite's server needs this.
    """

    def connection_dropped(self, error: BaseException, environ: dict[str, Any] | None = None) -> None:
        """Close the response Werkzeug could not (closing one twice is harmless)."""
        response = environ.pop(RESPONSE_KEY, None) if environ else None
        if response is not None and hasattr(response, "close"):
            response.close()


def _remember_response(app: Flask):
    def serve(environ: dict[str, Any], start_response) -> Iterable[bytes]:
        response = app(environ, start_response)
        environ[RESPONSE_KEY] = response
        return response

    return serve


def live_server(app: Flask, port: int) -> BaseWSGIServer:
    """A threaded server for `app` on 127.0.0.1:`port` (call serve_forever to start it)."""
    return make_server(
        "127.0.0.1", port, _remember_response(app), threaded=True, request_handler=ClosingRequestHandler
    )
