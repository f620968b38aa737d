"""The mutating proxy in front of the real reference gateway (scripted backend behind it):
transparent without a mutant, streaming frame by frame with one, and the ext_proc proxy
forwarding to the reference's ext_proc server."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

import protos
from fixtures.backend.server import start_subprocess as start_backend
from fixtures.mutants.proxy import ProxyHandle, start_proxy
from fixtures.mutants.sse import FrameSplitter
from reference.cli import start_subprocess as start_gateway

EXTPROC_RE = re.compile(r"ext_proc gRPC on (\S+)")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(API root, ext_proc HOST:PORT) of a reference gateway in front of the scripted backend."""
    db = Path(tmp_path_factory.mktemp("mutants-proxy")) / "gw.db"
    with start_backend() as backend:
        gw = start_gateway(
            ["--backend-url", backend.url, "--http-port", "0", "--extproc-port", "auto", "--db", str(db)]
        )
        try:
            found = EXTPROC_RE.search(gw.output)
            assert found, gw.output
            yield gw.url, found.group(1)
        finally:
            gw.stop()


async def _proxy(gateway: tuple[str, str], mutant: str | None, **kw: Any) -> ProxyHandle:
    return await start_proxy(mutant, gateway[0], extproc_upstream=gateway[1], **kw)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as c:
        yield c


async def test_identity_proxy_is_transparent(gateway: tuple[str, str], client: httpx.AsyncClient) -> None:
    proxy = await _proxy(gateway, None)
    try:
        created = await client.post(
            f"{proxy.url}/responses", json={"model": "scripted", "input": "[[text:hi there]]"}
        )
        assert created.status_code == 200
        rid = created.json()["id"]
        direct = await client.get(f"{gateway[0]}/responses/{rid}")
        via = await client.get(f"{proxy.url}/responses/{rid}")
        assert via.status_code == direct.status_code == 200
        assert via.content == direct.content  # byte for byte
        assert via.headers["content-type"] == direct.headers["content-type"]
        # errors too, status and body
        bad_direct = await client.post(
            f"{gateway[0]}/responses", content=b"{not json", headers={"content-type": "application/json"}
        )
        bad_via = await client.post(
            f"{proxy.url}/responses", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert (bad_via.status_code, bad_via.content) == (bad_direct.status_code, bad_direct.content)
        # a stream through the identity proxy is the same event sequence the gateway sends
        body = {"model": "scripted", "input": "[[text:one two three]]", "stream": True}
        raw = (await client.post(f"{proxy.url}/responses", json=body)).content
        frames = FrameSplitter().feed(raw)
        types = [f.type for f in frames]
        assert types[0] == "response.created" and types[-1] == "response.completed"
        assert all(f.raw == f.raw.rstrip(b"\n") + b"\n\n" for f in frames)
    finally:
        await proxy.stop()


async def _first_frame_and_end(client: httpx.AsyncClient, url: str) -> tuple[float, float, list[str]]:
    body = {"model": "scripted", "input": "[[slow:200]] [[text:alpha beta gamma delta]]", "stream": True}
    start = time.perf_counter()
    first: float | None = None
    splitter = FrameSplitter()
    types: list[str] = []
    async with client.stream("POST", f"{url}/responses", json=body) as resp:
        assert resp.status_code == 200
        async for chunk in resp.aiter_raw():
            for frame in splitter.feed(chunk):
                if first is None:
                    first = time.perf_counter() - start
                types.append(str(frame.type))
    assert first is not None
    return first, time.perf_counter() - start, types


@pytest.mark.parametrize("mutant", [None, "sse.sequence-gap", "sse.swap-events"])
async def test_proxy_streams_incrementally(
    gateway: tuple[str, str], client: httpx.AsyncClient, mutant: str | None
) -> None:
    """The first frame reaches the client while the backend is still producing (200 ms
    between its chunks): the proxy neither buffers nor waits for the end of the stream."""
    proxy = await _proxy(gateway, mutant)
    try:
        first, total, types = await _first_frame_and_end(client, proxy.url)
    finally:
        await proxy.stop()
    assert types[0] in ("response.created", "response.in_progress")
    # 4 words + role + finish chunks at 200 ms: the whole stream takes >= 1 s
    assert total >= 0.8
    assert first < total - 0.6, (first, total)


async def test_json_mutant_through_proxy(gateway: tuple[str, str], client: httpx.AsyncClient) -> None:
    proxy = await _proxy(gateway, "object.usage-total")
    try:
        data = (
            await client.post(f"{proxy.url}/responses", json={"model": "scripted", "input": "a b c"})
        ).json()
        usage = data["usage"]
        assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"] + 1
        again = (await client.get(f"{proxy.url}/responses/{data['id']}")).json()
        assert again["usage"] == usage  # consistently wrong
        direct = (await client.get(f"{gateway[0]}/responses/{data['id']}")).json()
        assert direct["usage"]["total_tokens"] == usage["total_tokens"] - 1
    finally:
        await proxy.stop()


async def test_stateful_mutant_through_proxy(gateway: tuple[str, str], client: httpx.AsyncClient) -> None:
    """instructions-inherited: the follow-up reaches the backend with the first turn's system message."""
    proxy = await _proxy(gateway, "state.instructions-inherited")
    try:
        first = await client.post(
            f"{proxy.url}/responses",
            json={"model": "scripted", "input": "hi", "instructions": "Speak French."},
        )
        follow = await client.post(
            f"{proxy.url}/responses",
            json={"model": "scripted", "input": "[[messages]]", "previous_response_id": first.json()["id"]},
        )
        text = follow.json()["output"][0]["content"][0]["text"]
        messages = json.loads(text)
        assert messages[0] == {"content": "Speak French.", "role": "system"}
    finally:
        await proxy.stop()


# --------------------------------------------------------------------------- ext_proc proxy


def _request_body(body: dict[str, Any]) -> Any:
    return protos.ProcessingRequest(
        request_body=protos.HttpBody(body=json.dumps(body).encode(), end_of_stream=True)
    )


async def _process_one(target: str, message: Any) -> Any:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = protos.ext_proc_pb2_grpc.ExternalProcessorStub(channel)

        async def requests() -> AsyncIterator[Any]:
            yield message

        call = stub.Process(requests())
        reply = await asyncio.wait_for(call.read(), 10)
        call.cancel()
        return reply


def _set_headers(common: Any) -> dict[str, bytes]:
    return {h.header.key: h.header.raw_value for h in common.header_mutation.set_headers}


async def test_extproc_proxy_forwards_and_mutates(gateway: tuple[str, str]) -> None:
    body = {"model": "scripted", "input": "remember the password"}
    direct = await _process_one(gateway[1], _request_body(body))
    identity = await _proxy(gateway, None)
    leaky = await _proxy(gateway, "extproc.history-header")
    try:
        assert identity.extproc and leaky.extproc
        via = await _process_one(identity.extproc, _request_body(body))
        assert via.WhichOneof("response") == direct.WhichOneof("response") == "request_body"
        assert via.request_body.response.body_mutation.body == direct.request_body.response.body_mutation.body
        assert _set_headers(via.request_body.response) == _set_headers(direct.request_body.response)

        leaked = await _process_one(leaky.extproc, _request_body(body))
        headers = _set_headers(leaked.request_body.response)
        assert "x-gateway-history" in headers and "x-gateway-history" not in _set_headers(
            direct.request_body.response
        )
    finally:
        await identity.stop()
        await leaky.stop()


async def _health(target: str) -> Any:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = protos.health_pb2_grpc.HealthStub(channel)
        return await stub.Check(
            protos.health_pb2.HealthCheckRequest(service=protos.EXT_PROC_SERVICE), timeout=5
        )


async def test_extproc_proxy_health(gateway: tuple[str, str]) -> None:
    healthy = await _proxy(gateway, None)
    broken = await _proxy(gateway, "extproc.no-health")
    try:
        assert healthy.extproc and broken.extproc
        assert (await _health(healthy.extproc)).status == protos.health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await _health(broken.extproc)
        assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        await healthy.stop()
        await broken.stop()
