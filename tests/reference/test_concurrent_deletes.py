"""Races between deletes, and between attaching a file and deleting it (vector stores, files)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import respx

from fixtures.backend.respx_routes import mount
from reference.services.vector_stores import LEFTOVER_AGE
from reference.store import Kind
from tests.support.files import stop_gateway
from tests.support.vector_stores import VS, _start

BACKEND = "http://backend.test"
TRIALS = 20


@pytest.fixture
async def vs(tmp_path: Path) -> AsyncIterator[VS]:
    with respx.mock(assert_all_called=False) as router:
        mount(router, BACKEND)
        gw, ctx = await _start(tmp_path / "db.sqlite3")
        yield gw
        await stop_gateway(gw, ctx)


async def _statuses(vs: VS, path: str) -> list[int]:
    answers = await asyncio.gather(vs.http.delete(path), vs.http.delete(path))
    return sorted(a.status_code for a in answers)


async def test_two_concurrent_deletes_of_a_vector_store_one_wins(vs: VS) -> None:
    for _ in range(TRIALS):
        store = await vs.post("/v1/vector_stores", {"name": "race"})
        assert await _statuses(vs, f"/v1/vector_stores/{store['id']}") == [200, 404]


async def test_two_concurrent_deletes_of_a_file_one_wins(vs: VS) -> None:
    for _ in range(TRIALS):
        file = await vs.upload_ok(b"some words to index", "race.txt")
        assert await _statuses(vs, f"/v1/files/{file['id']}") == [200, 404]


async def test_attach_while_deleting_leaves_no_dangling_entry(vs: VS) -> None:
    store = await vs.post("/v1/vector_stores", {"name": "attach"})
    for _ in range(TRIALS):
        file = await vs.upload_ok(b"some words to index", "race.txt")
        attach, delete = await asyncio.gather(
            vs.http.post(f"/v1/vector_stores/{store['id']}/files", json={"file_id": file["id"]}),
            vs.http.delete(f"/v1/files/{file['id']}"))
        assert delete.status_code == 200
        assert attach.status_code in (200, 404), await attach.get_data(as_text=True)
    await asyncio.sleep(0.2)
    entries: list[dict[str, Any]] = await vs.gateway.thread.run(
        vs.gateway.store.objects.list, Kind.VECTOR_STORE_FILE, parent=store["id"])
    files = {f["id"] for f in await vs.gateway.thread.run(vs.gateway.store.objects.list, Kind.FILE)}
    assert [e["id"] for e in entries if e["id"] not in files] == []


async def test_partial_and_orphaned_uploads_are_removed_at_start(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    with respx.mock(assert_all_called=False) as router:
        mount(router, BACKEND)
        gw, ctx = await _start(db)
        kept = await gw.upload_ok(b"a complete upload", "kept.txt")
        blob_dir = gw.blob_dir
        await stop_gateway(gw, ctx)
        # What a crash leaves: an upload cut off mid-way, and bytes with no file object, both
        # written long ago.
        (blob_dir / "file-cutoff.part").write_bytes(b"x" * 4096)
        (blob_dir / "file-orphan").write_bytes(b"y" * 4096)
        long_ago = time.time() - LEFTOVER_AGE - 60
        for name in ("file-cutoff.part", "file-orphan"):
            os.utime(blob_dir / name, (long_ago, long_ago))
        # An upload in flight on another replica sharing the directory stays.
        (blob_dir / "file-uploading.part").write_bytes(b"z" * 4096)
        gw, ctx = await _start(db)
        try:
            assert sorted(p.name for p in blob_dir.iterdir()) == sorted([kept["id"], "file-uploading.part"])
            content = await gw.http.get(f"/v1/files/{kept['id']}/content")
            assert await content.get_data() == b"a complete upload"
        finally:
            await stop_gateway(gw, ctx)
