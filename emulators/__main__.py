"""Run the emulators: ``python -m emulators`` (settings from the environment)."""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

from werkzeug.serving import make_server

from . import create_app, mail, settings


def main() -> int:
    """Serve until SIGINT or SIGTERM, then stop cleanly."""
    options = settings.from_env()
    app = create_app(options)
    server = make_server(options["host"], options["port"], app, threaded=True)
    smtp = mail.start_smtp(app, options["host"], options["smtp_port"])
    stopping = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        if not stopping.is_set():
            stopping.set()
            # shutdown() waits for serve_forever to return, so it cannot run on this thread.
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    url = f"http://{options['host']}:{server.server_port}"
    print(f"Local Stripe and Google stand-ins on {url}", flush=True)
    print(f"  Stripe API:   STRIPE_API_BASE={url}", flush=True)
    print(
        f"  Google OIDC:  GOOGLE_DISCOVERY_URL={url}/google/.well-known/openid-configuration",
        flush=True,
    )
    print(f"  Webhooks to:  {options['webhook_url']}", flush=True)
    print(
        f"  Mail (SMTP):  SMTP_URL=smtp://{options['host']}:{smtp.port}, inbox at {url}/_emulator/mail",
        flush=True,
    )
    try:
        server.serve_forever()
    finally:
        server.server_close()
        smtp.stop()
        app.extensions["emulator"].close()
    print("Emulators stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
