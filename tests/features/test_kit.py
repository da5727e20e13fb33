"""The feature kit: a feature shipped in a package of its own (registered through the
`creditapp.features` entry-point group, no file of the project edited) gets its page, its
form posts, its API route, its OpenAPI entry, History and CSV rows, key limits and replay."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid

import pytest
import requests
import sqlalchemy as sa
from openapi_schema_validator import OAS31Validator

from creditapp import create_app, ledger
from creditapp.accounts import api_keys
from creditapp.api import openapi
from creditapp.extensions import db
from creditapp.features import Context, Failure, Feature, InvalidInput, registry
from creditapp.models import CreditSpend, FeatureJob
from tests.conftest import app_settings
from tests.support.fuzz import fuzz
from tests.support.jobs import queued_messages, run_queued
from tests.support.kit import install_demo, uninstall_demo

SHOUT_TYPE = "application/vnd.kit.shout"


def _spends(user_id: int) -> list[CreditSpend]:
    db.session.expire_all()
    return list(
        db.session.execute(
            sa.select(CreditSpend).where(CreditSpend.user_id == user_id).order_by(CreditSpend.id)
        )
        .scalars()
        .all()
    )


def _jobs() -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(FeatureJob)).scalar_one()


def _balance(user_id: int) -> int:
    return ledger.balance(user_id).credits


def _post(client, token, path, body, key=None, **headers):
    headers = {"X-CSRFToken": token, **headers}
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post(path, json=body, headers=headers)


# --- registration -------------------------------------------------------------------------


def test_features_from_another_package_are_registered_through_the_entry_point_group(kit, _app):
    with kit.app_context():
        names = [feature.name for feature in registry.every()]
    with _app.app_context():
        plain = [feature.name for feature in registry.every()]

    # The project's own features first (whatever it ships), then the installed package's.
    assert "image_generation" in plain and names == [*plain, "echo", "shout"]
    assert not {"echo", "shout"} & set(plain)  # an app created without the package has none of them
    assert isinstance(registry.every(kit)[1], Feature)


def test_the_kit_is_imported_from_one_place():
    from creditapp.features import kit

    assert (kit.Feature, kit.Context, kit.InvalidInput, kit.Failure) == (
        Feature,
        Context,
        InvalidInput,
        Failure,
    )
    assert Failure("x", "y").transient is False


def test_two_features_with_one_name_stop_the_app_from_starting(database_url, tmp_path):
    root = tmp_path / "site"
    install_demo(root)
    second = root / "kit_again-0.1.dist-info"
    second.mkdir()
    (second / "METADATA").write_text("Metadata-Version: 2.1\nName: kit_again\nVersion: 0.1\n")
    (second / "entry_points.txt").write_text("[creditapp.features]\nimage = kit_again:Image\n")
    (root / "kit_again").mkdir()
    (root / "kit_again" / "__init__.py").write_text(
        "from creditapp.features import Feature\n"
        "class Image(Feature):\n"
        "    name = 'image_generation'\n"
        "    title = 'Another image'\n"
        "    schema = {'type': 'object', 'properties': {}, 'additionalProperties': False}\n"
    )
    try:
        with pytest.raises(registry.DuplicateFeature, match="image_generation"):
            create_app(app_settings(database_url, "http://127.0.0.1:1"))
    finally:
        uninstall_demo(root)


# --- the page and its form ----------------------------------------------------------------


def test_its_page_has_a_form_generated_from_its_schema_with_the_price_and_the_balance(person):
    client, _, _ = person(credits=120)

    response = client.get("/features/echo")

    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<h1>Echo</h1>" in html
    assert re.search(
        r'<label for="field-text">Text to echo</label>\s*<textarea id="field-text" name="text"', html
    )
    assert 'minlength="1" maxlength="300" required' in html  # maxLength > 200: a textarea
    assert 'id="field-text-help" class="help">Up to 300 characters.</p>' in html
    assert re.search(
        r'<input id="field-times" name="times" type="number" value="1" step="1" min="1" max="5"', html
    )
    assert re.search(r'<input type="checkbox" id="field-loud" name="loud" value="true"', html)
    assert re.search(r'<select id="field-tone" name="tone"', html)
    assert '<option value="plain" selected>plain</option>' in html
    assert "This costs <strong>at most 50 credits</strong>. You have 120." in html
    assert 'name="form_key"' in html and 'name="csrf_token"' in html
    assert '<a href="/features/echo" aria-current="page">Echo</a>' in html  # in the navigation


def test_the_quote_follows_the_form(person):
    client, _, _ = person(credits=120)

    three = client.get("/features/echo/quote?times=3&text=&csrf_token=x&form_key=y")
    bad = client.get("/features/echo/quote?times=9")

    assert three.status_code == 200
    html = three.get_data(as_text=True)
    assert "at most 150 credits" in html and "You have 120." in html
    assert 'id="generate-actions" hx-swap-oob="true"' in html and "disabled" in html
    assert bad.status_code == 422


def test_the_form_posted_with_htmx_shows_the_job_and_then_its_result(person, kit):
    client, user_id, token = person()
    form = {"text": "hello", "times": "2", "loud": "true", "tone": "fancy", "form_key": "k" * 20}
    htmx = {"X-CSRFToken": token, "HX-Request": "true"}

    started = client.post("/features/echo", data=form, headers=htmx)
    again = client.post("/features/echo", data=form, headers=htmx)  # a double click
    job_id = re.search(r'id="job-([0-9a-f-]+)"', started.get_data(as_text=True)).group(1)
    run_queued(kit)
    done = client.get(f"/jobs/{job_id}", headers={"HX-Request": "true"})

    assert started.status_code == 202 and again.status_code == 202
    assert f'id="job-{job_id}"' in again.get_data(as_text=True)
    assert "“hello” × 2, 100 credits." in started.get_data(as_text=True)
    assert done.status_code == 286
    html = done.get_data(as_text=True)
    assert '<div class="result-text">HELLO HELLO</div>' in html and "100 credits spent." in html
    assert [s.status for s in _spends(user_id)] == ["captured"] and _balance(user_id) == 400


def test_the_form_posted_without_javascript_redirects_to_the_job_page(person, kit):
    client, user_id, token = person()

    response = client.post("/features/echo", data={"text": "hi", "csrf_token": token})
    run_queued(kit)
    page = client.get(response.headers["Location"]).get_data(as_text=True)

    assert response.status_code == 303 and re.fullmatch(r"/jobs/[0-9a-f-]{36}", response.headers["Location"])
    assert "<h1>Your echo</h1>" in page and '<div class="result-text">hi</div>' in page
    assert '<a href="/features/echo">Echo again</a>' in page


def test_a_refused_form_without_javascript_comes_back_with_what_was_typed(person):
    client, user_id, token = person(credits=30)

    too_dear = client.post("/features/echo", data={"text": "a long wish", "times": "1", "csrf_token": token})
    bad = client.post("/features/echo", data={"text": "x" * 301, "times": "2", "csrf_token": token})

    assert too_dear.status_code == 402
    assert "Not enough credits: this needs 50 and you have 30." in too_dear.get_data(as_text=True)
    assert ">a long wish</textarea>" in too_dear.get_data(as_text=True)
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert "Text to echo is 301 characters long; the limit is 300." in html
    assert f">{'x' * 301}</textarea>" in html and 'value="2"' in html
    assert _spends(user_id) == [] and _jobs() == 0


# --- the API ------------------------------------------------------------------------------


def test_a_job_feature_answers_202_with_its_job_and_then_its_typed_result(person, kit):
    client, user_id, token = person()

    response = _post(client, token, "/api/features/echo", {"text": "ping", "times": 3})
    job = response.get_json()
    run_queued(kit)
    done = client.get(f"/api/jobs/{job['id']}").get_json()
    download = client.get(f"/api/jobs/{job['id']}/result")

    assert response.status_code == 202 and response.headers["Location"] == f"/api/jobs/{job['id']}"
    assert (job["status"], job["feature"], job["cost"], job["held"], job["charged"]) == (
        "queued",
        "echo",
        150,
        150,
        None,
    )
    assert done["status"] == "succeeded" and done["result"] == {"text": "ping ping ping"}
    assert (done["cost"], done["charged"], done["progress"]) == (
        150,
        150,
        {"fraction": 1.0, "message": "echoed"},
    )
    assert download.status_code == 200 and download.mimetype == "text/plain"
    assert download.get_data(as_text=True) == "ping ping ping"
    download.close()
    assert client.get(f"/api/jobs/{job['id']}/result.png").status_code == 404  # not a PNG
    assert _balance(user_id) == 350 and ledger.audit() == []


@pytest.mark.smoke
def test_an_instant_feature_answers_200_with_its_result_and_replays_it_charging_once(person):
    client, user_id, token = person()

    first = _post(client, token, "/api/features/shout", {"text": "hey"}, key="shout-1")
    again = _post(client, token, "/api/features/shout", {"text": "hey"}, key="shout-1")
    raw = _post(client, token, "/api/features/shout", {"text": "hey"}, key="shout-1", Accept=SHOUT_TYPE)

    body = first.get_json()
    assert first.status_code == 200 and body["status"] == "succeeded"
    assert body["result"] == {"url": f"/api/jobs/{body['id']}/result", "content_type": SHOUT_TYPE}
    assert (body["held"], body["charged"]) == (2, 1)  # metered: it said it used 1
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["id"] == body["id"]
    assert raw.status_code == 200 and raw.mimetype == SHOUT_TYPE and raw.get_data() == b"HEY!"
    fetched = client.get(body["result"]["url"])
    assert fetched.get_data() == b"HEY!" and fetched.mimetype == SHOUT_TYPE
    fetched.close()
    assert [(s.status, s.credits_held, s.credits_spent) for s in _spends(user_id)] == [("captured", 2, 1)]
    assert _balance(user_id) == 499 and ledger.audit() == []


def test_an_instant_json_result_comes_inline(person):
    client, _, token = person()

    response = _post(client, token, "/api/features/shout", {"text": "hey", "as_json": True})

    assert response.status_code == 200
    assert response.get_json()["result"] == {"json": {"shouted": "HEY"}}


def test_an_instant_feature_in_the_form_shows_its_result_at_once(person):
    client, user_id, token = person()

    response = client.post(
        "/features/shout",
        data={"text": "hi", "form_key": "f" * 20},
        headers={"X-CSRFToken": token, "HX-Request": "true"},
    )

    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "Done" in html and "hx-trigger" not in html.split("</p>")[0]
    assert "Download the result</a> (application/vnd.kit.shout)" in html
    assert "credits-changed" in response.headers["HX-Trigger"]
    assert _balance(user_id) == 499


@pytest.mark.parametrize(
    ("path", "body", "field", "words"),
    [
        ("/api/features/echo", {"times": 2}, "text", "Text to echo is missing."),
        ("/api/features/echo", {"text": "   "}, "text", "Text to echo is empty."),
        ("/api/features/echo", {"text": "x" * 301}, "text", "the limit is 300"),
        ("/api/features/echo", {"text": "hi", "times": 6}, "times", "Times must be at most 5."),
        ("/api/features/echo", {"text": "hi", "times": "two"}, "times", "Times must be a whole number."),
        ("/api/features/echo", {"text": "hi", "tone": "loud"}, "tone", "Tone must be one of plain, fancy."),
        ("/api/features/echo", {"text": "hi", "credits": 0}, "credits", "is not a field this takes"),
        ("/api/features/echo", {"text": "forbidden"}, "text", "may not be echoed"),
        ("/api/features/shout", {"text": ""}, "text", "Text is empty."),
        ("/api/features/shout", {"text": "hi", "as_json": "maybe"}, "as_json", "true or false"),
    ],
)
def test_bad_input_is_422_and_writes_nothing(person, kit, path, body, field, words):
    client, user_id, token = person()

    response = _post(client, token, path, body)

    assert response.status_code == 422
    payload = response.get_json()
    assert (payload["error"], payload["field"]) == ("invalid_input", field)
    assert words in payload["message"]
    assert _spends(user_id) == [] and _jobs() == 0 and queued_messages(kit) == 0
    assert _balance(user_id) == 500


def test_a_body_that_is_not_an_object_is_400_with_an_example(person):
    client, user_id, token = person()

    response = client.post(
        "/api/features/echo", data="[1]", content_type="application/json", headers={"X-CSRFToken": token}
    )

    assert response.status_code == 400 and '{"text": "string"}' in response.get_json()["message"]
    assert _spends(user_id) == []


def test_a_job_replayed_with_its_key_is_the_same_job_and_another_body_is_refused(person, kit):
    client, user_id, token = person()

    first = _post(client, token, "/api/features/echo", {"text": "once"}, key="echo-1")
    running = _post(client, token, "/api/features/echo", {"text": "once"}, key="echo-1")
    run_queued(kit)
    ended = _post(client, token, "/api/features/echo", {"text": "once"}, key="echo-1")
    other = _post(client, token, "/api/features/echo", {"text": "twice"}, key="echo-1")

    assert first.status_code == 202 and running.status_code == 202 and ended.status_code == 200
    assert first.get_json()["id"] == running.get_json()["id"] == ended.get_json()["id"]
    assert ended.get_json()["result"] == {"text": "once"}
    assert other.status_code == 409 and other.get_json()["error"] == "idempotency_key_reused"
    assert len(_spends(user_id)) == 1 and _balance(user_id) == 450


def test_a_key_needs_the_spend_scope_and_stops_at_its_monthly_limit(person):
    client, user_id, _ = person()
    reader = api_keys.create_key(user_id, "reader", ["read"], None).token
    limited = api_keys.create_key(user_id, "limited", ["spend", "read"], 3).token

    def shout(token):
        return client.post(
            "/api/features/shout", json={"text": "a"}, headers={"Authorization": f"Bearer {token}"}
        )

    refused = shout(reader)
    spent = [shout(limited) for _ in range(3)]

    assert refused.status_code == 403 and refused.get_json()["error"] == "insufficient_scope"
    # Each shout holds 2 and is charged 1: the month counts what was charged.
    assert [r.status_code for r in spent] == [200, 200, 402]
    assert spent[2].get_json() == {
        "error": "key_limit_reached",
        "message": spent[2].get_json()["message"],
        "limit": 3,
        "spent": 2,
        "required": 2,
    }
    assert len(_spends(user_id)) == 2 and _balance(user_id) == 498 and ledger.audit() == []


def test_a_key_at_its_limit_cannot_queue_a_job_either(person):
    client, user_id, _ = person()
    limited = api_keys.create_key(user_id, "limited", ["spend"], 60).token
    headers = {"Authorization": f"Bearer {limited}"}

    first = client.post("/api/features/echo", json={"text": "a"}, headers=headers)
    second = client.post("/api/features/echo", json={"text": "b"}, headers=headers)

    assert first.status_code == 202
    assert second.status_code == 402 and second.get_json()["error"] == "key_limit_reached"
    assert len(_spends(user_id)) == 1


# --- History, CSV, pricing, badge ---------------------------------------------------------


def test_history_and_csv_rows_carry_the_features_title_and_summary(person, kit):
    client, user_id, token = person()
    job_id = _post(client, token, "/api/features/echo", {"text": "use:7", "times": 2}).get_json()["id"]
    run_queued(kit)
    _post(client, token, "/api/features/shout", {"text": "loud noises"})

    html = client.get("/history").get_data(as_text=True)
    lines = list(csv.DictReader(io.StringIO(client.get("/history.csv").get_data(as_text=True))))

    row = re.search(rf'<a class="job-link" href="/jobs/{job_id}">(.*?)</a>(.*?)</td>', html, re.S)
    assert row.group(1).strip() == "Echo: “use:7” × 2"
    assert '<span class="held-charged">held 100, charged 7</span>' in row.group(2)
    assert "Shout: loud noises" in html
    spends = [line for line in lines if line["kind"] == "spend"]
    assert [(s["description"], s["summary"], s["credits"], s["credits_held"]) for s in spends] == [
        ("Shout", "loud noises", "-1", "2"),
        ("Echo", "“use:7” × 2", "-7", "100"),
    ]
    assert spends[1]["job_id"] == job_id


def test_the_pricing_table_and_the_badge_know_every_feature(person, kit, monkeypatch):
    from creditapp.billing import packs

    pack = packs.Pack("price_1", "credits_500", "500 credits", 500, 2000, "usd")
    monkeypatch.setattr(packs, "list_packs", lambda: [pack])
    # For the badge to show that a shout counts, it must be the cheapest use: the project's own
    # features, whatever they cost (a 1-credit one would hide it), are put out of the way.
    for feature in registry.every(kit):
        if feature.name not in ("echo", "shout"):
            monkeypatch.setattr(feature, "cheapest", lambda config: 1_000)
    client, _, _ = person(credits=1)

    html = client.get("/buy-credits").get_data(as_text=True)
    badge = client.get("/credits/badge").get_data(as_text=True)

    assert re.findall(r'<dd class="pack-(images|echos|uses)">([^<]+)</dd>', html) == [
        ("images", "50 images at 512 px"),
        ("echos", "10 echos"),  # 500 / 50 at the default input
        ("uses", "250 uses"),  # 500 / 2
    ]
    # The cheapest use of any feature is a shout (2): one credit is "low".
    assert "badge-low" in badge


# --- OpenAPI --------------------------------------------------------------------------------


def test_each_features_api_entry_is_generated_from_its_schema(kit):
    document = openapi.build(kit)

    echo = document["paths"]["/api/features/echo"]["post"]
    shout = document["paths"]["/api/features/shout"]["post"]
    assert echo["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/EchoRequest"
    }
    schema = document["components"]["schemas"]["EchoRequest"]
    assert schema["properties"]["times"] == {
        "type": "integer",
        "title": "Times",
        "minimum": 1,
        "maximum": 5,
        "default": 1,
    }
    assert schema["additionalProperties"] is False and schema["required"] == ["text"]
    assert set(echo["responses"]) >= {"202", "200", "402", "409", "422", "429", "401", "403"}
    assert set(shout["responses"]) >= {"200", "502"} and echo["security"][0] == {"apiKey": ["spend"]}
    for schema in document["components"]["schemas"].values():
        OAS31Validator.check_schema(schema)


def test_the_api_answers_as_its_generated_description_says(kit, kit_server, person, tmp_path):
    """Schemathesis over the kit app's document, its two installed features included."""
    _, user_id, _ = person(credits=1_000_000)
    token = api_keys.create_key(user_id, "fuzzer", ["spend", "read"], None).token
    fuzz(
        kit_server,
        token,
        tmp_path,
        "--include-path-regex",
        "^/api/(features|jobs)/",
        "--max-examples",
        "20",
        timeout=180,
    )


def test_the_generated_document_is_served_over_http(kit, kit_server):
    document = requests.get(f"{kit_server}/api/openapi.json", timeout=10).json()

    assert {"/api/features/image", "/api/features/echo", "/api/features/shout"} <= set(document["paths"])
    assert json.dumps(document).count("x-messages") == 0


def test_a_job_of_another_user_stays_theirs(person, kit):
    owner, _, token = person()
    stranger, _, _ = person()
    job_id = _post(owner, token, "/api/features/echo", {"text": "mine"}).get_json()["id"]

    assert stranger.get(f"/api/jobs/{job_id}").status_code == 404
    assert stranger.get(f"/jobs/{job_id}/partial").status_code == 404
    assert stranger.get(f"/api/jobs/{uuid.uuid4()}/result").status_code == 404
