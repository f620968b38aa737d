"""Test helpers from tests/reference/test_vector_stores.py, shared with other test modules."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from tests.support.files import Gateway, start_gateway

DOCS = Path(__file__).resolve().parents[2] / "fixtures" / "documents"

CORPUS = ["solar.txt", "sourdough.md", "tides.html", "volcanoes.csv", "glossary.json", "events.jsonl"]


class VS(Gateway):
    """The gateway plus helpers for the vector store routes."""

    async def post(self, path: str, body: Any = None, status: int = 200) -> Any:
        resp = await self.http.post(path, json=body if body is not None else {})
        text = await resp.get_data(as_text=True)
        assert resp.status_code == status, text
        return json.loads(text)

    async def get(self, path: str, status: int = 200) -> Any:
        resp = await self.http.get(path)
        text = await resp.get_data(as_text=True)
        assert resp.status_code == status, text
        return json.loads(text)

    async def upload_doc(self, name: str) -> dict[str, Any]:
        return await self.upload_ok((DOCS / name).read_bytes(), name, content_type="application/octet-stream")

    async def wait_file(self, vs_id: str, file_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """Poll like a client until the vector store file leaves in_progress."""
        return await self._wait_done(f"/v1/vector_stores/{vs_id}/files/{file_id}", timeout)

    async def wait_store(self, vs_id: str, timeout: float = 10.0) -> dict[str, Any]:
        return await self._wait_done(f"/v1/vector_stores/{vs_id}", timeout)

    async def _wait_done(self, path: str, timeout: float) -> dict[str, Any]:
        """GET `path` like a client until the object's status leaves in_progress."""
        deadline = time.monotonic() + timeout
        while True:
            obj: dict[str, Any] = await self.get(path)
            if obj["status"] != "in_progress":
                return obj
            assert time.monotonic() < deadline, obj
            await asyncio.sleep(0.02)

    async def corpus_store(self, **extra: Any) -> tuple[dict[str, Any], dict[str, str]]:
        files = {name: (await self.upload_doc(name))["id"] for name in CORPUS}
        vs = await self.post(
            "/v1/vector_stores", {"name": "corpus", "file_ids": list(files.values()), **extra}
        )
        return await self.wait_store(vs["id"]), files


async def _start(db: Path, **kw: Any) -> tuple[VS, Any]:
    gw, ctx = await start_gateway(db, **kw)
    return VS(gw.app, gw.http, gw.gateway, gw.db), ctx
