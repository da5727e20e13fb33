"""The suite's own HTTP server closes what it serves, even for a client that walked away."""

from __future__ import annotations

import socket
import sys
import time
from urllib.parse import urlsplit


def test_a_download_the_client_drops_leaves_no_file_to_the_garbage_collector(live_server):
    # A file left open is closed by its finalizer with a ResourceWarning, which the suite
    # turns into an error reported through sys.unraisablehook, in whatever test runs then.
    seen = []
    previous = sys.unraisablehook
    sys.unraisablehook = seen.append
    try:
        address = urlsplit(live_server)
        for _ in range(30):
            with socket.create_connection((address.hostname, address.port)) as client:
                client.sendall(b"GET /static/css/app.css HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                time.sleep(0.003)  # closed with the answer unread: the server gets a reset
        time.sleep(0.5)  # the server's threads finish those requests
    finally:
        sys.unraisablehook = previous

    assert [str(unraisable.exc_value) for unraisable in seen] == []
