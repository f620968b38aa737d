"""Conversations API (`/v1/conversations`) through Quart's test client, plus the service functions
the engine calls for a Response with `conversation`."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from quart import Quart
from quart.typing import TestClientProtocol as QuartTestClient

from fixtures.backend.respx_routes import mount
from reference.backend import Backend
from reference.core.errors import APIError
from reference.gateway import Gateway, build_gateway
from reference.services import conversations
from reference.store import SQLiteStore
from tests.support.http_env import BACKEND, body_kwargs

MAX_BODY = 8192


class Env:
    def __init__(self, app: Quart, gateway: Gateway, db: Path) -> None:
        self.app = app
        self.gateway = gateway
        self.engine = gateway.engine
        self.db = db
        self.http: QuartTestClient = app.test_client()

    async def ok(self, method: str, path: str, body: Any = None) -> Any:
        kwargs: dict[str, Any] = {} if body is None else {"json": body}
        resp = await self.http.open(path, method=method, **kwargs)
        text = await resp.get_data(as_text=True)
        assert resp.status_code == 200, text
        assert resp.content_type == "application/json"
        return json.loads(text)

    async def err(self, method: str, path: str, status: int, body: Any = None, *,
                  data: bytes | None = None) -> dict[str, Any]:
        resp = await self.http.open(path, method=method, **body_kwargs(body, data))
        text = await resp.get_data(as_text=True)
        assert resp.status_code == status, text
        parsed = json.loads(text)
        assert set(parsed) == {"error"}
        assert set(parsed["error"]) == {"message", "type", "param", "code"}
        assert parsed["error"]["message"]
        err: dict[str, Any] = parsed["error"]
        return err

    async def conversation(self, **body: Any) -> dict[str, Any]:
        conv: dict[str, Any] = await self.ok("POST", "/v1/conversations", body)
        return conv


async def _env(db: Path) -> tuple[Env, Gateway]:
    gateway = build_gateway(SQLiteStore(db), Backend(BACKEND, timeout=5))
    return Env(gateway.http_app(max_body_bytes=MAX_BODY), gateway, db), gateway


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    with respx.mock(assert_all_called=False) as router:
        mount(router, BACKEND)
        e, gateway = await _env(tmp_path / "db.sqlite")
        yield e
        await gateway.aclose()


def _msg(text: str, role: str = "user", **extra: Any) -> dict[str, Any]:
    return {"type": "message", "role": role, "content": text, **extra}


# --- conversation resource -------------------------------------------------------------------


async def test_create_get_update_delete(env: Env) -> None:
    conv = await env.conversation(metadata={"topic": "demo"})
    assert conv["object"] == "conversation"
    assert conv["id"].startswith("conv_")
    assert conv["metadata"] == {"topic": "demo"}
    assert isinstance(conv["created_at"], int)
    assert set(conv) == {"id", "object", "created_at", "metadata"}

    got = await env.http.get(f"/v1/conversations/{conv['id']}")
    assert json.loads(await got.get_data(as_text=True)) == conv

    updated = await env.ok("POST", f"/v1/conversations/{conv['id']}",
                           {"metadata": {"topic": "new", "k": "v"}})
    assert updated == {**conv, "metadata": {"topic": "new", "k": "v"}}
    assert await env.ok("GET", f"/v1/conversations/{conv['id']}") == updated

    deleted = await env.ok("DELETE", f"/v1/conversations/{conv['id']}")
    assert deleted == {"id": conv["id"], "object": "conversation.deleted", "deleted": True}


async def test_create_with_no_body_and_empty_object(env: Env) -> None:
    resp = await env.http.post("/v1/conversations")
    assert resp.status_code == 200
    assert (await resp.get_json())["metadata"] == {}
    assert (await env.conversation())["metadata"] == {}


async def test_create_with_initial_items(env: Env) -> None:
    conv = await env.conversation(items=[_msg("hello"), _msg("hi!", "assistant")])
    listed = await env.ok("GET", f"/v1/conversations/{conv['id']}/items?order=asc")
    assert [i["role"] for i in listed["data"]] == ["user", "assistant"]
    first, second = listed["data"]
    # Same item shapes as Responses input items.
    assert first["type"] == "message" and first["id"].startswith("msg_") and first["status"] == "completed"
    assert first["content"] == [{"type": "input_text", "text": "hello"}]
    assert second["content"] == [{"type": "output_text", "text": "hi!", "annotations": [], "logprobs": []}]


async def test_use_after_delete_is_404_everywhere(env: Env) -> None:
    conv = await env.conversation(items=[_msg("x")])
    cid = conv["id"]
    item_id = (await env.ok("GET", f"/v1/conversations/{cid}/items"))["data"][0]["id"]
    await env.ok("DELETE", f"/v1/conversations/{cid}")
    cases: list[tuple[str, str, Any]] = [
        ("GET", f"/v1/conversations/{cid}", None),
        ("POST", f"/v1/conversations/{cid}", {"metadata": {}}),
        ("DELETE", f"/v1/conversations/{cid}", None),
        ("GET", f"/v1/conversations/{cid}/items", None),
        ("POST", f"/v1/conversations/{cid}/items", {"items": [_msg("y")]}),
        ("GET", f"/v1/conversations/{cid}/items/{item_id}", None),
        ("DELETE", f"/v1/conversations/{cid}/items/{item_id}", None),
    ]
    for method, path, body in cases:
        err = await env.err(method, path, 404, body)
        assert cid in err["message"], (method, path)
        assert err["code"] == "not_found"
    # The items went with the conversation.
    assert env.gateway.store.objects.list(conversations.ITEM, parent=cid) == []


async def test_unknown_ids_are_404(env: Env) -> None:
    await env.err("GET", "/v1/conversations/conv_nope", 404)
    await env.err("GET", "/v1/conversations/../etc/passwd", 404)
    conv = await env.conversation()
    err = await env.err("GET", f"/v1/conversations/{conv['id']}/items/msg_nope", 404)
    assert "msg_nope" in err["message"]
    await env.err("DELETE", f"/v1/conversations/{conv['id']}/items/msg_nope", 404)


async def test_item_of_other_conversation_is_404(env: Env) -> None:
    a = await env.conversation(items=[_msg("a", id="msg_shared_a")])
    b = await env.conversation()
    await env.err("GET", f"/v1/conversations/{b['id']}/items/msg_shared_a", 404)
    await env.err("DELETE", f"/v1/conversations/{b['id']}/items/msg_shared_a", 404)
    assert (await env.ok("GET", f"/v1/conversations/{a['id']}/items/msg_shared_a"))["id"] == "msg_shared_a"


@pytest.mark.parametrize(("body", "param"), [
    ({"metadata": "x"}, "metadata"),
    ({"metadata": {"k": 1}}, "metadata.k"),
    ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
    ({"metadata": {"k": "v" * 513}}, "metadata"),
    ({"items": "hello"}, "items"),
    ({"items": [{"type": "message", "role": "robot", "content": "x"}]}, "items[0].role"),
    ({"items": [{"type": "message", "role": "user", "content": 5}]}, "items[0].content"),
    ({"items": [{"type": "bogus"}]}, "items[0].type"),
    ({"items": [_msg("x")] * 21}, "items"),
    ({"extra": 1}, "extra"),
])
async def test_create_bad_input_is_400_naming_param(env: Env, body: dict[str, Any], param: str) -> None:
    err = await env.err("POST", "/v1/conversations", 400, body)
    assert err["param"] == param, err
    assert err["type"] == "invalid_request_error"


async def test_bad_json_and_non_object(env: Env) -> None:
    err = await env.err("POST", "/v1/conversations", 400, data=b"{nope")
    assert err["code"] == "invalid_json"
    err = await env.err("POST", "/v1/conversations", 400, data=b"[1, 2]")
    assert err["code"] == "invalid_type"
    conv = await env.conversation()
    await env.err("POST", f"/v1/conversations/{conv['id']}/items", 400, data=b"")
    await env.err("POST", f"/v1/conversations/{conv['id']}", 400, data=b"null")


async def test_update_requires_metadata(env: Env) -> None:
    conv = await env.conversation()
    err = await env.err("POST", f"/v1/conversations/{conv['id']}", 400, {})
    assert err["param"] == "metadata" and err["code"] == "missing_required_parameter"
    err = await env.err("POST", f"/v1/conversations/{conv['id']}", 400, {"metadata": {"k": 3}})
    assert err["param"] == "metadata.k"


async def test_oversized_body_is_413(env: Env) -> None:
    big = json.dumps({"items": [_msg("x" * MAX_BODY)]}).encode()
    await env.err("POST", "/v1/conversations", 413, data=big)
    conv = await env.conversation()
    await env.err("POST", f"/v1/conversations/{conv['id']}/items", 413, data=big)


# --- items -------------------------------------------------------------------------------------


async def test_add_list_get_delete_items(env: Env) -> None:
    conv = await env.conversation()
    cid = conv["id"]
    added = await env.ok("POST", f"/v1/conversations/{cid}/items", {"items": [
        _msg("one"),
        {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "42"},
    ]})
    assert added["object"] == "list" and added["has_more"] is False
    assert [i["type"] for i in added["data"]] == ["message", "function_call", "function_call_output"]
    assert added["first_id"] == added["data"][0]["id"] and added["last_id"] == added["data"][-1]["id"]
    assert added["data"][1]["id"].startswith("fc_")

    listed = await env.ok("GET", f"/v1/conversations/{cid}/items")
    # Spec: order "Default is `desc`".
    assert [i["id"] for i in listed["data"]] == [i["id"] for i in reversed(added["data"])]

    one = added["data"][0]
    got = await env.http.get(f"/v1/conversations/{cid}/items/{one['id']}")
    assert json.loads(await got.get_data(as_text=True)) == one

    # DELETE of an item returns the conversation (ConversationResource).
    assert await env.ok("DELETE", f"/v1/conversations/{cid}/items/{one['id']}") == conv
    await env.err("GET", f"/v1/conversations/{cid}/items/{one['id']}", 404)
    await env.err("DELETE", f"/v1/conversations/{cid}/items/{one['id']}", 404)
    left = await env.ok("GET", f"/v1/conversations/{cid}/items?order=asc")
    assert [i["id"] for i in left["data"]] == [i["id"] for i in added["data"][1:]]


async def test_items_limit_20_per_call(env: Env) -> None:
    conv = await env.conversation()
    path = f"/v1/conversations/{conv['id']}/items"
    err = await env.err("POST", path, 400, {"items": [_msg(str(i)) for i in range(21)]})
    assert err["param"] == "items"
    assert (await env.ok("GET", path))["data"] == []  # nothing of the rejected call was stored
    ok = await env.ok("POST", path, {"items": [_msg(str(i)) for i in range(20)]})
    assert len(ok["data"]) == 20


async def test_items_bad_input(env: Env) -> None:
    conv = await env.conversation()
    path = f"/v1/conversations/{conv['id']}/items"
    err = await env.err("POST", path, 400, {})
    assert err["param"] == "items" and err["code"] == "missing_required_parameter"
    err = await env.err("POST", path, 400, {"items": [{"type": "item_reference", "id": "msg_1"}]})
    assert err["param"] == "items[0].type"
    err = await env.err("POST", path, 400, {"items": [_msg("a")], "foo": 1})
    assert err["param"] == "foo"
    err = await env.err("POST", path + "?include=bogus", 400, {"items": [_msg("a")]})
    assert err["param"] == "include"


async def test_duplicate_item_ids_are_400(env: Env) -> None:
    conv = await env.conversation(items=[_msg("a", id="msg_a")])
    path = f"/v1/conversations/{conv['id']}/items"
    err = await env.err("POST", path, 400, {"items": [_msg("b", id="msg_a")]})
    assert err["param"] == "items[0].id" and err["code"] == "duplicate_item"
    err = await env.err("POST", path, 400, {"items": [_msg("b", id="msg_b"), _msg("c", id="msg_b")]})
    assert err["param"] == "items[1].id"
    assert len((await env.ok("GET", path))["data"]) == 1
    err = await env.err("POST", "/v1/conversations", 400, {"items": [_msg("a", id="x"), _msg("b", id="x")]})
    assert err["code"] == "duplicate_item"


async def test_include_accepted(env: Env) -> None:
    conv = await env.conversation(items=[_msg("a", id="msg_a")])
    base = f"/v1/conversations/{conv['id']}/items"
    q = "include=message.output_text.logprobs&include[]=message.input_image.image_url"
    assert len((await env.ok("GET", f"{base}?{q}"))["data"]) == 1
    assert (await env.ok("GET", f"{base}/msg_a?{q}"))["id"] == "msg_a"
    await env.err("GET", f"{base}/msg_a?include[]=nope", 400)


@pytest.mark.parametrize(("query", "param"), [
    ("limit=0", "limit"), ("limit=101", "limit"), ("limit=ten", "limit"),
    ("order=up", "order"), ("after=msg_unknown", "after"),
])
async def test_bad_pagination_is_400(env: Env, query: str, param: str) -> None:
    conv = await env.conversation(items=[_msg("a")])
    err = await env.err("GET", f"/v1/conversations/{conv['id']}/items?{query}", 400)
    assert err["param"] == param


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(0, 9), limit=st.integers(1, 4), order=st.sampled_from(["asc", "desc"]))
async def test_pagination_walk_covers_every_item_once(tmp_path: Path, n: int, limit: int, order: str) -> None:
    # tmp_path is shared by the examples: a fresh database file each time.
    db = tmp_path / f"walk-{uuid.uuid4().hex}.sqlite"
    e, gateway = await _env(db)
    try:
        conv = await e.conversation()
        added: list[str] = []
        if n:
            body = {"items": [_msg(f"m{i}") for i in range(n)]}
            page = await e.ok("POST", f"/v1/conversations/{conv['id']}/items", body)
            added = [i["id"] for i in page["data"]]
        expected = added if order == "asc" else list(reversed(added))
        seen: list[str] = []
        after: str | None = None
        while True:
            q = f"limit={limit}&order={order}" + (f"&after={after}" if after else "")
            page = await e.ok("GET", f"/v1/conversations/{conv['id']}/items?{q}")
            ids = [i["id"] for i in page["data"]]
            assert len(ids) <= limit
            assert page["first_id"] == (ids[0] if ids else None)
            assert page["last_id"] == (ids[-1] if ids else None)
            seen += ids
            if not page["has_more"]:
                break
            assert ids, "has_more with an empty page"
            after = page["last_id"]
        assert seen == expected
    finally:
        await gateway.aclose()


# --- persistence -------------------------------------------------------------------------------


async def test_survives_restart(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    e1, gateway1 = await _env(db)
    conv = await e1.conversation(metadata={"a": "b"}, items=[_msg("persist me")])
    items = await e1.ok("GET", f"/v1/conversations/{conv['id']}/items")
    await gateway1.aclose()

    e2, gateway2 = await _env(db)
    try:
        assert await e2.ok("GET", f"/v1/conversations/{conv['id']}") == conv
        assert await e2.ok("GET", f"/v1/conversations/{conv['id']}/items") == items
        await e2.ok("DELETE", f"/v1/conversations/{conv['id']}")
    finally:
        await gateway2.aclose()
    e3, gateway3 = await _env(db)
    try:
        await e3.err("GET", f"/v1/conversations/{conv['id']}", 404)
    finally:
        await gateway3.aclose()


# --- service functions for the engine -----------------------------------------------------------


async def test_load_and_append_items_for_a_response(env: Env) -> None:
    conv = await env.conversation(items=[_msg("earlier")])
    cid = conv["id"]
    history = await env.gateway.conversations.load_items(cid)
    assert [i["content"][0]["text"] for i in history] == ["earlier"]

    new_input = [{"id": "msg_in", "type": "message", "role": "user",
                  "content": [{"type": "input_text", "text": "question"}], "status": "completed"}]
    output = [{"id": "msg_out", "type": "message", "role": "assistant", "status": "completed",
               "content": [{"type": "output_text", "text": "answer", "annotations": [], "logprobs": []}]}]
    added = await env.gateway.conversations.append_items(cid, new_input + output)
    assert [i["id"] for i in added] == ["msg_in", "msg_out"]

    after = await env.gateway.conversations.load_items(cid)
    assert [i["id"] for i in after] == [history[0]["id"], "msg_in", "msg_out"]
    assert after[1:] == new_input + output
    # Visible through the API too, in the same order.
    listed = await env.ok("GET", f"/v1/conversations/{cid}/items?order=asc")
    assert listed["data"] == after

    # Replays and references do not duplicate history; id-less items get ids.
    again = await env.gateway.conversations.append_items(
        cid, [*output, {"type": "item_reference", "id": "msg_in"}, {"type": "reasoning", "summary": []}])
    assert len(again) == 1 and again[0]["type"] == "reasoning" and again[0]["id"].startswith("rs_")
    assert len(await env.gateway.conversations.load_items(cid)) == 4


async def test_service_functions_404_for_unknown_conversation(env: Env) -> None:
    with pytest.raises(APIError) as exc:
        await env.gateway.conversations.load_items("conv_missing")
    assert exc.value.status == 404 and exc.value.param == "conversation"
    with pytest.raises(APIError) as exc:
        await env.gateway.conversations.append_items("conv_missing", [_msg("x")])
    assert exc.value.status == 404


async def test_openapi_documents_the_routes(env: Env) -> None:
    doc = await env.ok("GET", "/openapi.json")
    paths = doc["paths"]
    assert "requestBody" in paths["/v1/conversations"]["post"]
    assert set(paths["/v1/conversations/{conversation_id}"]) >= {"get", "post", "delete"}
    assert set(paths["/v1/conversations/{conversation_id}/items/{item_id}"]) >= {"get", "delete"}
    listed = paths["/v1/conversations/{conversation_id}/items"]["get"]
    assert {p["name"] for p in listed["parameters"] if p["in"] == "query"} >= {"limit", "after", "order"}
    for path in ("/v1/prompts/{prompt_id}/versions", "/v1/connectors"):
        assert "requestBody" in paths[path]["post"], path
