"""The `qr` feature, through the real app: a QR code PNG for a text, made inside the request
(instant), 1 credit. Every PNG is scanned back with a QR decoder (zxing-cpp) to prove it
holds the text."""

from __future__ import annotations

import csv
import io
import re

import jsonschema_rs
import pytest
import sqlalchemy as sa
import zxingcpp
from PIL import Image

from creditapp import ledger
from creditapp.accounts import api_keys
from creditapp.api import openapi
from creditapp.extensions import db
from creditapp.features import InvalidInput, registry
from creditapp.models import FeatureJob
from tests.support import spending
from tests.support.spending import balance, spends

API = "/api/features/qr"

signed_in = spending.signed_in


@pytest.fixture
def api_key(signed_in):
    """A user with 500 credits and an API key: (client, user_id, headers with the key)."""

    def make(scopes=("spend", "read"), monthly_limit=None, credits=500):
        client, user_id, _ = signed_in(credits=credits)
        token = api_keys.create_key(user_id, "qr tests", list(scopes), monthly_limit).token
        return client, user_id, {"Authorization": f"Bearer {token}"}

    return make


def scanned(png: bytes) -> str:
    """The text a QR decoder reads in the PNG (exactly one QR code in it).

    Only QR codes are looked for: the modules of a long text can happen to look like a
    stripe of another symbology (an EAN-13) to a decoder that looks for every kind."""
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    [code] = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    return code.text


def download(client, url: str) -> bytes:
    """A result's bytes, fetched as its owner."""
    response = client.get(url)
    data = response.get_data()
    response.close()  # the file the app opened to send
    assert response.status_code == 200 and response.mimetype == "image/png", data[:200]
    return data


def jobs() -> int:
    """How many feature_jobs rows there are."""
    db.session.expire_all()
    return db.session.execute(sa.select(sa.func.count()).select_from(FeatureJob)).scalar_one()


# --- the API -----------------------------------------------------------------------------


@pytest.mark.smoke
@pytest.mark.parametrize(
    "text",
    [
        "https://example.com/pay?order=42&lang=en",
        "Grüße aus Köln — café, naïve, 日本語, 😀",
        "HELLO WORLD 123",
        "x" * 1000,
    ],
)
def test_the_api_answers_200_with_a_png_that_scans_back_to_the_text(api_key, text):
    client, user_id, headers = api_key()

    response = client.post(API, json={"text": text}, headers=headers)

    job = response.get_json()
    assert response.status_code == 200
    assert (job["status"], job["feature"], job["cost"], job["charged"]) == ("succeeded", "qr", 1, 1)
    assert job["result"] == {"image_url": f"/api/jobs/{job['id']}/result.png"}
    assert scanned(download(client, job["result"]["image_url"])) == text
    assert [(s.feature_used, s.status, s.credits_spent) for s in spends(user_id)] == [("qr", "captured", 1)]
    assert balance(user_id) == 499 and ledger.audit() == []


def test_asking_for_image_png_answers_with_the_png_itself(api_key):
    client, _, headers = api_key()

    response = client.post(API, json={"text": "raw bytes"}, headers={**headers, "Accept": "image/png"})

    assert response.status_code == 200 and response.mimetype == "image/png"
    assert scanned(response.get_data()) == "raw bytes"


def test_the_scale_sets_the_pixels_per_module(api_key):
    client, _, headers = api_key()

    def width(**scale) -> int:
        png = client.post(API, json={"text": "size", **scale}, headers={**headers, "Accept": "image/png"})
        return Image.open(io.BytesIO(png.get_data())).width

    # "size" makes a version 1 code: 21 modules, and a quiet border of 4 on each side.
    assert (width(scale=1), width(scale=10), width()) == (29, 290, 232)  # 8 when not given


@pytest.mark.smoke
def test_the_same_idempotency_key_returns_the_same_png_and_charges_once(api_key):
    client, user_id, headers = api_key()
    keyed = {**headers, "Idempotency-Key": "qr-order-42"}

    first = client.post(API, json={"text": "order 42"}, headers=keyed)
    again = client.post(API, json={"text": "order 42"}, headers=keyed)
    raw = client.post(API, json={"text": "order 42"}, headers={**keyed, "Accept": "image/png"})

    assert first.status_code == again.status_code == raw.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["id"] == first.get_json()["id"]
    png = download(client, first.get_json()["result"]["image_url"])
    assert raw.get_data() == png and scanned(png) == "order 42"
    assert [(s.status, s.credits_spent) for s in spends(user_id)] == [("captured", 1)]
    assert jobs() == 1 and balance(user_id) == 499 and ledger.audit() == []


def test_the_same_key_for_another_text_is_refused(api_key):
    client, user_id, headers = api_key()
    keyed = {**headers, "Idempotency-Key": "qr-once"}

    client.post(API, json={"text": "first"}, headers=keyed)
    other = client.post(API, json={"text": "second"}, headers=keyed)

    assert other.status_code == 409 and other.get_json()["error"] == "idempotency_key_reused"
    assert len(spends(user_id)) == 1 and balance(user_id) == 499


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({}, "text", "Text is missing."),
        ({"text": ""}, "text", "Text is empty."),
        ({"text": "   "}, "text", "Text is empty."),
        ({"text": "\x1e\u3000"}, "text", "Text is empty."),  # spaces to Python, if not all to ECMA-262
        ({"text": "\ufeff"}, "text", "Text is empty."),  # a space to ECMA-262, not to Python
        ({"text": "x" * 1001}, "text", "Text is 1001 characters long; the limit is 1000."),
        ({"text": "😀" * 600}, "text", "The text takes 2,400 bytes; one QR code holds at most 2,331."),
        ({"text": 42}, "text", "The text must be a string."),
        ({"text": ["a"]}, "text", "The text must be a string."),
        ({"text": "hi", "scale": 0}, "scale", "Scale must be at least 1."),
        ({"text": "hi", "scale": 21}, "scale", "Scale must be at most 20."),
        ({"text": "hi", "scale": "big"}, "scale", "Scale must be a whole number."),
        (
            {"text": "hi", "colour": "red"},
            "colour",
            "“colour” is not a field this takes (it takes text, scale).",
        ),
    ],
)
def test_bad_input_is_422_and_writes_nothing(api_key, body, field, words):
    client, user_id, headers = api_key()

    response = client.post(API, json=body, headers=headers)

    assert response.status_code == 422
    assert response.get_json() == {"error": "invalid_input", "field": field, "message": words}
    assert spends(user_id) == [] and jobs() == 0 and balance(user_id) == 500


def test_a_text_the_api_document_calls_valid_is_never_refused_as_empty(app):
    """The document's readers check patterns as ECMA-262 (schemathesis: jsonschema-rs); the app
    trims the text the Python way first. One character at a time, over the whole BMP, both
    agree on which texts are "empty"."""
    text_schema = registry.get("qr").schema["properties"]["text"]
    readers = jsonschema_rs.validator_for({k: v for k, v in text_schema.items() if k != "x-messages"})
    qr = registry.get("qr")

    def accepted(text: str) -> bool:
        try:
            qr.validate({"text": text}, app.config)
        except InvalidInput:
            return False
        return True

    disagree = [
        hex(code)
        for code in range(0x10000)
        if not 0xD800 <= code <= 0xDFFF and readers.is_valid(chr(code)) != accepted(chr(code))
    ]
    assert disagree == []


def test_the_longest_text_one_code_holds_is_accepted(api_key):
    client, _, headers = api_key()
    fits = "😀" * 582 + "abc"  # 585 characters, 2,331 bytes in UTF-8: a version 40 code
    over = "😀" * 583  # 583 characters, 2,332 bytes

    response = client.post(API, json={"text": fits}, headers={**headers, "Accept": "image/png"})
    refused = client.post(API, json={"text": over}, headers=headers)

    assert response.status_code == 200 and scanned(response.get_data()) == fits
    assert refused.status_code == 422 and refused.get_json()["field"] == "text"


def test_a_key_without_the_spend_scope_is_403_and_writes_nothing(api_key):
    client, user_id, headers = api_key(scopes=("read",))

    response = client.post(API, json={"text": "no scope"}, headers=headers)

    assert response.status_code == 403 and response.get_json()["error"] == "insufficient_scope"
    assert spends(user_id) == [] and jobs() == 0 and balance(user_id) == 500


def test_a_key_at_its_monthly_limit_is_402_and_writes_nothing(api_key):
    client, user_id, headers = api_key(monthly_limit=2)

    spent = [client.post(API, json={"text": f"use {n}"}, headers=headers).status_code for n in (1, 2)]
    refused = client.post(API, json={"text": "one too many"}, headers=headers)

    assert spent == [200, 200]
    assert refused.status_code == 402
    assert refused.get_json() | {"message": ""} == {
        "error": "key_limit_reached",
        "message": "",
        "limit": 2,
        "spent": 2,
        "required": 1,
    }
    assert len(spends(user_id)) == 2 and jobs() == 2 and balance(user_id) == 498
    assert ledger.audit() == []


def test_not_enough_credits_is_402_and_writes_nothing(api_key):
    client, user_id, headers = api_key(credits=0)

    response = client.post(API, json={"text": "broke"}, headers=headers)

    assert response.status_code == 402 and response.get_json()["error"] == "insufficient_credits"
    assert spends(user_id) == [] and jobs() == 0


def test_the_price_is_a_setting(api_key, app, monkeypatch):
    monkeypatch.setitem(app.config, "FEATURE_PRICES", {"qr": 3})
    client, user_id, headers = api_key()

    response = client.post(API, json={"text": "dearer"}, headers=headers)

    assert response.status_code == 200 and response.get_json()["cost"] == 3
    assert balance(user_id) == 497


def test_its_openapi_entry_is_generated_from_its_schema(app):
    document = openapi.build(app)

    entry = document["paths"][API]["post"]
    schema = document["components"]["schemas"]["QrRequest"]
    assert entry["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/QrRequest"
    }
    assert {"200", "402", "403", "409", "422", "502"} <= set(entry["responses"])
    assert schema["required"] == ["text"] and schema["additionalProperties"] is False
    assert schema["properties"]["scale"]["default"] == 8 and "x-messages" not in schema["properties"]["text"]


# --- the page ----------------------------------------------------------------------------


@pytest.mark.smoke
def test_its_page_shows_the_form_generated_from_its_schema(signed_in):
    client, _, _ = signed_in(credits=120)

    response = client.get("/features/qr")

    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<h1>QR code</h1>" in html
    assert re.search(r'<label for="field-text">Text</label>\s*<textarea id="field-text" name="text"', html)
    assert 'minlength="1" maxlength="1000" required' in html
    assert re.search(
        r'<input id="field-scale" name="scale" type="number" value="8" step="1" min="1" max="20"', html
    )
    assert "This costs <strong>1 credit</strong>. You have 120." in html
    assert '<button type="submit" id="generate-button">Make QR code</button>' in html
    assert '<a href="/features/qr" aria-current="page">Make QR code</a>' in html


def test_the_form_posted_without_javascript_leads_to_the_result_page(signed_in):
    client, user_id, token = signed_in()

    response = client.post("/features/qr", data={"text": "from the form", "scale": "4", "csrf_token": token})
    page = client.get(response.headers["Location"])

    assert response.status_code == 303 and re.fullmatch(r"/jobs/[0-9a-f-]{36}", response.headers["Location"])
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<h1>Your QR code</h1>" in html and "<strong>Done</strong>" in html
    image = re.search(r'<img src="(/api/jobs/[0-9a-f-]{36}/result\.png)" alt="QR code: from the form">', html)
    assert scanned(download(client, image.group(1))) == "from the form"
    assert "1 credit spent." in html and '<a href="/features/qr">Make QR code again</a>' in html
    assert balance(user_id) == 499


def test_the_form_posted_with_htmx_shows_the_code_at_once(signed_in):
    client, user_id, token = signed_in()
    htmx = {"X-CSRFToken": token, "HX-Request": "true"}

    response = client.post("/features/qr", data={"text": "htmx", "form_key": "q" * 20}, headers=htmx)
    again = client.post("/features/qr", data={"text": "htmx", "form_key": "q" * 20}, headers=htmx)

    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<strong>Done</strong>" in html
    assert 'alt="QR code: htmx"' in html and "credits-changed" in response.headers["HX-Trigger"]
    assert again.status_code == 200  # a double click: the same code, charged once
    assert len(spends(user_id)) == 1 and balance(user_id) == 499


def test_bad_form_input_comes_back_with_what_was_typed_and_writes_nothing(signed_in):
    client, user_id, token = signed_in()

    response = client.post("/features/qr", data={"text": "y" * 1001, "scale": "3", "csrf_token": token})

    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Text is 1001 characters long; the limit is 1000." in html
    assert f">{'y' * 1001}</textarea>" in html and 'value="3"' in html
    assert spends(user_id) == [] and jobs() == 0


# --- History and CSV ---------------------------------------------------------------------


def test_history_and_csv_rows_say_qr_code_and_the_texts_start(api_key):
    client, _, headers = api_key()
    long_text = "A rather long note that goes on well past the sixty characters a summary keeps"
    short = client.post(API, json={"text": "wifi: cafe"}, headers=headers).get_json()["id"]
    client.post(API, json={"text": long_text}, headers=headers)

    html = client.get("/history").get_data(as_text=True)
    lines = list(csv.DictReader(io.StringIO(client.get("/history.csv").get_data(as_text=True))))

    assert re.search(rf'<a class="job-link" href="/jobs/{short}">.*?QR code: wifi: cafe</a>', html, re.S)
    assert "QR code: A rather long note that goes on well past the sixty charact…" in html
    rows = [
        (line["description"], line["summary"], line["credits"]) for line in lines if line["kind"] == "spend"
    ]
    assert rows == [
        ("QR code", "A rather long note that goes on well past the sixty charact…", "-1"),
        ("QR code", "wifi: cafe", "-1"),
    ]


# --- pricing, the home page, usage ---------------------------------------------------------


def test_the_pricing_table_and_the_home_page_offer_it(signed_in, monkeypatch):
    from creditapp.billing import packs

    pack = packs.Pack("price_1", "credits_500", "500 credits", 500, 2000, "usd")
    monkeypatch.setattr(packs, "list_packs", lambda: [pack])
    client, _, _ = signed_in()

    pricing = client.get("/buy-credits").get_data(as_text=True)
    home = client.get("/").get_data(as_text=True)

    assert '<dd class="pack-codes">500 QR codes</dd>' in pricing
    assert '<h2><a href="/features/qr">Make a QR code</a></h2>' in home
    assert "Turn a link or any text into a QR code at once. From 1 credit." in home


def test_usage_counts_its_credits_by_feature(api_key):
    client, _, headers = api_key()
    for text in ("one", "two", "three"):
        client.post(API, json={"text": text}, headers=headers)

    usage = client.get("/api/usage?group_by=feature", headers=headers).get_json()

    assert usage["rows"] == [{"key": "qr", "label": "QR code", "credits": 3, "uses": 3}]
    assert usage["total"] == 3
