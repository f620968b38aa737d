"""The HTTP adapter through Quart's test client, the backend mounted with respx."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from quart import Quart
from quart.typing import TestClientProtocol as QuartTestClient

from fixtures.backend.respx_routes import MountedBackend, mount
from reference.backend import Backend
from reference.engine import Engine
from reference.gateway import build_gateway
from reference.store import SQLiteStore

BACKEND = "http://backend.test"
MAX_BODY = 4096


class Client:
    def __init__(self, app: Quart, backend: MountedBackend) -> None:
        self.app = app
        self.http: QuartTestClient = app.test_client()
        self.backend = backend

    async def create(self, **body: Any) -> dict[str, Any]:
        body.setdefault("model", "test-model")
        resp = await self.http.post("/v1/responses", json=body)
        assert resp.status_code == 200, await resp.get_data(as_text=True)
        result: dict[str, Any] = await resp.get_json()
        return result


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    with respx.mock(assert_all_called=False) as router:
        mounted = mount(router, BACKEND)
        gateway = build_gateway(SQLiteStore(tmp_path / "db.sqlite"), Backend(BACKEND, timeout=5))
        app = gateway.http_app(max_body_bytes=MAX_BODY)
        yield Client(app, mounted)
        await gateway.aclose()


async def _error(resp: Any, status: int) -> dict[str, Any]:
    """Assert an OpenAI error object with `status`; return its `error`."""
    text = await resp.get_data(as_text=True)
    assert resp.status_code == status, text
    assert resp.content_type.startswith("application/json")
    body = json.loads(text)
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert "Traceback" not in text
    err: dict[str, Any] = body["error"]
    return err


def _sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        lines = block.split("\n")
        assert lines[0].startswith("event: ") and lines[1].startswith("data: "), block
        data = json.loads(lines[1][len("data: "):])
        assert data["type"] == lines[0][len("event: "):]
        events.append((data["type"], data))
    return events


async def test_create_json_and_get_byte_identical(client: Client) -> None:
    resp = await client.http.post("/v1/responses", json={"model": "m", "input": "hello"})
    assert resp.status_code == 200 and resp.content_type == "application/json"
    created = await resp.get_data()
    body = json.loads(created)
    assert body["object"] == "response" and body["status"] == "completed"
    got = await client.http.get(f"/v1/responses/{body['id']}")
    assert got.status_code == 200
    assert await got.get_data() == created


async def test_create_stream_sse_framing(client: Client) -> None:
    resp = await client.http.post("/v1/responses", json={"model": "m", "input": "a b c", "stream": True})
    assert resp.status_code == 200
    assert resp.content_type.startswith("text/event-stream")
    text = await resp.get_data(as_text=True)
    assert "[DONE]" not in text  # OpenAI profile: the stream ends with response.completed
    events = _sse(text)
    assert events[0][0] == "response.created" and events[-1][0] == "response.completed"
    rid = events[-1][1]["response"]["id"]
    stored = await (await client.http.get(f"/v1/responses/{rid}")).get_json()
    assert stored == events[-1][1]["response"]


async def test_stream_backend_failure_is_response_failed(client: Client) -> None:
    resp = await client.http.post("/v1/responses", json={"model": "m", "input": "x [[drop]]", "stream": True})
    events = _sse(await resp.get_data(as_text=True))
    assert events[-1][0] == "response.failed"
    rid = events[-1][1]["response"]["id"]
    assert (await (await client.http.get(f"/v1/responses/{rid}")).get_json())["status"] == "failed"


async def test_delete(client: Client) -> None:
    created = await client.create(input="x")
    resp = await client.http.delete(f"/v1/responses/{created['id']}")
    assert resp.status_code == 200
    assert await resp.get_json() == {"id": created["id"], "object": "response.deleted", "deleted": True}
    await _error(await client.http.get(f"/v1/responses/{created['id']}"), 404)
    await _error(await client.http.delete(f"/v1/responses/{created['id']}"), 404)


async def test_input_items_pagination(client: Client) -> None:
    items = [{"type": "message", "role": "user", "content": f"m{i}", "id": f"msg_{i}"} for i in range(3)]
    created = await client.create(input=items)
    base = f"/v1/responses/{created['id']}/input_items"
    page = await (await client.http.get(base, query_string={"limit": "2", "order": "asc"})).get_json()
    assert page["object"] == "list"
    assert [i["id"] for i in page["data"]] == ["msg_0", "msg_1"]
    assert (page["first_id"], page["last_id"], page["has_more"]) == ("msg_0", "msg_1", True)
    page2 = await (await client.http.get(base, query_string={"order": "asc", "after": "msg_1"})).get_json()
    assert [i["id"] for i in page2["data"]] == ["msg_2"] and page2["has_more"] is False
    desc = await (await client.http.get(base, query_string={"before": "msg_0"})).get_json()
    assert [i["id"] for i in desc["data"]] == ["msg_2", "msg_1"]
    err = await _error(await client.http.get(base, query_string={"limit": "lots"}), 400)
    assert err["param"] == "limit"
    err = await _error(await client.http.get(base, query_string={"limit": "0"}), 400)
    assert err["param"] == "limit"
    err = await _error(await client.http.get(base, query_string={"order": "sideways"}), 400)
    assert err["param"] == "order"
    await _error(await client.http.get("/v1/responses/resp_missing/input_items"), 404)


async def test_list_responses(client: Client) -> None:
    ids = [(await client.create(input=f"n{i}"))["id"] for i in range(3)]
    resp = await client.http.get("/v1/responses", query_string={"limit": "2", "order": "asc"})
    page = await resp.get_json()
    assert page["object"] == "list" and [r["id"] for r in page["data"]] == ids[:2] and page["has_more"]
    rest = await (await client.http.get("/v1/responses",
                                        query_string={"order": "asc", "after": ids[1]})).get_json()
    assert [r["id"] for r in rest["data"]] == ids[2:]


async def test_background_and_cancel_routes(client: Client) -> None:
    queued = await client.create(input="[[slow:5000]] x", background=True)
    assert queued["status"] == "queued"
    rid = queued["id"]
    for _ in range(100):
        if (await (await client.http.get(f"/v1/responses/{rid}")).get_json())["status"] == "in_progress":
            break
        await asyncio.sleep(0.01)
    resp = await client.http.post(f"/v1/responses/{rid}/cancel")
    assert resp.status_code == 200
    assert (await resp.get_json())["status"] == "cancelled"
    plain = await client.create(input="x")
    await _error(await client.http.post(f"/v1/responses/{plain['id']}/cancel"), 400)
    await _error(await client.http.post("/v1/responses/resp_nope/cancel"), 404)
    err = await _error(await client.http.post("/v1/responses", json={
        "model": "m", "input": "x", "background": True, "store": False}), 400)
    assert err["param"] == "background"


async def test_health_and_openapi(client: Client) -> None:
    resp = await client.http.get("/health")
    assert resp.status_code == 200 and (await resp.get_json())["status"] == "ok"
    spec = await (await client.http.get("/openapi.json")).get_json()
    paths = spec["paths"]
    assert {"/v1/responses", "/v1/responses/{response_id}", "/v1/responses/{response_id}/cancel",
            "/v1/responses/{response_id}/input_items"} <= set(paths)
    create = paths["/v1/responses"]["post"]
    # Generated from the core's pydantic models, not hand-written.
    request_schema = create["requestBody"]["content"]["application/json"]["schema"]
    assert "model" in request_schema["required"]
    assert {"input", "previous_response_id", "background", "metadata"} <= set(request_schema["properties"])
    ok_schema = create["responses"]["200"]["content"]["application/json"]["schema"]
    assert {"id", "status", "output", "usage"} <= set(ok_schema["required"])
    assert "FunctionCallOutput" in spec["components"]["schemas"]
    assert {"400", "404", "502", "504"} <= set(create["responses"])


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b'{"model": "m", "input": ', None),
        (b"[1, 2]", None),
        (b'{"input": "x"}', "model"),
        (b'{"model": 5, "input": "x"}', "model"),
        (b'{"model": "m", "input": "x", "temperature": "hot"}', "temperature"),
        (b'{"model": "m", "input": "x", "previous_response_id": "resp_1", "conversation": "conv_1"}',
         "conversation"),
    ],
)
async def test_bad_requests_are_400_with_param(client: Client, body: bytes, param: str | None) -> None:
    resp = await client.http.post("/v1/responses", data=body, headers={"content-type": "application/json"})
    err = await _error(resp, 400)
    assert err["type"] == "invalid_request_error"
    assert err["param"] == param


async def test_unknown_previous_response_id(client: Client) -> None:
    err = await _error(await client.http.post("/v1/responses", json={
        "model": "m", "input": "x", "previous_response_id": "resp_gone"}), 400)
    assert err["param"] == "previous_response_id" and err["code"] == "previous_response_not_found"


async def test_unknown_ids_and_routes_and_methods(client: Client) -> None:
    await _error(await client.http.get("/v1/responses/resp_missing"), 404)
    err = await _error(await client.http.get("/v1/nothing-here"), 404)
    assert err["code"] == "not_found"
    resp = await client.http.put("/v1/responses")
    err = await _error(resp, 405)
    assert "POST" in resp.headers["allow"]
    await _error(await client.http.patch("/v1/responses/resp_1"), 405)


async def test_body_over_limit_is_413(client: Client) -> None:
    big = json.dumps({"model": "m", "input": "x" * (MAX_BODY * 2)}).encode()
    err = await _error(await client.http.post("/v1/responses", data=big,
                                              headers={"content-type": "application/json"}), 413)
    assert str(MAX_BODY) in err["message"]
    assert client.backend.recorder.requests == []


@pytest.mark.parametrize(
    ("script", "status"),
    [("[[error:400]]", 400), ("[[error:404:ollama]]", 404), ("[[error:500]]", 502),
     ("[[malformed]]", 502)],
)
async def test_backend_errors(client: Client, script: str, status: int) -> None:
    err = await _error(await client.http.post("/v1/responses", json={"model": "m", "input": script}), status)
    if status < 500:
        assert err["message"] == f"scripted error {status}"


async def test_backend_timeout_and_unreachable(client: Client) -> None:
    client.backend.route.side_effect = httpx.ReadTimeout("slow")
    await _error(await client.http.post("/v1/responses", json={"model": "m", "input": "x"}), 504)
    client.backend.route.side_effect = httpx.ConnectError("refused")
    await _error(await client.http.post("/v1/responses", json={"model": "m", "input": "x"}), 502)


async def test_unexpected_exception_is_a_500_without_traceback(client: Client, monkeypatch: Any) -> None:
    engine: Engine = client.app.extensions["responses_engine"]  # put there by create_app

    async def boom(response_id: str) -> str:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(engine, "get_text", boom)
    resp = await client.http.get("/v1/responses/resp_x")
    err = await _error(resp, 500)
    assert "secret internal detail" not in json.dumps(err)
    assert err["type"] == "server_error"
