"""Pages speak words: error headings, one <h1> per page, a typed prompt kept without JS."""

from __future__ import annotations

import re


def h1s(html: str) -> list[str]:
    return re.findall(r"<h1[^>]*>(.*?)</h1>", html, re.S)


def test_an_error_page_has_a_heading_in_words_not_a_status_number(client, make_user, sign_in_as):
    sign_in_as(client, make_user())

    page = client.get("/no-such-page")

    html = page.get_data(as_text=True)
    assert page.status_code == 404
    assert h1s(html) == ["Page not found"]
    assert "<title>Page not found · creditapp</title>" in html


def test_an_error_fragment_for_htmx_never_brings_a_second_h1(client, make_user, sign_in_as):
    sign_in_as(client, make_user())

    fragment = client.get("/history", query_string={"before": "nonsense"}, headers={"HX-Request": "true"})

    html = fragment.get_data(as_text=True)
    assert fragment.status_code == 400
    assert h1s(html) == []
    assert "That request could not be used" in html and 'role="alert"' in html


def test_a_rate_limited_htmx_request_gets_words_and_no_h1(app):
    from creditapp.platform.errors import error_response

    with app.test_request_context("/features/image", method="POST", headers={"HX-Request": "true"}):
        html, status = error_response(429, "Slow down: 3 images a minute.")

    assert status == 429
    assert h1s(html) == [] and ">429<" not in html
    assert "Too many requests" in html and "Slow down" in html


def test_without_javascript_a_refused_prompt_is_still_in_the_form(client, make_user, sign_in_as):
    sign_in_as(client, make_user(credits=15))
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)
    prompt = "a paper crane on a windowsill at dawn"

    too_dear = client.post("/features/image", data={"prompt": prompt, "size": "1024", "csrf_token": token})
    bad_size = client.post("/features/image", data={"prompt": prompt, "size": "333", "csrf_token": token})

    for response in (too_dear, bad_size):
        html = response.get_data(as_text=True)
        assert response.status_code in (402, 422)
        assert f">{prompt}</textarea>" in html
        assert len(h1s(html)) == 1
    assert 'value="1024" selected' in too_dear.get_data(as_text=True)


def test_an_expired_form_without_javascript_comes_back_with_the_prompt(client, make_user, sign_in_as):
    sign_in_as(client, make_user(credits=500))
    prompt = "a heron in the rain, ink wash"

    response = client.post("/features/image", data={"prompt": prompt, "size": "1024", "csrf_token": "stale"})

    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert f">{prompt}</textarea>" in html
    assert 'value="1024" selected' in html
    assert "The form expired" in html
    assert len(h1s(html)) == 1
