"""The Stripe stand-in's request log and the failures a test can ask it for."""

from __future__ import annotations

import pytest
import stripe

from tests.support.emulator import EmulatorError


def test_every_v1_request_is_logged_until_the_next_reset(emulator, stripe_client, price_ids):
    stripe_client.v1.prices.retrieve(price_ids["credits_100"])
    stripe_client.v1.prices.list(params={"limit": 2})

    seen = emulator.stripe_requests()

    assert [(r["method"], r["path"]) for r in seen][-2:] == [
        ("GET", f"/v1/prices/{price_ids['credits_100']}"),
        ("GET", "/v1/prices"),
    ]
    assert seen[-1]["query"] == "limit=2"
    emulator.reset()
    assert emulator.stripe_requests() == []


def test_a_fault_fails_the_next_matching_requests_without_an_sdk_retry(emulator, price_ids):
    sdk = stripe.StripeClient(
        "sk_test_faults", base_addresses={"api": emulator.base_url}, max_network_retries=2
    )
    emulator.fail_next("/v1/prices/", method="GET", times=2)

    for _ in range(2):
        with pytest.raises(stripe.APIError):
            sdk.v1.prices.retrieve(price_ids["credits_100"])
    listed = sdk.v1.prices.list()  # another path: not failed
    answered = sdk.v1.prices.retrieve(price_ids["credits_100"])  # the faults are used up

    assert listed.data and answered.id == price_ids["credits_100"]
    assert len(emulator.stripe_requests("/v1/prices/")) == 3  # the SDK did not retry the faults


@pytest.mark.parametrize(
    "fault", [{"path": "/prices"}, {"path": "/v1/x", "times": 0}, {"path": "/v1/x", "status": 404}]
)
def test_a_malformed_fault_is_refused(emulator, fault):
    with pytest.raises(EmulatorError, match="400"):
        emulator._call("POST", "/_emulator/faults", fault)
