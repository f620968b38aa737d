"""`responses-gateway serve` as a real subprocess in front of the real fixture backend."""

from __future__ import annotations

import json
import re
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack.gateway_process import GatewayProcess, start_subprocess
from fixtures.backend.server import BackendHandle, run_in_thread
from reference.cli import READY_PREFIX


@pytest.fixture(scope="module")
def backend() -> Iterator[BackendHandle]:
    with run_in_thread() as handle:
        yield handle


def _free_closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(backend_url: str | None, db: Path, *extra: str) -> GatewayProcess:
    args = ["--http-port", "0", "--db", str(db), *extra]
    if backend_url is not None:
        args = ["--backend-url", backend_url, *args]
    return start_subprocess(args)


def test_serve_prints_real_port_and_curl_line_and_stops_on_sigterm(
    backend: BackendHandle, tmp_path: Path
) -> None:
    gw = _serve(backend.url, tmp_path / "db.sqlite")
    try:
        match = re.search(re.escape(READY_PREFIX) + r"http://127\.0\.0\.1:(\d+)/v1\n", gw.output)
        assert match and int(match.group(1)) > 0
        assert gw.url == f"http://127.0.0.1:{match.group(1)}/v1"
        assert _wait_for(gw, f"try: curl -s {gw.url}/responses")
        # HTTP and ext_proc run on uvloop (a dependency): about 15 % less CPU per request.
        assert "event loop uvloop" in gw.output
        # The curl line names a model the backend lists (GET /v1/models).
        assert _wait_for(gw, '"model": "scripted", "input": "Say hello"', timeout=20)
        assert httpx.get(f"{gw.base_url}/health").json() == {"status": "ok"}
        resp = httpx.post(f"{gw.url}/responses", json={"model": "m", "input": "[[text:hi there]]"})
        assert resp.status_code == 200
        assert resp.json()["output"][0]["content"][0]["text"] == "hi there"
    finally:
        code = gw.stop(signal.SIGTERM)
    assert code == 0
    assert "responses-gateway: stopped" in gw.output
    assert "Traceback" not in gw.output


def _wait_for(gw: GatewayProcess, text: str, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in gw.output:
            return True
        time.sleep(0.02)
    return False


def test_sigint_shuts_down_gracefully(backend: BackendHandle, tmp_path: Path) -> None:
    gw = _serve(backend.url, tmp_path / "db.sqlite")
    assert httpx.get(f"{gw.base_url}/health").status_code == 200
    assert gw.stop(signal.SIGINT) == 0
    assert "responses-gateway: stopped" in gw.output
    assert "Traceback" not in gw.output


def test_restart_on_same_db_returns_byte_identical_objects(backend: BackendHandle, tmp_path: Path) -> None:
    db = tmp_path / "gateway.sqlite3"
    with _serve(backend.url, db) as gw:
        created = httpx.post(f"{gw.url}/responses", json={
            "model": "m", "input": "remember me", "metadata": {"k": "v"}})
        assert created.status_code == 200
        rid = created.json()["id"]
        before = httpx.get(f"{gw.url}/responses/{rid}").content
        items_before = httpx.get(f"{gw.url}/responses/{rid}/input_items").content
        assert before == created.content
    with _serve(backend.url, db) as gw2:
        after = httpx.get(f"{gw2.url}/responses/{rid}")
        assert after.status_code == 200
        assert after.content == before
        assert httpx.get(f"{gw2.url}/responses/{rid}/input_items").content == items_before
        # The history survives too: a follow-up sees the earlier turn.
        follow = httpx.post(f"{gw2.url}/responses", json={
            "model": "m", "previous_response_id": rid, "input": "[[messages]]"})
        messages = json.loads(follow.json()["output"][0]["content"][0]["text"])
        assert [m["content"] for m in messages] == ["remember me", "remember me", "[[messages]]"]


def test_backend_timeout_is_504_and_unreachable_is_502(backend: BackendHandle, tmp_path: Path) -> None:
    with _serve(backend.url, tmp_path / "a.sqlite", "--backend-timeout", "0.3") as gw:
        resp = httpx.post(f"{gw.url}/responses", json={"model": "m", "input": "[[delay:3000]] x"}, timeout=10)
        assert resp.status_code == 504
        assert resp.json()["error"]["code"] == "backend_timeout"
    dead = f"http://127.0.0.1:{_free_closed_port()}"
    with _serve(dead, tmp_path / "b.sqlite") as gw:
        resp = httpx.post(f"{gw.url}/responses", json={"model": "m", "input": "x"})
        assert resp.status_code == 502
        assert resp.json()["error"]["code"] == "backend_unreachable"


def test_max_body_bytes_flag(backend: BackendHandle, tmp_path: Path) -> None:
    with _serve(backend.url, tmp_path / "db.sqlite", "--max-body-bytes", "1000") as gw:
        resp = httpx.post(f"{gw.url}/responses", json={"model": "m", "input": "x" * 2000})
        assert resp.status_code == 413
        assert resp.json()["error"]["message"]
        assert httpx.post(f"{gw.url}/responses", json={"model": "m", "input": "x"}).status_code == 200

        def chunked() -> Iterator[bytes]:  # no Content-Length: the limit applies while reading
            for _ in range(10):
                yield b"x" * 500

        resp = httpx.post(f"{gw.url}/responses", content=chunked(),
                          headers={"content-type": "application/json"})
        assert resp.status_code == 413
        assert resp.json()["error"]["code"] == "payload_too_large"


def test_without_backend_url_starts_the_scripted_backend(tmp_path: Path) -> None:
    with _serve(None, tmp_path / "db.sqlite") as gw:
        assert _wait_for(gw, "started the scripted backend")
        match = re.search(r"started the scripted backend \(fixtures\.backend\) at (\S+)", gw.output)
        assert match
        fixture_url = match.group(1)
        resp = httpx.post(f"{gw.url}/responses", json={"model": "m", "input": "[[probe:abc]]"})
        assert resp.json()["output"][0]["content"][0]["text"].startswith("fixtures.backend/1 ")
    assert gw.process.returncode == 0
    # The gateway stopped the backend it started.
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{fixture_url}/v1/models")


def test_missing_api_key_variable_is_a_clear_error(backend: BackendHandle, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="RG_TEST_UNSET_KEY is not set"):
        _serve(backend.url, tmp_path / "db.sqlite", "--backend-api-key-env", "RG_TEST_UNSET_KEY")


def test_api_key_is_sent_to_the_backend(backend: BackendHandle, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RG_TEST_KEY", "sk-test-123")
    backend.engine.recorder.clear()
    with _serve(backend.url, tmp_path / "db.sqlite", "--backend-api-key-env", "RG_TEST_KEY") as gw:
        assert httpx.post(f"{gw.url}/responses", json={"model": "m", "input": "x"}).status_code == 200
    chats = [r for r in backend.engine.recorder.requests if r["path"] == "/v1/chat/completions"]
    assert chats and chats[-1]["headers"]["authorization"] == "Bearer sk-test-123"
    assert "sk-test-123" not in gw.output


def test_extproc_hook(backend: BackendHandle, tmp_path: Path) -> None:
    with _serve(backend.url, tmp_path / "db.sqlite", "--extproc-port", "auto") as gw:
        assert httpx.get(f"{gw.base_url}/health").status_code == 200
        assert re.search(r"ext_proc gRPC on 127\.0\.0\.1:\d+", gw.output)
    assert gw.process.returncode == 0


def test_port_in_use_is_a_clear_error(backend: BackendHandle, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match=r"responses-gateway: error: .*in use"):
            start_subprocess(["--backend-url", backend.url, "--http-port", str(port),
                              "--db", str(tmp_path / "db.sqlite")])
