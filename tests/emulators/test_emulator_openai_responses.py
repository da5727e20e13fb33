"""The OpenAI Responses stand-in (`/openai/v1/responses`), driven through the real `openai` SDK.

Every streamed event and every response body is validated against the SDK's own types
(pydantic models generated from OpenAI's API description), so the shapes are held to a
reference nobody here wrote. Settings come from `/_emulator/openai/config`; each test starts
from the defaults with the pacing turned off.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from typing import Any, get_args

import openai
import pytest
from openai import DefaultHttpxClient, OpenAI
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import BaseModel

from emulators.openai.text import answer, natural_length, seed_for

API_KEY = "sk-test-emulator-responses"
UNPACED = {"responses_first_token_seconds": 0, "responses_tokens_per_second": None}
EVENT_MODELS: dict[str, type[BaseModel]] = {
    get_args(model.model_fields["type"].annotation)[0]: model
    for model in get_args(get_args(ResponseStreamEvent)[0])
}


def expected_types(deltas: int, ending: str = "response.completed") -> list[str]:
    """The event types OpenAI sends for an answer of `deltas` tokens."""
    return [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * deltas,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        ending,
    ]


def configure(emulator, **settings: Any) -> dict[str, Any]:
    """Change the stand-in's settings; return those in force."""
    response = emulator.http.post(f"{emulator.base_url}/_emulator/openai/config", json=settings, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


def calls_seen(emulator) -> list[dict[str, Any]]:
    """The stand-in's log of `/responses` calls."""
    return emulator.http.get(f"{emulator.base_url}/_emulator/openai/responses", timeout=5).json()


@pytest.fixture(autouse=True)
def fresh_openai(emulator) -> None:
    """Default settings and an empty log, with the pacing off so tests run at full speed."""
    emulator.http.post(f"{emulator.base_url}/_emulator/openai/reset", timeout=5).raise_for_status()
    configure(emulator, **UNPACED)


@pytest.fixture
def client(emulator) -> Iterator[OpenAI]:
    """The official SDK pointed at the stand-in, without retries of its own."""
    http = DefaultHttpxClient(trust_env=False)
    with OpenAI(
        api_key=API_KEY,
        base_url=f"{emulator.base_url}/openai/v1",
        max_retries=0,
        timeout=30,
        http_client=http,
    ) as sdk:
        yield sdk


def checked(event: Any) -> Any:
    """Validate one event as received against the SDK's model for its type (strictly)."""
    raw = event.to_dict()
    return EVENT_MODELS[raw["type"]].model_validate(raw)


def stream(client: OpenAI, **params: Any) -> list[Any]:
    """Stream one response; return its events, each validated."""
    params.setdefault("model", "gpt-4o-mini")
    with client.responses.create(stream=True, **params) as events:
        return [checked(event) for event in events]


def timed_stream(client: OpenAI, started: float, **params: Any) -> list[tuple[float, Any]]:
    """Stream one response; return (seconds since `started`, event) as each arrived."""
    with client.responses.create(model="gpt-4o-mini", stream=True, **params) as events:
        return [(time.monotonic() - started, checked(event)) for event in events]


def deltas_of(events: list[Any]) -> list[str]:
    return [event.delta for event in events if event.type == "response.output_text.delta"]


def test_a_streamed_answer_arrives_in_openais_order_and_adds_up(emulator, client):
    configure(emulator, responses_output_tokens=24)

    events = stream(client, input="Tell me about credits.", max_output_tokens=64)

    assert [event.type for event in events] == expected_types(24)
    assert [event.sequence_number for event in events] == list(range(len(events)))
    created, in_progress, item_added, part_added = events[:4]
    text_done, part_done, item_done, completed = events[-4:]
    assert created.response.status == in_progress.response.status == "in_progress"
    assert created.response.usage is None and created.response.output == []
    item_id = item_added.item.id
    assert item_id.startswith("msg_") and item_added.item.status == "in_progress"
    assert part_added.part.type == "output_text" and part_added.part.text == ""
    deltas = [event for event in events if event.type == "response.output_text.delta"]
    assert {(d.item_id, d.output_index, d.content_index) for d in deltas} == {(item_id, 0, 0)}
    assert all(re.fullmatch(r" ?\w+|[.,]", d.delta) for d in deltas), "one token per delta"
    text = "".join(d.delta for d in deltas)
    assert text_done.text == part_done.part.text == item_done.item.content[0].text == text
    assert item_done.item.status == "completed"
    final = completed.response
    assert final.id == created.response.id and final.id.startswith("resp_")
    assert final.status == "completed" and final.model == "gpt-4o-mini" and final.max_output_tokens == 64
    assert final.output_text == text
    assert final.usage.input_tokens == 5  # Tell · me · about · credits · .
    assert final.usage.output_tokens == len(deltas) == 24
    assert final.usage.total_tokens == 29


def test_the_sdks_stream_helper_rebuilds_the_same_answer(client):
    with client.responses.stream(model="gpt-4o-mini", input="Rebuild me from the events.") as events:
        deltas = [event.delta for event in events if event.type == "response.output_text.delta"]
        final = events.get_final_response()

    assert final.output_text == "".join(deltas)
    assert final.usage.output_tokens == len(deltas)


def test_usage_counts_the_instructions_and_every_input_message(client):
    response = client.responses.create(
        model="gpt-4o-mini",
        instructions="Answer briefly.",  # 3 tokens
        input=[
            {"role": "user", "content": "Hello, world!"},  # 4
            {"role": "assistant", "content": [{"type": "output_text", "text": "Hi there."}]},  # 3
            {"role": "user", "content": [{"type": "input_text", "text": "What is 2 + 2?"}]},  # 6
        ],
    )

    assert response.instructions == "Answer briefly."
    assert response.usage.input_tokens == 16
    assert response.usage.total_tokens == 16 + response.usage.output_tokens


def test_the_answer_is_seeded_by_the_prompt_so_tests_can_predict_it(client):
    prompt = "Which pack should I buy?"
    seed = seed_for(None, [prompt])

    first = "".join(deltas_of(stream(client, input=prompt)))
    again = "".join(deltas_of(stream(client, input=prompt)))
    whole = client.responses.create(model="gpt-4o-mini", input=prompt).output_text
    other = "".join(deltas_of(stream(client, input="Something else entirely.")))

    assert first == again == whole == "".join(answer(seed, natural_length(seed)))
    assert other != first


def test_max_output_tokens_cuts_a_longer_answer_and_marks_it_incomplete(emulator, client):
    configure(emulator, responses_output_tokens=40)

    events = stream(client, input="Go on at length.", max_output_tokens=16)
    whole = client.responses.create(model="gpt-4o-mini", input="Go on at length.", max_output_tokens=16)

    assert [event.type for event in events] == expected_types(16, "response.incomplete")
    final = events[-1].response
    assert final.status == "incomplete" and final.incomplete_details.reason == "max_output_tokens"
    assert final.usage.output_tokens == 16
    assert events[-2].item.status == "incomplete"
    assert whole.status == "incomplete" and whole.usage.output_tokens == 16
    assert whole.output_text == "".join(deltas_of(events))


def test_a_drawn_answer_stays_within_max_output_tokens(client):
    for prompt in ("One.", "Two words.", "Three short words.", "And a fourth prompt here."):
        events = stream(client, input=prompt, max_output_tokens=16)

        assert events[-1].type == "response.completed"
        assert len(deltas_of(events)) == events[-1].response.usage.output_tokens <= 16


def test_a_non_streamed_call_returns_the_whole_response(emulator, client):
    configure(emulator, responses_output_tokens=12)

    raw = client.responses.with_raw_response.create(
        model="gpt-4o", input="Summarise my balance.", metadata={"spend": "42"}, temperature=0.2
    )
    response = raw.parse()

    Response.model_validate(raw.http_response.json())
    assert raw.headers["x-request-id"].startswith("req_")
    assert response.object == "response" and response.status == "completed"
    [message] = response.output
    assert message.type == "message" and message.role == "assistant" and message.status == "completed"
    [part] = message.content
    assert part.type == "output_text" and part.text == response.output_text
    assert response.usage.input_tokens == 4 and response.usage.output_tokens == 12
    assert response.metadata == {"spend": "42"} and response.temperature == 0.2
    [seen] = calls_seen(emulator)
    assert seen["id"] == response.id and seen["authorization"] == f"Bearer {API_KEY}"
    assert seen["outcome"] == "completed" and seen["output_tokens_sent"] == 12
    assert seen["usage"] == raw.http_response.json()["usage"]


def test_a_call_without_a_bearer_key_is_refused(emulator):
    refused = emulator.http.post(
        f"{emulator.base_url}/openai/v1/responses", json={"model": "gpt-4o", "input": "Hi"}, timeout=5
    )

    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_api_key"
    assert calls_seen(emulator)[0]["outcome"] == "rejected"


@pytest.mark.parametrize(
    ("params", "param", "code"),
    [
        ({"extra_body": {"bogus": 1}}, "bogus", "unknown_parameter"),
        ({"tools": [{"type": "web_search"}]}, "tools", "unsupported_parameter"),
        ({"max_output_tokens": 8}, "max_output_tokens", "integer_below_min_value"),
        ({"input": [{"role": "robot", "content": "Hi"}]}, "input[0].role", "invalid_value"),
        ({"input": [{"role": "user", "content": [{"type": "input_image"}]}]}, "input[0].content[0].type",
         "unsupported_parameter"),
    ],
    ids=["unknown", "not-implemented", "too-few-tokens", "bad-role", "image-input"],
)  # fmt: skip
def test_parameters_are_checked_as_openai_checks_them(client, params, param, code):
    params = {"model": "gpt-4o-mini", "input": "Hi", **params}

    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(**params)

    assert (refused.value.param, refused.value.code) == (param, code)
    assert refused.value.type == "invalid_request_error"


@pytest.mark.parametrize("status", [500, 503])
def test_a_failure_rate_of_one_fails_every_call_with_openais_server_error(emulator, client, status):
    configure(emulator, responses_failure_rate=1, responses_failure_status=status)

    with pytest.raises(openai.InternalServerError) as streamed:
        stream(client, input="Will this work?")
    with pytest.raises(openai.InternalServerError) as whole:
        client.responses.create(model="gpt-4o-mini", input="Will this work?")

    for failure in (streamed.value, whole.value):
        assert isinstance(failure, openai.APIError)
        assert failure.status_code == status and failure.type == "server_error"
    assert [call["outcome"] for call in calls_seen(emulator)] == ["error", "error"]


def test_a_stream_told_to_fail_ends_with_response_failed_after_n_deltas(emulator, client):
    configure(emulator, responses_output_tokens=30, responses_fail_after_tokens=5)

    events = stream(client, input="Fail part way.")

    assert [event.type for event in events] == [*expected_types(5)[:9], "response.failed"]
    failed = events[-1].response
    assert failed.status == "failed" and failed.error.code == "server_error"
    assert failed.usage is None
    assert failed.output[0].content[0].text == "".join(deltas_of(events))
    assert calls_seen(emulator)[0] | {"body": None, "first_delta_at": None, "ended_at": None} == {
        "usage": None,
        "first_delta_at": None,
        "ended_at": None,
        "id": failed.id,
        "authorization": f"Bearer {API_KEY}",
        "body": None,
        "outcome": "failed",
        "output_tokens_sent": 5,
    }
    with pytest.raises(openai.InternalServerError):
        client.responses.create(model="gpt-4o-mini", input="Fail part way.")


def test_the_first_token_waits_and_the_rest_come_at_the_set_pace(emulator, client):
    configure(
        emulator,
        responses_first_token_seconds=0.8,
        responses_tokens_per_second=20,
        responses_output_tokens=10,
    )

    before = time.time()
    timed = timed_stream(client, time.monotonic(), input="Take your time.")
    after = time.time()

    created_at = next(t for t, event in timed if event.type == "response.created")
    delta_times = [t for t, event in timed if event.type == "response.output_text.delta"]
    assert len(delta_times) == 10
    assert delta_times[0] >= 0.8
    assert created_at < delta_times[0] - 0.5, "response.created is sent before the model's first token"
    assert delta_times[-1] - delta_times[0] >= 0.3  # 9 more tokens at 20 a second: 0.45 s
    assert delta_times == sorted(delta_times)
    [seen] = calls_seen(emulator)
    # The log says when the first delta left and when the call ended, on the wall clock.
    assert before + 0.8 <= seen["first_delta_at"] <= after and seen["first_delta_at"] <= seen["ended_at"]
    assert seen["ended_at"] - seen["first_delta_at"] >= 0.3


def test_two_streams_at_once_both_progress(emulator, client):
    configure(emulator, responses_tokens_per_second=10, responses_output_tokens=10)
    started = time.monotonic()
    results: dict[str, list[tuple[float, Any]]] = {}

    def run(name: str) -> None:
        results[name] = timed_stream(client, started, input=f"Stream {name}.")

    threads = [threading.Thread(target=run, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    spans = {
        name: [t for t, event in timed if event.type == "response.output_text.delta"]
        for name, timed in results.items()
    }
    assert sorted(spans) == ["a", "b"] and all(len(times) == 10 for times in spans.values())
    assert spans["a"][0] < spans["b"][-1] and spans["b"][0] < spans["a"][-1], "the streams overlap"


def test_a_client_that_stops_reading_is_logged_as_disconnected(emulator, client):
    configure(emulator, responses_tokens_per_second=20, responses_output_tokens=60)

    with client.responses.create(model="gpt-4o-mini", input="Long story.", stream=True) as events:
        received = 0
        for event in events:
            received += event.type == "response.output_text.delta"
            if received == 3:
                break

    deadline = time.monotonic() + 10
    while (call := calls_seen(emulator)[0])["outcome"] == "in_progress" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert call["outcome"] == "disconnected"
    assert 3 <= call["output_tokens_sent"] < 60


def test_deltas_carry_obfuscation_unless_it_is_turned_off(client):
    padded = stream(client, input="Pad me.")
    plain = stream(client, input="Pad me.", stream_options={"include_obfuscation": False})

    assert all(event.to_dict().get("obfuscation") for event in padded if event.type.endswith(".delta"))
    assert not any("obfuscation" in event.to_dict() for event in plain if event.type.endswith(".delta"))


def test_the_stand_in_shows_resets_and_refuses_responses_settings(emulator):
    changed = configure(emulator, responses_output_tokens=7, responses_fail_after_tokens=0)
    assert changed["responses_output_tokens"] == 7 and changed["responses_fail_after_tokens"] == 0
    assert configure(emulator, responses_output_tokens=None)["responses_output_tokens"] is None

    for bad in (
        {"responses_failure_rate": 2},
        {"responses_output_tokens": 0},
        {"responses_tokens_per_second": 0},
        {"responses_fail_after_tokens": -1},
        {"responses_first_token_seconds": "soon"},
    ):
        refused = emulator.http.post(f"{emulator.base_url}/_emulator/openai/config", json=bad, timeout=5)
        assert refused.status_code == 400, bad

    reset = emulator.http.post(f"{emulator.base_url}/_emulator/openai/reset", timeout=5).json()
    assert reset == {
        "latency_seconds": 0.0,
        "failure_rate": 0.0,
        "failure_status": 500,
        "responses_first_token_seconds": 0.25,
        "responses_tokens_per_second": 40.0,
        "responses_output_tokens": None,
        "responses_failure_rate": 0.0,
        "responses_failure_status": 500,
        "responses_fail_after_tokens": None,
    }
