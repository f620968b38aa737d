"""Hosted tools in Responses: the file_search and mcp tool loops.

Hosted tools in Responses: the `file_search` and `mcp` tool loops, streamed and not.

Scripted tier: the model is the scripted backend, made to call the hosted tool with
``[[tool::{...}]]`` (the first tool the gateway offers it, with these arguments). The gateway
offers file_search as a function taking ``query`` and an MCP server's tools with their own
input schemas, so the arguments are the tool's own: ``{"query": ...}`` for file_search,
``{"text": ...}`` for the fixture MCP server's ``echo``. After the tool result the scripted
model answers ``tool result: <content>``.

MCP cases need an MCP server the gateway can reach (``--mcp-server-url``; the built-in targets
start ``fixtures.mcp_server``), else they are UNIMPLEMENTED."""

from __future__ import annotations

import json
import socket
from typing import Any

from conformance.cases._stateful import CORPUS, OAI, QUERIES, corpus, require_mcp
from conformance.context import CaseContext, StreamResult
from conformance.model import Level, Tier, case

FS = f"{OAI} components.schemas.FileSearchToolCall"
FS_EV = f"{OAI} components.schemas.ResponseFileSearchCallSearchingEvent"
MCP = f"{OAI} components.schemas.MCPTool"
MCP_CALL = f"{OAI} components.schemas.MCPToolCall"
MCP_LIST = f"{OAI} components.schemas.MCPListTools"
APPROVAL = f"{OAI} components.schemas.MCPApprovalRequest"
INCLUDE = (
    "include: Specify additional output data to include in the model response. Currently supported values "
    "are: ... `file_search_call.results`: Include the search results of the file search tool call."
)
TARGET = "violin.txt"


def _fs_call(query: str = QUERIES[TARGET]) -> str:
    return f"[[tool::{json.dumps({'query': query})}]]"


def _types(resp: dict[str, Any]) -> list[str]:
    return [str(i.get("type")) for i in resp.get("output") or [] if isinstance(i, dict)]


def _of(resp: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [i for i in resp.get("output") or [] if isinstance(i, dict) and i.get("type") == kind]


async def _fs_setup(ctx: CaseContext) -> tuple[Any, list[dict[str, Any]]]:
    await ctx.require_scripted()
    c = await corpus(ctx, ("bananas.txt", "violin.txt", "glacier.txt"), attributes=False)
    return c, [{"type": "file_search", "vector_store_ids": [c.vs_id]}]


async def _fs_response(ctx: CaseContext, **extra: Any) -> tuple[Any, dict[str, Any]]:
    c, tools = await _fs_setup(ctx)
    resp = await ctx.create_ok(_fs_call(), tools=tools, **extra)
    return c, resp


async def _fs_stream(ctx: CaseContext, **extra: Any) -> tuple[Any, StreamResult]:
    c, tools = await _fs_setup(ctx)
    res = await ctx.create_stream(_fs_call(), tools=tools, **extra)
    ctx.check_eq(res.status, 200, "status of the streamed create")
    return c, res


def _index(types: list[str], want: str, start: int = 0) -> int:
    try:
        return types.index(want, start)
    except ValueError:
        return -1


# --------------------------------------------------------------------------- file_search


@case("tool_flows.file_search.output-items", Level.MUST, source=FS, tier=Tier.SCRIPTED)
async def fs_output_items(ctx: CaseContext) -> None:
    """A file_search call yields a completed file_search_call item, then the message

    FileSearchToolCall: The results of a file search tool call. status: The status of the file search tool
    call. One of `in_progress`, `searching`, `incomplete` or `failed`, ... queries: The queries used to search
    for files.
    """
    _, resp = await _fs_response(ctx)
    ctx.check_eq(_types(resp), ["file_search_call", "message"], "output item types")
    call = _of(resp, "file_search_call")[0]
    ctx.check_eq(
        [call.get("status"), call.get("queries")], ["completed", [QUERIES[TARGET]]], "[status, queries]"
    )
    ctx.check(
        isinstance(call.get("id"), str) and bool(call.get("id")),
        "the call has an id",
        expected="id",
        actual=call.get("id"),
    )


@case(
    "tool_flows.file_search.results-included",
    Level.MUST,
    spec=INCLUDE,
    source=f"{OAI} components.schemas.IncludeEnum",
    tier=Tier.SCRIPTED,
)
async def fs_results_included(ctx: CaseContext) -> None:
    """include: ["file_search_call.results"] returns the results, the answering document first"""
    c, resp = await _fs_response(ctx, include=["file_search_call.results"])
    calls = _of(resp, "file_search_call")
    ctx.check(calls, "a file_search_call item", expected="file_search_call", actual=_types(resp))
    results = calls[0].get("results")
    ctx.check(
        isinstance(results, list) and results,
        "results is a non-empty array",
        expected="results",
        actual=results,
    )
    assert isinstance(results, list)
    top = results[0]
    ctx.check_eq(
        [top.get("file_id"), top.get("filename")],
        [c.files[TARGET], TARGET],
        "[file_id, filename] of the first result",
    )
    ctx.check(
        " ".join(CORPUS[TARGET].split()) in " ".join(str(top.get("text")).split()),
        "its text holds the document",
        expected=CORPUS[TARGET],
        actual=top.get("text"),
    )
    ctx.check(
        isinstance(top.get("score"), int | float),
        "it has a numeric score",
        expected="number",
        actual=top.get("score"),
    )


@case(
    "tool_flows.file_search.results-omitted-by-default",
    Level.SHOULD,
    spec=INCLUDE,
    source=FS,
    tier=Tier.SCRIPTED,
)
async def fs_results_omitted(ctx: CaseContext) -> None:
    """Without include, file_search_call.results is null or absent"""
    _, resp = await _fs_response(ctx)
    calls = _of(resp, "file_search_call")
    ctx.check(calls, "a file_search_call item", expected="file_search_call", actual=_types(resp))
    ctx.check(
        calls[0].get("results") in (None, []),
        "results without include",
        expected=None,
        actual=calls[0].get("results"),
    )


@case(
    "tool_flows.file_search.results-reach-model",
    Level.MUST,
    source=f"{OAI} components.schemas.FileSearchTool",
    tier=Tier.SCRIPTED,
)
async def fs_results_reach_model(ctx: CaseContext) -> None:
    """The search results are given to the model (its next turn sees the document text)

    file_search: A tool that searches for relevant content from uploaded files.
    """
    _, resp = await _fs_response(ctx)
    text = ctx.output_text(resp)
    ctx.check(
        text.startswith("tool result:") and "violin" in text.lower(),
        "the model's answer echoes the tool result holding the document",
        expected=f"tool result: ...{CORPUS[TARGET][:30]}...",
        actual=text[:300],
    )


@case(
    "tool_flows.file_search.citation",
    Level.SHOULD,
    source=f"{OAI} components.schemas.FileCitationBody",
    tier=Tier.SCRIPTED,
)
async def fs_citation(ctx: CaseContext) -> None:
    """The answer carries a file_citation annotation for the file the search found

    FileCitationBody: A citation to a file. file_id: The ID of the file. filename: The filename of the file
    cited.
    """
    c, resp = await _fs_response(ctx)
    anns = [
        a
        for m in _of(resp, "message")
        for p in m.get("content") or []
        if isinstance(p, dict)
        for a in p.get("annotations") or []
        if isinstance(a, dict)
    ]
    cites = [(a.get("file_id"), a.get("filename")) for a in anns if a.get("type") == "file_citation"]
    ctx.check(
        (c.files[TARGET], TARGET) in cites,
        "a file_citation names the found file",
        expected=[(c.files[TARGET], TARGET)],
        actual=cites,
    )


@case(
    "tool_flows.file_search.stored",
    Level.MUST,
    source=f"{OAI} paths./responses/{{response_id}}",
    tier=Tier.SCRIPTED,
)
async def fs_stored(ctx: CaseContext) -> None:
    """GET /responses/{id} returns the file_search_call item as created

    GET /responses/{response_id}: Retrieves a model response with the given ID.
    """
    _, resp = await _fs_response(ctx)
    got = ctx.json_ok(await ctx.get(f"/responses/{resp.get('id')}"), "GET /responses/{id}")
    ctx.check_eq(got.get("output"), resp.get("output"), "stored output vs created output")


@case(
    "tool_flows.file_search.unknown-vector-store-4xx",
    Level.MUST,
    source=f"{OAI} components.schemas.FileSearchTool",
)
async def fs_unknown_store(ctx: CaseContext) -> None:
    """file_search over a vector store that does not exist is a 4xx

    vector_store_ids: The IDs of the vector stores to search.
    """
    resp = await ctx.create(
        "search", tools=[{"type": "file_search", "vector_store_ids": ["vs_conformance_missing"]}]
    )
    ctx.check(resp.status_code in (400, 404), "status", expected="400 or 404", actual=resp.status_code)


@case("tool_flows.file_search.stream-event-order", Level.MUST, source=FS_EV, tier=Tier.SCRIPTED)
async def fs_stream_order(ctx: CaseContext) -> None:
    """Streaming: output_item.added, file_search_call.in_progress, .searching, .completed,
    output_item.done, then the message

    response.file_search_call.in_progress: Emitted when a file search call is initiated.
    response.file_search_call.searching: Emitted when a file search is currently searching.
    response.file_search_call.completed: Emitted when a file search call is completed (results found).
    """
    _, res = await _fs_stream(ctx)
    seq = []
    for p in res.payloads:
        t = str(p.get("type"))
        item: dict[str, Any] = p["item"] if isinstance(p.get("item"), dict) else {}
        if t.startswith("response.file_search_call."):
            seq.append(t)
        elif t in ("response.output_item.added", "response.output_item.done"):
            seq.append(f"{t}:{item.get('type')}")
    want = [
        "response.output_item.added:file_search_call",
        "response.file_search_call.in_progress",
        "response.file_search_call.searching",
        "response.file_search_call.completed",
        "response.output_item.done:file_search_call",
        "response.output_item.added:message",
        "response.output_item.done:message",
    ]
    ctx.check_eq(seq, want, "file_search and output_item events in order")


@case("tool_flows.file_search.stream-event-ids", Level.MUST, source=FS_EV, tier=Tier.SCRIPTED)
async def fs_stream_ids(ctx: CaseContext) -> None:
    """Streaming: the file_search_call events name the item's id and output_index

    item_id: The ID of the output item that the file search call is initiated. output_index: The index of the
    output item that the file search call is initiated.
    """
    _, res = await _fs_stream(ctx)
    added = [
        p
        for p in res.of_type("response.output_item.added")
        if (p.get("item") or {}).get("type") == "file_search_call"
    ]
    ctx.check(added, "an output_item.added for the file_search_call", expected=1, actual=res.types)
    item = added[0].get("item") or {}
    item_id, index = item.get("id"), added[0].get("output_index")
    evs = [p for p in res.payloads if str(p.get("type")).startswith("response.file_search_call.")]
    ctx.check_eq(
        [(p.get("item_id"), p.get("output_index")) for p in evs],
        [(item_id, index)] * 3,
        "(item_id, output_index) of the three file_search_call events",
    )


@case(
    "tool_flows.file_search.stream-done-equals-final",
    Level.MUST,
    source=f"{OAI} components.schemas.ResponseOutputItemDoneEvent",
    tier=Tier.SCRIPTED,
)
async def fs_stream_done(ctx: CaseContext) -> None:
    """Streaming: the file_search_call in output_item.done equals the one in the final response

    response.output_item.done: Emitted when an output item is marked done. item: The output item that was
    marked done.
    """
    _, res = await _fs_stream(ctx, include=["file_search_call.results"])
    done = [
        p.get("item")
        for p in res.of_type("response.output_item.done")
        if (p.get("item") or {}).get("type") == "file_search_call"
    ]
    final = res.of_type("response.completed")
    ctx.check(
        done and final,
        "an output_item.done for the call and response.completed",
        expected="both",
        actual=res.types[-5:],
    )
    out = [
        i
        for i in (final[-1].get("response") or {}).get("output") or []
        if isinstance(i, dict) and i.get("type") == "file_search_call"
    ]
    ctx.check_eq(done[0], out[0] if out else None, "output_item.done item vs the final response's item")
    ctx.check_eq((done[0] or {}).get("status"), "completed", "status of the done item")


@case(
    "tool_flows.file_search.stream-annotation-event",
    Level.SHOULD,
    source=f"{OAI} components.schemas.ResponseOutputTextAnnotationAddedEvent",
    tier=Tier.SCRIPTED,
)
async def fs_stream_annotation(ctx: CaseContext) -> None:
    """Streaming: the file_citation arrives as response.output_text.annotation.added before output_text.done

    response.output_text.annotation.added: Emitted when an annotation is added to output text content.
    """
    c, res = await _fs_stream(ctx)
    types = res.types
    ann = _index(types, "response.output_text.annotation.added")
    done = _index(types, "response.output_text.done")
    ctx.check(
        0 <= ann < done,
        "annotation.added comes before output_text.done",
        expected="annotation first",
        actual=[t for t in types if "output_text" in t][-3:],
    )
    a = res.of_type("response.output_text.annotation.added")[0].get("annotation") or {}
    ctx.check_eq([a.get("type"), a.get("file_id")], ["file_citation", c.files[TARGET]], "[type, file_id]")


# --------------------------------------------------------------------------- MCP


def _mcp_tool(
    url: str, approval: Any = "never", allowed: list[str] | None = None, label: str = "fixture"
) -> dict[str, Any]:
    return {
        "type": "mcp",
        "server_label": label,
        "server_url": url,
        "require_approval": approval,
        "allowed_tools": allowed if allowed is not None else ["echo"],
    }


ECHO = '[[tool::{"text":"conformance echo"}]]'


async def _mcp(ctx: CaseContext, approval: Any = "never", **extra: Any) -> dict[str, Any]:
    await ctx.require_scripted()
    url = require_mcp(ctx)
    return await ctx.create_ok(ECHO, tools=[_mcp_tool(url, approval)], **extra)


@case("tool_flows.mcp.list-tools-item", Level.MUST, source=MCP_LIST, tier=Tier.SCRIPTED)
async def mcp_list_tools(ctx: CaseContext) -> None:
    """An mcp tool yields an mcp_list_tools item listing the server's (allowed) tools

    MCPListTools: A list of tools available on an MCP server. server_label: The label of the MCP server.
    tools: The tools available on the server.
    """
    resp = await _mcp(ctx)
    lists = _of(resp, "mcp_list_tools")
    ctx.check(len(lists) == 1, "one mcp_list_tools item", expected=1, actual=_types(resp))
    tools = [t.get("name") for t in lists[0].get("tools") or [] if isinstance(t, dict)]
    ctx.check_eq([lists[0].get("server_label"), tools], ["fixture", ["echo"]], "[server_label, tool names]")


@case("tool_flows.mcp.allowed-tools-filter", Level.MUST, source=MCP, tier=Tier.SCRIPTED)
async def mcp_allowed(ctx: CaseContext) -> None:
    """allowed_tools limits the listed tools

    allowed_tools: List of allowed tool names or a filter object.
    """
    await ctx.require_scripted()
    url = require_mcp(ctx)
    resp = await ctx.create_ok("hello", tools=[_mcp_tool(url, allowed=["add", "echo"])])
    lists = _of(resp, "mcp_list_tools")
    tools = sorted(str(t.get("name")) for lst in lists for t in lst.get("tools") or [] if isinstance(t, dict))
    ctx.check_eq(tools, ["add", "echo"], "listed tools with allowed_tools=[add, echo]")


@case("tool_flows.mcp.call-item", Level.MUST, source=MCP_CALL, tier=Tier.SCRIPTED)
async def mcp_call(ctx: CaseContext) -> None:
    """The model's call runs on the MCP server: an mcp_call item with name, arguments and output

    MCPToolCall: An invocation of a tool on an MCP server. name: The name of the tool that was run. arguments:
    A JSON string of the arguments passed to the tool. output: The output from the tool call.
    """
    resp = await _mcp(ctx)
    calls = _of(resp, "mcp_call")
    ctx.check(len(calls) == 1, "one mcp_call item", expected=1, actual=_types(resp))
    call = calls[0]
    try:
        args = json.loads(str(call.get("arguments")))
    except ValueError:
        args = call.get("arguments")
    ctx.check_eq(
        [call.get("server_label"), call.get("name"), args, call.get("output"), call.get("error")],
        ["fixture", "echo", {"text": "conformance echo"}, "conformance echo", None],
        "[server_label, name, arguments, output, error]",
    )


@case("tool_flows.mcp.item-order", Level.MUST, source=MCP_CALL, tier=Tier.SCRIPTED)
async def mcp_order(ctx: CaseContext) -> None:
    """mcp_list_tools comes before mcp_call, and the message after both

    MCPListTools ... MCPToolCall: An invocation of a tool on an MCP server.
    """
    resp = await _mcp(ctx)
    ctx.check_eq(_types(resp), ["mcp_list_tools", "mcp_call", "message"], "output item types")
    ctx.check_eq(ctx.output_text(resp), "tool result: conformance echo", "the model saw the tool output")


@case(
    "tool_flows.mcp.stream-event-order",
    level=Level.MUST,
    title="Streaming: mcp_list_tools in_progress/completed, then mcp_call in_progress/completed, then the "
    "message",
    spec="response.mcp_list_tools.in_progress: Emitted when the system is in the process of retrieving the "
    "list of available MCP tools. response.mcp_call.completed: Emitted when an MCP  tool call has completed "
    "successfully.",
    source=f"{OAI} components.schemas.ResponseMCPCallCompletedEvent",
    tier=Tier.SCRIPTED,
)
async def mcp_stream_order(ctx: CaseContext) -> None:
    await ctx.require_scripted()
    url = require_mcp(ctx)
    res = await ctx.create_stream(ECHO, tools=[_mcp_tool(url)])
    ctx.check_eq(res.status, 200, "status")
    seq = []
    for p in res.payloads:
        t = str(p.get("type"))
        item: dict[str, Any] = p["item"] if isinstance(p.get("item"), dict) else {}
        if t in (
            "response.mcp_list_tools.in_progress",
            "response.mcp_list_tools.completed",
            "response.mcp_call.in_progress",
            "response.mcp_call.completed",
        ):
            seq.append(t)
        elif t in ("response.output_item.added", "response.output_item.done"):
            seq.append(f"{t}:{item.get('type')}")
    want = [
        "response.output_item.added:mcp_list_tools",
        "response.mcp_list_tools.in_progress",
        "response.mcp_list_tools.completed",
        "response.output_item.done:mcp_list_tools",
        "response.output_item.added:mcp_call",
        "response.mcp_call.in_progress",
        "response.mcp_call.completed",
        "response.output_item.done:mcp_call",
        "response.output_item.added:message",
        "response.output_item.done:message",
    ]
    ctx.check_eq(seq, want, "mcp and output_item events in order")


@case("tool_flows.mcp.tool-error", Level.MUST, source=MCP_CALL, tier=Tier.SCRIPTED)
async def mcp_error(ctx: CaseContext) -> None:
    """A tool execution error is reported in mcp_call.error

    error: The error from the tool call, if any.
    """
    await ctx.require_scripted()
    url = require_mcp(ctx)
    resp = await ctx.create_ok("[[tool::{}]]", tools=[_mcp_tool(url, allowed=["fail"])])
    calls = _of(resp, "mcp_call")
    ctx.check(len(calls) == 1, "one mcp_call item", expected=1, actual=_types(resp))
    ctx.check(
        calls[0].get("error") not in (None, ""),
        "mcp_call.error is set",
        expected="an error",
        actual=calls[0].get("error"),
    )


@case("tool_flows.mcp.approval-request", Level.MUST, source=APPROVAL, tier=Tier.SCRIPTED)
async def mcp_approval_request(ctx: CaseContext) -> None:
    """require_approval=always stops at an mcp_approval_request; the tool is not run

    MCPApprovalRequest: A request for human approval of a tool invocation. arguments: A JSON string of
    arguments for the tool. name: The name of the tool to run. server_label: The label of the MCP server
    making the request.
    """
    resp = await _mcp(ctx, approval="always")
    reqs = _of(resp, "mcp_approval_request")
    ctx.check(
        len(reqs) == 1 and not _of(resp, "mcp_call"),
        "one mcp_approval_request and no mcp_call",
        expected=["mcp_list_tools", "mcp_approval_request"],
        actual=_types(resp),
    )
    r = reqs[0]
    try:
        args = json.loads(str(r.get("arguments")))
    except ValueError:
        args = r.get("arguments")
    ctx.check_eq(
        [r.get("server_label"), r.get("name"), args, isinstance(r.get("id"), str)],
        ["fixture", "echo", {"text": "conformance echo"}, True],
        "[server_label, name, arguments, has id]",
    )


async def _approve(ctx: CaseContext, approve: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    first = await _mcp(ctx, approval="always")
    reqs = _of(first, "mcp_approval_request")
    ctx.check(
        reqs, "an mcp_approval_request to answer", expected="mcp_approval_request", actual=_types(first)
    )
    url = require_mcp(ctx)
    answer = [{"type": "mcp_approval_response", "approval_request_id": reqs[0].get("id"), "approve": approve}]
    second = await ctx.create_ok(
        answer, tools=[_mcp_tool(url, "always")], previous_response_id=first.get("id")
    )
    return reqs[0], second


@case("tool_flows.mcp.approval-approved-runs", Level.MUST, source=MCP_CALL, tier=Tier.SCRIPTED)
async def mcp_approved(ctx: CaseContext) -> None:
    """An approving mcp_approval_response runs the call (mcp_call with approval_request_id)

    approval_request_id: Unique identifier for the MCP tool call approval request. Include this value in a
    subsequent `mcp_approval_response` input to approve or reject the corresponding tool call.
    """
    req, second = await _approve(ctx, True)
    calls = _of(second, "mcp_call")
    ctx.check(len(calls) == 1, "one mcp_call item", expected=1, actual=_types(second))
    ctx.check_eq(
        [calls[0].get("approval_request_id"), calls[0].get("name"), calls[0].get("output")],
        [req.get("id"), "echo", "conformance echo"],
        "[approval_request_id, name, output]",
    )


@case(
    "tool_flows.mcp.approval-denied-not-run",
    Level.MUST,
    source=f"{OAI} components.schemas.MCPApprovalResponse",
    tier=Tier.SCRIPTED,
)
async def mcp_denied(ctx: CaseContext) -> None:
    """A rejecting mcp_approval_response does not run the call

    approve: Whether the request was approved.
    """
    _, second = await _approve(ctx, False)
    ran = [c for c in _of(second, "mcp_call") if c.get("output") == "conformance echo"]
    ctx.check(not ran, "no mcp_call ran the tool", expected=[], actual=ran)


@case(
    "tool_flows.mcp.list-tools-reused",
    Level.SHOULD,
    source="platform.openai.com/docs/guides/tools-remote-mcp",
    tier=Tier.SCRIPTED,
)
async def mcp_list_reused(ctx: CaseContext) -> None:
    """With previous_response_id the tool list is reused: no second mcp_list_tools item

    As long as the mcp_list_tools item is present in the context of the response, we will not fetch the list
    of tools from the MCP server again. (OpenAI guide, remote MCP)
    """
    first = await _mcp(ctx)
    url = require_mcp(ctx)
    second = await ctx.create_ok("thanks", tools=[_mcp_tool(url)], previous_response_id=first.get("id"))
    ctx.check_eq(_of(second, "mcp_list_tools"), [], "mcp_list_tools items in the follow-up response")


@case("tool_flows.mcp.unreachable-server-424", Level.SHOULD, source=MCP)
async def mcp_unreachable(ctx: CaseContext) -> None:
    """An MCP server that cannot be reached makes the request fail with 424

    Error retrieving tool list from MCP server (OpenAI answers 424 Failed Dependency)
    """
    require_mcp(ctx)  # only where MCP is in scope
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    resp = await ctx.create("hi", tools=[_mcp_tool(f"http://127.0.0.1:{port}/mcp")])
    ctx.check_eq(resp.status_code, 424, "status with an unreachable MCP server")
