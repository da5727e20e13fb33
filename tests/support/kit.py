"""Fixtures for the kit tests: an app with two features installed from outside the project.

`kit_app` is a second app on the suite's database, created while a folder holding the demo
packages (`tests.support.demo_features`) and their `*.dist-info` is on `sys.path`, so the
`creditapp.features` entry points find them exactly as they would find an installed package.
"""

from __future__ import annotations

import importlib
import re
import sys
import threading
from collections.abc import Iterator

import pytest
from flask import Flask, request_started

from creditapp import create_app, ledger
from creditapp.extensions import db
from tests.conftest import _fresh_g, app_settings, free_port
from tests.support import demo_features
from tests.support.db import truncate_all
from tests.support.live_server import live_server as serve_live

PRICES = {"echo_per_time": 50, "shout": 2}


def install_demo(root) -> None:
    """Write the demo packages into `root` and put it on sys.path (until `uninstall_demo`)."""
    demo_features.write(root)
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()


def uninstall_demo(root) -> None:
    """Take the folder off sys.path: apps created later find no demo entry point."""
    if str(root) in sys.path:
        sys.path.remove(str(root))
    importlib.invalidate_caches()


@pytest.fixture(scope="session")
def kit_app(_app: Flask, database_url: str, ports: dict[str, int], tmp_path_factory) -> Iterator[Flask]:
    """An app with the demo features installed through the entry-point group (suite database)."""
    root = tmp_path_factory.mktemp("site-packages")
    install_demo(root)
    try:
        settings = app_settings(
            database_url,
            f"http://127.0.0.1:{ports['emulator']}",
            APP_BASE_URL="http://127.0.0.1",
            RESULTS_DIR=str(tmp_path_factory.mktemp("kit-results")),
            FEATURE_PRICES=PRICES,
        )
        app = create_app(settings)
    finally:
        uninstall_demo(root)
    request_started.connect(_fresh_g, app)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def kit(kit_app: Flask) -> Iterator[Flask]:
    """The kit app with every table emptied and its context pushed."""
    with kit_app.app_context():
        truncate_all(db.engine)
        kit_app.extensions["jobs"].flush()
        yield kit_app
        db.session.remove()


@pytest.fixture(scope="session")
def kit_server(kit_app: Flask) -> Iterator[str]:
    """The kit app over real HTTP."""
    port = free_port()
    server = serve_live(kit_app, port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()


@pytest.fixture
def person(kit):
    """A signed-in test client of the kit app: (client, user_id, csrf token); `credits` sets the balance."""
    counter = iter(range(1, 1_000_000))

    def make(credits: int = 500):
        n = next(counter)
        user_id, _ = ledger.register_user(
            f"sub-kit-{n}", f"kit{n}@example.com", "Kit User", None, bonus=min(credits, 500)
        )
        if credits > 500:
            ledger.grant(user_id, credits - 500, note="test setup")
        client = kit.test_client()
        with client.session_transaction() as session:
            session["_user_id"] = str(user_id)
            session["_fresh"] = True
        html = client.get("/").get_data(as_text=True)
        token = re.search(r'<meta name="csrf-token" content="([^"]+)"', html).group(1)
        return client, user_id, token

    return make
