"""The committed migrations and the models describe the same schema."""

from __future__ import annotations

import pytest
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
