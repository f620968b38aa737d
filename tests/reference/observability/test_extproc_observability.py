"""The ext_proc server's request ids, access log and metrics: a real gRPC client playing Envoy,
one Process stream = one HTTP request."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

import protos
from reference.extproc.server import ExtProcHandle
from reference.gateway import Gateway, build_gateway
from reference.store import open_store

CHAT = {"id": "c", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "pong"},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


def _headers(**pairs: str) -> protos.HeaderMap:
    return protos.HeaderMap(headers=[protos.HeaderValue(key=k, raw_value=v.encode())
                                     for k, v in pairs.items()])


def _exchange(request_id: str | None) -> list[protos.ProcessingRequest]:
    request = {":method": "POST", ":path": "/v1/responses", "content-type": "application/json"}
    if request_id is not None:
        request["x-request-id"] = request_id
    return [
        protos.ProcessingRequest(request_headers=protos.HttpHeaders(headers=_headers(**request))),
        protos.ProcessingRequest(request_body=protos.HttpBody(
            body=json.dumps({"model": "m", "input": "ping"}).encode(), end_of_stream=True)),
        protos.ProcessingRequest(response_headers=protos.HttpHeaders(
            headers=_headers(**{":status": "200", "content-type": "application/json"}))),
        protos.ProcessingRequest(response_body=protos.HttpBody(body=json.dumps(CHAT).encode(),
                                                               end_of_stream=True)),
    ]


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    gw = build_gateway(open_store(":memory:"), None)
    yield gw
    await gw.aclose()


@pytest.fixture
async def server(gateway: Gateway) -> AsyncIterator[ExtProcHandle]:
    handle = await gateway.serve_extproc("127.0.0.1", 0)
    yield handle
    await handle.stop(0)


async def _run(server: ExtProcHandle, messages: list[protos.ProcessingRequest]) -> list[str | None]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        call = protos.ext_proc_pb2_grpc.ExternalProcessorStub(channel).Process()
        kinds = []
        for msg in messages:
            await call.write(msg)
            kinds.append((await call.read()).WhichOneof("response"))
        await call.done_writing()
        assert await call.read() == grpc.aio.EOF
    return kinds


async def _access_lines(caplog: pytest.LogCaptureFixture, count: int) -> list[logging.LogRecord]:
    for _ in range(100):  # the stream's last step runs just after the client saw its end
        lines = [r for r in caplog.records if r.name == "reference.access"]
        if len(lines) >= count:
            return lines
        await asyncio.sleep(0.02)
    raise AssertionError(f"expected {count} access-log lines, got {caplog.records}")


async def test_access_log_and_request_id(server: ExtProcHandle, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="reference.access"):
        assert await _run(server, _exchange("envoy-id-1")) == [
            "request_headers", "request_body", "response_headers", "response_body"]
        await _run(server, _exchange(None))
        lines = await _access_lines(caplog, 2)
    first, second = lines
    assert (first.method, first.path, first.status, first.request_id, first.via) == (  # type: ignore[attr-defined]
        "POST", "/v1/responses", 200, "envoy-id-1", "extproc")
    assert first.duration_ms >= 0  # type: ignore[attr-defined]
    # Without Envoy's id (a config that does not send it) the gateway makes one.
    assert second.request_id not in ("-", "envoy-id-1") and len(second.request_id) == 36  # type: ignore[attr-defined]


async def test_metrics_count_streams_and_messages_by_phase(server: ExtProcHandle, gateway: Gateway,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="reference.access"):
        await _run(server, _exchange("m-1"))
        await _access_lines(caplog, 1)
    assert gateway.metrics is not None
    scrape = {(s.name, frozenset(s.labels.items())): s.value
              for f in text_string_to_metric_families(gateway.metrics.render().decode()) for s in f.samples}
    for phase in ("request_headers", "request_body", "response_headers", "response_body"):
        assert scrape[("responses_gateway_extproc_messages_total", frozenset({("phase", phase)}))] == 1
    assert scrape[("responses_gateway_extproc_requests_total", frozenset({("status", "200")}))] == 1
    assert scrape[("responses_gateway_extproc_request_duration_seconds_count", frozenset())] == 1
    # The upstream hop Envoy made, timed between our request-body reply and the body's end.
    assert scrape[("responses_gateway_backend_request_duration_seconds_count",
                   frozenset({("operation", "chat"), ("path", "envoy")}))] == 1
    assert scrape[("responses_gateway_tokens_total", frozenset({("direction", "in")}))] == 1


async def test_grpc_health_still_serving(server: ExtProcHandle) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = protos.health_pb2_grpc.HealthStub(channel)
        resp = await stub.Check(protos.health_pb2.HealthCheckRequest(service=protos.EXT_PROC_SERVICE))
        assert resp.status == protos.health_pb2.HealthCheckResponse.SERVING
