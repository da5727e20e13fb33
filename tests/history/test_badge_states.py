"""The balance as people read it: separators, low and negative states, Generate only when it can pay."""

from __future__ import annotations

import re

import pytest

from creditapp import ledger
from creditapp.features.offers import cheapest_use
from tests.history.test_history import buy


def badge(html: str) -> tuple[str, str]:
    found = re.search(r'<span id="credit-badge" class="badge badge-(\w+)"[^>]*>(.*?)</span>\s*$', html, re.S)
    return found.group(1), re.sub(r"<[^>]+>", "", found.group(2)).strip()


@pytest.mark.smoke
def test_the_badge_writes_thousands_and_says_low_below_the_cheapest_use(client, make_user, sign_in_as):
    rich = make_user(credits=12_345)
    sign_in_as(client, rich)
    assert badge(client.get("/credits/badge").get_data(as_text=True)) == ("ok", "12,345 credits")

    # Low is below the cheapest use of any feature the app has (a 256 px image: 5; a QR code: 1).
    cheapest = cheapest_use()
    sign_in_as(client, make_user(credits=cheapest))
    assert badge(client.get("/credits/badge").get_data(as_text=True))[0] == "ok"
    sign_in_as(client, make_user(credits=cheapest - 1))
    assert badge(client.get("/credits/badge").get_data(as_text=True)) == (
        "low",
        f"{cheapest - 1} credits · low",
    )


def test_the_badge_says_negative_after_a_refund_of_spent_credits(client, make_user, sign_in_as):
    user_id = make_user(credits=0)
    purchase_id = buy(user_id, 20)
    held = ledger.hold(user_id, "image_generation", 20)
    ledger.capture(held.spend_id)
    ledger.claw_back_refund(purchase_id, 20, "re_badge")
    sign_in_as(client, user_id)

    response = client.get("/credits/badge")

    assert badge(response.get_data(as_text=True)) == ("negative", "-20 credits · negative")
    assert response.headers["Cache-Control"] == "no-store"


def test_generate_is_disabled_with_the_reason_when_the_balance_cannot_pay(client, make_user, sign_in_as):
    sign_in_as(client, make_user(credits=15))

    page = client.get("/features/image").get_data(as_text=True)  # 512 px: 10 credits, affordable
    quote = client.get("/features/image/quote?size=1024").get_data(as_text=True)

    assert '<button type="submit" id="generate-button">Generate image</button>' in page
    assert 'id="generate-actions" hx-swap-oob="true"' in quote
    assert '<button type="submit" id="generate-button" disabled aria-describedby="generate-blocked">' in quote
    assert "You need 20 credits for this size and have 15." in quote
