"""Test helpers from tests/reference/tools/test_tool_loops.py, shared with other test modules."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import respx

from fixtures.backend.respx_routes import MountedBackend, mount
from tests.support.files import BACKEND, start_gateway, stop_gateway
from tests.support.vector_stores import VS


def sse(text: str) -> list[dict[str, Any]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = block.split("\n")
        assert lines[0].startswith("event: ") and lines[1].startswith("data: "), block
        data = json.loads(lines[1][len("data: ") :])
        assert data["type"] == lines[0][len("event: ") :]
        events.append(data)
    return events


class Gateway(VS):
    backend: MountedBackend

    async def respond(self, body: dict[str, Any], status: int = 200) -> Any:
        body.setdefault("model", "test-model")
        resp = await self.http.post("/v1/responses", json=body)
        text = await resp.get_data(as_text=True)
        assert resp.status_code == status, text
        return json.loads(text)

    async def respond_stream(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        body.setdefault("model", "test-model")
        body["stream"] = True
        resp = await self.http.post("/v1/responses", json=body)
        text = await resp.get_data(as_text=True)
        assert resp.status_code == 200, text
        return sse(text)

    def chat_requests(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.backend.recorder.requests if r["path"] == "/v1/chat/completions"]

    async def store_with(self, *names: str) -> tuple[str, dict[str, str]]:
        files = {name: (await self.upload_doc(name))["id"] for name in names}
        created = await self.post("/v1/vector_stores", {"name": "kb", "file_ids": list(files.values())})
        done = await self.wait_store(created["id"])
        assert done["file_counts"]["completed"] == len(names), done
        return created["id"], files


def output_text(response: dict[str, Any]) -> str:
    """The text of every `output_text` part of the response's messages, joined."""
    return "".join(p["text"] for item in response["output"] if item["type"] == "message"
                   for p in item["content"] if p["type"] == "output_text")


@contextlib.asynccontextmanager
async def open_gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    """The gateway app (Quart test client) with the scripted backend mounted by respx."""
    with respx.mock(assert_all_called=False) as router:
        backend = mount(router, BACKEND)
        base, ctx = await start_gateway(tmp_path / "db.sqlite3")
        gateway = Gateway(base.app, base.http, base.gateway, base.db)
        gateway.backend = backend
        try:
            yield gateway
        finally:
            await stop_gateway(base, ctx)
