"""Connectors registry (`/v1/connectors`) and its hand-off to the MCP client."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from quart.typing import TestClientProtocol as QuartTestClient

from reference.core.errors import APIError
from reference.gateway import Gateway
from reference.mcp_client import server_ref_from_tool
from tests.support.http_env import body_kwargs, error_fields, scripted_gateway, sqlite_gateway

MAX_BODY = 4096
SECRET = "Bearer sk-live-0123456789abcdef"


class Env:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.engine = gateway.engine
        self.http: QuartTestClient = gateway.http_app(max_body_bytes=MAX_BODY).test_client()

    async def raw(self, method: str, path: str, body: Any = None,
                  data: bytes | None = None) -> tuple[int, str]:
        resp = await self.http.open(path, method=method, **body_kwargs(body, data))
        assert resp.content_type == "application/json"
        return resp.status_code, await resp.get_data(as_text=True)

    async def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, text = await self.raw(method, path, body)
        assert status == 200, text
        # Credentials never leave the gateway, whatever the route.
        assert "0123456789" not in text
        return json.loads(text)

    async def err(self, method: str, path: str, status: int, body: Any = None,
                  data: bytes | None = None) -> dict[str, Any]:
        got, text = await self.raw(method, path, body, data)
        assert got == status, text
        parsed = json.loads(text)
        return error_fields(parsed)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with scripted_gateway(tmp_path / "db.sqlite") as gateway:
        yield Env(gateway)


DOCS: dict[str, Any] = {"label": "docs", "server_url": "https://mcp.example.test/mcp",
        "headers": {"Authorization": SECRET, "X-Short": "abc"}, "description": "Docs server"}


async def test_create_get_list_delete(env: Env) -> None:
    conn = await env.ok("POST", "/v1/connectors", DOCS)
    assert conn["id"].startswith("conn_") and conn["object"] == "connector"
    assert conn["label"] == "docs" and conn["server_url"] == DOCS["server_url"]
    assert conn["description"] == "Docs server" and conn["metadata"] == {}
    # Values redacted: long ones keep their last four characters, short ones show nothing.
    assert conn["headers"] == {"Authorization": "****cdef", "X-Short": "****"}
    assert await env.ok("GET", f"/v1/connectors/{conn['id']}") == conn

    other = await env.ok("POST", "/v1/connectors", {"label": "b", "server_url": "http://127.0.0.1:9/mcp"})
    assert other["headers"] == {} and other["description"] is None
    listed = await env.ok("GET", "/v1/connectors")
    assert [c["id"] for c in listed["data"]] == [other["id"], conn["id"]]  # desc by default
    assert listed["data"][1] == conn

    deleted = await env.ok("DELETE", f"/v1/connectors/{conn['id']}")
    assert deleted == {"id": conn["id"], "object": "connector.deleted", "deleted": True}
    for method in ("GET", "DELETE"):
        err = await env.err(method, f"/v1/connectors/{conn['id']}", 404)
        assert conn["id"] in err["message"]
    with pytest.raises(APIError) as exc:
        await env.gateway.connectors.resolve_connector(conn["id"])
    assert exc.value.status == 404
    assert [c["id"] for c in (await env.ok("GET", "/v1/connectors"))["data"]] == [other["id"]]


async def test_headers_stored_in_full_for_the_mcp_loop(env: Env) -> None:
    conn = await env.ok("POST", "/v1/connectors", DOCS)
    resolved = await env.gateway.connectors.resolve_connector(conn["id"])
    assert resolved == {"label": "docs", "url": DOCS["server_url"], "headers": DOCS["headers"]}

    tools = [{"type": "mcp", "server_label": "kb", "connector_id": conn["id"], "headers": {"X-Extra": "1"}},
             {"type": "mcp", "server_label": "ghost", "connector_id": "conn_unknown"},
             {"type": "function", "name": "f"}]
    refs = await env.gateway.connectors.connector_refs(tools)
    assert set(refs) == {conn["id"]}
    ref = server_ref_from_tool(tools[0], refs)
    assert ref.url == DOCS["server_url"] and ref.label == "kb"
    assert dict(ref.headers) == {**DOCS["headers"], "X-Extra": "1"}
    # An unknown connector id stays the MCP client's 400 naming the parameter.
    with pytest.raises(APIError) as exc:
        server_ref_from_tool(tools[1], refs)
    assert exc.value.status == 400 and exc.value.param == "tools.connector_id"


@pytest.mark.parametrize(("body", "param"), [
    ({"server_url": "https://x.test"}, "label"),
    ({"label": "x"}, "server_url"),
    ({"label": "has space", "server_url": "https://x.test"}, "label"),
    ({"label": "x" * 65, "server_url": "https://x.test"}, "label"),
    ({"label": 5, "server_url": "https://x.test"}, "label"),
    ({"label": "x", "server_url": "ftp://x.test"}, "server_url"),
    ({"label": "x", "server_url": "not a url"}, "server_url"),
    ({"label": "x", "server_url": "https://x.test", "headers": {"token": 1}}, "headers.token"),
    ({"label": "x", "server_url": "https://x.test", "headers": {"Bad Name": "v"}}, "headers"),
    ({"label": "x", "server_url": "https://x.test", "headers": {"A": "v\r\nX-Injected: 1"}}, "headers"),
    ({"label": "x", "server_url": "https://x.test", "headers": ["A"]}, "headers"),
    ({"label": "x", "server_url": "https://x.test", "description": "d" * 513}, "description"),
    ({"label": "x", "server_url": "https://x.test", "surprise": True}, "surprise"),
])
async def test_bad_input_is_400_naming_param(env: Env, body: dict[str, Any], param: str) -> None:
    err = await env.err("POST", "/v1/connectors", 400, body)
    assert err["param"] == param, err


async def test_bad_bodies_ids_and_pagination(env: Env) -> None:
    assert (await env.err("POST", "/v1/connectors", 400, data=b"not json"))["code"] == "invalid_json"
    await env.err("POST", "/v1/connectors", 400, data=b"")
    big = json.dumps({**DOCS, "description": "x" * MAX_BODY}).encode()
    await env.err("POST", "/v1/connectors", 413, data=big)
    await env.err("GET", "/v1/connectors/conn_nope", 404)
    await env.err("DELETE", "/v1/connectors/conn_nope", 404)
    for query, param in [("limit=0", "limit"), ("limit=x", "limit"), ("order=random", "order"),
                         ("after=conn_nope", "after"), ("before=conn_nope", "before")]:
        assert (await env.err("GET", f"/v1/connectors?{query}", 400))["param"] == param


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 7), limit=st.integers(1, 3))
async def test_pagination_backwards_walk(tmp_path: Path, n: int, limit: int) -> None:
    # tmp_path is shared by the examples: a fresh database file each time.
    gateway = sqlite_gateway(tmp_path / f"walk-{uuid.uuid4().hex}.sqlite")
    env = Env(gateway)
    try:
        made = [(await env.ok("POST", "/v1/connectors", {"label": f"c{i}", "server_url": "https://x.test"}))["id"]
                for i in range(n)]
        # Walk backwards through an ascending listing with `before`, from the newest item.
        newest = (await env.ok("GET", "/v1/connectors?order=desc&limit=1"))["first_id"]
        seen: list[str] = [newest]
        before = newest
        while True:
            page = await env.ok("GET", f"/v1/connectors?order=asc&limit={limit}&before={before}")
            ids = [c["id"] for c in page["data"]]
            assert len(ids) <= limit and ids == sorted(ids, key=made.index)
            seen = ids + seen
            if not page["has_more"]:
                break
            before = page["first_id"]
            assert before is not None
        assert seen == made
    finally:
        await gateway.aclose()


async def test_survives_restart(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    gateway = sqlite_gateway(db)
    conn = await Env(gateway).ok("POST", "/v1/connectors", DOCS)
    await gateway.aclose()
    gateway2 = sqlite_gateway(db)
    try:
        assert await Env(gateway2).ok("GET", f"/v1/connectors/{conn['id']}") == conn
        assert (await gateway2.connectors.resolve_connector(conn["id"]))["headers"] == DOCS["headers"]
    finally:
        await gateway2.aclose()
