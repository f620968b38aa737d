"""`/v1/vector_stores` through Quart's test client, the scripted backend mounted with respx.

Ingestion really runs: text extraction, chunking, embeddings from the scripted backend's
hashed bag-of-words `/v1/embeddings`, vectors stored in SQLite, cosine search.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import respx

from fixtures.backend.respx_routes import MountedBackend, mount
from reference.core.errors import APIError
from reference.gateway import build_gateway
from reference.store import SQLiteStore
from tests.support.documents import minimal_pdf
from tests.support.files import BACKEND, error_of, stop_gateway
from tests.support.vector_stores import CORPUS, DOCS, VS, _start


@pytest.fixture
async def router() -> AsyncIterator[tuple[respx.MockRouter, MountedBackend]]:
    with respx.mock(assert_all_called=False) as r:
        yield r, mount(r, BACKEND)


@pytest.fixture
async def vs(tmp_path: Path, router: Any) -> AsyncIterator[VS]:
    gw, ctx = await _start(tmp_path / "db.sqlite3")
    yield gw
    await stop_gateway(gw, ctx)


# -- vector store objects ---------------------------------------------------------------------


async def test_create_retrieve_modify_list_delete(vs: VS) -> None:
    created = await vs.post(
        "/v1/vector_stores",
        {"name": "docs", "metadata": {"team": "a"}, "expires_after": {"anchor": "last_active_at", "days": 7}},
    )
    assert created["id"].startswith("vs_")
    assert created["object"] == "vector_store"
    assert created["name"] == "docs" and created["metadata"] == {"team": "a"}
    assert created["status"] == "completed" and created["usage_bytes"] == 0
    assert created["file_counts"] == {
        "in_progress": 0,
        "completed": 0,
        "failed": 0,
        "cancelled": 0,
        "total": 0,
    }
    assert created["expires_after"] == {"anchor": "last_active_at", "days": 7}
    assert created["expires_at"] == created["last_active_at"] + 7 * 86400
    assert await vs.get(f"/v1/vector_stores/{created['id']}") == created

    modified = await vs.post(
        f"/v1/vector_stores/{created['id']}",
        {"name": "renamed", "metadata": {"k": "v"}, "expires_after": None},
    )
    assert modified["name"] == "renamed" and modified["metadata"] == {"k": "v"}
    assert "expires_after" not in modified and modified["expires_at"] is None

    other = await vs.post("/v1/vector_stores", {})
    # VectorStoreObject.expires_after is not nullable: absent without a policy.
    assert "expires_after" not in other and other["expires_at"] is None
    listing = await vs.get("/v1/vector_stores")
    assert [s["id"] for s in listing["data"]] == [other["id"], created["id"]]
    page = await vs.get("/v1/vector_stores?limit=1&order=asc")
    assert [s["id"] for s in page["data"]] == [created["id"]] and page["has_more"] is True

    resp = await vs.http.delete(f"/v1/vector_stores/{created['id']}")
    assert await resp.get_json() == {"id": created["id"], "object": "vector_store.deleted", "deleted": True}
    for method, path in [
        ("GET", ""),
        ("POST", ""),
        ("DELETE", ""),
        ("GET", "/files"),
        ("POST", "/files"),
        ("POST", "/search"),
        ("POST", "/file_batches"),
    ]:
        resp = await vs.http.open(
            f"/v1/vector_stores/{created['id']}{path}",
            method=method,
            json={"query": "x"} if path == "/search" else {},
        )
        err = await error_of(resp, 404)
        assert created["id"] in err["message"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"name": 5}, "name"),
        ({"unknown": 1}, "unknown"),
        ({"metadata": {"k": 1}}, "metadata.k"),
        ({"metadata": "x"}, "metadata"),
        ({"expires_after": {"anchor": "created_at", "days": 1}}, "expires_after.anchor"),
        ({"expires_after": {"anchor": "last_active_at", "days": 366}}, "expires_after.days"),
        ({"file_ids": ["file_missing"]}, "file_ids"),
        (
            {
                "chunking_strategy": {
                    "type": "static",
                    "static": {"max_chunk_size_tokens": 50, "chunk_overlap_tokens": 0},
                }
            },
            "chunking_strategy.static.max_chunk_size_tokens",
        ),
        ({"chunking_strategy": {"type": "fancy"}}, "chunking_strategy.type"),
    ],
)
async def test_create_validation(vs: VS, body: dict[str, Any], param: str) -> None:
    resp = await vs.http.post("/v1/vector_stores", json=body)
    err = await error_of(resp, 404 if param == "file_ids" else 400)
    assert err["param"] == param
    assert (await vs.get("/v1/vector_stores"))["data"] == []


async def test_bad_json_and_bad_pagination(vs: VS) -> None:
    resp = await vs.http.post(
        "/v1/vector_stores", data=b"{not json", headers={"content-type": "application/json"}
    )
    await error_of(resp, 400)
    for query, param in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("order=sideways", "order"),
        ("after=vs_nope", "after"),
        ("before=vs_nope", "before"),
    ]:
        assert (await error_of(await vs.http.get(f"/v1/vector_stores?{query}"), 400))["param"] == param


async def test_unknown_ids_are_404(vs: VS) -> None:
    store = await vs.post("/v1/vector_stores", {})
    sid = store["id"]
    for method, path in [
        ("GET", "/v1/vector_stores/vs_missing"),
        ("GET", f"/v1/vector_stores/{sid}/files/file_missing"),
        ("DELETE", f"/v1/vector_stores/{sid}/files/file_missing"),
        ("GET", f"/v1/vector_stores/{sid}/files/file_missing/content"),
        ("GET", f"/v1/vector_stores/{sid}/file_batches/vsfb_missing"),
        ("POST", f"/v1/vector_stores/{sid}/file_batches/vsfb_missing/cancel"),
        ("GET", f"/v1/vector_stores/{sid}/file_batches/vsfb_missing/files"),
    ]:
        await error_of(await getattr(vs.http, method.lower())(path), 404)
    err = await error_of(
        await vs.http.post(f"/v1/vector_stores/{sid}/files", json={"file_id": "file_x"}), 404
    )
    assert err["param"] == "file_id"


# -- ingestion --------------------------------------------------------------------------------


async def test_add_file_ingests_and_counts(vs: VS, router: Any) -> None:
    _, backend = router
    store = await vs.post("/v1/vector_stores", {"name": "one"})
    f = await vs.upload_doc("solar.txt")
    created = await vs.post(
        f"/v1/vector_stores/{store['id']}/files",
        {"file_id": f["id"], "attributes": {"topic": "energy", "year": 2024}},
    )
    assert created["object"] == "vector_store.file" and created["id"] == f["id"]
    assert created["vector_store_id"] == store["id"]
    assert created["status"] in ("in_progress", "completed")
    assert created["chunking_strategy"] == {
        "type": "static",
        "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400},
    }
    done = await vs.wait_file(store["id"], f["id"])
    assert done["status"] == "completed" and done["last_error"] is None
    assert done["attributes"] == {"topic": "energy", "year": 2024}
    assert done["usage_bytes"] > 0
    store_now = await vs.get(f"/v1/vector_stores/{store['id']}")
    assert store_now["file_counts"] == {
        "in_progress": 0,
        "completed": 1,
        "failed": 0,
        "cancelled": 0,
        "total": 1,
    }
    assert store_now["usage_bytes"] == done["usage_bytes"]
    assert store_now["status"] == "completed"
    # The embeddings went through the backend's /v1/embeddings.
    embeds = [r for r in backend.recorder.requests if r["path"] == "/v1/embeddings"]
    assert embeds and embeds[0]["body"]["input"][0].startswith("Solar panels convert sunlight")

    content = await vs.get(f"/v1/vector_stores/{store['id']}/files/{f['id']}/content")
    assert content["object"] == "vector_store.file_content.page"
    assert content["has_more"] is False and content["next_page"] is None
    text = (DOCS / "solar.txt").read_text()
    assert [c["type"] for c in content["data"]] == ["text"]
    assert content["data"][0]["text"] == text.strip()


async def test_static_chunking_splits_into_overlapping_chunks(vs: VS) -> None:
    words = " ".join(f"w{i}" for i in range(450))  # one token each (<= 6 chars)
    f = await vs.upload_ok(words.encode(), "long.txt")
    store = await vs.post("/v1/vector_stores", {})
    strategy = {"type": "static", "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 50}}
    await vs.post(
        f"/v1/vector_stores/{store['id']}/files", {"file_id": f["id"], "chunking_strategy": strategy}
    )
    done = await vs.wait_file(store["id"], f["id"])
    assert done["status"] == "completed" and done["chunking_strategy"] == strategy
    chunks = [
        c["text"] for c in (await vs.get(f"/v1/vector_stores/{store['id']}/files/{f['id']}/content"))["data"]
    ]
    assert len(chunks) == 3
    assert chunks[0].startswith("w0 ") and chunks[0].endswith(" w199")
    assert chunks[1].startswith("w150 ") and chunks[-1].endswith("w449")


async def test_list_files_filter_and_pagination(vs: VS) -> None:
    good = await vs.upload_doc("solar.txt")
    blank = await vs.upload_ok(b"   \n\t  ", "blank.txt")
    store = await vs.post("/v1/vector_stores", {"file_ids": [good["id"], blank["id"]]})
    await vs.wait_store(store["id"])
    base = f"/v1/vector_stores/{store['id']}/files"
    assert [f["id"] for f in (await vs.get(base))["data"]] == [blank["id"], good["id"]]
    assert [f["id"] for f in (await vs.get(f"{base}?filter=completed"))["data"]] == [good["id"]]
    assert [f["id"] for f in (await vs.get(f"{base}?filter=failed"))["data"]] == [blank["id"]]
    assert (await vs.get(f"{base}?filter=cancelled"))["data"] == []
    page = await vs.get(f"{base}?limit=1&order=asc")
    assert [f["id"] for f in page["data"]] == [good["id"]] and page["has_more"] is True
    assert (await error_of(await vs.http.get(f"{base}?filter=done"), 400))["param"] == "filter"
    assert (await error_of(await vs.http.get(f"{base}?limit=500"), 400))["param"] == "limit"


async def test_unreadable_documents_fail_with_last_error(vs: VS) -> None:
    blank = await vs.upload_ok(b"   \n\t  ", "blank.txt")
    broken = await vs.upload_ok(b"{not json", "data.json")
    store = await vs.post("/v1/vector_stores", {})
    for f in (blank, broken):
        await vs.post(f"/v1/vector_stores/{store['id']}/files", {"file_id": f["id"]})
    for f in (blank, broken):
        done = await vs.wait_file(store["id"], f["id"])
        assert done["status"] == "failed"
        assert done["last_error"]["code"] == "invalid_file" and done["last_error"]["message"]
        assert done["usage_bytes"] == 0
    counts = (await vs.get(f"/v1/vector_stores/{store['id']}"))["file_counts"]
    assert counts == {"in_progress": 0, "completed": 0, "failed": 2, "cancelled": 0, "total": 2}


async def test_unsupported_type_is_400_for_a_single_file(vs: VS) -> None:
    f = await vs.upload_ok(b"\x89PNG\r\n\x1a\n....", "image.png", content_type="image/png")
    store = await vs.post("/v1/vector_stores", {})
    err = await error_of(
        await vs.http.post(f"/v1/vector_stores/{store['id']}/files", json={"file_id": f["id"]}), 400
    )
    assert err["param"] == "file_id" and err["code"] == "unsupported_file"
    assert (await vs.get(f"/v1/vector_stores/{store['id']}"))["file_counts"]["total"] == 0


async def test_backend_failure_marks_file_failed_and_keeps_other_files(tmp_path: Path, router: Any) -> None:
    gw, ctx = await _start(tmp_path / "db.sqlite3")
    try:
        ok = await gw.upload_doc("solar.txt")
        store = await gw.post("/v1/vector_stores", {"file_ids": [ok["id"]]})
        await gw.wait_store(store["id"])
        before = await gw.get(f"/v1/vector_stores/{store['id']}/files/{ok['id']}/content")
        # From now on the embeddings backend answers 503 (the scripted model-name directive).
        gw.gateway.vector_stores.embedding_model = "scripted-error:503"
        bad = await gw.upload_doc("tides.html")
        await gw.post(f"/v1/vector_stores/{store['id']}/files", {"file_id": bad["id"]})
        done = await gw.wait_file(store["id"], bad["id"])
        assert done["status"] == "failed" and done["last_error"]["code"] == "server_error"
        assert "503" in done["last_error"]["message"]
        # Nothing stored for the failed file; the completed one is untouched.
        assert (await gw.get(f"/v1/vector_stores/{store['id']}/files/{bad['id']}/content"))["data"] == []
        assert await gw.get(f"/v1/vector_stores/{store['id']}/files/{ok['id']}/content") == before
        # Re-adding a failed file retries it.
        gw.gateway.vector_stores.embedding_model = "text-embedding-3-small"
        retry = await gw.post(f"/v1/vector_stores/{store['id']}/files", {"file_id": bad["id"]})
        assert retry["status"] == "in_progress" and retry["last_error"] is None
        assert (await gw.wait_file(store["id"], bad["id"]))["status"] == "completed"
    finally:
        await stop_gateway(gw, ctx)


async def test_readding_a_file_returns_the_existing_one(vs: VS) -> None:
    f = await vs.upload_doc("solar.txt")
    store = await vs.post("/v1/vector_stores", {"file_ids": [f["id"]]})
    first = await vs.wait_file(store["id"], f["id"])
    again = await vs.post(f"/v1/vector_stores/{store['id']}/files", {"file_id": f["id"]})
    assert again == first
    assert (await vs.get(f"/v1/vector_stores/{store['id']}"))["file_counts"]["total"] == 1


async def test_update_attributes_and_delete_file(vs: VS) -> None:
    store, files = await vs.corpus_store()
    sid, solar = store["id"], files["solar.txt"]
    updated = await vs.post(f"/v1/vector_stores/{sid}/files/{solar}", {"attributes": {"kind": "energy"}})
    assert updated["attributes"] == {"kind": "energy"}
    hits = await vs.post(
        f"/v1/vector_stores/{sid}/search",
        {"query": "panels", "filters": {"type": "eq", "key": "kind", "value": "energy"}},
    )
    assert [h["file_id"] for h in hits["data"]] == [solar]
    assert hits["data"][0]["attributes"] == {"kind": "energy"}
    err = await error_of(
        await vs.http.post(f"/v1/vector_stores/{sid}/files/{solar}", json={"attributes": {"k": [1]}}), 400
    )
    assert err["param"] == "attributes.k"
    await error_of(await vs.http.post(f"/v1/vector_stores/{sid}/files/{solar}", json={}), 400)

    resp = await vs.http.delete(f"/v1/vector_stores/{sid}/files/{solar}")
    assert await resp.get_json() == {"id": solar, "object": "vector_store.file.deleted", "deleted": True}
    await error_of(await vs.http.get(f"/v1/vector_stores/{sid}/files/{solar}"), 404)
    await error_of(await vs.http.get(f"/v1/vector_stores/{sid}/files/{solar}/content"), 404)
    hits = await vs.post(f"/v1/vector_stores/{sid}/search", {"query": "solar panels sunlight electricity"})
    assert solar not in [h["file_id"] for h in hits["data"]]
    # The file itself still exists (only its membership was removed).
    assert (await vs.get(f"/v1/files/{solar}"))["id"] == solar
    assert (await vs.get(f"/v1/vector_stores/{sid}"))["file_counts"]["total"] == len(CORPUS) - 1


async def test_deleting_a_file_removes_it_from_every_vector_store(vs: VS) -> None:
    f = await vs.upload_doc("tides.html")
    a = await vs.post("/v1/vector_stores", {"file_ids": [f["id"]]})
    b = await vs.post("/v1/vector_stores", {"file_ids": [f["id"]]})
    await vs.wait_store(a["id"])
    await vs.wait_store(b["id"])
    assert (await vs.http.delete(f"/v1/files/{f['id']}")).status_code == 200
    for store in (a, b):
        await error_of(await vs.http.get(f"/v1/vector_stores/{store['id']}/files/{f['id']}"), 404)
        now = await vs.get(f"/v1/vector_stores/{store['id']}")
        assert now["file_counts"]["total"] == 0 and now["usage_bytes"] == 0
        assert (await vs.post(f"/v1/vector_stores/{store['id']}/search", {"query": "tides moon"}))[
            "data"
        ] == []


# -- search -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("What causes ocean tides?", "tides.html"),
        ("how do solar panels turn sunlight into electricity", "solar.txt"),
        ("Which country is Fuji in: Japan or Italy?", "volcanoes.csv"),
    ],
)
async def test_search_ranks_the_answering_document_first(vs: VS, query: str, expected: str) -> None:
    store, files = await vs.corpus_store()
    page = await vs.post(f"/v1/vector_stores/{store['id']}/search", {"query": query})
    assert page["object"] == "vector_store.search_results.page"
    assert page["search_query"] == [query]
    assert page["has_more"] is False and page["next_page"] is None
    top = page["data"][0]
    assert top["file_id"] == files[expected] and top["filename"] == expected
    assert 0 < top["score"] <= 1
    assert top["content"][0]["type"] == "text" and top["content"][0]["text"]
    scores = [h["score"] for h in page["data"]]
    assert scores == sorted(scores, reverse=True)


async def test_search_options(vs: VS) -> None:
    store, files = await vs.corpus_store()
    url = f"/v1/vector_stores/{store['id']}/search"
    one = await vs.post(url, {"query": "tides moon gravity", "max_num_results": 1, "rewrite_query": True})
    assert len(one["data"]) == 1 and one["data"][0]["file_id"] == files["tides.html"]
    multi = await vs.post(url, {"query": ["sourdough starter", "tides moon"], "max_num_results": 2})
    assert {h["file_id"] for h in multi["data"]} == {files["sourdough.md"], files["tides.html"]}
    assert multi["search_query"] == ["sourdough starter", "tides moon"]
    strict = await vs.post(url, {"query": "tides moon gravity", "ranking_options": {"score_threshold": 0.99}})
    assert strict["data"] == []
    loose = await vs.post(url, {"query": "tides moon gravity", "ranking_options": {"score_threshold": 0.1}})
    assert loose["data"] and all(h["score"] >= 0.1 for h in loose["data"])


async def test_search_filters(vs: VS) -> None:
    files = {name: (await vs.upload_doc(name))["id"] for name in CORPUS[:3]}
    store = await vs.post("/v1/vector_stores", {})
    sid = store["id"]
    attrs = {
        "solar.txt": {"topic": "energy", "year": 2021},
        "sourdough.md": {"topic": "food", "year": 2023},
        "tides.html": {"topic": "ocean", "year": 2025},
    }
    batch = await vs.post(
        f"/v1/vector_stores/{sid}/file_batches",
        {"files": [{"file_id": files[n], "attributes": attrs[n]} for n in CORPUS[:3]]},
    )
    assert batch["object"] == "vector_store.files_batch"
    await vs.wait_store(sid)
    url = f"/v1/vector_stores/{sid}/search"

    async def ids(flt: dict[str, Any]) -> set[str]:
        page = await vs.post(url, {"query": "the", "filters": flt})
        return {h["file_id"] for h in page["data"]}

    assert await ids({"type": "eq", "key": "topic", "value": "food"}) == {files["sourdough.md"]}
    assert await ids({"type": "gte", "key": "year", "value": 2023}) == {
        files["sourdough.md"],
        files["tides.html"],
    }
    assert await ids({"type": "in", "key": "topic", "value": ["energy", "ocean"]}) == {
        files["solar.txt"],
        files["tides.html"],
    }
    assert await ids(
        {
            "type": "and",
            "filters": [
                {"type": "ne", "key": "topic", "value": "food"},
                {"type": "lt", "key": "year", "value": 2025},
            ],
        }
    ) == {files["solar.txt"]}
    assert await ids(
        {
            "type": "or",
            "filters": [
                {"type": "eq", "key": "topic", "value": "food"},
                {"type": "eq", "key": "year", "value": 2025},
            ],
        }
    ) == {files["sourdough.md"], files["tides.html"]}
    assert await ids({"type": "eq", "key": "missing", "value": "x"}) == set()


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "query"),
        ({"query": 5}, "query"),
        ({"query": []}, "query"),
        ({"query": "x", "max_num_results": 0}, "max_num_results"),
        ({"query": "x", "max_num_results": 51}, "max_num_results"),
        ({"query": "x", "filters": {"type": "regex", "key": "a", "value": "b"}}, "filters.type"),
        (
            {"query": "x", "filters": {"type": "and", "filters": [{"type": "like", "key": "a", "value": 1}]}},
            "filters.filters[0].type",
        ),
        ({"query": "x", "ranking_options": {"score_threshold": 2}}, "ranking_options.score_threshold"),
        ({"query": "x", "bogus": True}, "bogus"),
    ],
)
async def test_search_validation(vs: VS, body: dict[str, Any], param: str) -> None:
    store = await vs.post("/v1/vector_stores", {})
    err = await error_of(await vs.http.post(f"/v1/vector_stores/{store['id']}/search", json=body), 400)
    assert err["param"] == param and err["type"] == "invalid_request_error"


async def test_search_of_an_empty_store_is_empty(vs: VS) -> None:
    store = await vs.post("/v1/vector_stores", {})
    page = await vs.post(f"/v1/vector_stores/{store['id']}/search", {"query": "anything"})
    assert page["data"] == [] and page["search_query"] == ["anything"]


async def test_search_vector_stores_for_file_search(vs: VS) -> None:
    store, files = await vs.corpus_store()
    other, other_files = await vs.corpus_store()
    hits = await vs.gateway.vector_stores.search_stores([store["id"], other["id"]],
        "tides moon gravity",
        max_num_results=2,
        filters=None,
        score_threshold=0.0,
    )
    assert {h.chunk.file_id for h in hits} == {files["tides.html"], other_files["tides.html"]}
    assert hits[0].chunk.filename == "tides.html" and hits[0].score > 0
    filtered = await vs.gateway.vector_stores.search_stores([store["id"]],
        ["tides"],
        max_num_results=5,
        filters={"type": "eq", "key": "nope", "value": 1},
    )
    assert filtered == []
    with pytest.raises(APIError) as info:
        await vs.gateway.vector_stores.search_stores(["vs_missing"], "x")
    assert info.value.status == 404
    with pytest.raises(APIError) as info:
        await vs.gateway.vector_stores.search_stores(
            [store["id"]], "x", filters={"type": "near", "key": "a", "value": 1})
    assert info.value.status == 400 and info.value.param == "filters.type"
    with pytest.raises(APIError) as info:
        await vs.gateway.vector_stores.search_stores([store["id"]], "x", max_num_results=99)
    assert info.value.status == 400 and info.value.param == "max_num_results"


# -- batches ----------------------------------------------------------------------------------


async def test_batch_with_file_ids(vs: VS) -> None:
    files = {name: (await vs.upload_doc(name))["id"] for name in CORPUS[:4]}
    store = await vs.post("/v1/vector_stores", {})
    sid = store["id"]
    batch = await vs.post(
        f"/v1/vector_stores/{sid}/file_batches",
        {"file_ids": list(files.values()), "attributes": {"src": "batch"}},
    )
    assert batch["id"].startswith("vsfb_") and batch["vector_store_id"] == sid
    assert batch["file_counts"]["total"] == 4
    assert set(batch) == {"id", "object", "created_at", "vector_store_id", "status", "file_counts"}
    await vs.wait_store(sid)
    got = await vs.get(f"/v1/vector_stores/{sid}/file_batches/{batch['id']}")
    assert got["status"] == "completed"
    assert got["file_counts"] == {"in_progress": 0, "completed": 4, "failed": 0, "cancelled": 0, "total": 4}
    listed = await vs.get(f"/v1/vector_stores/{sid}/file_batches/{batch['id']}/files")
    assert {f["id"] for f in listed["data"]} == set(files.values())
    assert all(f["attributes"] == {"src": "batch"} for f in listed["data"])
    assert (await vs.get(f"/v1/vector_stores/{sid}/file_batches/{batch['id']}/files?filter=failed"))[
        "data"
    ] == []
    err = await error_of(
        await vs.http.post(f"/v1/vector_stores/{sid}/file_batches/{batch['id']}/cancel"), 400
    )
    assert "completed" in err["message"]


async def test_batch_with_an_unsupported_file_fails_that_file(vs: VS) -> None:
    good = await vs.upload_doc("solar.txt")
    bad = await vs.upload_ok(b"GIF89a....", "anim.gif", content_type="image/gif")
    store = await vs.post("/v1/vector_stores", {})
    batch = await vs.post(
        f"/v1/vector_stores/{store['id']}/file_batches", {"file_ids": [good["id"], bad["id"]]}
    )
    await vs.wait_store(store["id"])
    failed = await vs.get(f"/v1/vector_stores/{store['id']}/files/{bad['id']}")
    assert failed["status"] == "failed" and failed["last_error"]["code"] == "unsupported_file"
    got = await vs.get(f"/v1/vector_stores/{store['id']}/file_batches/{batch['id']}")
    assert got["status"] == "completed" and got["file_counts"]["failed"] == 1


@pytest.mark.parametrize(
    ("body", "param", "status"),
    [
        ({}, "file_ids", 400),
        ({"file_ids": ["a"], "files": [{"file_id": "a"}]}, "files", 400),
        ({"file_ids": []}, "file_ids", 400),
        ({"files": [{"attributes": {}}]}, "files[0].file_id", 400),
        ({"files": [{"file_id": "f", "extra": 1}]}, "files[0].extra", 400),
        ({"file_ids": ["file_missing"]}, "file_ids[0]", 404),
        ({"file_ids": ["x"], "chunking_strategy": {"type": "static"}}, "chunking_strategy.static", 400),
    ],
)
async def test_batch_validation(vs: VS, body: dict[str, Any], param: str, status: int) -> None:
    store = await vs.post("/v1/vector_stores", {})
    err = await error_of(
        await vs.http.post(f"/v1/vector_stores/{store['id']}/file_batches", json=body), status
    )
    assert err["param"] == param


async def test_cancel_batch(vs: VS) -> None:
    files = [(await vs.upload_doc(name))["id"] for name in CORPUS[:3]]
    store = await vs.post("/v1/vector_stores", {})
    sid = store["id"]
    # Slow embeddings (the scripted backend's delay directive) keep the batch in progress.
    vs.gateway.vector_stores.embedding_model = "scripted-delay:5000"
    batch = await vs.post(f"/v1/vector_stores/{sid}/file_batches", {"file_ids": files})
    assert batch["status"] == "in_progress" and batch["file_counts"]["in_progress"] == 3
    cancelled = await vs.post(f"/v1/vector_stores/{sid}/file_batches/{batch['id']}/cancel")
    assert cancelled["status"] == "cancelled"
    assert cancelled["file_counts"] == {
        "in_progress": 0,
        "completed": 0,
        "failed": 0,
        "cancelled": 3,
        "total": 3,
    }
    # Idempotent, and nothing was stored or left running.
    again = await vs.post(f"/v1/vector_stores/{sid}/file_batches/{batch['id']}/cancel")
    assert again == cancelled
    assert vs.gateway.vector_stores._tasks == {}
    for fid in files:
        assert (await vs.get(f"/v1/vector_stores/{sid}/files/{fid}"))["status"] == "cancelled"
        assert (await vs.get(f"/v1/vector_stores/{sid}/files/{fid}/content"))["data"] == []
    now = await vs.get(f"/v1/vector_stores/{sid}")
    assert now["status"] == "completed" and now["file_counts"]["cancelled"] == 3
    listed = await vs.get(f"/v1/vector_stores/{sid}/file_batches/{batch['id']}/files?filter=cancelled")
    assert len(listed["data"]) == 3


async def test_deleting_a_store_stops_its_ingestion(vs: VS) -> None:
    f = await vs.upload_doc("solar.txt")
    vs.gateway.vector_stores.embedding_model = "scripted-delay:5000"
    store = await vs.post("/v1/vector_stores", {"file_ids": [f["id"]]})
    assert store["status"] == "in_progress"
    assert (await vs.http.delete(f"/v1/vector_stores/{store['id']}")).status_code == 200
    assert vs.gateway.vector_stores._tasks == {}
    assert vs.gateway.store.objects.chunks(store["id"]) == []


# -- restart ----------------------------------------------------------------------------------


async def test_everything_survives_a_restart(tmp_path: Path, router: Any) -> None:
    db = tmp_path / "db.sqlite3"
    first, ctx = await _start(db)
    store, files = await first.corpus_store(metadata={"v": "1"})
    batch = await first.post(
        f"/v1/vector_stores/{store['id']}/file_batches", {"file_ids": [files["solar.txt"]]}
    )
    await first.wait_store(store["id"])
    before = await first.post(f"/v1/vector_stores/{store['id']}/search", {"query": "tides moon"})
    vs_files = await first.get(f"/v1/vector_stores/{store['id']}/files")
    store_before = await first.get(f"/v1/vector_stores/{store['id']}")
    await stop_gateway(first, ctx)

    second, ctx = await _start(db)
    try:
        assert await second.get(f"/v1/vector_stores/{store['id']}/files") == vs_files
        after_store = await second.get(f"/v1/vector_stores/{store['id']}")
        assert {k: v for k, v in after_store.items() if k != "last_active_at"} == {
            k: v for k, v in store_before.items() if k != "last_active_at"
        }
        after = await second.post(f"/v1/vector_stores/{store['id']}/search", {"query": "tides moon"})
        assert after == before
        assert (await second.get(f"/v1/vector_stores/{store['id']}/file_batches/{batch['id']}"))[
            "status"
        ] == "completed"
    finally:
        await stop_gateway(second, ctx)


async def test_in_progress_ingestion_resumes_after_a_restart(tmp_path: Path, router: Any) -> None:
    db = tmp_path / "db.sqlite3"
    first, ctx = await _start(db)
    f = await first.upload_doc("tides.html")
    first.gateway.vector_stores.embedding_model = "scripted-delay:10000"
    store = await first.post("/v1/vector_stores", {"file_ids": [f["id"]]})
    assert store["status"] == "in_progress"
    await stop_gateway(first, ctx)  # shutdown interrupts the job; the file stays in_progress

    second, ctx = await _start(db)
    try:
        done = await second.wait_file(store["id"], f["id"])
        assert done["status"] == "completed"
        page = await second.post(f"/v1/vector_stores/{store['id']}/search", {"query": "tides"})
        assert page["data"][0]["file_id"] == f["id"]
    finally:
        await stop_gateway(second, ctx)


async def test_in_memory_database_uses_a_temporary_blob_dir(router: Any) -> None:
    gateway = build_gateway(SQLiteStore(":memory:"), None)
    service = gateway.vector_stores
    try:
        assert service.blob_dir.is_dir() and "responses-gateway-files-" in service.blob_dir.name
    finally:
        await gateway.aclose()
    assert not service.blob_dir.exists()


async def test_search_vector_stores_validates_even_when_empty(vs: VS, router: Any) -> None:
    _, backend = router
    store = await vs.post("/v1/vector_stores", {})
    assert await vs.gateway.vector_stores.search_stores([store["id"]], "anything") == []
    with pytest.raises(APIError) as info:
        await vs.gateway.vector_stores.search_stores([store["id"]], "x", max_num_results=0)
    assert info.value.param == "max_num_results"
    # An empty store needs no query embedding.
    assert not [r for r in backend.recorder.requests if r["path"] == "/v1/embeddings"]


async def test_pdf_is_extracted_and_searchable(vs: VS) -> None:
    pdf = minimal_pdf("Quarterly revenue grew nine percent", "Second page about customer churn")
    f = await vs.upload_ok(pdf, "report.pdf", content_type="application/pdf")
    other = await vs.upload_doc("solar.txt")
    store = await vs.post("/v1/vector_stores", {"file_ids": [f["id"], other["id"]]})
    await vs.wait_store(store["id"])
    content = await vs.get(f"/v1/vector_stores/{store['id']}/files/{f['id']}/content")
    text = " ".join(part["text"] for part in content["data"])
    assert "Quarterly revenue grew nine percent" in text and "customer churn" in text
    page = await vs.post(f"/v1/vector_stores/{store['id']}/search", {"query": "revenue churn"})
    assert page["data"][0]["file_id"] == f["id"] and page["data"][0]["filename"] == "report.pdf"


async def test_expiry_policy_marks_the_store_expired(vs: VS) -> None:
    store = await vs.post("/v1/vector_stores", {"expires_after": {"anchor": "last_active_at", "days": 7}})
    assert store["status"] == "completed"
    service = vs.gateway.vector_stores
    start = store["last_active_at"]
    service.clock = lambda: start + 7 * 86400 - 1
    assert (await vs.get(f"/v1/vector_stores/{store['id']}"))["status"] == "completed"
    service.clock = lambda: start + 7 * 86400
    expired = await vs.get(f"/v1/vector_stores/{store['id']}")
    assert expired["status"] == "expired" and expired["expires_at"] == start + 7 * 86400


async def test_routes_are_in_openapi(vs: VS) -> None:
    spec = await vs.get("/openapi.json")
    paths = spec["paths"]
    search = paths["/v1/vector_stores/{vs_id}/search"]["post"]
    assert {"200", "400", "404"} <= set(search["responses"])
    assert "requestBody" in search
    upload = paths["/v1/files"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]
    for path in (
        "/v1/vector_stores/{vs_id}/files",
        "/v1/vector_stores/{vs_id}/file_batches",
        "/v1/vector_stores/{vs_id}/file_batches/{batch_id}/cancel",
        "/v1/files/{file_id}",
    ):
        assert path in paths
