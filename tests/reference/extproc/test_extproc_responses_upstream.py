"""The ext_proc processor with `--backend-api responses`: the body Envoy sends upstream is a
stateless Responses request, and the upstream's Response / event stream becomes the gateway's
own (ids, state) and is stored. Upstream answers come from the scripted backend's engine."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

import protos
from fixtures.backend.scripts import ScriptEngine
from fixtures.backend.testing import sse_data
from reference.backend import Backend
from reference.engine import Engine
from reference.extproc.processor import RequestProcessor
from reference.gateway import build_gateway
from reference.store import open_store

PM = protos.ProcessingMode


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    gateway = build_gateway(open_store(":memory:"), Backend("http://127.0.0.1:9", api="responses"))
    yield gateway.engine
    await gateway.aclose()


def req_body(body: dict[str, Any]) -> Any:
    msg = protos.ProcessingRequest(
        request_body=protos.HttpBody(body=json.dumps(body).encode(), end_of_stream=True)
    )
    msg.protocol_config.CopyFrom(
        protos.ProtocolConfiguration(request_body_mode=PM.BUFFERED, response_body_mode=PM.BUFFERED)
    )
    return msg


def resp_headers(status: int, content_type: str) -> Any:
    headers = [(":status", str(status)), ("content-type", content_type)]
    return protos.ProcessingRequest(
        response_headers=protos.HttpHeaders(
            headers=protos.HeaderMap(
                headers=[protos.HeaderValue(key=k, raw_value=v.encode()) for k, v in headers]
            )
        )
    )


def resp_body(data: bytes, eos: bool) -> Any:
    return protos.ProcessingRequest(response_body=protos.HttpBody(body=data, end_of_stream=eos))


async def one(proc: RequestProcessor, msg: Any) -> Any:
    replies = await proc.handle(msg)
    assert len(replies) == 1, replies
    return replies[0]


async def upstream_request(proc: RequestProcessor, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The request phases: the :path and the body Envoy would send upstream."""
    common = (await one(proc, req_body(body))).request_body.response
    headers = {o.header.key: o.header.raw_value for o in common.header_mutation.set_headers}
    sent = json.loads(common.body_mutation.body)
    assert headers["content-length"] == str(len(common.body_mutation.body)).encode()
    return headers[":path"].decode(), sent


async def test_chain_is_sent_stateless_and_answered_with_the_gateways_ids(engine: Engine) -> None:
    backend = ScriptEngine()
    proc = RequestProcessor(engine)
    path, sent = await upstream_request(proc, {"model": "m", "input": "[[text:first]]"})
    assert path == "/v1/responses" and sent["store"] is False
    await one(proc, resp_headers(200, "application/json"))
    answer = backend.responses(sent)
    assert answer.status == 200
    reply = await one(proc, resp_body(answer.body, True))
    first = json.loads(reply.response_body.response.body_mutation.body)
    assert first["id"].startswith("resp_") and not first["id"].startswith("resp_scripted")
    assert first["store"] is True and first["output"][0]["content"][0]["text"] == "first"

    proc = RequestProcessor(engine)
    _, sent = await upstream_request(
        proc, {"model": "m", "input": "[[messages]]", "previous_response_id": first["id"]}
    )
    assert "previous_response_id" not in sent and sent["store"] is False
    assert [item.get("role") for item in sent["input"]] == ["user", "assistant", "user"]
    await one(proc, resp_headers(200, "application/json"))
    reply = await one(proc, resp_body(backend.responses(sent).body, True))
    second = json.loads(reply.response_body.response.body_mutation.body)
    assert second["previous_response_id"] == first["id"]
    assert json.loads(await engine.get_text(second["id"])) == second


async def test_event_stream_is_rewritten_and_stored(engine: Engine) -> None:
    proc = RequestProcessor(engine)
    _, sent = await upstream_request(proc, {"model": "m", "input": "[[text:one two three]]", "stream": True})
    assert sent["stream"] is True and "stream_options" not in sent
    reply = await one(proc, resp_headers(200, "text/event-stream"))
    assert reply.mode_override.response_body_mode == PM.STREAMED
    wire = b"".join(ScriptEngine().responses(sent).frames)
    events: list[dict[str, Any]] = []
    pieces = [wire[i : i + 50] for i in range(0, len(wire), 50)]
    for index, piece in enumerate(pieces):
        reply = await one(proc, resp_body(piece, index == len(pieces) - 1))
        events += [json.loads(d) for d in sse_data(reply.response_body.response.body_mutation.body)]
    assert events[0]["type"] == "response.created" and events[-1]["type"] == "response.completed"
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert text == "one two three"
    final = events[-1]["response"]
    assert final["id"] == events[0]["response"]["id"] and final["usage"]["output_tokens"] == 3
    assert json.loads(await engine.get_text(final["id"]))["output"] == final["output"]


async def test_failed_upstream_stream_ends_failed(engine: Engine) -> None:
    proc = RequestProcessor(engine)
    await upstream_request(proc, {"model": "m", "input": "x", "stream": True})
    await one(proc, resp_headers(200, "text/event-stream"))
    failed = {"type": "response.failed", "response": {"status": "failed", "error": {"message": "overloaded"}}}
    reply = await one(
        proc, resp_body(f"event: response.failed\ndata: {json.dumps(failed)}\n\n".encode(), True)
    )
    events = [json.loads(d) for d in sse_data(reply.response_body.response.body_mutation.body)]
    assert events[-1]["type"] == "response.failed"
    assert "overloaded" in events[-1]["response"]["error"]["message"]
