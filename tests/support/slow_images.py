"""A stand-in for OpenAI's Images API that answers after a set delay (a slow provider)."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image


def _png_b64(size: int = 1024) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (40, 90, 160)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


class SlowImagesAPI:
    """POST /v1/images/generations answered with a PNG after `latency` seconds."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.arrived = 0
        self.answered = 0
        self._count = threading.Condition()
        body = json.dumps({"created": 1, "data": [{"b64_json": _png_b64()}]}).encode()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with api._count:
                    api.arrived += 1
                    api._count.notify_all()
                time.sleep(api.latency)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                with api._count:
                    api.answered += 1

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def wait_for_arrivals(self, count: int, timeout: float = 30) -> None:
        """Block until `count` generation requests have arrived (they are then in flight)."""
        with self._count:
            if not self._count.wait_for(lambda: self.arrived >= count, timeout):
                raise TimeoutError(f"{self.arrived}/{count} image requests arrived within {timeout}s")

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()
