"""ext_proc phase logic with no network: ProcessingRequest messages fed straight to
RequestProcessor, with a real Engine on an in-memory store (Envoy calls the backend, so the
engine needs none)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

import protos
from fixtures.backend.testing import sse_data
from reference.core.envoy_contract import LOCAL_REPLY_HEADER
from reference.engine import Engine
from reference.extproc.processor import RequestProcessor
from reference.extproc.replies import headers_of
from reference.gateway import build_gateway
from reference.store import open_store

PM = protos.ProcessingMode


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    eng_gateway = build_gateway(open_store(":memory:"), None)
    eng = eng_gateway.engine
    yield eng
    await eng_gateway.aclose()


def req_body(body: bytes | dict[str, Any], *, eos: bool = True, protocol: int | None = PM.BUFFERED) -> Any:
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    msg = protos.ProcessingRequest(request_body=protos.HttpBody(body=data, end_of_stream=eos))
    if protocol is not None:
        msg.protocol_config.CopyFrom(
            protos.ProtocolConfiguration(request_body_mode=PM.BUFFERED, response_body_mode=protocol)
        )
    return msg


def resp_headers(status: int, content_type: str, **extra: str) -> Any:
    headers = [(":status", str(status)), ("content-type", content_type), *extra.items()]
    return protos.ProcessingRequest(
        response_headers=protos.HttpHeaders(
            headers=protos.HeaderMap(
                headers=[
                    protos.HeaderValue(key=k.replace("_", "-"), raw_value=v.encode()) for k, v in headers
                ]
            )
        )
    )


def resp_body(data: bytes, eos: bool) -> Any:
    return protos.ProcessingRequest(response_body=protos.HttpBody(body=data, end_of_stream=eos))


def set_headers(common: Any) -> dict[str, bytes]:
    """The set headers of a CommonResponse (header_mutation) or ImmediateResponse (headers)."""
    mutation = common.headers if hasattr(common, "grpc_status") else common.header_mutation
    return {o.header.key: o.header.raw_value for o in mutation.set_headers}


def chat_json(text: str) -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3},
        }
    ).encode()


def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    payload = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(payload)}\n\n".encode()


def events_of(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(d) for d in sse_data(body)]


async def one(proc: RequestProcessor, msg: Any) -> Any:
    replies = await proc.handle(msg)
    assert len(replies) == 1, replies
    return replies[0]


async def test_request_body_becomes_chat_request_with_path_and_length(engine: Engine) -> None:
    proc = RequestProcessor(engine)
    reply = await one(proc, req_body({"model": "m", "input": "hello", "instructions": "be brief"}))
    assert reply.WhichOneof("response") == "request_body"
    common = reply.request_body.response
    chat = json.loads(common.body_mutation.body)
    assert chat["model"] == "m"
    assert chat["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello"},
    ]
    headers = set_headers(common)
    assert headers[":path"] == b"/v1/chat/completions"
    # A stale content-length makes Envoy answer an empty 500: it must be the new body's length.
    assert headers["content-length"] == str(len(common.body_mutation.body)).encode()
    assert "accept-encoding" in common.header_mutation.remove_headers
    # raw_value carries the header (Envoy 1.40 ignores `value`).
    assert all(o.header.value == "" for o in common.header_mutation.set_headers)
    assert not common.clear_route_cache


async def test_chat_path_follows_backend_url() -> None:
    from reference.backend import Backend

    eng_gateway = build_gateway(open_store(":memory:"), Backend("http://127.0.0.1:9/openai/v1"))
    eng = eng_gateway.engine
    try:
        reply = await one(RequestProcessor(eng), req_body({"model": "m", "input": "x"}))
        assert set_headers(reply.request_body.response)[":path"] == b"/openai/v1/chat/completions"
    finally:
        await eng_gateway.aclose()


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "m", "input": "x", "temperature": 5}, "temperature"),
        ({"input": "x"}, "model"),
    ],
)
async def test_invalid_request_is_immediate_openai_error(
    engine: Engine, body: dict[str, Any], param: str
) -> None:
    proc = RequestProcessor(engine)
    reply = await one(proc, req_body(body))
    assert reply.WhichOneof("response") == "immediate_response"
    imm = reply.immediate_response
    assert imm.status.code == 400
    err = json.loads(imm.body)["error"]
    assert err["param"] == param and err["type"] == "invalid_request_error"
    assert set_headers(imm)["content-type"] == b"application/json"
    # The direct path gives the same error for the same body.
    with pytest.raises(Exception) as direct:
        await engine.prepare(json.dumps(body).encode())
    assert direct.value.body() == json.loads(imm.body)  # type: ignore[attr-defined]


async def test_not_json_body_is_400(engine: Engine) -> None:
    reply = await one(RequestProcessor(engine), req_body(b"{not json"))
    assert reply.immediate_response.status.code == 400
    assert json.loads(reply.immediate_response.body)["error"]["type"] == "invalid_request_error"


async def test_empty_body_then_upstream_answer_is_400(engine: Engine) -> None:
    # Envoy sends no body message for an empty POST; the first thing we see is the upstream's
    # answer. The client must get the validation error, not the upstream's.
    proc = RequestProcessor(engine)
    reply = await one(proc, resp_headers(200, "application/json"))
    assert reply.immediate_response.status.code == 400


async def test_non_streaming_response_translated_and_stored(engine: Engine) -> None:
    proc = RequestProcessor(engine)
    await one(proc, req_body({"model": "m", "input": "hello"}))
    hreply = await one(proc, resp_headers(200, "application/json", content_length="300"))
    assert hreply.WhichOneof("response") == "response_headers"
    assert not hreply.HasField("mode_override")
    breply = await one(proc, resp_body(chat_json("hi there"), True))
    common = breply.response_body.response
    body = common.body_mutation.body
    response = json.loads(body)
    assert response["id"].startswith("resp_") and response["status"] == "completed"
    assert response["output"][0]["content"][0]["text"] == "hi there"
    assert response["usage"]["input_tokens"] == 2
    assert set_headers(common)["content-length"] == str(len(body)).encode()
    stored = await engine.get_text(response["id"])
    assert stored.encode() == body


async def test_store_false_is_not_stored(engine: Engine) -> None:
    proc = RequestProcessor(engine)
    await one(proc, req_body({"model": "m", "input": "hello", "store": False}))
    await one(proc, resp_headers(200, "application/json"))
    body = (await one(proc, resp_body(chat_json("x"), True))).response_body.response.body_mutation.body
    rid = json.loads(body)["id"]
    with pytest.raises(Exception) as err:
        await engine.get_text(rid)
    assert err.value.status == 404  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("status", "body", "want_status", "want_code"),
    [
        (
            404,
            b'{"error":{"message":"model not found","type":"invalid_request_error",'
            b'"param":"model","code":null}}',
            404,
            None,
        ),
        (500, b'{"error":{"message":"boom"}}', 502, "backend_error"),
        (503, b'{"error":"ollama down"}', 502, "backend_error"),
    ],
)
async def test_backend_http_errors_map_like_direct_path(
    engine: Engine, status: int, body: bytes, want_status: int, want_code: str | None
) -> None:
    proc = RequestProcessor(engine)
    await one(proc, req_body({"model": "m", "input": "hello"}))
    await one(proc, resp_headers(status, "application/json"))
    reply = await one(proc, resp_body(body, True))
    imm = reply.immediate_response
    assert imm.status.code == want_status
    err = json.loads(imm.body)["error"]
    assert err["code"] == want_code
    assert err["message"]


async def test_garbage_json_is_502(engine: Engine) -> None:
    proc = RequestProcessor(engine)
    await one(proc, req_body({"model": "m", "input": "hello"}))
    await one(proc, resp_headers(200, "application/json"))
    reply = await one(proc, resp_body(b"this is not json", True))
    assert reply.immediate_response.status.code == 502
    assert json.loads(reply.immediate_response.body)["error"]["code"] == "backend_bad_response"


@pytest.mark.parametrize("stream", [False, True])
async def test_envoy_local_reply_with_state_passes_through(engine: Engine, stream: bool) -> None:
    # Envoy's 502 for an unreachable backend is already an OpenAI error (local reply mapper);
    # Envoy ignores changes to its own replies, so the processor leaves it alone.
    proc = RequestProcessor(engine)
    await one(proc, req_body({"model": "m", "input": "hello", "stream": stream}))
    local = {
        "error": {
            "message": "The model backend could not be reached: x",
            "type": "server_error",
            "param": None,
            "code": "backend_unreachable",
        }
    }
    hreply = await one(
        proc, resp_headers(502, "application/json", **{LOCAL_REPLY_HEADER: "backend_unreachable"})
    )
    assert hreply.WhichOneof("response") == "response_headers"
    assert not hreply.HasField("mode_override")
    assert not hreply.response_headers.response.HasField("header_mutation")
    reply = await one(proc, resp_body(json.dumps(local).encode(), True))
    assert reply.WhichOneof("response") == "response_body"
    assert not reply.response_body.response.HasField("body_mutation")


async def test_envoy_local_reply_without_state_passes_through(engine: Engine) -> None:
    # e.g. Envoy's 413 for a body over its buffer: nothing reached the processor before.
    proc = RequestProcessor(engine)
    hreply = await one(
        proc, resp_headers(413, "application/json", **{LOCAL_REPLY_HEADER: "payload_too_large"})
    )
    assert hreply.WhichOneof("response") == "response_headers"
    breply = await one(proc, resp_body(b'{"error":{}}', True))
    assert breply.WhichOneof("response") == "response_body"
    assert not breply.response_body.response.HasField("body_mutation")


async def _streaming(
    engine: Engine, sse_mode: str = "streamed", protocol: int = PM.BUFFERED
) -> RequestProcessor:
    proc = RequestProcessor(engine, sse_mode=sse_mode)  # type: ignore[arg-type]
    await one(proc, req_body({"model": "m", "input": "hello", "stream": True}, protocol=protocol))
    return proc


async def test_sse_headers_switch_to_streamed_mode(engine: Engine) -> None:
    proc = await _streaming(engine)
    reply = await one(proc, resp_headers(200, "text/event-stream", content_length="10"))
    assert reply.mode_override.response_body_mode == PM.STREAMED
    common = reply.response_headers.response
    assert "content-length" in common.header_mutation.remove_headers


async def test_sse_headers_full_duplex_override_sends_trailers(engine: Engine) -> None:
    proc = await _streaming(engine, "full_duplex")
    reply = await one(proc, resp_headers(200, "text/event-stream"))
    assert reply.mode_override.response_body_mode == PM.FULL_DUPLEX_STREAMED
    assert reply.mode_override.response_trailer_mode == PM.SEND


async def test_no_override_when_envoy_already_streams(engine: Engine) -> None:
    proc = await _streaming(engine, protocol=PM.STREAMED)
    reply = await one(proc, resp_headers(200, "text/event-stream"))
    assert not reply.HasField("mode_override")


async def test_sse_chunks_rewritten_as_they_pass_and_stored_at_end(engine: Engine) -> None:
    proc = await _streaming(engine)
    await one(proc, resp_headers(200, "text/event-stream"))
    seen: list[dict[str, Any]] = []
    first = await one(proc, resp_body(chunk({"role": "assistant", "content": ""}), False))
    seen += events_of(first.response_body.response.body_mutation.body)
    assert [e["type"] for e in seen] == ["response.created", "response.in_progress"]
    second = await one(proc, resp_body(chunk({"content": "Hel"}) + chunk({"content": "lo"}), False))
    got = events_of(second.response_body.response.body_mutation.body)
    assert [e["delta"] for e in got if e["type"] == "response.output_text.delta"] == ["Hel", "lo"]
    seen += got
    # A chunk boundary inside an SSE event is held back until the event completes.
    part = chunk({}, "stop")
    third = await one(proc, resp_body(part[:10], False))
    assert third.response_body.response.body_mutation.body == b""
    fourth = await one(proc, resp_body(part[10:] + b"data: [DONE]\n\n", False))
    got = events_of(fourth.response_body.response.body_mutation.body)
    seen += got
    assert got[-1]["type"] == "response.completed"
    last = await one(proc, resp_body(b"", True))
    assert last.response_body.response.body_mutation.body == b""
    seqs = [e["sequence_number"] for e in seen]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    rid = seen[0]["response"]["id"]
    stored = json.loads(await engine.get_text(rid))
    assert stored["status"] == "completed"
    assert stored["output"][0]["content"][0]["text"] == "Hello"


async def test_full_duplex_replies_use_streamed_response(engine: Engine) -> None:
    proc = await _streaming(engine, "full_duplex")
    await one(proc, resp_headers(200, "text/event-stream"))
    reply = await one(proc, resp_body(chunk({"content": "x"}), False))
    mutation = reply.response_body.response.body_mutation
    assert mutation.WhichOneof("mutation") == "streamed_response"
    assert b"response.output_text.delta" in mutation.streamed_response.body
    end = await one(proc, resp_body(b"data: [DONE]\n\n", True))
    assert end.response_body.response.body_mutation.streamed_response.end_of_stream


async def test_garbage_mid_stream_ends_with_failed(engine: Engine) -> None:
    proc = await _streaming(engine)
    await one(proc, resp_headers(200, "text/event-stream"))
    await one(proc, resp_body(chunk({"content": "a"}), False))
    reply = await one(proc, resp_body(b"data: {not json\n\n", False))
    events = events_of(reply.response_body.response.body_mutation.body)
    assert events[-1]["type"] == "response.failed"
    assert (
        events[-1]["response"]["error"]["code"] == "server_error"
        and "invalid response" in events[-1]["response"]["error"]["message"]
    )
    # Later chunks are dropped: nothing after the terminal event.
    later = await one(proc, resp_body(chunk({"content": "b"}) + b"data: [DONE]\n\n", True))
    assert later.response_body.response.body_mutation.body == b""
    stored = json.loads(await engine.get_text(events[-1]["response"]["id"]))
    assert stored["status"] == "failed"


async def test_stream_ending_without_done_fails(engine: Engine) -> None:
    proc = await _streaming(engine)
    await one(proc, resp_headers(200, "text/event-stream"))
    reply = await one(proc, resp_body(chunk({"content": "a"}), True))
    assert events_of(reply.response_body.response.body_mutation.body)[-1]["type"] == "response.failed"


async def test_stream_cut_off_is_stored_failed(engine: Engine) -> None:
    # Envoy resets the stream when the backend drops the connection: no end_of_stream arrives.
    proc = await _streaming(engine)
    await one(proc, resp_headers(200, "text/event-stream"))
    first = await one(proc, resp_body(chunk({"content": "a"}), False))
    rid = events_of(first.response_body.response.body_mutation.body)[0]["response"]["id"]
    await proc.finish()
    stored = json.loads(await engine.get_text(rid))
    assert (
        stored["status"] == "failed"
        and stored["error"]["code"] == "server_error"
        # Envoy closes the processor's stream alike for a client that left and a backend that
        # dropped: the record blames neither.
        and "the client disconnected or the connection to the model backend was reset"
        in stored["error"]["message"]
    )


async def test_stream_backend_error_is_200_event_stream_like_direct_path(engine: Engine) -> None:
    proc = await _streaming(engine)
    hreply = await one(proc, resp_headers(429, "application/json"))
    assert not hreply.HasField("mode_override")
    reply = await one(
        proc, resp_body(b'{"error":{"message":"slow down","type":"rate_limit","code":"rl"}}', True)
    )
    imm = reply.immediate_response
    assert imm.status.code == 200
    assert set_headers(imm)["content-type"] == b"text/event-stream"
    events = events_of(imm.body)
    assert [e["type"] for e in events] == ["response.created", "response.in_progress", "response.failed"]
    assert events[-1]["response"]["error"]["message"] == "slow down"


async def test_background_request_answered_by_gateway(engine: Engine) -> None:
    proc = RequestProcessor(engine)
    reply = await one(proc, req_body({"model": "m", "input": "x", "background": True}))
    imm = reply.immediate_response
    assert imm.status.code == 200
    response = json.loads(imm.body)
    assert response["status"] == "queued" and response["background"] is True
    await engine.wait_background(response["id"])


async def test_request_headers_phase_handled_when_configured(engine: Engine) -> None:
    proc = RequestProcessor(engine)
    msg = protos.ProcessingRequest(
        request_headers=protos.HttpHeaders(
            headers=protos.HeaderMap(headers=[protos.HeaderValue(key=":path", raw_value=b"/v1/responses")])
        )
    )
    reply = await one(proc, msg)
    common = reply.request_headers.response
    assert set_headers(common)[":path"] == b"/v1/chat/completions"
    assert "content-length" in common.header_mutation.remove_headers


async def test_trailers_acknowledged(engine: Engine) -> None:
    proc = RequestProcessor(engine)
    reply = await one(proc, protos.ProcessingRequest(response_trailers=protos.HttpTrailers()))
    assert reply.WhichOneof("response") == "response_trailers"


def test_headers_of_prefers_raw_value() -> None:
    msg = protos.HttpHeaders(
        headers=protos.HeaderMap(
            headers=[protos.HeaderValue(key="A", raw_value=b"1"), protos.HeaderValue(key="b", value="2")]
        )
    )
    assert headers_of(msg) == {"a": "1", "b": "2"}


async def test_unexpected_failure_is_500_openai_error_not_empty(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken_prepare(body: Any) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr(engine, "prepare", broken_prepare)
    reply = await one(RequestProcessor(engine), req_body({"model": "m", "input": "x"}))
    imm = reply.immediate_response
    assert imm.status.code == 500
    err = json.loads(imm.body)["error"]
    assert err["type"] == "server_error" and err["code"] == "internal_error"


@pytest.mark.parametrize("done_marker", [False, True])
async def test_done_marker_follows_the_profile(engine: Engine, done_marker: bool) -> None:
    # Open Responses: the stream ends with `data: [DONE]`; OpenAI streams carry no terminator.
    proc = RequestProcessor(engine, done_marker=done_marker)
    await one(proc, req_body({"model": "m", "input": "hello", "stream": True}))
    await one(proc, resp_headers(200, "text/event-stream"))
    wire = b""
    for data, eos in (
        (chunk({"role": "assistant", "content": "hi"}), False),
        (chunk({}, "stop") + b"data: [DONE]\n\n", False),
        (b"", True),
    ):
        reply = await one(proc, resp_body(data, eos))
        wire += reply.response_body.response.body_mutation.body
    frames = [f for f in wire.decode().split("\n\n") if f]
    assert (frames[-1] == "data: [DONE]") is done_marker
    assert frames[-2 if done_marker else -1].startswith("event: response.completed")
