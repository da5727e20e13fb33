"""Error pages speak the product's words, inside the site's layout, with a way back; /api/ stays JSON."""

from __future__ import annotations

import re

from creditapp.extensions import db
from creditapp.models import CreditPurchase

WERKZEUG_WORDS = (
    "The requested URL was not found on the server",
    "If you entered the URL manually",
    "The method is not allowed for the requested URL",
)


def someone_elses_checkout(user_id: int) -> str:
    """A pending purchase of another user, as checkout creates it."""
    session_id = f"cs_test_theirs_{user_id}"
    db.session.add(
        CreditPurchase(
            user_id=user_id,
            stripe_checkout_session_id=session_id,
            stripe_price_id="price_test",
            credits_purchased=1000,
            amount_paid=3500,
            currency="usd",
        )
    )
    db.session.commit()
    return session_id


def assert_in_product_words(html: str) -> None:
    for words in WERKZEUG_WORDS:
        assert words not in html


def test_the_receipt_of_another_persons_purchase_is_a_404_in_our_words_with_the_site_around_it(
    client, make_user, sign_in_as
):
    theirs = someone_elses_checkout(make_user())
    sign_in_as(client, make_user(credits=1234))

    page = client.get("/checkout/success", query_string={"session_id": theirs})

    html = page.get_data(as_text=True)
    assert page.status_code == 404
    assert_in_product_words(html)
    assert re.search(r"<h1>Page not found</h1>", html)
    assert "belongs to another account" in html  # says what may have happened
    assert 'class="site-header"' in html and "1,234 credits" in html  # the layout, badge and all
    assert '<a href="/">Back to the home page</a>' in html


def test_an_unknown_address_in_our_words_signed_in_or_out_and_as_an_htmx_fragment(
    client, make_user, sign_in_as
):
    signed_out = client.get("/no-such-page")
    sign_in_as(client, make_user())
    signed_in = client.get("/no-such-page")
    fragment = client.get("/no-such-page", headers={"HX-Request": "true"})

    for answer in (signed_out, signed_in, fragment):
        assert answer.status_code == 404
        assert_in_product_words(answer.get_data(as_text=True))
        assert "Page not found" in answer.get_data(as_text=True)
    assert "Sign in with Google" in signed_out.get_data(as_text=True)  # the layout for a visitor


def test_a_page_opened_the_wrong_way_is_a_405_in_our_words(client, make_user, sign_in_as):
    sign_in_as(client, make_user())

    page = client.get("/logout")

    html = page.get_data(as_text=True)
    assert page.status_code == 405 and "POST" in page.headers["Allow"]
    assert_in_product_words(html)
    assert "That action is not available here" in html and 'class="site-header"' in html


def test_a_404_under_api_stays_json(client, make_user, sign_in_as):
    sign_in_as(client, make_user())

    answer = client.get("/api/no-such-thing", headers={"Accept": "text/html"})

    assert answer.status_code == 404
    assert answer.mimetype == "application/json"
    assert answer.get_json()["error"] == "not_found"
    assert_in_product_words(answer.get_data(as_text=True))
