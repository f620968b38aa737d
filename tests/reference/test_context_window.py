"""`POST /v1/responses/compact` and `POST /v1/responses/input_tokens`: the official `openai` SDK,
unchanged, against `responses-gateway serve` in front of the scripted backend, plus the core rules."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from openai import OpenAI

from devstack.gateway_process import GatewayProcess
from reference.core import compaction
from reference.core.errors import APIError

# --- core ---------------------------------------------------------------------------------------


def test_summary_round_trips_and_foreign_content_is_rejected() -> None:
    content = compaction.encode_summary("the user is Alice; ¿qué?")
    assert compaction.decode_summary(content) == "the user is Alice; ¿qué?"
    with pytest.raises(ValueError):
        compaction.decode_summary("gAAAAABpM0Yj-foreign")
    with pytest.raises(APIError) as err:
        compaction.check_compaction_items([{"type": "message", "role": "user", "content": "x"},
                                           {"type": "compaction", "encrypted_content": "nope"}])
    assert err.value.status == 400 and err.value.param == "input[1].encrypted_content"


def test_count_matches_the_scripted_backend_rule() -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "look at"},
                                     {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c", "content": "sunny and warm"},
    ]
    assert compaction.count_message_tokens(messages) == 2 + 3 + 0 + 3


# --- input_tokens ---------------------------------------------------------------------------------


def test_sdk_count_equals_usage_of_the_same_request(client: OpenAI) -> None:
    first = client.responses.create(model="scripted", input="[[text:Paris is sunny today]]",
                                    instructions="Answer briefly.")
    follow = "and what about tomorrow in Paris?"
    count = client.responses.input_tokens.count(model="scripted", input=follow,
                                                previous_response_id=first.id)
    assert count.object == "response.input_tokens"
    created = client.responses.create(model="scripted", input=follow, previous_response_id=first.id)
    assert created.usage is not None
    assert count.input_tokens == created.usage.input_tokens
    alone = client.responses.input_tokens.count(model="scripted", input=follow)
    # The history (first input + its output) is counted: 6 + 4 more words.
    assert count.input_tokens == alone.input_tokens + len(["[[text:Paris", "is", "sunny", "today]]"]) + 4


def test_count_with_a_conversation_and_without_model(gateway: GatewayProcess) -> None:
    conv = httpx.post(gateway.url + "/conversations", json={"items": [
        {"type": "message", "role": "user", "content": "one two three"}]}).json()
    got = httpx.post(gateway.url + "/responses/input_tokens",
                     json={"conversation": conv["id"], "input": "four five"})
    assert got.status_code == 200, got.text
    assert got.json() == {"object": "response.input_tokens", "input_tokens": 5}


def test_count_errors_are_400s(client: OpenAI, gateway: GatewayProcess) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.input_tokens.count(model="scripted", input="x", previous_response_id="resp_nope")
    assert err.value.code == "previous_response_not_found"
    bad = httpx.post(gateway.url + "/responses/input_tokens", json={"input": "x", "stream": True})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "stream"


# --- compact --------------------------------------------------------------------------------------


def test_sdk_compact_keeps_user_messages_and_the_result_is_usable_input(client: OpenAI) -> None:
    first = client.responses.create(model="scripted", input="My name is Alice. [[text:Hello Alice]]")
    second = client.responses.create(model="scripted", input="I live in Paris.",
                                     previous_response_id=first.id)
    compacted = client.responses.compact(model="scripted", previous_response_id=second.id,
                                         input=[{"role": "user", "content": "What do you know?"}])
    assert compacted.object == "response.compaction"
    kinds = [(item.type, getattr(item, "role", None)) for item in compacted.output]
    assert kinds == [("message", "user")] * 3 + [("compaction", None)]
    texts = [item.content[0].text for item in compacted.output[:3]]  # type: ignore[union-attr]
    assert texts == ["My name is Alice. [[text:Hello Alice]]", "I live in Paris.", "What do you know?"]
    assert compacted.usage is not None and compacted.usage.input_tokens > 0
    # The compacted window is the next response's base input; the model sees the summary.
    follow = client.responses.create(
        model="scripted",
        input=[*[item.model_dump(exclude_none=True) for item in compacted.output],
               {"role": "user", "content": "[[messages]]"}])
    assert follow.status == "completed"
    messages = json.loads(follow.output_text)
    # The summarised assistant turns reach the model only through the summary.
    assert [m["role"] for m in messages] == ["user", "user", "user", "system", "user"]
    assert messages[3]["content"].startswith(compaction.SUMMARY_HEADER)


def test_compact_is_deterministic_with_the_scripted_backend(client: OpenAI) -> None:
    window = [{"role": "user", "content": "alpha"}, {"role": "assistant", "content": "beta"}]
    one = client.responses.compact(model="scripted", input=window)  # type: ignore[arg-type]
    two = client.responses.compact(model="scripted", input=window)  # type: ignore[arg-type]
    assert one.output[-1].encrypted_content == two.output[-1].encrypted_content  # type: ignore[union-attr]
    assert compaction.decode_summary(one.output[-1].encrypted_content)  # type: ignore[union-attr]


def test_compact_errors(gateway: GatewayProcess) -> None:
    url = gateway.url + "/responses/compact"
    missing = httpx.post(url, json={"input": "x"})
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "model"
    empty = httpx.post(url, json={"model": "scripted"})
    assert empty.status_code == 400 and empty.json()["error"]["param"] == "input"
    unknown = httpx.post(url, json={"model": "scripted", "input": "x", "previous_response_id": "resp_nope"})
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "previous_response_not_found"
    failing = httpx.post(url, json={"model": "scripted-error:503", "input": "x"})
    assert failing.status_code == 502
    foreign = httpx.post(gateway.url + "/responses", json={
        "model": "scripted", "input": [{"type": "compaction", "encrypted_content": "gAAAA-foreign"}]})
    assert foreign.status_code == 400
    assert foreign.json()["error"]["param"] == "input[0].encrypted_content"
