"""`conversation` on `POST /v1/responses`: the conversation's items come before the input, and
the response's input and output items are appended to it afterwards (Quart test client, the
scripted backend mounted with respx)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.files import error_of
from tests.support.tool_loops import Gateway, open_gateway, output_text


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    async with open_gateway(tmp_path) as gateway:
        yield gateway


async def _items(gw: Gateway, conv_id: str) -> list[dict[str, Any]]:
    page = await gw.get(f"/v1/conversations/{conv_id}/items?order=asc&limit=100")
    data: list[dict[str, Any]] = page["data"]
    return data


async def test_three_turns_keep_items_in_order(gw: Gateway) -> None:
    conv = await gw.post("/v1/conversations", {"items": [
        {"type": "message", "role": "user", "content": "my name is Ada"}]})
    seeded = await _items(gw, conv["id"])
    assert len(seeded) == 1

    first = await gw.respond({"input": "[[text:hello Ada]]", "conversation": conv["id"]})
    assert first["conversation"] == {"id": conv["id"]}
    second = await gw.respond({"input": "[[text:fine]]", "conversation": {"id": conv["id"]}})
    third = await gw.respond({"input": "[[messages]]", "conversation": conv["id"],
                              "instructions": "be brief"})

    # The model saw the seeded item, both earlier turns and the new input, oldest first.
    seen = json.loads(output_text(third))
    assert [(m["role"], m["content"]) for m in seen] == [
        ("system", "be brief"),
        ("user", "my name is Ada"),
        ("user", "[[text:hello Ada]]"), ("assistant", "hello Ada"),
        ("user", "[[text:fine]]"), ("assistant", "fine"),
        ("user", "[[messages]]"),
    ]
    items = await _items(gw, conv["id"])
    expected_ids = [seeded[0]["id"]]
    for response in (first, second, third):
        own = (await gw.get(f"/v1/responses/{response['id']}/input_items?order=asc"))["data"]
        assert len(own) == 1  # input_items lists the request's own input, not the conversation
        expected_ids += [own[0]["id"]] + [o["id"] for o in response["output"]]
    assert [i["id"] for i in items] == expected_ids
    assert [i["role"] for i in items] == ["user"] + ["user", "assistant"] * 3
    assert items[-1] == third["output"][0]


async def test_streaming_response_is_appended_too(gw: Gateway) -> None:
    conv = await gw.post("/v1/conversations", {})
    events = await gw.respond_stream({"input": "[[text:streamed answer]]", "conversation": conv["id"]})
    final = events[-1]["response"]
    assert events[-1]["type"] == "response.completed"
    items = await _items(gw, conv["id"])
    assert [i["type"] for i in items] == ["message", "message"]
    assert items[1] == final["output"][0]


async def test_failed_response_is_not_appended(gw: Gateway) -> None:
    conv = await gw.post("/v1/conversations", {})
    resp = await gw.http.post("/v1/responses", json={"model": "m", "input": "[[error:500]]",
                                                     "conversation": conv["id"]})
    await error_of(resp, 502)
    events = await gw.respond_stream({"input": "[[error:500]]", "conversation": conv["id"]})
    assert events[-1]["type"] == "response.failed"
    assert await _items(gw, conv["id"]) == []


async def test_store_false_still_appends_to_the_conversation(gw: Gateway) -> None:
    conv = await gw.post("/v1/conversations", {})
    response = await gw.respond({"input": "[[text:kept]]", "conversation": conv["id"], "store": False})
    items = await _items(gw, conv["id"])
    assert [i["id"] for i in items][1:] == [response["output"][0]["id"]]


async def test_conversation_errors(gw: Gateway) -> None:
    conv = await gw.post("/v1/conversations", {})
    first = await gw.respond({"input": "hi"})
    gw.backend.recorder.clear()
    resp = await gw.http.post("/v1/responses", json={
        "model": "m", "input": "x", "conversation": conv["id"], "previous_response_id": first["id"]})
    err = await error_of(resp, 400)
    assert err["code"] == "mutually_exclusive_parameters"
    resp = await gw.http.post("/v1/responses", json={"model": "m", "input": "x", "conversation": "conv_nope"})
    err = await error_of(resp, 404)
    assert err["param"] == "conversation"
    assert gw.chat_requests() == []  # neither reached the model
    assert await _items(gw, conv["id"]) == []


async def test_conversation_replays_hosted_items_for_the_model(gw: Gateway) -> None:
    # Items of hosted tools stored in a conversation reach the model as tool calls and results.
    vs_id, _ = await gw.store_with("solar.txt")
    conv = await gw.post("/v1/conversations", {})
    tools = [{"type": "file_search", "vector_store_ids": [vs_id]}]
    await gw.respond({"input": '[[tool:file_search:{"query":"solar"}]]', "conversation": conv["id"],
                      "tools": tools, "include": ["file_search_call.results"]})
    items = await _items(gw, conv["id"])
    assert [i["type"] for i in items] == ["message", "file_search_call", "message"]
    response = await gw.respond({"input": "[[messages]]", "conversation": conv["id"]})
    seen = json.loads(output_text(response))
    assert [m["role"] for m in seen] == ["user", "assistant", "tool", "assistant", "user"]
    assert "Solar panels" in seen[2]["content"]
