"""The API description: it covers exactly the app's /api/ routes, and the routes answer as it says."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from openapi_schema_validator import OAS31Validator

from creditapp.api import openapi
from tests.accounts.conftest import bearer
from tests.support.fuzz import fuzz

# Examples per operation and phase: enough to try each several ways in a few seconds.
EXAMPLES = 20
# What the document cannot say (a rule across two parameters), told to schemathesis.
SCHEMATHESIS_CONFIG = Path(__file__).with_name("schemathesis.toml")


def test_every_api_route_and_method_is_described_and_nothing_else(app, api):
    document = requests.get(f"{api}/api/openapi.json", timeout=10).json()
    assert document["openapi"] == "3.1.0"
    described = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    routed = {
        (openapi.FlaskPlugin.flaskpath2openapi(rule.rule), method)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert described == routed
    assert document["components"]["securitySchemes"]["apiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key: `ca_test_…` or `ca_live_…`.",
    }
    for schema in document["components"]["schemas"].values():
        OAS31Validator.check_schema(schema)


def test_a_route_without_a_description_stops_the_document_from_building(app):
    original = openapi.OPERATIONS.pop("jobs.api_cancel")
    try:
        with pytest.raises(openapi.DescriptionMismatch):
            openapi.build(app)
    finally:
        openapi.OPERATIONS["jobs.api_cancel"] = original


def test_a_wrong_method_is_a_405_that_says_which_are_allowed(api, make_user, new_key):
    token = new_key(make_user())
    answer = requests.delete(f"{api}/api/user/credits", headers=bearer(token), timeout=10)
    assert answer.status_code == 405
    assert set(answer.headers["Allow"].replace(" ", "").split(",")) >= {"GET"}
    assert answer.json()["error"] == "method_not_allowed"


def test_the_api_answers_as_its_description_says(api, make_user, new_key, tmp_path):
    """Schemathesis, every phase and check, with a key: no 5xx, answers as documented and as HTTP says."""
    token = new_key(make_user(credits=1_000_000), name="fuzzer")
    fuzz(api, token, tmp_path, "--max-examples", str(EXAMPLES), config=SCHEMATHESIS_CONFIG)
