"""The hosted `file_search` tool loop through `POST /v1/responses` (Quart test client).

The scripted backend runs in-process (respx): `[[tool:file_search:{"query": ...}]]` makes the
model call the file_search function the gateway offers; after the tool message it answers
`tool result: <content>`, so the final text shows exactly what the search fed the model. The
vector store is populated through the files / vector stores API (real ingestion: extraction,
chunking, the backend's hashed bag-of-words embeddings, cosine ranking).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.files import error_of
from tests.support.tool_loops import Gateway, open_gateway


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    async with open_gateway(tmp_path) as gateway:
        yield gateway


def _message_text(item: dict[str, Any]) -> str:
    return "".join(p["text"] for p in item["content"] if p["type"] == "output_text")


SEARCH = '[[tool:file_search:{"query":"solar panels inverter electricity"}]]'


async def test_file_search_non_streaming_searches_feeds_the_model_and_cites(gw: Gateway) -> None:
    vs_id, files = await gw.store_with("solar.txt", "sourdough.md")
    gw.backend.recorder.clear()
    response = await gw.respond({"input": f"How do panels work? {SEARCH}",
                                 "tools": [{"type": "file_search", "vector_store_ids": [vs_id]}]})
    assert response["status"] == "completed"
    assert [item["type"] for item in response["output"]] == ["file_search_call", "message"]
    call, message = response["output"]
    # FileSearchToolCall: results are null unless include asks for them.
    assert call["id"].startswith("fs_")
    assert call == {"id": call["id"], "type": "file_search_call", "status": "completed",
                    "queries": ["solar panels inverter electricity"], "results": None}
    text = _message_text(message)
    assert text.startswith("tool result: <result file_id=")
    # The best chunk is the solar one: it is what the model read first.
    assert f"file_id='{files['solar.txt']}'" in text.split("</result>")[0]
    annotations = message["content"][0]["annotations"]
    assert annotations[0] == {"type": "file_citation", "file_id": files["solar.txt"],
                              "filename": "solar.txt", "index": len(text)}
    assert {a["file_id"] for a in annotations} <= set(files.values())
    assert len({a["file_id"] for a in annotations}) == len(annotations)

    chats = gw.chat_requests()
    assert len(chats) == 2
    assert [t["function"]["name"] for t in chats[0]["tools"]] == ["file_search"]
    # Second call: the assistant's tool call, then the results as the tool message.
    assistant, tool = chats[1]["messages"][-2:]
    assert assistant["role"] == "assistant"
    assert assistant["tool_calls"][0]["function"]["name"] == "file_search"
    assert tool["role"] == "tool" and tool["tool_call_id"] == assistant["tool_calls"][0]["id"]
    assert "Solar panels convert sunlight" in tool["content"]
    # Usage covers both model calls.
    assert response["usage"]["input_tokens"] > 0 and response["usage"]["output_tokens"] > 1
    stored = await gw.get(f"/v1/responses/{response['id']}")
    assert stored == response


async def test_file_search_include_results_max_num_results_and_filters(gw: Gateway) -> None:
    vs_id, files = await gw.store_with("solar.txt", "sourdough.md")
    for name, topic in (("solar.txt", "energy"), ("sourdough.md", "food")):
        await gw.post(f"/v1/vector_stores/{vs_id}/files/{files[name]}", {"attributes": {"topic": topic}})
    tool = {"type": "file_search", "vector_store_ids": [vs_id], "max_num_results": 1}
    response = await gw.respond({"input": SEARCH, "tools": [tool], "include": ["file_search_call.results"]})
    results = response["output"][0]["results"]
    assert len(results) == 1
    assert set(results[0]) == {"file_id", "filename", "score", "attributes", "text"}
    assert results[0]["file_id"] == files["solar.txt"] and 0 < results[0]["score"] <= 1
    assert results[0]["attributes"] == {"topic": "energy"}

    # An attribute filter excludes the best file: only sourdough chunks come back.
    tool = {"type": "file_search", "vector_store_ids": [vs_id],
            "filters": {"type": "eq", "key": "topic", "value": "food"}}
    response = await gw.respond({"input": SEARCH, "tools": [tool], "include": ["file_search_call.results"]})
    assert {r["file_id"] for r in response["output"][0]["results"]} == {files["sourdough.md"]}
    citations = response["output"][1]["content"][0]["annotations"]
    assert [c["file_id"] for c in citations] == [files["sourdough.md"]]

    # A score threshold above every score: no results, no citations, the model is told so.
    tool = {"type": "file_search", "vector_store_ids": [vs_id],
            "ranking_options": {"score_threshold": 1.0}}
    response = await gw.respond({"input": SEARCH, "tools": [tool], "include": ["file_search_call.results"]})
    assert response["output"][0]["results"] == []
    assert response["output"][1]["content"][0]["annotations"] == []
    assert _message_text(response["output"][1]) == "tool result: No results found in the vector stores."


async def test_file_search_streaming_events_in_order(gw: Gateway) -> None:
    vs_id, files = await gw.store_with("solar.txt")
    events = await gw.respond_stream({"input": SEARCH, "include": ["file_search_call.results"],
                                      "tools": [{"type": "file_search", "vector_store_ids": [vs_id]}]})
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    kinds = [e["type"] for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    # The file_search_call item: added, in_progress, searching, completed, done - in that order,
    # before anything of the answer message.
    fs = [e for e in events if e.get("output_index") == 0]
    assert [e["type"] for e in fs] == [
        "response.output_item.added", "response.file_search_call.in_progress",
        "response.file_search_call.searching", "response.file_search_call.completed",
        "response.output_item.done"]
    item_id = fs[0]["item"]["id"]
    assert item_id.startswith("fs_") and all(e["item"]["id"] == item_id for e in (fs[0], fs[-1]))
    assert all(e["item_id"] == item_id for e in fs[1:-1])
    assert fs[0]["item"]["status"] == "in_progress"
    assert fs[-1]["item"]["status"] == "completed"
    assert fs[-1]["item"]["queries"] == ["solar panels inverter electricity"]
    assert fs[-1]["item"]["results"][0]["file_id"] == files["solar.txt"]
    assert kinds.index("response.output_item.done") < kinds.index("response.output_text.delta")
    # No function_call leaks out for the hosted tool.
    assert not any(e.get("item", {}).get("type") == "function_call" for e in events)
    assert not any(e["type"].startswith("response.function_call_arguments") for e in events)
    # The answer message at output_index 1; its citation arrives before output_text.done.
    msg = [e for e in events if e.get("output_index") == 1]
    msg_kinds = [e["type"] for e in msg]
    assert msg_kinds[0] == "response.output_item.added" and msg_kinds[-1] == "response.output_item.done"
    annotation = msg[msg_kinds.index("response.output_text.annotation.added")]
    assert msg_kinds.index("response.output_text.annotation.added") < msg_kinds.index(
        "response.output_text.done")
    text = msg[msg_kinds.index("response.output_text.done")]["text"]
    deltas = "".join(e["delta"] for e in msg if e["type"] == "response.output_text.delta")
    assert deltas == text and text.startswith("tool result: <result")
    assert annotation["annotation"] == {"type": "file_citation", "file_id": files["solar.txt"],
                                        "filename": "solar.txt", "index": len(text)}
    assert annotation["annotation_index"] == 0 and annotation["content_index"] == 0
    assert msg[-1]["item"]["content"][0]["annotations"] == [annotation["annotation"]]
    final = events[-1]["response"]
    assert [i["type"] for i in final["output"]] == ["file_search_call", "message"]
    assert final["output"][0] == fs[-1]["item"] and final["output"][1] == msg[-1]["item"]
    assert await gw.get(f"/v1/responses/{final['id']}") == final


async def test_stream_and_non_stream_agree(gw: Gateway) -> None:
    vs_id, _ = await gw.store_with("solar.txt", "sourdough.md")
    body = {"input": SEARCH, "tools": [{"type": "file_search", "vector_store_ids": [vs_id]}]}
    plain = await gw.respond(dict(body))
    final = (await gw.respond_stream(dict(body)))[-1]["response"]

    def shape(response: dict[str, Any]) -> list[Any]:
        return [{k: v for k, v in item.items() if k != "id"} for item in response["output"]]

    assert shape(plain) == shape(final)
    assert plain["usage"] == final["usage"]


async def test_unknown_vector_store_is_404_and_nothing_is_called(gw: Gateway) -> None:
    gw.backend.recorder.clear()
    resp = await gw.http.post("/v1/responses", json={
        "model": "m", "input": SEARCH,
        "tools": [{"type": "file_search", "vector_store_ids": ["vs_missing"]}]})
    err = await error_of(resp, 404)
    assert err["param"] == "tools[0].vector_store_ids" and "vs_missing" in err["message"]
    assert gw.chat_requests() == []


async def test_invalid_file_search_tool_is_400(gw: Gateway) -> None:
    vs_id, _ = await gw.store_with("solar.txt")
    resp = await gw.http.post("/v1/responses", json={
        "model": "m", "input": "x",
        "tools": [{"type": "file_search", "vector_store_ids": [vs_id], "max_num_results": 0}]})
    err = await error_of(resp, 400)
    assert err["param"] == "tools[0].max_num_results"


async def test_max_tool_calls_stops_running_hosted_tools(gw: Gateway) -> None:
    vs_id, _ = await gw.store_with("solar.txt")
    # Two parallel file_search calls, but only one may run.
    response = await gw.respond({
        "input": f'{SEARCH} [[tool:file_search:{{"query":"sourdough"}}]]', "max_tool_calls": 1,
        "tools": [{"type": "file_search", "vector_store_ids": [vs_id]}]})
    calls = [i for i in response["output"] if i["type"] == "file_search_call"]
    assert [c["status"] for c in calls] == ["completed", "incomplete"]
    assert calls[1]["queries"] == ["sourdough"]
    chats = gw.chat_requests()
    # The follow-up call no longer offers the hosted tool.
    assert "tools" not in chats[-1]
    assert response["output"][-1]["type"] == "message"
    assistant, first, second = chats[-1]["messages"][-3:]
    assert [c["id"] for c in assistant["tool_calls"]] == [first["tool_call_id"], second["tool_call_id"]]
    assert "Solar panels" in first["content"]
    assert second["content"] == "Not run: this response reached its limit of hosted tool calls."


async def test_file_search_call_without_a_query_fails_and_the_model_is_told(gw: Gateway) -> None:
    vs_id, _ = await gw.store_with("solar.txt")
    response = await gw.respond({"input": "[[tool:file_search]]",
                                 "tools": [{"type": "file_search", "vector_store_ids": [vs_id]}]})
    call, message = response["output"]
    assert call["status"] == "failed" and call["queries"] == []
    assert _message_text(message) == 'tool result: Error: file_search needs a "query" string argument.'
    assert message["content"][0]["annotations"] == []


async def test_previous_response_replays_the_search_for_the_model(gw: Gateway) -> None:
    vs_id, _ = await gw.store_with("solar.txt")
    tools = [{"type": "file_search", "vector_store_ids": [vs_id]}]
    first = await gw.respond({"input": SEARCH, "tools": tools, "include": ["file_search_call.results"]})
    gw.backend.recorder.clear()
    second = await gw.respond({"input": "[[messages]]", "previous_response_id": first["id"], "tools": tools})
    messages = json.loads(_message_text(second["output"][0]))
    roles = [m["role"] for m in messages]
    assert roles == ["user", "assistant", "tool", "assistant", "user"]
    assert messages[1]["tool_calls"][0]["name"] == "file_search"
    assert "Solar panels convert sunlight" in messages[2]["content"]
    assert messages[3]["content"].startswith("tool result: ")


async def test_hosted_tool_choice_forces_the_first_call_only(gw: Gateway) -> None:
    vs_id, _ = await gw.store_with("solar.txt")
    gw.backend.recorder.clear()
    await gw.respond({"input": SEARCH, "tool_choice": {"type": "file_search"},
                      "tools": [{"type": "file_search", "vector_store_ids": [vs_id]}]})
    first, second = gw.chat_requests()
    assert first["tool_choice"] == {"type": "function", "function": {"name": "file_search"}}
    # Forcing it again would never let the model answer.
    assert second["tool_choice"] == "auto"


async def test_client_function_call_ends_the_loop(gw: Gateway) -> None:
    vs_id, _ = await gw.store_with("solar.txt")
    weather = {"type": "function", "name": "get_weather",
               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
    response = await gw.respond({
        "input": f'{SEARCH} [[tool:get_weather:{{"city":"Oslo"}}]]',
        "tools": [{"type": "file_search", "vector_store_ids": [vs_id]}, weather]})
    # The search runs, but the client's function is the client's to run: the response ends.
    assert [i["type"] for i in response["output"]] == ["file_search_call", "function_call"]
    assert response["output"][1]["name"] == "get_weather"
    assert len(gw.chat_requests()) == 1
    # A client function named like a hosted one is refused.
    resp = await gw.http.post("/v1/responses", json={
        "model": "m", "input": "x", "tools": [{"type": "file_search", "vector_store_ids": [vs_id]},
                                             {**weather, "name": "file_search"}]})
    assert (await error_of(resp, 400))["code"] == "duplicate_tool_name"
