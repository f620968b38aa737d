"""The ext_proc phase table (reference/extproc/phases.py): every legal transition is taken by a
real message sequence through RequestProcessor, and an illegal one becomes a well-formed reply."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

import protos
from fixtures.mcp_server import MCPServerHandle
from reference.core.envoy_contract import LOCAL_REPLY_HEADER
from reference.engine import Engine
from reference.extproc import replies
from reference.extproc.phases import TRANSITIONS, Event, Phase, PhaseError, advance
from reference.extproc.processor import RequestProcessor
from reference.gateway import build_gateway
from reference.store import open_store

PM = protos.ProcessingMode
E, P = Event, Phase

# The table spelled out independently of the module, so a changed transition is a visible diff.
EXPECTED = {
    (P.REQUEST, E.REQUEST_HEADERS): P.REQUEST,
    (P.REQUEST, E.REQUEST_HEADERS_HELD): P.REQUEST_HEADERS_HELD,
    (P.REQUEST, E.FOREIGN_REQUEST): P.PASS_THROUGH,
    (P.REQUEST, E.REQUEST_BODY_PIECE): P.REQUEST,
    (P.REQUEST_HEADERS_HELD, E.REQUEST_BODY_PIECE): P.REQUEST_HEADERS_HELD,
    (P.REQUEST, E.BACKGROUND_REQUEST): P.DONE,
    (P.REQUEST_HEADERS_HELD, E.BACKGROUND_REQUEST): P.DONE,
    (P.REQUEST, E.RUN_IN_GATEWAY): P.RUN_IN_GATEWAY,
    (P.REQUEST_HEADERS_HELD, E.RUN_IN_GATEWAY): P.RUN_IN_GATEWAY_HEADERS_HELD,
    (P.REQUEST, E.CHAT_REQUEST): P.UPSTREAM,
    (P.REQUEST_HEADERS_HELD, E.CHAT_REQUEST): P.UPSTREAM,
    (P.RUN_IN_GATEWAY, E.RUN_STARTED): P.DONE,
    (P.RUN_IN_GATEWAY_HEADERS_HELD, E.RUN_STARTED): P.DONE,
    (P.REQUEST, E.HAND_TO_HTTP_SERVER): P.IN_GATEWAY_HTTP,
    (P.IN_GATEWAY_HTTP, E.HTTP_SERVER_RESPONSE): P.DONE,
    (P.IN_GATEWAY_HTTP, E.LOCAL_REPLY): P.DONE,
    (P.REQUEST, E.LOCAL_REPLY): P.DONE,
    (P.REQUEST_HEADERS_HELD, E.LOCAL_REPLY): P.DONE,
    (P.UPSTREAM, E.LOCAL_REPLY): P.DONE,
    (P.REQUEST, E.RESPONSE_WITHOUT_REQUEST): P.DONE,
    (P.REQUEST_HEADERS_HELD, E.RESPONSE_WITHOUT_REQUEST): P.DONE,
    (P.UPSTREAM, E.STREAM_RESPONSE): P.STREAMING,
    (P.UPSTREAM, E.JSON_RESPONSE): P.JSON_BODY,
    (P.UPSTREAM, E.ERROR_RESPONSE): P.ERROR_BODY,
    (P.JSON_BODY, E.RESPONSE_BODY): P.DONE,
    (P.ERROR_BODY, E.RESPONSE_BODY): P.DONE,
    (P.STREAMING, E.RESPONSE_BODY): P.STREAMING,
    (P.STREAM_ENDED, E.RESPONSE_BODY): P.STREAM_ENDED,
    (P.DONE, E.RESPONSE_BODY): P.DONE,
    (P.STREAMING, E.STREAM_TERMINATED): P.STREAM_ENDED,
    (P.REQUEST, E.FAILED): P.DONE,
    (P.REQUEST_HEADERS_HELD, E.FAILED): P.DONE,
    (P.RUN_IN_GATEWAY, E.FAILED): P.DONE,
    (P.RUN_IN_GATEWAY_HEADERS_HELD, E.FAILED): P.DONE,
    (P.IN_GATEWAY_HTTP, E.FAILED): P.DONE,
    (P.UPSTREAM, E.FAILED): P.DONE,
    (P.JSON_BODY, E.FAILED): P.DONE,
    (P.ERROR_BODY, E.FAILED): P.DONE,
    (P.DONE, E.FAILED): P.DONE,
}


# --- messages ----------------------------------------------------------------------------------


def _config(msg: Any, *, request_mode: int, response_mode: int) -> Any:
    msg.protocol_config.CopyFrom(
        protos.ProtocolConfiguration(request_body_mode=request_mode, response_body_mode=response_mode))
    return msg


def req_headers(*, full_duplex: bool = False, method: str = "POST", path: str = "/v1/responses") -> Any:
    headers = [(":method", method), (":path", path)]
    msg = protos.ProcessingRequest(request_headers=protos.HttpHeaders(headers=protos.HeaderMap(
        headers=[protos.HeaderValue(key=k, raw_value=v.encode()) for k, v in headers])))
    mode = PM.FULL_DUPLEX_STREAMED if full_duplex else PM.BUFFERED
    return _config(msg, request_mode=mode, response_mode=PM.BUFFERED)


def req_body(body: dict[str, Any] | bytes, *, eos: bool = True, response_mode: int = PM.BUFFERED) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    msg = protos.ProcessingRequest(request_body=protos.HttpBody(body=data, end_of_stream=eos))
    return _config(msg, request_mode=PM.BUFFERED, response_mode=response_mode)


def duplex_body(body: dict[str, Any] | bytes, *, eos: bool = True) -> Any:
    # After the held headers the config (sent with the first message) already says full duplex.
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return protos.ProcessingRequest(request_body=protos.HttpBody(body=data, end_of_stream=eos))


def resp_headers(status: int, content_type: str = "application/json", **extra: str) -> Any:
    headers = [(":status", str(status)), ("content-type", content_type), *extra.items()]
    return protos.ProcessingRequest(response_headers=protos.HttpHeaders(headers=protos.HeaderMap(
        headers=[protos.HeaderValue(key=k, raw_value=v.encode()) for k, v in headers])))


def resp_body(data: bytes, *, eos: bool = True) -> Any:
    return protos.ProcessingRequest(response_body=protos.HttpBody(body=data, end_of_stream=eos))


CHAT = json.dumps({"id": "c", "object": "chat.completion", "created": 1, "model": "m", "choices": [
    {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]}).encode()
CHUNK = json.dumps({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [
    {"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}]})
SSE = f"data: {CHUNK}\n\ndata: [DONE]\n\n".encode()
PLAIN = {"model": "m", "input": "hello"}
STREAM = {"model": "m", "input": "hello", "stream": True}
BACKGROUND = {"model": "m", "input": "hello", "background": True}
LOCAL = {LOCAL_REPLY_HEADER: "backend_unreachable"}


def scenarios(mcp_url: str) -> dict[str, list[Any]]:
    """Message sequences, each taking the transitions named in SCENARIO_OF."""
    # A hosted tool makes it a tool-loop request (its tools are listed from the fixture MCP server
    # while the request is prepared); the engine has no model backend, so the loop answers 500.
    tool = {"type": "mcp", "server_label": "x", "server_url": mcp_url, "require_approval": "never"}
    tools = {"model": "m", "input": "hello", "tools": [tool]}
    return _scenarios(tools)


def _scenarios(TOOLS: dict[str, Any]) -> dict[str, list[Any]]:
    tool_stream = {**TOOLS, "stream": True}
    return {
        "headers-then-body": [req_headers(), req_body(PLAIN)],
        "held-headers-body-in-pieces": [req_headers(full_duplex=True),
                                        duplex_body(b'{"model":"m",', eos=False),
                                        duplex_body(b'"input":"x"}')],
        "compact-passes-through": [req_headers(path="/v1/responses/compact"), req_body(PLAIN),
                                   resp_headers(200), resp_body(CHAT)],
        "body-in-pieces": [req_body(b'{"model":"m",', eos=False), req_body(b'"input":"x"}')],
        "background": [req_body(BACKGROUND)],
        "held-background": [req_headers(full_duplex=True), duplex_body(BACKGROUND)],
        "tool-loop": [req_body(TOOLS)],
        "held-tool-loop": [req_headers(full_duplex=True), duplex_body(TOOLS)],
        # "handoff*": the Envoy config announces its route to the gateway's HTTP server.
        "handoff": [req_headers(), req_body(tool_stream), resp_headers(200, "text/event-stream")],
        "handoff-local-reply": [req_headers(), req_body(tool_stream), resp_headers(502, **LOCAL)],
        "handoff-body-twice": [req_headers(), req_body(tool_stream), req_body(PLAIN)],
        "json": [req_body(PLAIN), resp_headers(200), resp_body(CHAT), resp_body(b"")],
        "backend-error": [req_body(PLAIN), resp_headers(503), resp_body(b"{}")],
        "stream": [req_body(STREAM), resp_headers(200, "text/event-stream"), resp_body(SSE, eos=False),
                   resp_body(b"", eos=True)],
        "local-reply-before-body": [resp_headers(413, **LOCAL)],
        "held-local-reply": [req_headers(full_duplex=True), resp_headers(413, **LOCAL)],
        "local-reply-upstream": [req_body(PLAIN), resp_headers(502, **LOCAL)],
        "empty-post": [resp_headers(200)],
        "held-empty-post": [req_headers(full_duplex=True), resp_headers(200)],
        "invalid-body": [req_body(b"not json")],
        "held-invalid-body": [req_headers(full_duplex=True), duplex_body(b"not json")],
        # Messages Envoy does not send in that phase: answered as internal failures. (A message
        # while a tool loop is due: only `handle` leaves the phase there, see `run`.)
        "tool-loop-interrupted": [req_body(TOOLS), resp_headers(200)],
        "held-tool-loop-interrupted": [req_headers(full_duplex=True), duplex_body(TOOLS), resp_headers(200)],
        "body-before-headers": [req_body(PLAIN), resp_body(CHAT)],
        # A non-BUFFERED body mode for a JSON answer is a misconfiguration, found at the headers.
        "json-misconfigured": [req_body(PLAIN, response_mode=PM.STREAMED), resp_headers(200)],
        "error-misconfigured": [req_body(PLAIN, response_mode=PM.STREAMED), resp_headers(500)],
        "json-garbage": [req_body(PLAIN), resp_headers(200), resp_body(b"garbage")],
    }


SCENARIO_OF: dict[tuple[Phase, Event], str] = {
    (P.REQUEST, E.REQUEST_HEADERS): "headers-then-body",
    (P.REQUEST, E.REQUEST_HEADERS_HELD): "held-headers-body-in-pieces",
    (P.REQUEST, E.FOREIGN_REQUEST): "compact-passes-through",
    (P.REQUEST, E.REQUEST_BODY_PIECE): "body-in-pieces",
    (P.REQUEST_HEADERS_HELD, E.REQUEST_BODY_PIECE): "held-headers-body-in-pieces",
    (P.REQUEST, E.BACKGROUND_REQUEST): "background",
    (P.REQUEST_HEADERS_HELD, E.BACKGROUND_REQUEST): "held-background",
    (P.REQUEST, E.RUN_IN_GATEWAY): "tool-loop",
    (P.REQUEST_HEADERS_HELD, E.RUN_IN_GATEWAY): "held-tool-loop",
    (P.REQUEST, E.CHAT_REQUEST): "headers-then-body",
    (P.REQUEST_HEADERS_HELD, E.CHAT_REQUEST): "held-headers-body-in-pieces",
    (P.RUN_IN_GATEWAY, E.RUN_STARTED): "tool-loop",
    (P.RUN_IN_GATEWAY_HEADERS_HELD, E.RUN_STARTED): "held-tool-loop",
    (P.REQUEST, E.HAND_TO_HTTP_SERVER): "handoff",
    (P.IN_GATEWAY_HTTP, E.HTTP_SERVER_RESPONSE): "handoff",
    (P.IN_GATEWAY_HTTP, E.LOCAL_REPLY): "handoff-local-reply",
    (P.REQUEST, E.LOCAL_REPLY): "local-reply-before-body",
    (P.REQUEST_HEADERS_HELD, E.LOCAL_REPLY): "held-local-reply",
    (P.UPSTREAM, E.LOCAL_REPLY): "local-reply-upstream",
    (P.REQUEST, E.RESPONSE_WITHOUT_REQUEST): "empty-post",
    (P.REQUEST_HEADERS_HELD, E.RESPONSE_WITHOUT_REQUEST): "held-empty-post",
    (P.UPSTREAM, E.STREAM_RESPONSE): "stream",
    (P.UPSTREAM, E.JSON_RESPONSE): "json",
    (P.UPSTREAM, E.ERROR_RESPONSE): "backend-error",
    (P.JSON_BODY, E.RESPONSE_BODY): "json",
    (P.ERROR_BODY, E.RESPONSE_BODY): "backend-error",
    (P.STREAMING, E.RESPONSE_BODY): "stream",
    (P.STREAM_ENDED, E.RESPONSE_BODY): "stream",
    (P.DONE, E.RESPONSE_BODY): "json",
    (P.STREAMING, E.STREAM_TERMINATED): "stream",
    (P.REQUEST, E.FAILED): "invalid-body",
    (P.REQUEST_HEADERS_HELD, E.FAILED): "held-invalid-body",
    (P.RUN_IN_GATEWAY, E.FAILED): "tool-loop-interrupted",
    (P.RUN_IN_GATEWAY_HEADERS_HELD, E.FAILED): "held-tool-loop-interrupted",
    (P.IN_GATEWAY_HTTP, E.FAILED): "handoff-body-twice",
    (P.UPSTREAM, E.FAILED): "body-before-headers",
    (P.JSON_BODY, E.FAILED): "json-misconfigured",
    (P.ERROR_BODY, E.FAILED): "error-misconfigured",
    (P.DONE, E.FAILED): "json-garbage",
}


class RecordingProcessor(RequestProcessor):
    """A RequestProcessor that notes each transition it takes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.taken: list[tuple[Phase, Event, Phase]] = []

    def _advance(self, event: Event) -> None:
        before = self.phase
        super()._advance(event)
        self.taken.append((before, event, self.phase))


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    gateway = build_gateway(open_store(":memory:"), None)
    yield gateway.engine
    await gateway.aclose()


async def run(engine: Engine, messages: list[Any], *, loop: bool = True, in_gateway_route: bool = False
              ) -> tuple[RecordingProcessor, list[Any]]:
    """Feed `messages` as the server does (`process`), or with `loop=False` through `handle`
    alone, which leaves a tool-loop request's loop unstarted."""
    proc = RecordingProcessor(engine, in_gateway_route=in_gateway_route)
    out: list[Any] = []
    for message in messages:
        out.extend([reply async for reply in proc.process(message)] if loop else await proc.handle(message))
    await proc.finish()
    return proc, out


def test_table_is_the_expected_one() -> None:
    assert dict(TRANSITIONS) == EXPECTED
    assert set(SCENARIO_OF) == set(EXPECTED)
    assert set(SCENARIO_OF.values()) == set(_scenarios({}))


def test_every_phase_is_reachable_and_only_the_ends_are_final() -> None:
    reached = {Phase.REQUEST} | set(TRANSITIONS.values())
    assert reached == set(Phase)
    leaving = {phase for (phase, _), after in TRANSITIONS.items() if after is not phase}
    assert set(Phase) - leaving == {Phase.DONE, Phase.STREAM_ENDED, Phase.PASS_THROUGH}


@pytest.mark.parametrize(
    ("phase", "event"), list(SCENARIO_OF), ids=[f"{p.value}+{e.value}" for p, e in SCENARIO_OF])
async def test_legal_transition_is_taken_by_its_messages(
        engine: Engine, mcp: MCPServerHandle, phase: Phase, event: Event) -> None:
    name = SCENARIO_OF[(phase, event)]
    proc, out = await run(engine, scenarios(mcp.url)[name], loop=not name.endswith("-interrupted"),
                          in_gateway_route=name.startswith("handoff"))
    assert (phase, event, EXPECTED[(phase, event)]) in proc.taken, proc.taken
    # Whatever the path, every message got a well-formed ProcessingResponse.
    assert out and all(isinstance(r, protos.ProcessingResponse) for r in out)
    for reply in out:
        body = reply.immediate_response.body
        if reply.WhichOneof("response") == "immediate_response" and b'"background":true' in body:
            await engine.wait_background(json.loads(body)["id"])


def test_illegal_transition_raises_a_clear_internal_error() -> None:
    with pytest.raises(PhaseError, match="'response_body' cannot happen in phase 'upstream'") as info:
        advance(Phase.UPSTREAM, Event.RESPONSE_BODY)
    assert (info.value.phase, info.value.event) == (Phase.UPSTREAM, Event.RESPONSE_BODY)


async def test_illegal_message_is_answered_with_an_openai_error(engine: Engine) -> None:
    # Response headers twice: the second cannot happen, and is answered, not crashed on.
    proc, out = await run(engine, [req_body(PLAIN), resp_headers(200), resp_headers(200)])
    reply = out[-1]
    assert reply.WhichOneof("response") == "immediate_response"
    assert reply.immediate_response.status.code == 500
    error = json.loads(reply.immediate_response.body)["error"]
    assert (error["type"], error["code"]) == ("server_error", "internal_error")
    assert proc.phase is Phase.DONE


async def test_illegal_message_mid_stream_ends_the_stream_failed(engine: Engine) -> None:
    proc, out = await run(engine, [req_body(STREAM), resp_headers(200, "text/event-stream"),
                                   resp_body(f"data: {CHUNK}\n\n".encode(), eos=False),
                                   resp_headers(200, "text/event-stream")])
    reply = out[-1]
    assert reply.WhichOneof("response") == "response_body"
    wire = reply.response_body.response.body_mutation.body.decode()
    assert "event: response.failed" in wire
    assert proc.phase is Phase.STREAM_ENDED


async def test_foreign_request_passes_every_phase_unchanged(engine: Engine) -> None:
    trailers = protos.ProcessingRequest(response_trailers=protos.HttpTrailers())
    upgrade = req_headers(method="GET", path="/v1/responses")
    proc, out = await run(engine, [upgrade, resp_headers(101), resp_body(b"x"), trailers])
    assert [r.WhichOneof("response") for r in out] == [
        "request_headers", "response_headers", "response_body", "response_trailers"]
    assert all(r == replies.passed_through(r.WhichOneof("response"))[0] for r in out)
    assert proc.phase is Phase.PASS_THROUGH
