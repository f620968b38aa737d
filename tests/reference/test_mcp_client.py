"""reference.mcp_client.MCPToolCache against the real fixture MCP server (fixtures.mcp_server,
the `mcp` SDK's server over Streamable HTTP on loopback, started on a free port per module)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from fixtures.mcp_server import MCPServerHandle
from reference.mcp_client import (
    MCPClientError,
    MCPServerRef,
    MCPToolCache,
    demangle_tool_name,
    filter_allowed,
    mcp_call_from_error,
    mcp_call_from_result,
    mcp_list_tools_item,
    needs_approval,
    to_function_tools,
)
from tests.support.mcp import TOKEN, free_closed_port


@pytest.fixture
def ref(mcp: MCPServerHandle) -> MCPServerRef:
    mcp.stats.reset()
    return MCPServerRef("fixture", mcp.url)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now




# ---------------------------------------------------------------- listing and calling


async def test_list_tools(ref: MCPServerRef) -> None:
    tools = await MCPToolCache().list_tools(ref)
    assert [t.name for t in tools] == ["add", "echo", "lookup_weather", "fail", "sleep"]
    add = tools[0]
    assert add.description == "Add two numbers and return the sum."
    assert add.input_schema["properties"] == {"a": {"type": "number"}, "b": {"type": "number"}}
    assert add.input_schema["required"] == ["a", "b"]
    assert add.annotations == {"readOnlyHint": True} and add.read_only_hint
    assert tools[3].annotations == {"readOnlyHint": False} and not tools[3].read_only_hint


@pytest.mark.parametrize(
    ("tool", "arguments", "text"),
    [
        ("add", {"a": 1, "b": 2}, "3"),
        ("add", {"a": 0.5, "b": -2}, "-1.5"),
        ("echo", {"text": "hello, wörld"}, "hello, wörld"),
        ("lookup_weather", {"city": "Paris"}, "The weather in Paris is sunny, 21 C."),
        ("sleep", {"ms": 5}, "slept 5 ms"),
    ],
)
async def test_call_each_tool(
    ref: MCPServerRef, mcp: MCPServerHandle, tool: str, arguments: dict[str, object], text: str
) -> None:
    result = await MCPToolCache().call_tool(ref, tool, arguments)
    assert result.is_error is False
    assert result.output_text == text
    assert result.content == [{"type": "text", "text": text}]
    assert mcp.snapshot()["call_tool"] == {tool: 1}


async def test_tool_error_is_a_result_not_an_exception(ref: MCPServerRef) -> None:
    result = await MCPToolCache().call_tool(ref, "fail", {})
    assert result.is_error is True
    assert result.output_text == "fixture failure"
    item = mcp_call_from_result(ref.label, "fail", "{}", result)
    assert item["status"] == "failed" and item["output"] is None
    assert item["error"] == {
        "type": "mcp_tool_execution_error",
        "content": [{"type": "text", "text": "fixture failure"}],
    }


async def test_invalid_arguments_are_a_tool_error(ref: MCPServerRef) -> None:
    result = await MCPToolCache().call_tool(ref, "add", {"a": "x", "b": 1})
    assert result.is_error is True
    assert result.output_text.startswith("Invalid arguments for add:")


async def test_unknown_tool_is_a_protocol_error(ref: MCPServerRef) -> None:
    with pytest.raises(MCPClientError) as info:
        await MCPToolCache().call_tool(ref, "no_such_tool", {})
    exc = info.value
    assert exc.kind == "protocol" and exc.code == -32602
    assert "Unknown tool: no_such_tool" in exc.message
    assert exc.error_object() == {"type": "mcp_protocol_error", "code": -32602, "message": exc.message}
    item = mcp_call_from_error(ref.label, "no_such_tool", "{}", exc)
    assert item["status"] == "failed" and item["error"]["type"] == "mcp_protocol_error"


# ---------------------------------------------------------------- caching


async def test_second_list_is_served_from_the_cache(ref: MCPServerRef, mcp: MCPServerHandle) -> None:
    cache = MCPToolCache()
    first = await cache.list_tools(ref)
    requests_after_first = len(mcp.snapshot()["requests"])
    second = await cache.list_tools(ref)
    assert second == first
    stats = mcp.snapshot()
    assert stats["list_tools"] == 1
    # Not one HTTP request reached the server for the cached list.
    assert len(stats["requests"]) == requests_after_first


async def test_calls_reuse_the_cached_listing(ref: MCPServerRef, mcp: MCPServerHandle) -> None:
    cache = MCPToolCache()
    await cache.list_tools(ref)
    for _ in range(3):
        assert (await cache.call_tool(ref, "echo", {"text": "x"})).output_text == "x"
    assert mcp.snapshot()["list_tools"] == 1
    assert mcp.snapshot()["call_tool"] == {"echo": 3}


async def test_a_call_on_a_cold_cache_fills_it(ref: MCPServerRef, mcp: MCPServerHandle) -> None:
    cache = MCPToolCache()
    await cache.call_tool(ref, "add", {"a": 1, "b": 1})
    await cache.call_tool(ref, "add", {"a": 1, "b": 1})
    await cache.list_tools(ref)
    assert mcp.snapshot()["list_tools"] == 1


async def test_cache_expires_after_ttl(ref: MCPServerRef, mcp: MCPServerHandle) -> None:
    clock = FakeClock()
    cache = MCPToolCache(ttl=60, clock=clock)
    await cache.list_tools(ref)
    clock.now += 59.9
    await cache.list_tools(ref)
    assert mcp.snapshot()["list_tools"] == 1
    clock.now += 0.2
    await cache.list_tools(ref)
    assert mcp.snapshot()["list_tools"] == 2


async def test_ttl_zero_disables_caching(ref: MCPServerRef, mcp: MCPServerHandle) -> None:
    cache = MCPToolCache(ttl=0)
    await cache.list_tools(ref)
    await cache.list_tools(ref)
    assert mcp.snapshot()["list_tools"] == 2


async def test_cache_is_keyed_by_url_and_headers(ref: MCPServerRef, mcp: MCPServerHandle) -> None:
    cache = MCPToolCache()
    await cache.list_tools(ref)
    await cache.list_tools(MCPServerRef("other-label", mcp.url))  # label is not part of the key
    assert mcp.snapshot()["list_tools"] == 1
    await cache.list_tools(MCPServerRef("fixture", mcp.url, {"X-Tenant": "a"}))
    await cache.list_tools(MCPServerRef("fixture", mcp.url, {"x-tenant": "a"}))
    assert mcp.snapshot()["list_tools"] == 2
    await cache.list_tools(MCPServerRef("fixture", mcp.url, {"X-Tenant": "b"}))
    assert mcp.snapshot()["list_tools"] == 3


async def test_invalidate(ref: MCPServerRef, mcp: MCPServerHandle) -> None:
    cache = MCPToolCache()
    await cache.list_tools(ref)
    cache.invalidate(ref)
    await cache.list_tools(ref)
    cache.clear()
    await cache.list_tools(ref)
    assert mcp.snapshot()["list_tools"] == 3


async def test_concurrent_misses_share_one_fetch(ref: MCPServerRef, mcp: MCPServerHandle) -> None:
    cache = MCPToolCache()
    results = await asyncio.gather(*(cache.list_tools(ref) for _ in range(5)))
    assert all(r == results[0] for r in results)
    assert mcp.snapshot()["list_tools"] == 1


async def test_handshake_era_negotiation(ref: MCPServerRef, mcp: MCPServerHandle) -> None:
    """mode="legacy" uses the `initialize` handshake and an Mcp-Session-Id, as pre-2026 servers do."""
    cache = MCPToolCache(mode="legacy")
    assert len(await cache.list_tools(ref)) == 5
    assert (await cache.call_tool(ref, "add", {"a": 2, "b": 2})).output_text == "4"
    requests = mcp.snapshot()["requests"]
    assert any("mcp-session-id" in r["headers"] for r in requests)
    assert mcp.snapshot()["list_tools"] == 1


# ---------------------------------------------------------------- headers and errors


async def test_headers_are_sent_to_the_server(auth_mcp: MCPServerHandle) -> None:
    auth_mcp.stats.reset()
    ref = MCPServerRef("secure", auth_mcp.url, {"Authorization": f"Bearer {TOKEN}", "X-Trace": "t-1"})
    cache = MCPToolCache()
    assert len(await cache.list_tools(ref)) == 5
    assert (await cache.call_tool(ref, "echo", {"text": "ok"})).output_text == "ok"
    requests = auth_mcp.snapshot()["requests"]
    assert requests and all(r["headers"].get("authorization") == f"Bearer {TOKEN}" for r in requests)
    assert all(r["headers"].get("x-trace") == "t-1" for r in requests)


async def test_http_error_status_is_kept_and_not_cached(auth_mcp: MCPServerHandle) -> None:
    auth_mcp.stats.reset()
    cache = MCPToolCache()
    bad = MCPServerRef("secure", auth_mcp.url, {"Authorization": "Bearer wrong"})
    with pytest.raises(MCPClientError) as info:
        await cache.list_tools(bad)
    exc = info.value
    assert exc.kind == "http" and exc.code == 401 and exc.server_label == "secure"
    assert exc.error_object() == {"type": "http_error", "code": 401, "message": exc.message}
    api = exc.to_api_error()
    assert api.status == 424 and api.type == "external_connector_error" and api.param == "tools"
    assert api.message.startswith("Error retrieving tool list from MCP server: 'secure'.")
    # The failure was not cached: the same key is fetched again (and fails again).
    with pytest.raises(MCPClientError):
        await cache.list_tools(bad)
    good = MCPServerRef("secure", auth_mcp.url, {"Authorization": f"Bearer {TOKEN}"})
    assert len(await cache.list_tools(good)) == 5


async def test_wrong_path_is_an_http_error(mcp: MCPServerHandle) -> None:
    with pytest.raises(MCPClientError) as info:
        await MCPToolCache().list_tools(MCPServerRef("fx", mcp.base_url + "/not-mcp"))
    assert info.value.kind == "http" and info.value.code == 404


async def test_unreachable_server() -> None:
    ref = MCPServerRef("gone", f"http://127.0.0.1:{free_closed_port()}/mcp")
    started = time.monotonic()
    for op in (MCPToolCache().list_tools(ref), MCPToolCache().call_tool(ref, "add", {"a": 1, "b": 2})):
        with pytest.raises(MCPClientError) as info:
            await op
        exc = info.value
        assert exc.kind == "unreachable" and exc.server_label == "gone" and exc.url == ref.url
        assert exc.error_object()["type"] == "http_error" and exc.error_object()["code"] == 502
        assert exc.to_api_error().status == 424
    assert time.monotonic() - started < 10


async def test_timeout(ref: MCPServerRef) -> None:
    cache = MCPToolCache(timeout=0.5)
    started = time.monotonic()
    with pytest.raises(MCPClientError) as info:
        await cache.call_tool(ref, "sleep", {"ms": 3000})
    assert time.monotonic() - started < 2.5
    assert info.value.kind == "timeout"
    assert info.value.error_object() == {"type": "http_error", "code": 504, "message": info.value.message}
    # The cache stays usable after a timed-out call.
    assert (await cache.call_tool(ref, "echo", {"text": "still here"})).output_text == "still here"


# ---------------------------------------------------------------- the loop, end to end


async def test_loop_pieces_end_to_end(ref: MCPServerRef, mcp: MCPServerHandle) -> None:
    """What the engine does for one turn: list, filter, offer, resolve the model's call, run it."""
    cache = MCPToolCache()
    request_tool = {
        "type": "mcp",
        "server_label": ref.label,
        "server_url": ref.url,
        "allowed_tools": {"read_only": True},
        "require_approval": {"never": {"tool_names": ["add"]}},
    }
    tools = filter_allowed(await cache.list_tools(ref), request_tool["allowed_tools"])
    assert [t.name for t in tools] == ["add", "echo", "lookup_weather"]
    listed = mcp_list_tools_item(ref.label, tools)
    assert [t["name"] for t in listed["tools"]] == ["add", "echo", "lookup_weather"]
    offered = to_function_tools(ref.label, tools)
    pairs = [(ref.label, t.name) for t in tools]

    # The model calls two of the offered functions.
    by_name = {t.name: t for t in tools}
    for function_name, arguments in [
        (offered[0]["function"]["name"], '{"a": 40, "b": 2}'),
        (offered[2]["function"]["name"], '{"city": "Oslo"}'),
    ]:
        resolved = demangle_tool_name(function_name, pairs)
        assert resolved is not None
        label, name = resolved
        approval = needs_approval(
            request_tool["require_approval"], name, read_only_hint=by_name[name].read_only_hint
        )
        if name == "add":
            assert approval is False
            result = await cache.call_tool(ref, name, json.loads(arguments))
            item = mcp_call_from_result(label, name, arguments, result)
            assert item["output"] == "42" and item["status"] == "completed" and item["arguments"] == arguments
        else:
            assert approval is True  # lookup_weather is not in `never`: default always
    assert mcp.snapshot()["list_tools"] == 1
    assert mcp.snapshot()["call_tool"] == {"add": 1}
