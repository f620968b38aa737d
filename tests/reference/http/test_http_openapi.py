"""`/openapi.json` documents every answer a route gives (regressions from fuzzing)."""

from __future__ import annotations

from typing import Any

from reference.backend import Backend
from reference.gateway import build_gateway
from reference.store import SQLiteStore


async def _openapi() -> dict[str, Any]:
    gateway = build_gateway(SQLiteStore(), Backend("http://backend.test"))
    try:
        resp = await gateway.http_app().test_client().get("/openapi.json")
        doc: dict[str, Any] = await resp.get_json()
    finally:
        await gateway.aclose()
    return doc


async def test_file_content_documents_its_bytes_and_the_files_errors() -> None:
    paths = (await _openapi())["paths"]
    content = paths["/v1/files/{file_id}/content"]["get"]["responses"]
    retrieve = paths["/v1/files/{file_id}"]["get"]["responses"]
    assert "application/octet-stream" in content["200"]["content"]
    assert "404" in retrieve and content["404"] == retrieve["404"]


async def test_create_documents_json_and_event_stream() -> None:
    ok = (await _openapi())["paths"]["/v1/responses"]["post"]["responses"]["200"]["content"]
    assert {"application/json", "text/event-stream"} <= set(ok)
