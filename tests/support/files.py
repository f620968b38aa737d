"""Test helpers from tests/reference/test_files.py, shared with other test modules."""

from __future__ import annotations

import json
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

from quart import Quart
from quart.typing import TestClientProtocol as QuartTestClient
from werkzeug.datastructures import FileStorage

from reference import gateway as composition
from reference.backend import Backend
from reference.engine import Engine
from reference.store import SQLiteStore

BACKEND = "http://backend.test"

MAX_BODY = 64 * 1024


@dataclass
class Gateway:
    app: Quart
    http: QuartTestClient
    gateway: composition.Gateway
    db: Path

    @property
    def engine(self) -> Engine:
        return self.gateway.engine

    @property
    def blob_dir(self) -> Path:
        return self.gateway.vector_stores.blob_dir

    async def upload(
        self,
        content: bytes,
        filename: str = "notes.txt",
        purpose: str = "assistants",
        content_type: str = "text/plain",
        **form: str,
    ) -> Any:
        return await self.http.post(
            "/v1/files",
            files={"file": FileStorage(BytesIO(content), filename=filename, content_type=content_type)},
            form={"purpose": purpose, **form},
        )

    async def upload_ok(self, content: bytes, filename: str = "notes.txt", **kw: Any) -> dict[str, Any]:
        resp = await self.upload(content, filename, **kw)
        assert resp.status_code == 200, await resp.get_data(as_text=True)
        body: dict[str, Any] = await resp.get_json()
        return body


async def start_gateway(db: Path, *, max_file_bytes: int | None = None) -> tuple[Gateway, Any]:
    gateway = composition.build_gateway(SQLiteStore(db), Backend(BACKEND, timeout=5))
    await gateway.start()
    app = gateway.http_app(max_body_bytes=MAX_BODY)
    if max_file_bytes is not None:
        app.config["MAX_FILE_BYTES"] = max_file_bytes
    ctx = app.test_app()
    test_app = await ctx.__aenter__()
    return Gateway(app, test_app.test_client(), gateway, db), ctx


async def stop_gateway(gw: Gateway, ctx: Any) -> None:
    await ctx.__aexit__(None, None, None)
    await gw.gateway.aclose()


async def error_of(resp: Any, status: int) -> dict[str, Any]:
    text = await resp.get_data(as_text=True)
    assert resp.status_code == status, text
    body = json.loads(text)
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    err: dict[str, Any] = body["error"]
    return err
