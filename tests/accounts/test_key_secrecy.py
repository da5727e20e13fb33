"""A key's secret is never stored and never logged: not in any table, not in gunicorn's or the app's logs."""

from __future__ import annotations

import hashlib
import logging

import requests
import sqlalchemy as sa

from creditapp.extensions import db
from creditapp.models import ApiKey
from tests.accounts.conftest import bearer
from tests.multi.conftest import instance_env
from tests.multi.processes import Gunicorn
from tests.support.db import TABLES


def _exercise(base: str, token: str) -> None:
    """Good and bad requests with the key: reads, a spend, a wrong method, a tampered secret."""
    assert requests.get(f"{base}/api/user/credits", headers=bearer(token), timeout=10).status_code == 200
    spent = requests.post(
        f"{base}/api/features/image",
        json={"prompt": "a crane", "size": 256},
        headers=bearer(token),
        timeout=10,
    )
    assert spent.status_code == 202
    assert (
        requests.get(f"{base}{spent.headers['Location']}", headers=bearer(token), timeout=10).status_code
        == 200
    )
    assert requests.delete(f"{base}/api/user/credits", headers=bearer(token), timeout=10).status_code == 405
    assert (
        requests.get(f"{base}/api/user/credits", headers=bearer(token[:-1] + "!"), timeout=10).status_code
        == 401
    )
    assert (
        requests.post(f"{base}/api/features/image", data="{", headers=bearer(token), timeout=10).status_code
        == 400
    )


def test_the_secret_appears_nowhere_in_the_database_or_the_logs(
    app, api, database_url, emulator, make_user, new_key, caplog, tmp_path
):
    caplog.set_level(logging.DEBUG)
    token = new_key(make_user(credits=100))
    secret = token.rsplit("_", 1)[1]
    _exercise(api, token)  # the in-process server: every record the app logs lands in caplog
    server = Gunicorn(
        instance_env(
            database_url,
            emulator,
            LOG_LEVEL="debug",
            LOG_FORMAT="json",
            ACCESS_LOG="full",
            JOBS_BROKER_URL=f"sqlite:///{tmp_path}/jobs.db",
            RESULTS_DIR=str(tmp_path / "results"),
        ),
        workers=1,
    )
    try:
        _exercise(server.url, token)
        # A graceful stop: gunicorn writes its last access lines and exits; then the log is whole.
        server.process.terminate()
        server.process.wait(timeout=30)
        gunicorn_log = server.log.read_text()
    finally:
        server.stop()
    assert "GET /api/user/credits HTTP/1.1" in gunicorn_log  # the access lines are there
    assert "/api/features/image" in gunicorn_log
    assert secret not in gunicorn_log
    assert secret not in caplog.text and token[:-1] not in caplog.text

    stored = db.session.execute(sa.select(ApiKey.secret_hash)).scalar_one()
    assert stored == hashlib.sha256(token.encode()).hexdigest()
    for table in TABLES:
        rows = db.session.execute(sa.text(f"SELECT t::text FROM {table} t")).scalars().all()
        assert not any(secret in row for row in rows), table
    db.session.commit()
