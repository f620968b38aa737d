"""`GET /v1/models` (the backend's list passed on) and embeddings through a configured endpoint
(`--embedding-url`, `--embedding-model auto`, `--embedding-dimensions`), in process."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from fixtures.backend.respx_routes import mount
from reference.backend import Backend
from reference.gateway import build_gateway
from reference.services.ingest import choose_model
from reference.store import SQLiteStore

BACKEND = "http://backend.test"
EMBEDDER = "http://embedder.test"


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")


async def test_models_lists_the_backends_models(tmp_path: Path) -> None:
    with respx.mock(assert_all_called=False) as router:
        router.route(host="gw").pass_through()
        mount(router, BACKEND)
        gateway = build_gateway(SQLiteStore(tmp_path / "db"), Backend(BACKEND, timeout=5))
        async with _client(gateway.http_app()) as http:
            resp = await http.get("/v1/models")
        await gateway.aclose()
    assert resp.status_code == 200
    body = resp.json()
    assert body["object"] == "list"
    assert "scripted" in [m["id"] for m in body["data"]]
    assert all(m["object"] == "model" for m in body["data"])


async def test_models_with_the_backend_down_is_a_502_openai_error(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gateway = build_gateway(SQLiteStore(tmp_path / "db"), Backend(f"http://127.0.0.1:{port}", timeout=5))
    async with _client(gateway.http_app()) as http:
        resp = await http.get("/v1/models")
    await gateway.aclose()
    assert resp.status_code == 502
    error = resp.json()["error"]
    assert error["type"] == "server_error" and "could not be reached" in error["message"]


@pytest.mark.parametrize(("ids", "chosen"), [
    (["BAAI/bge-m3"], "BAAI/bge-m3"),  # vLLM: one model per server
    (["qwen2.5:0.5b", "nomic-embed-text:latest"], "nomic-embed-text:latest"),  # Ollama
    (["gpt-4o", "text-embedding-ada-002", "text-embedding-3-small"], "text-embedding-3-small"),  # OpenAI
    (["scripted", "scripted-text"], "text-embedding-3-small"),
])
def test_auto_embedding_model(ids: list[str], chosen: str) -> None:
    assert choose_model(ids) == chosen


async def test_embeddings_go_to_the_configured_endpoint(tmp_path: Path) -> None:
    with respx.mock(assert_all_called=False) as router:
        router.route(host="gw").pass_through()
        chat = mount(router, BACKEND)
        embedder = mount(router, EMBEDDER)
        gateway = build_gateway(SQLiteStore(tmp_path / "db"), Backend(BACKEND, timeout=5),
                                embedding_backend=Backend(EMBEDDER, api_key="embed-key", timeout=5),
                                embedding_model="auto", embedding_dimensions=32)
        await gateway.start()
        async with _client(gateway.http_app()) as http:
            upload = await http.post("/v1/files", data={"purpose": "assistants"},
                                     files={"file": ("notes.txt", b"tides follow the moon", "text/plain")})
            assert upload.status_code == 200, upload.text
            store = await http.post("/v1/vector_stores", json={"file_ids": [upload.json()["id"]]})
            assert store.status_code == 200, store.text
            for _ in range(200):
                state = (await http.get(f"/v1/vector_stores/{store.json()['id']}")).json()
                if state["file_counts"]["in_progress"] == 0:
                    break
                await asyncio.sleep(0.02)
            assert state["file_counts"]["completed"] == 1, state
            search = await http.post(f"/v1/vector_stores/{store.json()['id']}/search", json={"query": "moon"})
            assert search.status_code == 200, search.text
        await gateway.aclose()
    embedded = [r for r in embedder.recorder.requests if r["path"].endswith("/v1/embeddings")]
    assert len(embedded) == 2  # the file's chunks, then the query
    # auto: the scripted server lists no embedding model, so OpenAI's name is used.
    assert {r["body"]["model"] for r in embedded} == {"text-embedding-3-small"}
    assert {r["body"]["dimensions"] for r in embedded} == {32}
    assert embedded[0]["headers"]["authorization"] == "Bearer embed-key"
    assert not [r for r in chat.recorder.requests if "embeddings" in r["path"]]
