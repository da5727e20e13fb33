"""Every list endpoint of the Stripe stand-in names the parameter it refuses, as Stripe does.

Stripe checks a request's parameters before it looks anything up: an unknown name is a 400
``parameter_unknown`` naming that name, even when the object in the path does not exist.
"""

from __future__ import annotations

import pytest
import requests

from .stripe_spec import spec

LISTS = sorted(route for route in spec()["routes"] if route.startswith("GET ") and not route.endswith("}"))
PARENT = {"{session}": "cs_test_missing", "{charge}": "ch_missing"}


def test_the_stand_in_serves_these_list_endpoints():
    assert "GET /v1/checkout/sessions" in LISTS
    assert "GET /v1/charges/{charge}/refunds" in LISTS
    assert "GET /v1/checkout/sessions/{session}/line_items" in LISTS


@pytest.mark.parametrize("route", LISTS)
@pytest.mark.parametrize("unknown", ["x", "mode", "x[y]"])
def test_an_unknown_parameter_on_a_list_endpoint_is_named_in_the_error(emulator, route, unknown):
    path = route.split(" ", 1)[1]
    for placeholder, missing in PARENT.items():
        path = path.replace(placeholder, missing)
    http = requests.Session()
    http.trust_env = False

    answer = http.get(
        emulator.base_url + path,
        params={unknown: "1"},
        headers={"Authorization": "Bearer sk_test_list_params"},
        timeout=10,
    )

    error = answer.json()["error"]
    named = unknown.split("[")[0]
    assert (answer.status_code, error.get("code"), error.get("param")) == (400, "parameter_unknown", named)
    assert error["message"] == f"Received unknown parameter: {named}"
