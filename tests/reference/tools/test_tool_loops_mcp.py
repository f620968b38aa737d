"""The hosted `mcp` tool loop through `POST /v1/responses` against the real fixture MCP mcp.

The MCP server (`fixtures.mcp_server`) listens on loopback; the model is the scripted backend
mounted with respx. `[[tool:mcp7_fixture_add:{"a":1,"b":2}]]` makes the model call the MCP tool
`add` of the server labelled `fixture` (the mangled function name the gateway offers); after the
tool message the backend answers `tool result: <output>`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.mcp_server import MCPServerHandle
from tests.support.files import error_of
from tests.support.mcp import TOKEN, free_closed_port
from tests.support.tool_loops import Gateway, open_gateway

ADD = '[[tool:mcp7_fixture_add:{"a":1,"b":2}]]'
FIXTURE_TOOLS = ["add", "echo", "lookup_weather", "fail", "sleep"]


@pytest.fixture
async def gw(tmp_path: Path, mcp: MCPServerHandle) -> AsyncIterator[Gateway]:
    mcp.stats.reset()
    async with open_gateway(tmp_path) as gateway:
        yield gateway


def mcp_tool(mcp: MCPServerHandle, **extra: Any) -> dict[str, Any]:
    return {"type": "mcp", "server_label": "fixture", "server_url": mcp.url, **extra}


def _text(item: dict[str, Any]) -> str:
    return "".join(p["text"] for p in item["content"] if p["type"] == "output_text")


async def test_list_and_call_without_approval(gw: Gateway, mcp: MCPServerHandle) -> None:
    response = await gw.respond({"input": f"add please {ADD}",
                                 "tools": [mcp_tool(mcp, require_approval="never")]})
    assert response["status"] == "completed"
    assert [i["type"] for i in response["output"]] == ["mcp_list_tools", "mcp_call", "message"]
    listing, call, message = response["output"]
    assert listing["id"].startswith("mcpl_") and listing["server_label"] == "fixture"
    assert [t["name"] for t in listing["tools"]] == FIXTURE_TOOLS
    add = listing["tools"][0]
    assert add["input_schema"]["required"] == ["a", "b"] and add["annotations"] == {"readOnlyHint": True}
    assert call["id"].startswith("mcp_")
    assert call == {"type": "mcp_call", "id": call["id"], "server_label": "fixture", "name": "add",
                    "arguments": '{"a":1,"b":2}', "output": "3", "error": None, "status": "completed",
                    "approval_request_id": None}
    assert _text(message) == "tool result: 3"
    assert mcp.stats.snapshot()["call_tool"] == {"add": 1}
    chats = gw.chat_requests()
    assert [t["function"]["name"] for t in chats[0]["tools"]] == [f"mcp7_fixture_{n}" for n in FIXTURE_TOOLS]
    assert chats[1]["messages"][-1]["role"] == "tool" and chats[1]["messages"][-1]["content"] == "3"
    assert await gw.get(f"/v1/responses/{response['id']}") == response


async def test_tool_list_is_cached_across_requests(gw: Gateway, mcp: MCPServerHandle) -> None:
    for _ in range(2):
        response = await gw.respond({"input": ADD, "tools": [mcp_tool(mcp, require_approval="never")]})
        assert response["output"][0]["type"] == "mcp_list_tools"
        assert response["output"][1]["output"] == "3"
    stats = mcp.stats.snapshot()
    assert stats["list_tools"] == 1
    assert stats["call_tool"] == {"add": 2}


async def test_allowed_tools_names_and_filter(gw: Gateway, mcp: MCPServerHandle) -> None:
    response = await gw.respond({"input": '[[tool:mcp7_fixture_echo:{"text":"hi"}]]',
                                 "tools": [mcp_tool(mcp, allowed_tools=["echo"],
                                                    require_approval="never")]})
    assert [t["name"] for t in response["output"][0]["tools"]] == ["echo"]
    assert response["output"][1]["output"] == "hi"
    assert [t["function"]["name"] for t in gw.chat_requests()[0]["tools"]] == ["mcp7_fixture_echo"]

    # A tool outside allowed_tools is never offered, and a call to it never reaches the mcp.
    mcp.stats.reset()
    response = await gw.respond({"input": ADD, "tools": [mcp_tool(mcp, allowed_tools=["echo"],
                                                                   require_approval="never")]})
    assert not any(i["type"] == "mcp_call" for i in response["output"])
    assert mcp.stats.snapshot()["call_tool"] == {}

    # MCPToolFilter: read_only matches the readOnlyHint annotation.
    response = await gw.respond({"input": "hi", "tools": [mcp_tool(
        mcp, allowed_tools={"read_only": True}, require_approval="never")]})
    assert [t["name"] for t in response["output"][0]["tools"]] == ["add", "echo", "lookup_weather"]


async def test_approval_flow(gw: Gateway, mcp: MCPServerHandle) -> None:
    tools = [mcp_tool(mcp)]  # require_approval defaults to "always"
    first = await gw.respond({"input": f"add {ADD}", "tools": tools})
    assert [i["type"] for i in first["output"]] == ["mcp_list_tools", "mcp_approval_request"]
    request = first["output"][1]
    assert request["id"].startswith("mcpr_")
    assert request == {"type": "mcp_approval_request", "id": request["id"], "server_label": "fixture",
                       "name": "add", "arguments": '{"a":1,"b":2}'}
    assert first["status"] == "completed"
    assert mcp.stats.snapshot()["call_tool"] == {}
    assert len(gw.chat_requests()) == 1

    gw.backend.recorder.clear()
    second = await gw.respond({
        "previous_response_id": first["id"], "tools": tools,
        "input": [{"type": "mcp_approval_response", "approval_request_id": request["id"], "approve": True}]})
    # The tool list is in the context already: it is not listed (nor emitted) again.
    assert [i["type"] for i in second["output"]] == ["mcp_call", "message"]
    call, message = second["output"]
    assert call["approval_request_id"] == request["id"]
    assert (call["name"], call["arguments"], call["output"], call["status"]) == (
        "add", '{"a":1,"b":2}', "3", "completed")
    assert _text(message) == "tool result: 3"
    assert mcp.stats.snapshot()["call_tool"] == {"add": 1}
    assert mcp.stats.snapshot()["list_tools"] == 1
    # The model saw its call and the result.
    messages = gw.chat_requests()[0]["messages"]
    assert messages[-2]["tool_calls"][0]["function"]["name"] == "mcp7_fixture_add"
    assert messages[-1] == {"role": "tool", "tool_call_id": request["id"], "content": "3"}

    # A third turn replays the whole chain for the model, and the approval does not run again.
    third = await gw.respond({"previous_response_id": second["id"], "tools": tools, "input": "[[messages]]"})
    replay = json.loads(_text(third["output"][-1]))
    assert [m["role"] for m in replay] == ["user", "assistant", "tool", "assistant", "user"]
    assert replay[2]["content"] == "3"
    assert mcp.stats.snapshot()["call_tool"] == {"add": 1}


async def test_declined_approval_is_not_run_and_the_model_is_told(
        gw: Gateway, mcp: MCPServerHandle) -> None:
    tools = [mcp_tool(mcp)]
    first = await gw.respond({"input": ADD, "tools": tools})
    request_id = first["output"][1]["id"]
    second = await gw.respond({
        "previous_response_id": first["id"], "tools": tools,
        "input": [{"type": "mcp_approval_response", "approval_request_id": request_id, "approve": False}]})
    assert [i["type"] for i in second["output"]] == ["message"]
    assert _text(second["output"][0]) == "tool result: The user declined to run this tool call."
    assert mcp.stats.snapshot()["call_tool"] == {}


async def test_approval_errors(gw: Gateway, mcp: MCPServerHandle) -> None:
    first = await gw.respond({"input": ADD, "tools": [mcp_tool(mcp)]})
    resp = await gw.http.post("/v1/responses", json={
        "model": "m", "previous_response_id": first["id"], "tools": [mcp_tool(mcp)],
        "input": [{"type": "mcp_approval_response", "approval_request_id": "mcpr_nope", "approve": True}]})
    err = await error_of(resp, 400)
    assert err["param"] == "input[0].approval_request_id"
    # The approval's server must be declared again.
    resp = await gw.http.post("/v1/responses", json={
        "model": "m", "previous_response_id": first["id"],
        "input": [{"type": "mcp_approval_response", "approval_request_id": first["output"][1]["id"],
                   "approve": True}]})
    assert (await error_of(resp, 400))["param"] == "tools"
    assert mcp.stats.snapshot()["call_tool"] == {}


async def test_require_approval_filters(gw: Gateway, mcp: MCPServerHandle) -> None:
    tools = [mcp_tool(mcp, require_approval={"never": {"tool_names": ["add"]}})]
    response = await gw.respond({"input": f'{ADD} [[tool:mcp7_fixture_echo:{{"text":"x"}}]]', "tools": tools})
    kinds = [i["type"] for i in response["output"]]
    # add runs, echo waits for approval; the response stops there.
    assert kinds == ["mcp_list_tools", "mcp_call", "mcp_approval_request"]
    assert response["output"][1]["name"] == "add" and response["output"][2]["name"] == "echo"
    assert mcp.stats.snapshot()["call_tool"] == {"add": 1}


async def test_tool_error_is_a_failed_call(gw: Gateway, mcp: MCPServerHandle) -> None:
    response = await gw.respond({"input": "[[tool:mcp7_fixture_fail]]",
                                 "tools": [mcp_tool(mcp, require_approval="never")]})
    call = response["output"][1]
    assert call["status"] == "failed" and call["output"] is None
    assert call["error"] == {"type": "mcp_tool_execution_error",
                             "content": [{"type": "text", "text": "fixture failure"}]}
    # The model is told, and the response itself completes.
    assert response["status"] == "completed"
    assert _text(response["output"][2]).startswith("tool result: Error: ")


async def test_streaming_events(gw: Gateway, mcp: MCPServerHandle) -> None:
    events = await gw.respond_stream({"input": ADD, "tools": [mcp_tool(mcp, require_approval="never")]})
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    kinds = [e["type"] for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed"
    listing = [e for e in events if e.get("output_index") == 0]
    assert [e["type"] for e in listing] == [
        "response.output_item.added", "response.mcp_list_tools.in_progress",
        "response.mcp_list_tools.completed", "response.output_item.done"]
    assert listing[-1]["item"]["tools"][0]["name"] == "add"
    call = [e for e in events if e.get("output_index") == 1]
    call_kinds = [e["type"] for e in call]
    deltas = [e for e in call if e["type"] == "response.mcp_call_arguments.delta"]
    assert call_kinds == (["response.output_item.added", "response.mcp_call.in_progress"]
                          + ["response.mcp_call_arguments.delta"] * len(deltas)
                          + ["response.mcp_call_arguments.done", "response.mcp_call.completed",
                             "response.output_item.done"])
    assert len(deltas) > 1  # the backend streams arguments in pieces
    done_args = call[call_kinds.index("response.mcp_call_arguments.done")]["arguments"]
    assert "".join(e["delta"] for e in deltas) == done_args == '{"a":1,"b":2}'
    item_id = call[0]["item"]["id"]
    assert call[0]["item"]["status"] == "in_progress" and call[0]["item"]["type"] == "mcp_call"
    assert all(e["item_id"] == item_id for e in call[1:-1])
    assert call[-1]["item"]["output"] == "3" and call[-1]["item"]["status"] == "completed"
    assert not any(e["type"].startswith("response.function_call_arguments") for e in events)
    final = events[-1]["response"]
    assert [i["type"] for i in final["output"]] == ["mcp_list_tools", "mcp_call", "message"]
    assert _text(final["output"][2]) == "tool result: 3"
    assert await gw.get(f"/v1/responses/{final['id']}") == final


async def test_streaming_failed_call_and_approval_request(gw: Gateway, mcp: MCPServerHandle) -> None:
    events = await gw.respond_stream({"input": "[[tool:mcp7_fixture_fail]]",
                                      "tools": [mcp_tool(mcp, require_approval="never")]})
    assert "response.mcp_call.failed" in [e["type"] for e in events]
    events = await gw.respond_stream({"input": ADD, "tools": [mcp_tool(mcp)]})
    req = [e for e in events if e.get("output_index") == 1]
    assert [e["type"] for e in req] == ["response.output_item.added", "response.output_item.done"]
    assert req[-1]["item"]["type"] == "mcp_approval_request"
    assert req[-1]["item"]["arguments"] == '{"a":1,"b":2}'
    assert events[-1]["type"] == "response.completed"
    assert mcp.stats.snapshot()["call_tool"] == {"fail": 1}  # the approval request ran nothing


async def test_unreachable_server_is_424_and_nothing_is_stored(gw: Gateway) -> None:
    url = f"http://127.0.0.1:{free_closed_port()}/mcp"
    for stream in (False, True):
        resp = await gw.http.post("/v1/responses", json={
            "model": "m", "input": "hi", "stream": stream,
            "tools": [{"type": "mcp", "server_label": "gone", "server_url": url}]})
        err = await error_of(resp, 424)
        assert err["code"] == "mcp_unreachable_error" and "'gone'" in err["message"]
    assert gw.chat_requests() == []
    assert (await gw.get("/v1/responses"))["data"] == []


async def test_headers_reach_the_server_and_are_redacted(
        gw: Gateway, auth_mcp: MCPServerHandle, mcp: MCPServerHandle) -> None:
    tool = {"type": "mcp", "server_label": "fixture", "server_url": auth_mcp.url,
            "require_approval": "never"}
    resp = await gw.http.post("/v1/responses", json={"model": "m", "input": ADD, "tools": [tool]})
    err = await error_of(resp, 424)
    assert err["code"] == "mcp_http_error"
    authorized = {**tool, "headers": {"Authorization": f"Bearer {TOKEN}"}}
    ok = await gw.respond({"input": ADD, "tools": [authorized]})
    assert ok["output"][1]["output"] == "3"
    # The credentials are used, but neither echoed nor stored.
    assert ok["tools"][0]["headers"] == {"Authorization": "****"}
    assert (await gw.get(f"/v1/responses/{ok['id']}"))["tools"][0]["headers"] == {"Authorization": "****"}
    long_token = "Bearer " + "k" * 30 + "WXYZ"
    # (the fixture server without auth ignores credentials)
    ok = await gw.respond({"input": "hi", "tools": [mcp_tool(mcp, headers={"Authorization": long_token},
                                                             authorization="x" * 20)]})
    assert ok["tools"][0]["headers"] == {"Authorization": "****WXYZ"}
    assert ok["tools"][0]["authorization"] == "****xxxx"


async def test_background_request_runs_the_loop(gw: Gateway, mcp: MCPServerHandle) -> None:
    queued = await gw.respond({"input": ADD, "background": True,
                               "tools": [mcp_tool(mcp, require_approval="never")]})
    assert queued["status"] == "queued" and queued["output"] == []
    await gw.engine.wait_background(queued["id"])
    done = await gw.get(f"/v1/responses/{queued['id']}")
    assert done["status"] == "completed"
    assert [i["type"] for i in done["output"]] == ["mcp_list_tools", "mcp_call", "message"]
    assert _text(done["output"][2]) == "tool result: 3"


async def test_connector_id(gw: Gateway, mcp: MCPServerHandle) -> None:
    connector = await gw.post("/v1/connectors", {"label": "fixture", "server_url": mcp.url})
    response = await gw.respond({"input": ADD, "tools": [
        {"type": "mcp", "server_label": "fixture", "connector_id": connector["id"],
         "require_approval": "never"}]})
    assert response["output"][1]["output"] == "3"
    resp = await gw.http.post("/v1/responses", json={"model": "m", "input": "x", "tools": [
        {"type": "mcp", "server_label": "fixture", "connector_id": "conn_missing"}]})
    assert (await error_of(resp, 400))["param"] == "tools.connector_id"


async def test_file_search_and_mcp_together(gw: Gateway, mcp: MCPServerHandle) -> None:
    vs_id, files = await gw.store_with("solar.txt")
    response = await gw.respond({
        "input": f'{ADD} [[tool:file_search:{{"query":"solar"}}]]',
        "tools": [{"type": "file_search", "vector_store_ids": [vs_id]},
                  mcp_tool(mcp, require_approval="never")]})
    kinds = [i["type"] for i in response["output"]]
    assert kinds == ["mcp_list_tools", "mcp_call", "file_search_call", "message"]
    assert [a["file_id"] for a in response["output"][3]["content"][0]["annotations"]] == [files["solar.txt"]]
    names = [t["function"]["name"] for t in gw.chat_requests()[0]["tools"]]
    assert names[0] == "file_search" and "mcp7_fixture_add" in names
