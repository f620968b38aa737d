"""`reference.tools` on its own: the loop driven by injected callables (as the ext_proc server
will drive it), with the scripted backend's `ScriptEngine` as the model (no sockets) and fake
search / MCP services."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import pytest

from fixtures.backend.scripts import ScriptEngine
from reference.core.errors import APIError
from reference.mcp_client import CallResult, MCPServerRef, MCPToolCache, ToolInfo
from reference.retrieval import ChunkMeta, Hit, SearchOptions, parse_file_search_tool
from reference.tools import (
    MAX_MODEL_CALLS,
    HostedTools,
    ToolLoop,
    ToolServices,
    add_usage,
    expand_history,
    resolve_hosted_tools,
)

SOLAR = ChunkMeta("file_a", "solar.txt", "Solar panels make electricity.", {"topic": "energy"})
BREAD = ChunkMeta("file_b", "bread.md", "Feed the starter daily.", {})
ADD = ToolInfo("add", {"type": "object"}, "Add", {"readOnlyHint": True})


class FakeMCP(MCPToolCache):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.lists = 0

    async def list_tools(self, ref: MCPServerRef) -> list[ToolInfo]:
        self.lists += 1
        return [ADD]

    async def call_tool(self, ref: MCPServerRef, name: str, arguments: Mapping[str, Any]) -> CallResult:
        self.calls.append((name, dict(arguments)))
        return CallResult(output_text=str(arguments["a"] + arguments["b"]), is_error=False)


class Fakes:
    def __init__(self) -> None:
        self.mcp = FakeMCP()
        self.searches: list[tuple[tuple[str, ...], SearchOptions]] = []

    async def search(self, ids: Sequence[str], options: SearchOptions) -> list[Hit]:
        self.searches.append((tuple(ids), options))
        return [Hit(SOLAR, 0.9, 0), Hit(BREAD, 0.2, 1)][: options.max_num_results]

    async def check(self, vs_id: str) -> None:
        if vs_id != "vs_1":
            raise APIError(404, "nope", "invalid_request_error", None, "not_found")

    async def connectors(self, tools: Sequence[Mapping[str, Any]]) -> dict[str, MCPServerRef]:
        return {}

    def services(self) -> ToolServices:
        return ToolServices(self.mcp, self.search, self.check, self.connectors)


class Model:
    """The scripted backend as the injected "call the model once" callables."""

    def __init__(self) -> None:
        self.script = ScriptEngine()
        self.requests: list[dict[str, Any]] = []

    async def call(self, request: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(request)
        result: dict[str, Any] = self.script.chat({**request, "stream": False}).json
        return result

    async def stream(self, request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        self.requests.append(request)
        body = {**request, "stream": True, "stream_options": {"include_usage": True}}
        for chunk in self.script.chat(body).chunks:
            yield chunk


SKELETON: dict[str, Any] = {"id": "resp_1", "object": "response", "status": "in_progress", "output": [],
                            "usage": None, "error": None, "incomplete_details": None, "completed_at": None}


async def _loop(fakes: Fakes, text: str, tools: list[dict[str, Any]], **kw: Any) -> ToolLoop:
    hosted = await resolve_hosted_tools(tools, fakes.services())
    assert hosted is not None
    chat = {"model": "m", "messages": [{"role": "user", "content": text}], "tools": hosted.chat_tools()}
    return ToolLoop(hosted, fakes.services(), SKELETON, chat, **kw)


FS_TOOL = {"type": "file_search", "vector_store_ids": ["vs_1"], "max_num_results": 1}
MCP_TOOL = {"type": "mcp", "server_label": "calc", "server_url": "http://127.0.0.1:1/mcp",
            "require_approval": "never"}


async def test_run_and_stream_produce_the_same_response() -> None:
    text = '[[tool:file_search:{"query":"solar"}]] [[tool:mcp4_calc_add:{"a":2,"b":3}]]'
    plain = await (await _loop(Fakes(), text, [FS_TOOL, MCP_TOOL])).run(Model().call)
    loop = await _loop(Fakes(), text, [FS_TOOL, MCP_TOOL], include=["file_search_call.results"])
    events = [e async for e in loop.stream(Model().stream)]
    streamed = events[-1]["response"]
    assert events[-1]["type"] == "response.completed"
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    for response in (plain, streamed):
        kinds = [i["type"] for i in response["output"]]
        assert kinds == ["mcp_list_tools", "file_search_call", "mcp_call", "message"]
        assert response["output"][2]["output"] == "5"
        assert response["status"] == "completed" and isinstance(response["completed_at"], int)
        # The final answer (after two tool messages the backend echoes the last one) cites solar.txt.
        message = response["output"][3]
        assert message["content"][0]["text"] == "tool result: 5"
        assert message["content"][0]["annotations"] == [
            {"type": "file_citation", "file_id": "file_a", "filename": "solar.txt", "index": 14}]
    assert plain["output"][1]["results"] is None
    assert streamed["output"][1]["results"] == [{"file_id": "file_a", "filename": "solar.txt", "score": 0.9,
                                                 "attributes": {"topic": "energy"},
                                                 "text": "Solar panels make electricity."}]
    assert plain["usage"] == streamed["usage"]
    assert plain["usage"]["total_tokens"] == plain["usage"]["input_tokens"] + plain["usage"]["output_tokens"]


async def test_search_options_come_from_the_tool() -> None:
    fakes = Fakes()
    tool = {**FS_TOOL, "max_num_results": 2, "ranking_options": {"score_threshold": 0.5},
            "filters": {"type": "eq", "key": "topic", "value": "energy"}}
    await (await _loop(fakes, '[[tool:file_search:{"queries":["a","b"]}]]', [tool])).run(Model().call)
    (ids, options), = fakes.searches
    assert ids == ("vs_1",) and options.queries == ("a", "b")
    assert (options.max_num_results, options.score_threshold) == (2, 0.5)
    assert options.filters is not None and options.filters.matches({"topic": "energy"})


async def test_a_model_that_never_stops_calling_is_bounded() -> None:
    fakes = Fakes()
    requests: list[dict[str, Any]] = []

    async def always_search(request: dict[str, Any]) -> dict[str, Any]:
        requests.append(request)
        call = {"id": f"call_{len(requests)}", "type": "function",
                "function": {"name": "file_search", "arguments": '{"query":"again"}'}}
        return {"choices": [{"index": 0, "finish_reason": "tool_calls",
                             "message": {"role": "assistant", "content": None, "tool_calls": [call]}}]}

    loop = await _loop(fakes, "go", [FS_TOOL])
    response = await loop.run(always_search)
    assert len(requests) == MAX_MODEL_CALLS
    assert "tools" not in requests[-1] and "tools" in requests[-2]
    calls = [i for i in response["output"] if i["type"] == "file_search_call"]
    assert [c["status"] for c in calls] == ["completed"] * (MAX_MODEL_CALLS - 1) + ["incomplete"]
    assert len(fakes.searches) == MAX_MODEL_CALLS - 1


async def test_stream_failure_ends_with_response_failed() -> None:
    fakes = Fakes()
    model = Model()
    calls = 0

    async def failing_second_call(request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise APIError(502, "The model backend failed: boom", "server_error", None, "backend_error")
        async for chunk in model.stream(request):
            yield chunk

    loop = await _loop(fakes, '[[tool:file_search:{"query":"x"}]]', [FS_TOOL])
    events = [e async for e in loop.stream(failing_second_call)]
    assert events[-1]["type"] == "response.failed"
    failed = events[-1]["response"]
    assert failed["status"] == "failed"
    assert failed["error"] == {"code": "server_error", "message": "The model backend failed: boom"}
    assert [i["type"] for i in failed["output"]] == ["file_search_call"]
    # `run` raises instead, so a plain request fails with the backend's status.
    calls = 0
    loop = await _loop(Fakes(), '[[tool:file_search:{"query":"x"}]]', [FS_TOOL])

    async def failing_call(request: dict[str, Any]) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise APIError(502, "boom", "server_error", None, "backend_error")
        return await model.call(request)

    with pytest.raises(APIError):
        await loop.run(failing_call)


async def test_resolve_validates_before_anything_runs() -> None:
    fakes = Fakes()
    with pytest.raises(APIError) as info:
        await resolve_hosted_tools([{"type": "file_search", "vector_store_ids": ["vs_x"]}], fakes.services())
    assert (info.value.status, info.value.param) == (404, "tools[0].vector_store_ids")
    with pytest.raises(APIError) as info:
        await resolve_hosted_tools([MCP_TOOL, MCP_TOOL], fakes.services())
    assert (info.value.status, info.value.param) == (400, "tools[1].server_label")
    with pytest.raises(APIError) as info:
        await resolve_hosted_tools([{**MCP_TOOL, "require_approval": "sometimes"}], fakes.services())
    assert (info.value.status, info.value.param) == (400, "tools[0]")
    with pytest.raises(APIError) as info:
        await resolve_hosted_tools([FS_TOOL], fakes.services(), client_function_names=["file_search"])
    assert info.value.status == 400 and info.value.code == "duplicate_tool_name"
    assert await resolve_hosted_tools([{"type": "function", "name": "f"}], fakes.services()) is None
    # A tool list already in the history is reused: no listing, no new mcp_list_tools item.
    fakes = Fakes()
    history = [{"type": "mcp_list_tools", "id": "mcpl_1", "server_label": "calc",
                "tools": [ADD.to_item()]}]
    hosted = await resolve_hosted_tools([MCP_TOOL], fakes.services(), history)
    assert isinstance(hosted, HostedTools) and hosted.list_items() == []
    assert [t["function"]["name"] for t in hosted.chat_tools()] == ["mcp4_calc_add"]
    assert fakes.mcp.lists == 0


def test_parse_file_search_tool_used_by_resolve_is_the_retrieval_one() -> None:
    assert parse_file_search_tool(FS_TOOL).options.max_num_results == 1


def test_add_usage() -> None:
    a = {"input_tokens": 3, "input_tokens_details": {"cached_tokens": 1}, "output_tokens": 2,
         "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 5}
    assert add_usage(None, a) == a
    assert add_usage(a, None) == a
    assert add_usage(a, a) == {"input_tokens": 6, "input_tokens_details": {"cached_tokens": 2},
                               "output_tokens": 4, "output_tokens_details": {"reasoning_tokens": 0},
                               "total_tokens": 10}


def test_expand_history() -> None:
    items: list[dict[str, Any]] = [
        {"type": "message", "id": "msg_1", "role": "user", "content": [{"type": "input_text", "text": "q"}]},
        {"type": "mcp_list_tools", "id": "mcpl_1", "server_label": "calc", "tools": []},
        {"type": "file_search_call", "id": "fs_1", "status": "completed", "queries": ["q"], "results": None},
        {"type": "mcp_call", "id": "mcp_1", "server_label": "calc", "name": "add", "arguments": '{"a":1}',
         "output": "2", "error": None, "status": "completed", "approval_request_id": None},
        {"type": "mcp_approval_request", "id": "mcpr_1", "server_label": "calc", "name": "add",
         "arguments": "{}"},
        {"type": "mcp_approval_response", "approval_request_id": "mcpr_1", "approve": False},
    ]
    expanded = expand_history(items)
    assert [(i["type"], i.get("call_id")) for i in expanded] == [
        ("message", None), ("mcp_list_tools", None),
        ("function_call", "fs_1"), ("function_call_output", "fs_1"),
        ("function_call", "mcp_1"), ("function_call_output", "mcp_1"),
        ("mcp_approval_request", None),
        ("function_call", "mcpr_1"), ("function_call_output", "mcpr_1"),
    ]
    assert json.loads(expanded[2]["arguments"]) == {"queries": ["q"]}
    assert expanded[3]["output"] == "The results of this search were not retained."
    assert expanded[4]["name"] == "mcp4_calc_add" and expanded[5]["output"] == "2"
    assert expanded[8]["output"] == "The user declined to run this tool call."
