"""Helpers and fixtures for the paid-feature tests: a signed-in client, the JSON API, rows."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from PIL import Image

from creditapp import ledger
from creditapp.extensions import db
from creditapp.features.image import providers as image_providers
from creditapp.features.image.providers import ProviderError
from creditapp.models import CreditSpend

API = "/api/features/image"


def csrf_token(client) -> str:
    """The token every page carries in <meta name="csrf-token">."""
    html = client.get("/").get_data(as_text=True)
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', html).group(1)


@pytest.fixture
def signed_in(client, make_user, sign_in_as):
    """A signed-in client with 500 credits; returns (client, user_id, csrf token)."""

    def make(credits: int = 500):
        user_id = make_user(credits=credits)
        sign_in_as(client, user_id)
        return client, user_id, csrf_token(client)

    return make


def post_json(client, token, body, key=None, **headers):
    """POST to the image API with the CSRF header (and an Idempotency-Key when given)."""
    headers = {"X-CSRFToken": token, **headers}
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post(API, json=body, headers=headers)


def fetch_result(client, job: dict) -> Image.Image:
    """Download a finished job's picture through its result URL."""
    response = client.get(job["result"]["image_url"])
    data = response.get_data()
    response.close()  # the file the app opened to send
    assert response.status_code == 200, data
    assert response.mimetype == "image/png"
    return Image.open(io.BytesIO(data))


def job_json(client, job_id: str) -> dict:
    """GET /api/jobs/<id> as the job's owner sees it."""
    response = client.get(f"/api/jobs/{job_id}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def spends(user_id: int) -> list[CreditSpend]:
    """The user's spend rows, oldest first."""
    db.session.expire_all()
    return list(
        db.session.execute(
            sa.select(CreditSpend).where(CreditSpend.user_id == user_id).order_by(CreditSpend.id)
        )
        .scalars()
        .all()
    )


def balance(user_id: int) -> int:
    """The stored balance, read fresh."""
    db.session.expire_all()
    return ledger.balance(user_id).credits


class OutlivedProvider:
    """An image service so slow that `flask credits release-stale` ran while it worked."""

    deterministic = True

    def generate(self, prompt: str, size: int) -> bytes:
        ledger.release_stale(timedelta(0))
        return b"\x89PNG late"


class BrokenProvider:
    """Stands in for an external image service that is down."""

    deterministic = True

    def generate(self, prompt: str, size: int) -> bytes:
        raise ProviderError("The image service is down.")


@pytest.fixture
def broken_provider(app, monkeypatch):
    """Make the configured image provider fail on every call."""
    monkeypatch.setitem(image_providers.PROVIDERS, "broken", lambda config: BrokenProvider())
    monkeypatch.setitem(app.config, "IMAGE_PROVIDER", "broken")
