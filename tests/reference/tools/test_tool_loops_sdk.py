"""Hosted tools end to end: the official `openai` SDK against a real `responses-gateway serve`
subprocess, the real scripted backend server and the real fixture MCP server, all on loopback.

The SDK parses every stream event into its typed models, so these tests also check that our
events and items have the shapes the SDK (generated from the OpenAI spec) expects.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI
from openai.types.responses import (
    ResponseFileSearchCallCompletedEvent,
    ResponseFileSearchCallInProgressEvent,
    ResponseFileSearchCallSearchingEvent,
    ResponseMcpCallArgumentsDeltaEvent,
    ResponseMcpCallCompletedEvent,
    ResponseMcpListToolsCompletedEvent,
    ResponseOutputTextAnnotationAddedEvent,
)

from devstack.gateway_process import GatewayProcess
from fixtures.mcp_server import MCPServerHandle

DOCS = Path(__file__).resolve().parents[3] / "fixtures" / "documents"


@pytest.fixture
def client(gateway: GatewayProcess) -> Iterator[OpenAI]:
    with OpenAI(base_url=gateway.url, api_key="unused", max_retries=0, timeout=30) as c:
        yield c


def _mcp_tool(server: MCPServerHandle, **extra: Any) -> Any:
    return {"type": "mcp", "server_label": "fixture", "server_url": server.url, **extra}


def test_mcp_stream_and_approval_with_the_sdk(client: OpenAI, mcp: MCPServerHandle) -> None:
    events = list(client.responses.create(
        model="scripted", input='[[tool:mcp7_fixture_add:{"a":2,"b":5}]]', stream=True,
        tools=[_mcp_tool(mcp, require_approval="never")]))
    assert any(isinstance(e, ResponseMcpListToolsCompletedEvent) for e in events)
    deltas = [e.delta for e in events if isinstance(e, ResponseMcpCallArgumentsDeltaEvent)]
    assert "".join(deltas) == '{"a":2,"b":5}'
    assert any(isinstance(e, ResponseMcpCallCompletedEvent) for e in events)
    final = events[-1]
    assert final.type == "response.completed"
    response = final.response
    assert [item.type for item in response.output] == ["mcp_list_tools", "mcp_call", "message"]
    assert response.output_text == "tool result: 7"

    first = client.responses.create(model="scripted", input='[[tool:mcp7_fixture_echo:{"text":"hi"}]]',
                                    tools=[_mcp_tool(mcp)])
    request = first.output[-1]
    assert request.type == "mcp_approval_request" and request.name == "echo"
    second = client.responses.create(
        model="scripted", previous_response_id=first.id, tools=[_mcp_tool(mcp)],
        input=[{"type": "mcp_approval_response", "approval_request_id": request.id, "approve": True}])
    call = second.output[0]
    assert call.type == "mcp_call" and call.output == "hi" and call.approval_request_id == request.id
    assert second.output_text == "tool result: hi"
    assert client.responses.retrieve(second.id).model_dump() == second.model_dump()


def test_file_search_with_the_sdk(client: OpenAI) -> None:
    uploaded = client.files.create(file=("solar.txt", BytesIO((DOCS / "solar.txt").read_bytes())),
                                   purpose="assistants")
    store = client.vector_stores.create(name="sdk", file_ids=[uploaded.id])
    deadline = time.monotonic() + 20
    while client.vector_stores.retrieve(store.id).status != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    tools: Any = [{"type": "file_search", "vector_store_ids": [store.id]}]
    events = list(client.responses.create(
        model="scripted", input='[[tool:file_search:{"query":"solar inverter"}]]', stream=True, tools=tools,
        include=["file_search_call.results"]))
    kinds = [type(e) for e in events]
    order = [ResponseFileSearchCallInProgressEvent, ResponseFileSearchCallSearchingEvent,
             ResponseFileSearchCallCompletedEvent]
    assert [k for k in kinds if k in order] == order
    annotation = next(e for e in events if isinstance(e, ResponseOutputTextAnnotationAddedEvent))
    assert annotation.annotation.type == "file_citation"  # type: ignore[union-attr]
    assert annotation.annotation.file_id == uploaded.id  # type: ignore[union-attr]
    # Typed loosely from here: the SDK's unions would need a narrowing step per attribute.
    response: Any = events[-1].response  # type: ignore[union-attr]
    call = response.output[0]
    assert call.type == "file_search_call" and call.queries == ["solar inverter"]
    assert call.results is not None and call.results[0].file_id == uploaded.id
    message = response.output[1]
    assert message.type == "message"
    citation = message.content[0].annotations[0]
    assert citation.type == "file_citation" and citation.file_id == uploaded.id
    assert citation.filename == "solar.txt"
