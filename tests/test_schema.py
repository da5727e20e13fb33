"""The committed migrations and the models describe the same schema."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from creditapp.extensions import db


@pytest.mark.smoke
def test_models_and_migrations_agree(app):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)

    assert differences == []


@pytest.mark.smoke
def test_healthz_answers_ok_when_the_database_answers(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_healthz_is_503_when_the_database_is_down(database_url):
    from creditapp import create_app

    down = create_app(
        {
            "CONFIG_NAME": "testing",
            "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://postgres@127.0.0.1:1/creditapp",
        }
    )

    response = down.test_client().get("/healthz")

    assert response.status_code == 503
    assert response.get_json()["status"] == "unavailable"


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (sa.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection")), 503),
        (sa.exc.IntegrityError("INSERT", {}, Exception("duplicate key")), 500),
    ],
    ids=["outage-is-retryable", "constraint-violation-is-a-bug"],
)
def test_only_database_outages_are_answered_as_retryable(database_url, error, status):
    from creditapp import create_app

    probe = create_app({"CONFIG_NAME": "testing", "SQLALCHEMY_DATABASE_URI": database_url})

    def fail():
        raise error

    probe.add_url_rule("/api/probe", "probe", fail)

    response = probe.test_client().get("/api/probe")

    assert response.status_code == status
    assert response.get_json()["error"] == ("unavailable" if status == 503 else "server_error")
