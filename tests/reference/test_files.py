"""`/v1/files` through Quart's test client: upload (streamed to disk), list, get, delete, content."""

from __future__ import annotations

from collections.abc import AsyncIterator
from io import BytesIO
from pathlib import Path

import pytest
import respx
from werkzeug.datastructures import FileStorage

from fixtures.backend.respx_routes import mount
from reference.http.files import content_disposition, safe_filename
from tests.support.files import BACKEND, MAX_BODY, Gateway, error_of, start_gateway, stop_gateway


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    with respx.mock(assert_all_called=False) as router:
        mount(router, BACKEND)
        gateway, ctx = await start_gateway(tmp_path / "db.sqlite3")
        yield gateway
        await stop_gateway(gateway, ctx)




async def test_upload_returns_the_file_object(gw: Gateway) -> None:
    obj = await gw.upload_ok(b"hello world\n", "notes.txt", purpose="user_data")
    assert obj["id"].startswith("file_")
    assert obj["object"] == "file"
    assert obj["bytes"] == 12
    assert obj["filename"] == "notes.txt"
    assert obj["purpose"] == "user_data"
    assert obj["status"] == "processed"
    assert isinstance(obj["created_at"], int) and obj["created_at"] > 0
    # OpenAIFile.expires_at / status_details are not nullable: absent when unset.
    assert "expires_at" not in obj and "status_details" not in obj
    assert not any(k.startswith("_") for k in obj)
    # The bytes live under the blob directory next to the database, named by our id.
    assert gw.blob_dir == Path(str(gw.db) + ".files")
    assert (gw.blob_dir / obj["id"]).read_bytes() == b"hello world\n"
    assert [p.name for p in gw.blob_dir.iterdir()] == [obj["id"]]

    got = await gw.http.get(f"/v1/files/{obj['id']}")
    assert got.status_code == 200 and await got.get_json() == obj


async def test_content_returns_original_bytes_with_headers(gw: Gateway) -> None:
    data = bytes(range(256)) * 10
    obj = await gw.upload_ok(data, "blob.pdf", content_type="application/pdf")
    resp = await gw.http.get(f"/v1/files/{obj['id']}/content")
    assert resp.status_code == 200
    assert await resp.get_data() == data
    assert resp.headers["content-type"] == "application/pdf"
    assert resp.headers["content-disposition"] == 'attachment; filename="blob.pdf"'
    assert resp.headers["content-length"] == str(len(data))


async def test_content_type_guessed_when_client_sends_octet_stream(gw: Gateway) -> None:
    # The openai SDK uploads with application/octet-stream; the extension says more.
    obj = await gw.upload_ok(b"# Title\n", "readme.md", content_type="application/octet-stream")
    resp = await gw.http.get(f"/v1/files/{obj['id']}/content")
    assert resp.headers["content-type"].startswith("text/markdown")


async def test_non_ascii_filename_in_content_disposition(gw: Gateway) -> None:
    obj = await gw.upload_ok(b"x", "r\u00e9sum\u00e9 v2.txt")
    assert obj["filename"] == "r\u00e9sum\u00e9 v2.txt"
    resp = await gw.http.get(f"/v1/files/{obj['id']}/content")
    assert resp.headers["content-disposition"] == (
        "attachment; filename=\"r_sum_ v2.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20v2.txt"
    )


def test_content_disposition_escapes_quotes() -> None:
    assert content_disposition('a"b\\c.txt') == (
        "attachment; filename=\"a_b_c.txt\"; filename*=UTF-8''a%22b%5Cc.txt"
    )
    assert safe_filename("dir/sub\\name.txt") == "name.txt"
    assert safe_filename("tab\there.txt") == "tabhere.txt"


@pytest.mark.parametrize("name", ["../../etc/passwd", "/abs/path/x.txt", "a/../../../b/system.ini"])
async def test_filename_is_never_a_path(gw: Gateway, tmp_path: Path, name: str) -> None:
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    obj = await gw.upload_ok(b"secret", name)
    assert obj["filename"] == {"../../etc/passwd": "passwd", "/abs/path/x.txt": "x.txt"}.get(
        name, "system.ini"
    )
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    new = [p for p in after if p not in before]
    # Only the blob (and the blob dir itself if new) appeared, inside the blob directory.
    assert all(str(tmp_path / p).startswith(str(gw.blob_dir)) for p in new), new
    assert (gw.blob_dir / obj["id"]).read_bytes() == b"secret"


@pytest.mark.parametrize("name", ["", "..", "\x00\x1f"])
async def test_degenerate_filenames_get_a_placeholder(gw: Gateway, name: str) -> None:
    obj = await gw.upload_ok(b"data", name or "x")  # werkzeug drops empty filenames entirely
    if name:
        assert obj["filename"] == "upload"


@pytest.mark.parametrize("purpose", ["assistants", "batch", "fine-tune", "vision", "user_data", "evals"])
async def test_every_spec_purpose_is_accepted(gw: Gateway, purpose: str) -> None:
    assert (await gw.upload_ok(b"a", purpose=purpose))["purpose"] == purpose


@pytest.mark.parametrize("purpose", ["assistants_output", "nope", ""])
async def test_invalid_purpose_is_400(gw: Gateway, purpose: str) -> None:
    err = await error_of(await gw.upload(b"abc", purpose=purpose), 400)
    assert err["param"] == "purpose" and err["type"] == "invalid_request_error"
    assert list(gw.blob_dir.iterdir()) == []  # nothing kept from a refused upload


async def test_missing_fields_are_400(gw: Gateway) -> None:
    resp = await gw.http.post("/v1/files", form={"purpose": "assistants"})
    assert (await error_of(resp, 400))["param"] == "file"
    resp = await gw.http.post(
        "/v1/files", files={"file": FileStorage(BytesIO(b"x"), filename="a.txt")}, form={}
    )
    assert (await error_of(resp, 400))["param"] == "purpose"
    resp = await gw.http.post("/v1/files", json={"purpose": "assistants"})
    assert (await error_of(resp, 400))["param"] == "file"
    resp = await gw.http.post(
        "/v1/files",
        files={"file": FileStorage(BytesIO(b"x"), filename="a.txt")},
        form={"purpose": "assistants", "color": "red"},
    )
    assert (await error_of(resp, 400))["param"] == "color"


async def test_empty_file_is_400(gw: Gateway) -> None:
    err = await error_of(await gw.upload(b""), 400)
    assert err["param"] == "file" and err["code"] == "empty_file"
    assert list(gw.blob_dir.iterdir()) == []


async def test_expires_after(gw: Gateway) -> None:
    obj = await gw.upload_ok(
        b"a", **{"expires_after[anchor]": "created_at", "expires_after[seconds]": "3600"}
    )
    assert obj["expires_at"] == obj["created_at"] + 3600
    err = await error_of(
        await gw.upload(b"a", **{"expires_after[anchor]": "created_at", "expires_after[seconds]": "10"}), 400
    )
    assert err["param"] == "expires_after.seconds"


async def test_list_filter_and_pagination(gw: Gateway) -> None:
    a = await gw.upload_ok(b"a", "a.txt", purpose="assistants")
    b = await gw.upload_ok(b"b", "b.txt", purpose="batch")
    c = await gw.upload_ok(b"c", "c.txt", purpose="assistants")
    listing = await (await gw.http.get("/v1/files")).get_json()
    assert listing["object"] == "list"
    assert [f["id"] for f in listing["data"]] == [c["id"], b["id"], a["id"]]  # newest first
    assert listing["has_more"] is False and listing["first_id"] == c["id"] and listing["last_id"] == a["id"]
    assistants = await (await gw.http.get("/v1/files?purpose=assistants")).get_json()
    assert [f["id"] for f in assistants["data"]] == [c["id"], a["id"]]
    page = await (await gw.http.get("/v1/files?limit=1&order=asc")).get_json()
    assert [f["id"] for f in page["data"]] == [a["id"]] and page["has_more"] is True
    page = await (await gw.http.get(f"/v1/files?limit=1&order=asc&after={a['id']}")).get_json()
    assert [f["id"] for f in page["data"]] == [b["id"]] and page["has_more"] is True
    page = await (await gw.http.get(f"/v1/files?limit=5&order=asc&after={b['id']}")).get_json()
    assert [f["id"] for f in page["data"]] == [c["id"]] and page["has_more"] is False
    # The files endpoint allows limits up to 10,000 (spec), unlike the usual 100.
    assert (await gw.http.get("/v1/files?limit=5000")).status_code == 200


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("limit=0", "limit"),
        ("limit=10001", "limit"),
        ("limit=abc", "limit"),
        ("order=up", "order"),
        ("after=file_nope", "after"),
    ],
)
async def test_bad_list_params_are_400(gw: Gateway, query: str, param: str) -> None:
    await gw.upload_ok(b"a")
    assert (await error_of(await gw.http.get(f"/v1/files?{query}"), 400))["param"] == param


async def test_delete_then_everything_404s(gw: Gateway) -> None:
    obj = await gw.upload_ok(b"bye")
    fid = obj["id"]
    resp = await gw.http.delete(f"/v1/files/{fid}")
    assert resp.status_code == 200
    assert await resp.get_json() == {"id": fid, "object": "file", "deleted": True}
    assert not (gw.blob_dir / fid).exists()
    for method, path in [
        ("GET", f"/v1/files/{fid}"),
        ("GET", f"/v1/files/{fid}/content"),
        ("DELETE", f"/v1/files/{fid}"),
    ]:
        err = await error_of(await getattr(gw.http, method.lower())(path), 404)
        assert fid in err["message"]
    assert (await (await gw.http.get("/v1/files")).get_json())["data"] == []


async def test_unknown_ids_are_404(gw: Gateway) -> None:
    for path in ["/v1/files/file_missing", "/v1/files/file_missing/content", "/v1/files/..%2F..%2Fetc"]:
        await error_of(await gw.http.get(path), 404)


async def test_oversized_upload_is_413_and_leaves_nothing(tmp_path: Path) -> None:
    with respx.mock(assert_all_called=False) as router:
        mount(router, BACKEND)
        gateway, ctx = await start_gateway(tmp_path / "db.sqlite3", max_file_bytes=1000)
        try:
            err = await error_of(await gateway.upload(b"x" * 1001), 413)
            assert err["code"] == "payload_too_large"
            assert list(gateway.blob_dir.iterdir()) == []
            assert (await gateway.upload_ok(b"x" * 1000))["bytes"] == 1000
        finally:
            await stop_gateway(gateway, ctx)


async def test_file_limit_above_the_json_body_limit(tmp_path: Path) -> None:
    """Uploads may be larger than the app's JSON body limit when MAX_FILE_BYTES says so."""
    with respx.mock(assert_all_called=False) as router:
        mount(router, BACKEND)
        gateway, ctx = await start_gateway(tmp_path / "db.sqlite3", max_file_bytes=4 * MAX_BODY)
        try:
            data = b"0123456789" * (3 * MAX_BODY // 10)
            obj = await gateway.upload_ok(data, "big.txt")
            assert obj["bytes"] == len(data)
            assert (gateway.blob_dir / obj["id"]).read_bytes() == data
            await error_of(await gateway.upload(b"y" * (4 * MAX_BODY + 1)), 413)
            # JSON routes keep the small limit.
            resp = await gateway.http.post("/v1/vector_stores", json={"name": "n" * (2 * MAX_BODY)})
            await error_of(resp, 413)
        finally:
            await stop_gateway(gateway, ctx)


async def test_files_survive_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    with respx.mock(assert_all_called=False) as router:
        mount(router, BACKEND)
        first, ctx = await start_gateway(db)
        obj = await first.upload_ok(b"persistent bytes", "keep.txt")
        await stop_gateway(first, ctx)
        second, ctx = await start_gateway(db)
        try:
            assert await (await second.http.get(f"/v1/files/{obj['id']}")).get_json() == obj
            resp = await second.http.get(f"/v1/files/{obj['id']}/content")
            assert await resp.get_data() == b"persistent bytes"
        finally:
            await stop_gateway(second, ctx)
