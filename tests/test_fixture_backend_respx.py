"""fixtures.backend.respx_routes: the same scripts in-process, agreeing with the real server."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
import respx

from fixtures.backend.respx_routes import mount
from fixtures.backend.scripts import ScriptEngine
from fixtures.backend.server import run_in_thread
from fixtures.backend.testing import TOOLS, assemble, chat, chunks_of

BASE = "http://backend.test"


def fixed_engine() -> ScriptEngine:
    return ScriptEngine(clock=lambda: 1_700_000_000)


def test_json_and_sse_sync_client() -> None:
    with respx.mock(assert_all_called=False) as router:
        mounted = mount(router, BASE)
        r = httpx.post(f"{BASE}/v1/chat/completions", json=chat("[[text:in process]]"))
        assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "in process"
        r = httpx.post(f"{BASE}/v1/chat/completions", json=chat("[[tool]]", stream=True, tools=TOOLS))
        rebuilt = assemble(chunks_of(r.content))
        assert rebuilt["message"]["tool_calls"][0]["function"]["name"] == "get_weather"
        assert [req["path"] for req in mounted.recorder.requests] == ["/v1/chat/completions"] * 2
        listed = httpx.get(f"{BASE}/_fixture/requests").json()["requests"]
        assert listed == mounted.recorder.requests
        httpx.delete(f"{BASE}/_fixture/requests")
        assert mounted.recorder.requests == []


def test_base_url_with_path_prefix() -> None:
    with respx.mock(assert_all_called=False) as router:
        mount(router, BASE + "/ollama/")
        r = httpx.get(f"{BASE}/ollama/api/tags")
        assert r.json()["models"][0]["name"] == "scripted:latest"


async def test_async_stream_is_paced() -> None:
    async with respx.mock(assert_all_called=False) as router, httpx.AsyncClient() as client:
        mount(router, BASE)
        arrivals: list[float] = []
        body = chat("[[slow:50]] a b c", stream=True)
        async with client.stream("POST", f"{BASE}/v1/chat/completions", json=body) as r:
            start = time.monotonic()  # headers are in: the frames are paced from here
            async for line in r.aiter_lines():
                if line.startswith("data: "):
                    arrivals.append(time.monotonic() - start)
        assert len(arrivals) == 6  # role, 3 words, finish, [DONE]: 5 gaps of 50 ms
        assert arrivals[-1] - arrivals[0] >= 0.05 * 5 * 0.9
        assert arrivals[0] < arrivals[-1] / 2  # the first frame came early, not with the rest


async def test_async_drop_raises_protocol_error_mid_stream() -> None:
    async with respx.mock(assert_all_called=False) as router:
        mount(router, BASE)
        received: list[str] = []
        async with httpx.AsyncClient() as client:
            with pytest.raises(httpx.RemoteProtocolError):
                async with client.stream(
                    "POST", f"{BASE}/v1/chat/completions", json=chat("[[drop]]", stream=True)
                ) as r:
                    async for line in r.aiter_lines():
                        if line.startswith("data: "):
                            received.append(line)
            assert len(received) == 3  # role chunk + two content chunks, no [DONE]
            with pytest.raises(httpx.RemoteProtocolError):
                await client.post(f"{BASE}/v1/chat/completions", json=chat("[[drop]]"))


def test_sync_drop_raises_protocol_error() -> None:
    with respx.mock(assert_all_called=False) as router:
        mount(router, BASE)
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.post(f"{BASE}/v1/chat/completions", json=chat("[[drop]]", stream=True))


# --------------------------------------------------------------------------- agreement

AGREEMENT_REQUESTS: list[tuple[str, str, Any]] = [
    ("POST", "/v1/chat/completions", chat("hello there")),
    ("POST", "/v1/chat/completions", chat("hello there", stream=True)),
    ("POST", "/v1/chat/completions", chat("[[tools:3]]", stream=True, tools=TOOLS)),
    ("POST", "/v1/chat/completions", chat('[[tool:f:{"q": "x"}]]', tools=TOOLS)),
    (
        "POST",
        "/v1/chat/completions",
        chat("[[refusal]]", stream=True, stream_options={"include_usage": True}),
    ),
    ("POST", "/v1/chat/completions", chat("[[length]]")),
    ("POST", "/v1/chat/completions", chat("[[content_filter]]", stream=True)),
    ("POST", "/v1/chat/completions", chat("[[messages]]")),
    ("POST", "/v1/chat/completions", chat("[[request]]", temperature=0.2)),
    ("POST", "/v1/chat/completions", chat("[[probe:abc]]")),
    ("POST", "/v1/chat/completions", chat("[[error:418]]")),
    ("POST", "/v1/chat/completions", chat("[[error:500:ollama]]", stream=True)),
    ("POST", "/v1/chat/completions", chat("[[malformed]]")),
    ("POST", "/v1/chat/completions", chat("[[malformed]]", stream=True)),
    ("POST", "/v1/chat/completions", chat("[[slow:5]] [[delay:5]] [[text:timed]]", stream=True)),
    ("POST", "/v1/chat/completions", b"{broken"),
    ("POST", "/v1/embeddings", {"model": "e", "input": ["one two", "two three"]}),
    ("GET", "/v1/models", None),
    ("GET", "/api/tags", None),
    ("GET", "/missing", None),
    ("POST", "/v1/chat/completions", chat("[[drop]]")),
    ("POST", "/v1/chat/completions", chat("[[drop]]", stream=True)),
    ("GET", "/_fixture/requests", None),
]


def _exchange(client: httpx.Client, method: str, path: str, body: Any) -> dict[str, Any]:
    """Status, content type and the body bytes received, or the transport error and the bytes
    received before it."""
    kwargs: dict[str, Any] = {}
    if isinstance(body, bytes):
        kwargs["content"] = body
    elif body is not None:
        kwargs["json"] = body
    received = bytearray()
    try:
        with client.stream(method, path, **kwargs) as r:
            for piece in r.iter_bytes():
                received += piece
            return {"status": r.status_code, "type": r.headers.get("content-type"), "body": bytes(received)}
    except httpx.TransportError as exc:
        return {"error": type(exc).__name__, "body": bytes(received)}


def _normalise(result: dict[str, Any]) -> dict[str, Any]:
    """The recorder lists transport headers (host, content-length) that differ in-process."""
    if result.get("type") == "application/json" and result["body"].startswith(b'{"requests"'):
        requests = json.loads(result["body"])["requests"]
        return {**result, "body": [(r["method"], r["path"], r["body"]) for r in requests]}
    return result


def test_respx_routes_agree_with_the_real_server() -> None:
    with (
        run_in_thread(engine=fixed_engine()) as server,
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        real = [_normalise(_exchange(client, *req)) for req in AGREEMENT_REQUESTS]
    with respx.mock(assert_all_called=False) as router:
        mount(router, BASE, engine=fixed_engine())
        with httpx.Client(base_url=BASE) as client:
            mocked = [_normalise(_exchange(client, *req)) for req in AGREEMENT_REQUESTS]
    for request, a, b in zip(AGREEMENT_REQUESTS, real, mocked, strict=True):
        assert a == b, request
    # the drops really were drops on both sides
    assert real[-3]["error"] == "RemoteProtocolError" and real[-2]["error"] == "RemoteProtocolError"
    assert b"[DONE]" not in real[-2]["body"] and real[-2]["body"].count(b"data: ") == 3
