"""The grpc.aio ext_proc server: a real gRPC client (playing Envoy) on a free port, gRPC health,
graceful shutdown."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import grpc
import pytest

import protos
from reference.engine import Engine
from reference.extproc.server import ExtProcHandle, serve_extproc
from reference.gateway import build_gateway
from reference.store import open_store


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    gateway = build_gateway(open_store(":memory:"), None)
    yield gateway.engine
    await gateway.aclose()


@pytest.fixture
async def server(engine: Engine) -> AsyncIterator[ExtProcHandle]:
    handle = await serve_extproc(engine, "127.0.0.1", 0)
    yield handle
    await handle.stop(0)


def _upstream_200(content_type: bytes) -> protos.ProcessingRequest:
    """The response_headers message Envoy sends for an upstream 200 of `content_type`."""
    return protos.ProcessingRequest(
        response_headers=protos.HttpHeaders(
            headers=protos.HeaderMap(
                headers=[
                    protos.HeaderValue(key=":status", raw_value=b"200"),
                    protos.HeaderValue(key="content-type", raw_value=content_type),
                ]
            )
        )
    )


async def test_port_zero_picks_a_port(server: ExtProcHandle) -> None:
    assert server.port > 0


async def test_a_port_in_use_is_refused_never_shared(server: ExtProcHandle, engine: Engine) -> None:
    # With gRPC's default SO_REUSEPORT a second server bound the same port and took some of
    # Envoy's streams; the port must be refused instead.
    with pytest.raises(OSError, match=rf"cannot listen on 127\.0\.0\.1:{server.port}"):
        await serve_extproc(engine, "127.0.0.1", server.port)


async def test_health_serving_for_both_names(server: ExtProcHandle) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = protos.health_pb2_grpc.HealthStub(channel)
        for name in ("", "envoy.service.ext_proc.v3.ExternalProcessor"):
            resp = await stub.Check(protos.health_pb2.HealthCheckRequest(service=name))
            assert resp.status == protos.health_pb2.HealthCheckResponse.SERVING


async def test_graceful_stop_reports_not_serving_first(engine: Engine) -> None:
    handle = await serve_extproc(engine, "127.0.0.1", 0)
    await handle.health.enter_graceful_shutdown()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{handle.port}") as channel:
        stub = protos.health_pb2_grpc.HealthStub(channel)
        resp = await stub.Check(protos.health_pb2.HealthCheckRequest(service=protos.EXT_PROC_SERVICE))
        assert resp.status == protos.health_pb2.HealthCheckResponse.NOT_SERVING
    await handle.stop(0.5)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{handle.port}") as channel:
        stub = protos.health_pb2_grpc.HealthStub(channel)
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.Check(protos.health_pb2.HealthCheckRequest(service=""), timeout=1)


async def test_process_stream_over_grpc(server: ExtProcHandle, engine: Engine) -> None:
    """One stream = one HTTP request: body -> chat request, headers, body -> stored response."""
    chat = {
        "id": "c",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "pong"}, "finish_reason": "stop"}
        ],
    }
    messages = [
        protos.ProcessingRequest(
            request_body=protos.HttpBody(
                body=json.dumps({"model": "m", "input": "ping"}).encode(), end_of_stream=True
            )
        ),
        _upstream_200(b"application/json"),
        protos.ProcessingRequest(
            response_body=protos.HttpBody(body=json.dumps(chat).encode(), end_of_stream=True)
        ),
    ]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = protos.ext_proc_pb2_grpc.ExternalProcessorStub(channel)
        call = stub.Process()
        replies = []
        for msg in messages:
            await call.write(msg)
            replies.append(await call.read())
        await call.done_writing()
    assert [r.WhichOneof("response") for r in replies] == [
        "request_body",
        "response_headers",
        "response_body",
    ]
    response = json.loads(replies[2].response_body.response.body_mutation.body)
    assert response["output"][0]["content"][0]["text"] == "pong"
    assert (await engine.get(response["id"]))["status"] == "completed"


async def test_sse_mode_from_envoy_metadata(server: ExtProcHandle) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = protos.ext_proc_pb2_grpc.ExternalProcessorStub(channel)
        call = stub.Process(metadata=(("x-gateway-sse-mode", "full_duplex"),))
        await call.write(
            protos.ProcessingRequest(
                request_body=protos.HttpBody(
                    body=json.dumps({"model": "m", "input": "x", "stream": True}).encode(), end_of_stream=True
                )
            )
        )
        await call.read()
        await call.write(_upstream_200(b"text/event-stream"))
        reply = await call.read()
        await call.done_writing()
    assert reply.mode_override.response_body_mode == protos.ProcessingMode.FULL_DUPLEX_STREAMED
