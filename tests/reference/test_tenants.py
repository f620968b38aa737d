"""`--api-keys`: authentication on every route but health, and every stored object scoped to
its tenant (direct HTTP path in-process; the Envoy path in tests/reference/test_security_envoy.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import respx
from quart import Quart

from fixtures.backend.respx_routes import mount
from reference.auth import parse_api_keys
from reference.backend import Backend
from reference.gateway import Gateway, build_gateway
from reference.store import SQLiteStore

BACKEND = "http://backend.test"
KEYS = parse_api_keys("""
# key        tenant
sk-alice-1   alice
sk-alice-2   alice   # a second key of the same tenant
sk-bob-1     bob
""")
A = {"authorization": "Bearer sk-alice-1"}
A2 = {"authorization": "Bearer sk-alice-2"}
B = {"authorization": "Bearer sk-bob-1"}


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[tuple[Gateway, Quart]]:
    with respx.mock(assert_all_called=False) as router:
        mount(router, BACKEND)
        gateway = build_gateway(SQLiteStore(tmp_path / "db.sqlite"), Backend(BACKEND, timeout=5),
                                api_keys=KEYS)
        await gateway.start()
        yield gateway, gateway.http_app()
        await gateway.aclose()


async def _call(app: Quart, method: str, path: str, headers: dict[str, str] | None = None,
                **kw: Any) -> tuple[int, Any]:
    resp = await app.test_client().open(path, method=method, headers=headers or {}, **kw)
    return resp.status_code, await resp.get_json()


def test_key_file_format() -> None:
    assert KEYS == {"sk-alice-1": "alice", "sk-alice-2": "alice", "sk-bob-1": "bob"}
    for bad in ("", "# only comments\n", "k1\n", "k1 t1 extra\n", "k1 t1\nk1 t2\n"):
        with pytest.raises(ValueError):
            parse_api_keys(bad)


@pytest.mark.parametrize("headers",
                         [{}, {"authorization": "Bearer sk-nope"}, {"authorization": "sk-alice-1"}],
                         ids=["missing", "unknown", "not-bearer"])
@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/v1/responses"), ("GET", "/v1/responses/resp_x"), ("GET", "/v1/files"),
    ("GET", "/v1/vector_stores"), ("POST", "/v1/conversations"), ("GET", "/v1/prompts"),
    ("GET", "/v1/connectors"), ("POST", "/v1/responses/input_tokens"),
])
async def test_missing_or_unknown_key_is_401(gw: tuple[Gateway, Quart], headers: dict[str, str],
                                             method: str, path: str) -> None:
    status, body = await _call(gw[1], method, path, headers, json={"model": "m", "input": "hi"})
    assert status == 401, body
    assert body["error"]["code"] == "invalid_api_key" and body["error"]["type"] == "invalid_request_error"
    assert "sk-nope" not in body["error"]["message"]


async def test_health_needs_no_key(gw: tuple[Gateway, Quart]) -> None:
    status, _ = await _call(gw[1], "GET", "/health")
    assert status == 200


async def test_every_object_belongs_to_its_tenant(gw: tuple[Gateway, Quart]) -> None:
    app = gw[1]
    status, resp = await _call(app, "POST", "/v1/responses", A, json={"model": "m", "input": "[[text:mine]]"})
    assert status == 200
    client = app.test_client()
    upload = await client.post("/v1/files", headers=A, form={"purpose": "assistants"},
                               files={"file": _file(b"alice's secret notes")})
    assert upload.status_code == 200, await upload.get_data(as_text=True)
    file = await upload.get_json()
    _, vs = await _call(app, "POST", "/v1/vector_stores", A, json={"name": "alice"})
    _, conv = await _call(app, "POST", "/v1/conversations", A, json={})
    _, prompt = await _call(app, "POST", "/v1/prompts", A, json={"instructions": "alice's prompt"})
    _, conn = await _call(app, "POST", "/v1/connectors", A,
                          json={"label": "alice", "server_url": "http://127.0.0.1:9/mcp"})

    owned = {
        f"/v1/responses/{resp['id']}": "responses", f"/v1/responses/{resp['id']}/input_items": None,
        f"/v1/files/{file['id']}": "files", f"/v1/files/{file['id']}/content": None,
        f"/v1/vector_stores/{vs['id']}": "vector_stores", f"/v1/conversations/{conv['id']}": None,
        f"/v1/conversations/{conv['id']}/items": None, f"/v1/prompts/{prompt['id']}": "prompts",
        f"/v1/connectors/{conn['id']}": "connectors",
    }
    for path, listing in owned.items():
        assert (await _call(app, "GET", path, A))[0] == 200, path
        assert (await _call(app, "GET", path, A2))[0] == 200, path  # same tenant, other key
        status, body = await _call(app, "GET", path, B)
        assert status == 404, (path, body)
        if listing:
            _, mine = await _call(app, "GET", f"/v1/{listing}", A)
            _, theirs = await _call(app, "GET", f"/v1/{listing}", B)
            assert any(x["id"] in path for x in mine["data"]), listing
            assert not any(x["id"] in path for x in theirs["data"]), listing

    # No chaining, attaching or naming another tenant's objects.
    status, body = await _call(app, "POST", "/v1/responses", B,
                               json={"model": "m", "input": "hi", "previous_response_id": resp["id"]})
    assert status == 400 and body["error"]["param"] == "previous_response_id"
    status, body = await _call(app, "POST", "/v1/responses", B,
                               json={"model": "m", "input": "hi", "conversation": conv["id"]})
    assert status == 404, body
    status, body = await _call(app, "POST", "/v1/responses", B, json={
        "model": "m", "input": "hi", "prompt": {"id": prompt["id"]}})
    assert status == 404, body
    status, body = await _call(app, "POST", "/v1/responses", B, json={
        "model": "m", "input": "hi", "tools": [{"type": "file_search", "vector_store_ids": [vs["id"]]}]})
    assert status == 404, body
    status, body = await _call(app, "POST", "/v1/responses", B, json={
        "model": "m", "input": "hi",
        "tools": [{"type": "mcp", "server_label": "x", "connector_id": conn["id"]}]})
    assert status == 400, body
    _, bob_vs = await _call(app, "POST", "/v1/vector_stores", B, json={"name": "bob"})
    status, body = await _call(app, "POST", f"/v1/vector_stores/{bob_vs['id']}/files", B,
                               json={"file_id": file["id"]})
    assert status == 404, body
    status, body = await _call(app, "POST", "/v1/vector_stores", B, json={"file_ids": [file["id"]]})
    assert status == 404, body

    # Nor delete or cancel them; the owner still can.
    for path in (f"/v1/responses/{resp['id']}", f"/v1/files/{file['id']}", f"/v1/vector_stores/{vs['id']}",
                 f"/v1/conversations/{conv['id']}", f"/v1/connectors/{conn['id']}"):
        assert (await _call(app, "DELETE", path, B))[0] == 404, path
        assert (await _call(app, "DELETE", path, A))[0] == 200, path


def _file(content: bytes) -> Any:
    import io

    from quart.datastructures import FileStorage

    return FileStorage(io.BytesIO(content), filename="notes.txt", content_type="text/plain")


async def test_websocket_mode_needs_a_key_too(gw: tuple[Gateway, Quart]) -> None:
    import json

    from quart.testing.connections import WebsocketResponseError

    app = gw[1]
    with pytest.raises(WebsocketResponseError) as err:
        async with app.test_client().websocket("/v1/responses") as sock:
            await sock.receive()
    assert err.value.response.status_code == 401
    assert json.loads(await err.value.response.get_data())["error"]["code"] == "invalid_api_key"
    async with app.test_client().websocket("/v1/responses", headers=A) as sock:
        await sock.send(json.dumps({"type": "response.create", "model": "m", "input": "[[text:ws ok]]"}))
        seen = []
        while not seen or seen[-1] not in ("response.completed", "response.failed", "error"):
            seen.append(json.loads(await sock.receive())["type"])
    assert seen[-1] == "response.completed", seen


async def test_objects_stored_before_keys_belong_to_no_tenant(tmp_path: Path) -> None:
    """Objects stored while the gateway ran without `--api-keys` have no owner: once keys are on,
    no tenant can read, list, chain to or delete them; without keys they are all there again."""
    db = tmp_path / "db.sqlite"

    async def run(api_keys: dict[str, str] | None) -> tuple[Gateway, Quart]:
        gateway = build_gateway(SQLiteStore(db), Backend(BACKEND, timeout=5), api_keys=api_keys)
        await gateway.start()
        return gateway, gateway.http_app()

    with respx.mock(assert_all_called=False) as router:
        mount(router, BACKEND)
        gateway, app = await run(None)
        _, resp = await _call(app, "POST", "/v1/responses", json={"model": "m", "input": "[[text:old]]"})
        _, conv = await _call(app, "POST", "/v1/conversations", json={})
        _, vs = await _call(app, "POST", "/v1/vector_stores", json={"name": "old"})
        await gateway.aclose()

        old = {f"/v1/responses/{resp['id']}": "responses", f"/v1/conversations/{conv['id']}": None,
               f"/v1/vector_stores/{vs['id']}": "vector_stores"}
        gateway, app = await run(KEYS)
        for headers in (A, B):
            for path, listing in old.items():
                assert (await _call(app, "GET", path, headers))[0] == 404, path
                if listing:
                    _, page = await _call(app, "GET", f"/v1/{listing}", headers)
                    assert not any(x["id"] in path for x in page["data"]), listing
            status, body = await _call(app, "POST", "/v1/responses", headers, json={
                "model": "m", "input": "hi", "previous_response_id": resp["id"]})
            assert status == 400 and body["error"]["param"] == "previous_response_id", body
            assert (await _call(app, "DELETE", f"/v1/responses/{resp['id']}", headers))[0] == 404
        await gateway.aclose()

        gateway, app = await run(None)
        for path in old:
            assert (await _call(app, "GET", path))[0] == 200, path
        await gateway.aclose()
