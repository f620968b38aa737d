"""The official `openai` SDK's `responses.compact`, `responses.input_tokens.count` (and, where
offered, `responses.connect`) unchanged through `responses-gateway up` (scripted backend, gateway
subprocess, real Envoy) and directly against the gateway it runs."""

from __future__ import annotations

import json

import pytest
from openai import OpenAI

pytestmark = [pytest.mark.envoy, pytest.mark.slow]


def test_input_tokens_count_includes_history(up_client: OpenAI) -> None:
    first = up_client.responses.create(model="scripted", input="[[text:alpha beta gamma]]")
    alone = up_client.responses.input_tokens.count(model="scripted", input="delta epsilon")
    chained = up_client.responses.input_tokens.count(model="scripted", input="delta epsilon",
                                                     previous_response_id=first.id)
    assert alone.input_tokens == 2
    # the first input ("[[text:alpha beta gamma]]", 3 words) and its output (3 words) count too
    assert chained.input_tokens == 2 + 3 + 3
    follow = up_client.responses.create(model="scripted", input="delta epsilon",
                                        previous_response_id=first.id)
    assert follow.usage is not None and follow.usage.input_tokens == chained.input_tokens


def test_compact_then_continue(up_client: OpenAI) -> None:
    first = up_client.responses.create(model="scripted", input="The code word is papaya.")
    compacted = up_client.responses.compact(model="scripted", previous_response_id=first.id,
                                            input="What is the code word?")
    assert compacted.object == "response.compaction"
    assert [item.type for item in compacted.output] == ["message", "message", "compaction"]
    follow = up_client.responses.create(
        model="scripted",
        input=[*[item.model_dump(exclude_none=True) for item in compacted.output],
                  {"role": "user", "content": "[[text:still here]]"}])
    assert follow.status == "completed" and follow.output_text == "still here"


def test_connect_store_false_continuation(up_client: OpenAI) -> None:
    with up_client.responses.connect() as connection:
        connection.response.create(model="scripted", input="[[text:over the socket]]", store=False)
        for event in connection:
            if event.type in ("response.completed", "error"):
                break
        assert event.type == "response.completed", event
        assert event.response.output_text == "over the socket"
        connection.response.create(model="scripted", input="[[messages]]", store=False,
                                   previous_response_id=event.response.id)
        for event in connection:
            if event.type in ("response.completed", "error"):
                break
    assert event.type == "response.completed", event
    seen = json.loads(event.response.output_text)
    assert [m["content"] for m in seen] == ["[[text:over the socket]]", "over the socket", "[[messages]]"]
