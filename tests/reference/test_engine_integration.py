"""The engine and its backend client against the real fixture backend server (real sockets)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.backend.server import BackendHandle, run_in_thread
from reference.backend import Backend, chat_completions_url
from reference.core.errors import APIError
from reference.engine import Engine
from reference.gateway import build_gateway
from reference.store import SQLiteStore


@pytest.fixture(scope="module")
def server() -> Iterator[BackendHandle]:
    with run_in_thread() as handle:
        yield handle


@pytest.fixture
async def engine(server: BackendHandle, tmp_path: Path) -> AsyncIterator[Engine]:
    eng_gateway = build_gateway(SQLiteStore(tmp_path / "db.sqlite"), Backend(server.url, timeout=0.5))
    eng = eng_gateway.engine
    yield eng
    await eng_gateway.aclose()


async def _stream(engine: Engine, text: str) -> list[tuple[float, dict[str, Any]]]:
    prepared = await engine.prepare({"model": "m", "input": text, "stream": True})
    start = time.monotonic()
    return [(time.monotonic() - start, event) async for event in engine.stream(prepared)]


def test_chat_completions_url() -> None:
    assert chat_completions_url("http://h:1") == "http://h:1/v1/chat/completions"
    assert chat_completions_url("http://h:1/") == "http://h:1/v1/chat/completions"
    assert chat_completions_url("http://h:1/v1") == "http://h:1/v1/chat/completions"
    assert chat_completions_url("https://x/openai/v1/") == "https://x/openai/v1/chat/completions"


async def test_streaming_passes_chunks_through_as_they_arrive(engine: Engine) -> None:
    timed = await _stream(engine, "[[slow:150]] [[text:alpha beta gamma delta]]")
    deltas = [(t, e) for t, e in timed if e["type"] == "response.output_text.delta"]
    assert "".join(e["delta"] for _, e in deltas) == "alpha beta gamma delta"
    # Not buffered: the first delta arrives well before the last (4 pieces, 150 ms apart).
    assert deltas[-1][0] - deltas[0][0] >= 0.3
    assert timed[-1][1]["type"] == "response.completed"


async def test_dropped_stream_fails_and_is_stored_failed(engine: Engine) -> None:
    timed = await _stream(engine, "one two three four [[drop]]")
    events = [e for _, e in timed]
    assert any(e["type"] == "response.output_text.delta" for e in events)
    assert events[-1]["type"] == "response.failed"
    stored = await engine.get(events[-1]["response"]["id"])
    assert stored["status"] == "failed" and stored["error"]["message"]


async def test_timeout_is_504(engine: Engine) -> None:
    prepared = await engine.prepare({"model": "m", "input": "[[delay:2000]] x"})
    with pytest.raises(APIError) as info:
        await engine.create(prepared)
    assert info.value.status == 504
    timed = await _stream(engine, "[[delay:2000]] x")
    failed = timed[-1][1]
    assert (
        failed["type"] == "response.failed"
        and failed["response"]["error"]["code"] == "server_error"
        and "did not answer within" in failed["response"]["error"]["message"]
    )


async def test_stream_gap_longer_than_timeout_is_504(engine: Engine) -> None:
    timed = await _stream(engine, "[[slow:1500]] a b")
    assert timed[-1][1]["type"] == "response.failed"
    assert (
        timed[-1][1]["response"]["error"]["code"] == "server_error"
        and "did not answer within" in timed[-1][1]["response"]["error"]["message"]
    )


async def test_unreachable_is_502(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    eng_gateway = build_gateway(SQLiteStore(tmp_path / "db.sqlite"),
                                Backend(f"http://127.0.0.1:{port}", timeout=2))
    eng = eng_gateway.engine
    try:
        with pytest.raises(APIError) as info:
            await eng.create(await eng.prepare({"model": "m", "input": "x"}))
        assert info.value.status == 502 and info.value.code == "backend_unreachable"
    finally:
        await eng_gateway.aclose()


async def test_malformed_stream_is_response_failed(engine: Engine) -> None:
    timed = await _stream(engine, "[[malformed]] x")
    assert timed[-1][1]["type"] == "response.failed"
    assert (
        timed[-1][1]["response"]["error"]["code"] == "server_error"
        and "invalid response" in timed[-1][1]["response"]["error"]["message"]
    )


async def test_history_reaches_the_real_backend(engine: Engine, server: BackendHandle) -> None:
    first = json.loads(
        await engine.create(
            await engine.prepare({"model": "m", "input": "first turn", "instructions": "old rules"})
        )
    )
    server.engine.recorder.clear()
    await engine.create(
        await engine.prepare({"model": "m", "input": "second turn", "previous_response_id": first["id"]})
    )
    sent = server.engine.recorder.requests[-1]["body"]
    assert sent["messages"] == [
        {"role": "user", "content": "first turn"},
        {"role": "assistant", "content": "first turn"},
        {"role": "user", "content": "second turn"},
    ]
