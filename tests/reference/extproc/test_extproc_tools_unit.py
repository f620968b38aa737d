"""The ext_proc server's hosted tool loop without Envoy: ProcessingRequest messages fed to
RequestProcessor.process, a real Engine on an in-memory store, the scripted backend mounted with
respx and the fixture MCP server on loopback.

Also the wire form of `streamed_immediate_response`, which the xds-protos 1.85 stubs lack.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx
from google.protobuf.internal.decoder import _DecodeVarint

import protos
from fixtures.backend.respx_routes import MountedBackend, mount
from fixtures.backend.testing import sse_data
from fixtures.mcp_server import MCPServerHandle
from reference.backend import Backend
from reference.core.envoy_contract import IN_GATEWAY_HEADER
from reference.engine import Engine
from reference.extproc.phases import Phase
from reference.extproc.processor import RequestProcessor
from reference.extproc.replies import streamed_immediate, streamed_immediate_body, streamed_immediate_headers
from reference.gateway import build_gateway
from reference.store import open_store

PM = protos.ProcessingMode
BACKEND = "http://backend.test"
ADD = '[[tool:mcp7_fixture_add:{"a":1,"b":2}]]'


@pytest.fixture
async def setup() -> AsyncIterator[tuple[Engine, MountedBackend]]:
    # Only the backend is mocked; the MCP server on 127.0.0.1 is reached for real.
    with respx.mock(assert_all_called=False) as router:
        router.route(host="127.0.0.1").pass_through()
        backend = mount(router, BACKEND)
        gateway = build_gateway(open_store(":memory:"), Backend(BACKEND, timeout=7))
        engine = gateway.engine
        try:
            yield engine, backend
        finally:
            await gateway.aclose()


def tool_request(mcp: MCPServerHandle, *, stream: bool, model: str = "test-model") -> dict[str, Any]:
    return {"model": model, "input": ADD, "stream": stream,
            "tools": [{"type": "mcp", "server_label": "fixture", "server_url": mcp.url,
                       "require_approval": "never"}]}


def body_msg(body: dict[str, Any], *, request_mode: int = PM.BUFFERED, eos: bool = True,
             data: bytes | None = None) -> Any:
    raw = data if data is not None else json.dumps(body).encode()
    msg = protos.ProcessingRequest(request_body=protos.HttpBody(body=raw, end_of_stream=eos))
    msg.protocol_config.CopyFrom(protos.ProtocolConfiguration(request_body_mode=request_mode,
                                                              response_body_mode=PM.BUFFERED))
    return msg


def headers_msg() -> Any:
    msg = protos.ProcessingRequest(request_headers=protos.HttpHeaders(headers=protos.HeaderMap(headers=[
        protos.HeaderValue(key=":path", raw_value=b"/v1/responses"),
        protos.HeaderValue(key="content-length", raw_value=b"100")])))
    msg.protocol_config.CopyFrom(protos.ProtocolConfiguration(request_body_mode=PM.FULL_DUPLEX_STREAMED,
                                                              response_body_mode=PM.BUFFERED))
    return msg


async def replies(processor: RequestProcessor, *messages: Any) -> list[Any]:
    out: list[Any] = []
    for message in messages:
        out.extend([reply async for reply in processor.process(message)])
    return out


def decode_sir(reply: Any) -> tuple[str, Any]:
    """(kind, message) of the streamed_immediate_response a ProcessingResponse carries: parsed
    from its wire bytes by field number, independently of the compat classes."""
    wire = reply.SerializeToString()
    tag, pos = _DecodeVarint(wire, 0)
    assert tag == (11 << 3) | 2  # field 11, length-delimited
    length, pos = _DecodeVarint(wire, pos)
    inner = wire[pos:pos + length]
    assert pos + length == len(wire)
    tag, pos = _DecodeVarint(inner, 0)
    length, pos = _DecodeVarint(inner, pos)
    payload = inner[pos:pos + length]
    field = tag >> 3
    if field == 1:
        return "headers", protos.HttpHeaders.FromString(payload)
    if field == 2:
        return "body", protos.StreamedBodyResponse.FromString(payload)
    return "trailers", protos.HeaderMap.FromString(payload)


def sse_events(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(d) for d in sse_data(data) if d != "[DONE]"]


# --- wire form ----------------------------------------------------------------------------------


def test_streamed_immediate_wire_form() -> None:
    kind, headers = decode_sir(streamed_immediate_headers(200, "text/event-stream"))
    assert kind == "headers"
    assert {h.key: h.raw_value for h in headers.headers.headers} == {
        ":status": b"200", "content-type": b"text/event-stream", "cache-control": b"no-cache"}
    kind, body = decode_sir(streamed_immediate_body(b"data: x\n\n", end=True))
    assert kind == "body" and body.body == b"data: x\n\n" and body.end_of_stream
    kind, trailers = decode_sir(streamed_immediate(trailers_response=protos.HeaderMap(
        headers=[protos.HeaderValue(key="x", raw_value=b"1")])))
    assert kind == "trailers" and trailers.headers[0].key == "x"
    # None of the stubs' own oneof members is set: Envoy sees only field 11.
    assert streamed_immediate_body(b"", end=True).WhichOneof("response") is None


# --- the loop in the servicer --------------------------------------------------------------------


async def test_buffered_non_streaming_answers_with_one_immediate_response(
        setup: tuple[Engine, MountedBackend], mcp: MCPServerHandle) -> None:
    engine, backend = setup
    processor = RequestProcessor(engine, message_timeout=56.0)
    out = await replies(processor, body_msg(tool_request(mcp, stream=False)))
    # First the timer extension (the loop's budget), then the answer; nothing went upstream.
    assert [r.WhichOneof("response") for r in out] == [None, "immediate_response"]
    assert out[0].override_message_timeout.ToSeconds() == 56
    immediate = out[1].immediate_response
    assert immediate.status.code == 200
    response = json.loads(immediate.body)
    assert [item["type"] for item in response["output"]] == ["mcp_list_tools", "mcp_call", "message"]
    assert response["output"][1]["output"] == "3"
    # Stored byte-identical, and the servicer made both model calls itself.
    assert (await engine.get_text(response["id"])).encode() == immediate.body
    assert len([r for r in backend.recorder.requests if r["path"] == "/v1/chat/completions"]) == 2
    assert processor.phase is Phase.DONE and processor.stored


async def test_buffered_streaming_sends_the_whole_event_stream(
        setup: tuple[Engine, MountedBackend], mcp: MCPServerHandle) -> None:
    engine, _ = setup
    processor = RequestProcessor(engine, done_marker=True)
    out = await replies(processor, body_msg(tool_request(mcp, stream=True)))
    assert [r.WhichOneof("response") for r in out] == ["immediate_response"]  # no timeout given: no override
    immediate = out[0].immediate_response
    headers = {o.header.key: o.header.raw_value for o in immediate.headers.set_headers}
    assert headers["content-type"] == b"text/event-stream"
    assert immediate.body.endswith(b"data: [DONE]\n\n")  # Open Responses profile
    events = sse_events(immediate.body)
    assert events[0]["type"] == "response.created" and events[-1]["type"] == "response.completed"
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert json.loads(await engine.get_text(events[-1]["response"]["id"])) == events[-1]["response"]


async def test_full_duplex_streaming_uses_a_streamed_immediate_response(
        setup: tuple[Engine, MountedBackend], mcp: MCPServerHandle) -> None:
    engine, _ = setup
    processor = RequestProcessor(engine)
    data = json.dumps(tool_request(mcp, stream=True)).encode()
    # The headers' reply is held, and full-duplex body chunks need no reply of their own.
    assert await replies(processor, headers_msg()) == []
    assert await replies(processor, body_msg({}, request_mode=PM.FULL_DUPLEX_STREAMED, eos=False,
                                             data=data[:10])) == []
    out = await replies(processor, body_msg({}, request_mode=PM.FULL_DUPLEX_STREAMED, data=data[10:]))
    decoded = [decode_sir(r) for r in out]
    assert decoded[0][0] == "headers"
    assert {h.key: h.raw_value for h in decoded[0][1].headers.headers}[":status"] == b"200"
    bodies = [m for kind, m in decoded[1:] if kind == "body"]
    assert len(bodies) == len(decoded) - 1
    # One event per chunk, only the last one ends the stream.
    assert [b.end_of_stream for b in bodies] == [False] * (len(bodies) - 1) + [True]
    events = [e for b in bodies for e in sse_events(b.body)]
    assert len(events) == len(bodies)
    assert events[-1]["type"] == "response.completed"
    output = events[-1]["response"]["output"]
    assert [item["type"] for item in output] == ["mcp_list_tools", "mcp_call", "message"]


async def test_full_duplex_plain_request_goes_upstream(setup: tuple[Engine, MountedBackend]) -> None:
    engine, _ = setup
    processor = RequestProcessor(engine)
    assert await replies(processor, headers_msg()) == []
    plain = {"model": "m", "input": "hi"}
    out = await replies(processor, body_msg(plain, request_mode=PM.FULL_DUPLEX_STREAMED))
    assert [r.WhichOneof("response") for r in out] == ["request_headers", "request_body"]
    mutation = out[0].request_headers.response.header_mutation
    set_headers = {o.header.key: o.header.raw_value for o in mutation.set_headers}
    assert set_headers[":path"] == b"/v1/chat/completions"
    assert "content-length" in mutation.remove_headers
    streamed = out[1].request_body.response.body_mutation.streamed_response
    assert streamed.end_of_stream
    assert json.loads(streamed.body)["messages"] == [{"role": "user", "content": "hi"}]


async def test_full_duplex_invalid_request_is_an_immediate_error(
        setup: tuple[Engine, MountedBackend]) -> None:
    engine, _ = setup
    processor = RequestProcessor(engine)
    await replies(processor, headers_msg())
    out = await replies(processor, body_msg({"model": "m", "input": 5}, request_mode=PM.FULL_DUPLEX_STREAMED))
    assert [r.WhichOneof("response") for r in out] == ["immediate_response"]
    assert out[0].immediate_response.status.code == 400


async def test_model_failure_without_streaming_is_the_models_error(
        setup: tuple[Engine, MountedBackend], mcp: MCPServerHandle) -> None:
    engine, _ = setup
    processor = RequestProcessor(engine)
    out = await replies(processor, body_msg(tool_request(mcp, stream=False, model="scripted-error:503")))
    immediate = out[-1].immediate_response
    assert immediate.status.code == 502
    assert json.loads(immediate.body)["error"]["code"] == "backend_error"
    assert not processor.stored


async def test_egress_backend_is_used_when_given(setup: tuple[Engine, MountedBackend], mcp: MCPServerHandle
                                                 ) -> None:
    """The processor calls the model through the client it is given (the Envoy egress one)."""
    engine, _ = setup
    egress_url = "http://egress.test"
    with respx.mock(assert_all_called=False) as router:
        router.route(host="127.0.0.1").pass_through()
        egress = mount(router, egress_url)
        mount(router, BACKEND)
        client = Backend(egress_url + "/v1")
        try:
            processor = RequestProcessor(engine, backend=client)
            out = await replies(processor, body_msg(tool_request(mcp, stream=False)))
        finally:
            await client.aclose()
    assert out[-1].immediate_response.status.code == 200
    assert len([r for r in egress.recorder.requests if r["path"] == "/v1/chat/completions"]) == 2
    assert httpx.URL(client.url).path == "/v1/chat/completions"


# --- handed to the gateway's HTTP server (the config's in-gateway route) -------------------------


def buffered_headers_msg(**headers: str) -> Any:
    values = {":path": "/v1/responses", ":method": "POST", "content-length": "100", **headers}
    msg = protos.ProcessingRequest(request_headers=protos.HttpHeaders(headers=protos.HeaderMap(headers=[
        protos.HeaderValue(key=k, raw_value=v.encode()) for k, v in values.items()])))
    msg.protocol_config.CopyFrom(protos.ProtocolConfiguration(request_body_mode=PM.BUFFERED,
                                                              response_body_mode=PM.BUFFERED))
    return msg


def set_and_removed(mutation: Any) -> tuple[dict[str, bytes], list[str]]:
    return {o.header.key: o.header.raw_value for o in mutation.set_headers}, list(mutation.remove_headers)


async def test_streaming_hosted_tools_go_to_the_http_server_unchanged(
        setup: tuple[Engine, MountedBackend], mcp: MCPServerHandle) -> None:
    """With the in-gateway route announced, a hosted-tool stream is handed, as the client sent
    it, to the gateway's HTTP server (which streams it): the body reply puts back what the
    headers' reply took (`:path`, the client's key), sets the route's marker and clears the
    route cache; the servicer calls no model itself."""
    engine, backend = setup
    processor = RequestProcessor(engine, in_gateway_route=True, authorization="Bearer gateway-key",
                                 message_timeout=56.0)
    first = await replies(processor, buffered_headers_msg(authorization="Bearer client-key", cookie="c=1"))
    sent, removed = set_and_removed(first[0].request_headers.response.header_mutation)
    assert sent[":path"] == b"/v1/chat/completions" and sent["authorization"] == b"Bearer gateway-key"
    assert "cookie" in removed
    out = await replies(processor, body_msg(tool_request(mcp, stream=True)))
    assert [r.WhichOneof("response") for r in out] == ["request_body"]  # no timer, no immediate answer
    common = out[0].request_body.response
    assert common.clear_route_cache
    assert not common.HasField("body_mutation")  # the body goes unchanged
    sent, removed = set_and_removed(common.header_mutation)
    assert sent[IN_GATEWAY_HEADER] == b"1"
    assert sent[":path"] == b"/v1/responses"
    assert sent["authorization"] == b"Bearer client-key" and sent["cookie"] == b"c=1"
    assert sent["content-length"] == b"100"
    assert processor.phase is Phase.IN_GATEWAY_HTTP
    assert not [r for r in backend.recorder.requests if r["path"] == "/v1/chat/completions"]
    # The HTTP server's answer passes whole, its body never sent here.
    headers = protos.ProcessingRequest(response_headers=protos.HttpHeaders(headers=protos.HeaderMap(headers=[
        protos.HeaderValue(key=":status", raw_value=b"200"),
        protos.HeaderValue(key="content-type", raw_value=b"text/event-stream")])))
    out = await replies(processor, headers)
    assert out[0].response_headers.response == protos.CommonResponse()
    assert out[0].mode_override.response_body_mode == PM.NONE
    assert processor.phase is Phase.DONE


async def test_http_server_handoff_drops_a_gateway_key_the_client_did_not_send(
        setup: tuple[Engine, MountedBackend], mcp: MCPServerHandle) -> None:
    engine, _ = setup
    processor = RequestProcessor(engine, in_gateway_route=True, authorization="Bearer gateway-key")
    await replies(processor, buffered_headers_msg())
    out = await replies(processor, body_msg(tool_request(mcp, stream=True)))
    sent, removed = set_and_removed(out[0].request_body.response.header_mutation)
    assert "authorization" not in sent and "authorization" in removed


async def test_non_streaming_hosted_tools_stay_in_the_servicer(
        setup: tuple[Engine, MountedBackend], mcp: MCPServerHandle) -> None:
    """Without streaming there is nothing to deliver early: the loop runs here as before."""
    engine, _ = setup
    processor = RequestProcessor(engine, in_gateway_route=True)
    await replies(processor, buffered_headers_msg())
    out = await replies(processor, body_msg(tool_request(mcp, stream=False)))
    assert out[-1].immediate_response.status.code == 200


async def test_client_sent_marker_is_refused_before_anything_goes_upstream(
        setup: tuple[Engine, MountedBackend]) -> None:
    """The header naming the route to the gateway's HTTP server is the servicer's to set: a
    client sending it gets a 400 in the reply to its headers."""
    engine, _ = setup
    processor = RequestProcessor(engine, in_gateway_route=True)
    out = await replies(processor, buffered_headers_msg(**{IN_GATEWAY_HEADER: "1"}))
    assert [r.WhichOneof("response") for r in out] == ["immediate_response"]
    immediate = out[0].immediate_response
    assert immediate.status.code == 400
    error = json.loads(immediate.body)["error"]
    assert error["code"] == "reserved_header" and IN_GATEWAY_HEADER in error["message"]
    assert processor.phase is Phase.DONE
