"""Files and vector stores end to end: the official `openai` SDK, unchanged, against a real
`responses-gateway serve` subprocess in front of the real scripted backend server (which
computes the embeddings), including a restart of the gateway on the same database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI

from devstack.gateway_process import GatewayProcess, start_subprocess
from fixtures.backend.server import run_in_thread

DOCS = Path(__file__).resolve().parents[2] / "fixtures" / "documents"
CORPUS = ["solar.txt", "sourdough.md", "tides.html", "volcanoes.csv", "glossary.json", "events.jsonl"]


def _client(gw: GatewayProcess) -> OpenAI:
    # max_retries=0: a failure must show up as the status the gateway sent, not a retry.
    return OpenAI(base_url=gw.url, api_key="unused", max_retries=0, timeout=20)


@pytest.fixture(scope="module")
def backend_url() -> Iterator[str]:
    with run_in_thread() as backend:
        yield backend.url


def test_sdk_workflow_and_restart(backend_url: str, tmp_path: Path) -> None:
    db = tmp_path / "gateway.sqlite3"
    args = ["--backend-url", backend_url, "--http-port", "0", "--db", str(db)]
    with start_subprocess(args) as gw, _client(gw) as client:
        uploaded = {
            name: client.files.create(file=(name, (DOCS / name).read_bytes()), purpose="assistants")
            for name in CORPUS
        }
        assert all(
            f.status == "processed" and f.bytes == (DOCS / n).stat().st_size for n, f in uploaded.items()
        )
        assert client.files.content(uploaded["solar.txt"].id).read() == (DOCS / "solar.txt").read_bytes()

        store = client.vector_stores.create(name="sdk corpus", metadata={"suite": "sdk"})
        topics = {"solar.txt": "energy", "sourdough.md": "food", "tides.html": "ocean"}
        for name, topic in topics.items():
            vs_file = client.vector_stores.files.create_and_poll(
                vector_store_id=store.id,
                file_id=uploaded[name].id,
                attributes={"topic": topic},
                poll_interval_ms=50,
            )
            assert vs_file.status == "completed" and vs_file.last_error is None
        batch = client.vector_stores.file_batches.create_and_poll(
            vector_store_id=store.id, file_ids=[uploaded[n].id for n in CORPUS[3:]], poll_interval_ms=50
        )
        assert batch.status == "completed" and batch.file_counts.completed == 3

        store = client.vector_stores.retrieve(store.id)
        assert store.status == "completed"
        assert store.file_counts.completed == len(CORPUS) and store.file_counts.total == len(CORPUS)
        assert store.usage_bytes > 0

        results = client.vector_stores.search(store.id, query="What causes ocean tides?")
        assert results.data[0].filename == "tides.html"
        assert results.data[0].file_id == uploaded["tides.html"].id
        assert results.data[0].attributes == {"topic": "ocean"}
        filtered = client.vector_stores.search(
            store.id,
            query="What causes ocean tides?",
            filters={"type": "eq", "key": "topic", "value": "food"},
        )
        assert [r.filename for r in filtered.data] == ["sourdough.md"]

        content = client.vector_stores.files.content(uploaded["solar.txt"].id, vector_store_id=store.id)
        assert "".join(part.text or "" for part in content.data).startswith("Solar panels")

        with pytest.raises(openai.BadRequestError) as bad:
            client.vector_stores.search(store.id, query="x", filters={"type": "near", "key": "a", "value": 1})  # type: ignore[arg-type]
        assert bad.value.status_code == 400
        with pytest.raises(openai.NotFoundError):
            client.vector_stores.retrieve("vs_does_not_exist")
        before = [(r.file_id, r.score) for r in results.data]

    with start_subprocess(args) as gw, _client(gw) as client:
        again = client.vector_stores.retrieve(store.id)
        assert again.file_counts.completed == len(CORPUS) and again.metadata == {"suite": "sdk"}
        results = client.vector_stores.search(store.id, query="What causes ocean tides?")
        assert [(r.file_id, r.score) for r in results.data] == before
        listed = client.vector_stores.files.list(vector_store_id=store.id, limit=100)
        assert {f.id for f in listed.data} == {f.id for f in uploaded.values()}

        client.files.delete(uploaded["tides.html"].id)
        with pytest.raises(openai.NotFoundError):
            client.files.retrieve(uploaded["tides.html"].id)
        with pytest.raises(openai.NotFoundError):
            client.vector_stores.files.retrieve(uploaded["tides.html"].id, vector_store_id=store.id)
        results = client.vector_stores.search(store.id, query="What causes ocean tides?")
        assert uploaded["tides.html"].id not in {r.file_id for r in results.data}

        deleted = client.vector_stores.delete(store.id)
        assert deleted.deleted is True
        with pytest.raises(openai.NotFoundError):
            client.vector_stores.search(store.id, query="tides")


def test_upload_limit_on_the_real_server(backend_url: str, tmp_path: Path) -> None:
    """413 for a too-large upload whether or not the client announces its length (a chunked
    body is cut off while streaming), and nothing is left on disk."""
    db = tmp_path / "gateway.sqlite3"
    blobs = Path(str(db) + ".files")
    limit = 8192
    args = ["--backend-url", backend_url, "--http-port", "0", "--db", str(db), "--max-body-bytes", str(limit)]
    boundary = "b0undary"

    def multipart(size: int) -> list[bytes]:
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nassistants\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n'
            "Content-Type: text/plain\r\n\r\n"
        ).encode()
        return [head, *([b"x" * 1024] * (size // 1024)), f"\r\n--{boundary}--\r\n".encode()]

    headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
    with start_subprocess(args) as gw, httpx.Client(base_url=gw.base_url, timeout=20) as http:
        # The limit is on the file itself, not on the multipart body around it.
        ok = http.post("/v1/files", content=b"".join(multipart(limit)), headers=headers)
        assert ok.status_code == 200, ok.text
        assert ok.json()["bytes"] == limit
        over = http.post("/v1/files", content=b"".join(multipart(limit + 1024)), headers=headers)
        assert over.status_code == 413
        sized = http.post("/v1/files", content=b"".join(multipart(64 * 1024)), headers=headers)
        assert sized.status_code == 413 and sized.json()["error"]["code"] == "payload_too_large"
        chunked = http.post("/v1/files", content=iter(multipart(64 * 1024)), headers=headers)
        assert chunked.status_code == 413 and chunked.json()["error"]["code"] == "payload_too_large"
        assert [p.name for p in blobs.iterdir()] == [ok.json()["id"]]
        assert [f["id"] for f in http.get("/v1/files").json()["data"]] == [ok.json()["id"]]
