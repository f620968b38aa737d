"""A large create request costs a bounded multiple of its size in gateway memory.

Measured with tracemalloc in-process (exact byte counts of Python allocations, so the bound does
not depend on the machine's load): every copy of a body-sized string the gateway keeps alive at
once shows up as one more multiple of the body size. The scripted backend runs in the same
process (respx) and echoes the input back, so its own two copies are counted too."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import httpx
import respx

from fixtures.backend.respx_routes import mount
from reference.backend import Backend
from reference.gateway import build_gateway
from reference.store import SQLiteStore

BACKEND = "http://backend.test"
SIZE = 4 * 1024 * 1024
# The body as bytes, its parsed input, the output the backend sends back (bytes, then parsed),
# the response's JSON text, the stored input item's JSON text and the backend's own two copies:
# eight body-sized strings at the busiest moment. One more (the backend request body or the
# raw client body kept while the response is made) is the regression this guards against.
MAX_MULTIPLE = 8.5


async def test_large_request_peak_memory_is_bounded(tmp_path: Path) -> None:
    with respx.mock(assert_all_called=False) as router:
        mount(router, BACKEND)
        gateway = build_gateway(SQLiteStore(tmp_path / "db.sqlite"), Backend(BACKEND, timeout=30))
        app = gateway.http_app(max_body_bytes=2 * SIZE)
        client = app.test_client()
        warm_up = await client.post("/v1/responses", json={"model": "m", "input": "warm up"})
        assert warm_up.status_code == 200
        body = json.dumps({"model": "m", "input": "[[text:" + "x" * SIZE + "]]"}).encode()
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            resp = await client.post("/v1/responses", data=body, headers={"content-type": "application/json"})
            text = await resp.get_data()
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
        await gateway.aclose()
    assert resp.status_code == 200 and len(text) > SIZE
    assert peak / len(body) <= MAX_MULTIPLE, f"peak {peak / 1e6:.1f} MB = {peak / len(body):.2f} x the body"


# Many tiny input items cost far more than their bytes: each becomes a parsed dict, a validated
# model, a stored item with its id and a chat message (about 40 times the body at the peak). The
# backend here answers without reading the request, so only the gateway's own objects are
# counted. Building the items a second time for the chat request is the regression guarded.
ITEMS = 10_000
# Measured: 48.8x when the chat request built the items again, 42.7x without.
MAX_ITEMS_MULTIPLE = 45.0
ANSWER = {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "m",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                       "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


async def test_many_small_input_items_peak_memory_is_bounded(tmp_path: Path) -> None:
    with respx.mock(assert_all_called=False) as router:
        router.post(f"{BACKEND}/v1/chat/completions").mock(return_value=httpx.Response(200, json=ANSWER))
        gateway = build_gateway(SQLiteStore(tmp_path / "db.sqlite"), Backend(BACKEND, timeout=30))
        app = gateway.http_app()
        client = app.test_client()
        items = [{"role": "user", "content": f"w{i}"} for i in range(ITEMS)]
        body = json.dumps({"model": "m", "input": items}).encode()
        del items
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            resp = await client.post("/v1/responses", data=body, headers={"content-type": "application/json"})
            await resp.get_data()
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
        await gateway.aclose()
    assert resp.status_code == 200
    multiple = peak / len(body)
    assert multiple <= MAX_ITEMS_MULTIPLE, f"peak {peak / 1e6:.1f} MB = {multiple:.2f} x the body"
