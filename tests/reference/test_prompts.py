"""Prompts API (`/v1/prompts`): versions, optimistic concurrency, rendering for Responses."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from quart.typing import TestClientProtocol as QuartTestClient

from reference.core.errors import APIError
from reference.gateway import Gateway
from reference.services import prompts
from tests.support.http_env import body_kwargs, error_fields, scripted_gateway, sqlite_gateway

MAX_BODY = 8192


class Env:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.engine = gateway.engine
        self.http: QuartTestClient = gateway.http_app(max_body_bytes=MAX_BODY).test_client()

    async def call(self, method: str, path: str, body: Any = None,
                   data: bytes | None = None) -> tuple[int, Any]:
        resp = await self.http.open(path, method=method, **body_kwargs(body, data))
        text = await resp.get_data(as_text=True)
        assert resp.content_type == "application/json", text
        return resp.status_code, json.loads(text)

    async def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, parsed = await self.call(method, path, body)
        assert status == 200, parsed
        return parsed

    async def err(self, method: str, path: str, status: int, body: Any = None,
                  data: bytes | None = None) -> dict[str, Any]:
        got, parsed = await self.call(method, path, body, data)
        assert got == status, parsed
        return error_fields(parsed)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with scripted_gateway(tmp_path / "db.sqlite") as gateway:
        yield Env(gateway)


SUPPORT = {
    "name": "support",
    "instructions": "You help {{customer}} with {{ product }}.",
    "input": [{"role": "user", "content": "Question: {{question}}"}],
    "variables": {"product": {"description": "what they bought", "default": "the gadget"}},
    "metadata": {"team": "cx"},
}


async def _prompt(env: Env, **overrides: Any) -> dict[str, Any]:
    prompt: dict[str, Any] = await env.ok("POST", "/v1/prompts", {**SUPPORT, **overrides})
    return prompt


# --- CRUD ----------------------------------------------------------------------------------------


async def test_create_and_get(env: Env) -> None:
    prompt = await _prompt(env)
    assert prompt["id"].startswith("pmpt_") and prompt["object"] == "prompt"
    assert prompt["default_version"] == "1" and prompt["latest_version"] == "1"
    assert prompt["name"] == "support" and prompt["metadata"] == {"team": "cx"}
    assert prompt["instructions"] == SUPPORT["instructions"]
    assert prompt["input"] == [{"type": "message", "role": "user",
                                "content": [{"type": "input_text", "text": "Question: {{question}}"}]}]
    assert prompt["variables"] == SUPPORT["variables"]
    assert await env.ok("GET", f"/v1/prompts/{prompt['id']}") == prompt

    version = await env.ok("GET", f"/v1/prompts/{prompt['id']}/versions/1")
    assert version["object"] == "prompt.version" and version["version"] == "1"
    assert version["id"] == prompt["id"]
    assert version["instructions"] == prompt["instructions"]


async def test_versions_and_default(env: Env) -> None:
    prompt = await _prompt(env)
    pid = prompt["id"]
    v2 = await env.ok("POST", f"/v1/prompts/{pid}/versions",
                      {"base_version": "1", "instructions": "v2 {{x}}"})
    assert v2["version"] == "2" and v2["instructions"] == "v2 {{x}}" and v2["input"] is None
    after = await env.ok("GET", f"/v1/prompts/{pid}")
    # A new version does not move the default unless asked.
    assert after["latest_version"] == "2" and after["default_version"] == "1"
    assert after["instructions"] == SUPPORT["instructions"]

    v3 = await env.ok("POST", f"/v1/prompts/{pid}/versions",
                      {"base_version": "2", "instructions": "v3", "make_default": True})
    assert v3["version"] == "3"
    after = await env.ok("GET", f"/v1/prompts/{pid}")
    assert after["default_version"] == "3" and after["instructions"] == "v3"
    assert after["name"] == "support" and after["metadata"] == {"team": "cx"}

    moved = await env.ok("POST", f"/v1/prompts/{pid}",
                         {"default_version": "2", "previous_default_version": "3"})
    assert moved["default_version"] == "2" and moved["instructions"] == "v2 {{x}}"
    assert moved["latest_version"] == "3"
    assert await env.ok("GET", f"/v1/prompts/{pid}") == moved

    listed = await env.ok("GET", f"/v1/prompts/{pid}/versions")
    assert [v["version"] for v in listed["data"]] == ["3", "2", "1"]
    assert listed["first_id"] == "3" and listed["last_id"] == "1" and listed["has_more"] is False
    page = await env.ok("GET", f"/v1/prompts/{pid}/versions?order=asc&limit=1&after=1")
    assert [v["version"] for v in page["data"]] == ["2"] and page["has_more"] is True


async def test_update_name_and_metadata(env: Env) -> None:
    prompt = await _prompt(env)
    updated = await env.ok("POST", f"/v1/prompts/{prompt['id']}", {"metadata": {"team": "ops"}, "name": "n2"})
    assert updated == {**prompt, "metadata": {"team": "ops"}, "name": "n2"}
    # Fields not sent are kept.
    again = await env.ok("POST", f"/v1/prompts/{prompt['id']}", {"name": "n3"})
    assert again["metadata"] == {"team": "ops"}


async def test_list_and_delete(env: Env) -> None:
    a = await _prompt(env)
    b = await _prompt(env, name="other")
    listed = await env.ok("GET", "/v1/prompts?order=asc")
    assert [p["id"] for p in listed["data"]] == [a["id"], b["id"]]
    deleted = await env.ok("DELETE", f"/v1/prompts/{a['id']}")
    assert deleted == {"id": a["id"], "object": "prompt.deleted", "deleted": True}
    assert [p["id"] for p in (await env.ok("GET", "/v1/prompts"))["data"]] == [b["id"]]
    for method, path, body in [
        ("GET", f"/v1/prompts/{a['id']}", None),
        ("POST", f"/v1/prompts/{a['id']}", {"name": "x"}),
        ("DELETE", f"/v1/prompts/{a['id']}", None),
        ("GET", f"/v1/prompts/{a['id']}/versions", None),
        ("GET", f"/v1/prompts/{a['id']}/versions/1", None),
        ("POST", f"/v1/prompts/{a['id']}/versions", {"base_version": "1", "instructions": "x"}),
    ]:
        err = await env.err(method, path, 404, body)
        assert a["id"] in err["message"], (method, path)
    with pytest.raises(APIError) as exc:
        await env.gateway.prompts.render({"id": a["id"]})
    assert exc.value.status == 404
    assert env.gateway.store.objects.list(prompts.VERSION, parent=a["id"]) == []


async def test_unknown_version_is_404(env: Env) -> None:
    prompt = await _prompt(env)
    err = await env.err("GET", f"/v1/prompts/{prompt['id']}/versions/7", 404)
    assert "'7'" in err["message"]
    await env.err("GET", "/v1/prompts/pmpt_nope/versions/1", 404)


@pytest.mark.parametrize(("body", "param"), [
    ({"name": "no template"}, "instructions"),
    ({"instructions": 5}, "instructions"),
    ({"instructions": "x", "input": "text"}, "input"),
    ({"input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
    ({"instructions": "x", "variables": {"bad name": {}}}, "variables"),
    ({"instructions": "x", "variables": {"v": {"default": 3}}}, "variables.v.default"),
    ({"instructions": "x", "metadata": {"k": 1}}, "metadata.k"),
    ({"instructions": "x", "unknown": 1}, "unknown"),
    ({"instructions": "x", "name": "n" * 257}, "name"),
])
async def test_create_bad_input(env: Env, body: dict[str, Any], param: str) -> None:
    err = await env.err("POST", "/v1/prompts", 400, body)
    assert err["param"] == param, err


async def test_bad_bodies_and_pagination(env: Env) -> None:
    await env.err("POST", "/v1/prompts", 400, data=b"{")
    await env.err("POST", "/v1/prompts", 413, data=json.dumps({"instructions": "x" * MAX_BODY}).encode())
    prompt = await _prompt(env)
    pid = prompt["id"]
    err = await env.err("POST", f"/v1/prompts/{pid}/versions", 400, {"instructions": "x"})
    assert err["param"] == "base_version" and err["code"] == "missing_required_parameter"
    err = await env.err("POST", f"/v1/prompts/{pid}/versions", 400, {"base_version": 1, "instructions": "x"})
    assert err["param"] == "base_version"
    err = await env.err("POST", f"/v1/prompts/{pid}", 400, {"default_version": "1"})
    assert err["param"] == "previous_default_version"
    err = await env.err("POST", f"/v1/prompts/{pid}", 400, {"default_version": "9",
                                                            "previous_default_version": "1"})
    assert err["param"] == "default_version"
    for query, param in [("limit=0", "limit"), ("order=sideways", "order"), ("after=99", "after")]:
        assert (await env.err("GET", f"/v1/prompts/{pid}/versions?{query}", 400))["param"] == param
        assert (await env.err("GET", f"/v1/prompts?{query}", 400))["param"] == param


# --- optimistic concurrency ------------------------------------------------------------------------


async def test_stale_base_version_is_409_and_writes_nothing(env: Env) -> None:
    prompt = await _prompt(env)
    pid = prompt["id"]
    await env.ok("POST", f"/v1/prompts/{pid}/versions", {"base_version": "1", "instructions": "by alice"})
    err = await env.err("POST", f"/v1/prompts/{pid}/versions", 409,
                        {"base_version": "1", "instructions": "by bob"})
    assert err["code"] == "version_conflict" and err["param"] == "base_version"
    assert "'2'" in err["message"]
    versions = await env.ok("GET", f"/v1/prompts/{pid}/versions")
    assert [v["instructions"] for v in versions["data"]] == ["by alice", SUPPORT["instructions"]]
    assert (await env.ok("GET", f"/v1/prompts/{pid}"))["latest_version"] == "2"


async def test_stale_default_is_409(env: Env) -> None:
    prompt = await _prompt(env)
    pid = prompt["id"]
    await env.ok("POST", f"/v1/prompts/{pid}/versions", {"base_version": "1", "instructions": "two"})
    await env.ok("POST", f"/v1/prompts/{pid}/versions", {"base_version": "2", "instructions": "three"})
    await env.ok("POST", f"/v1/prompts/{pid}", {"default_version": "2", "previous_default_version": "1"})
    err = await env.err("POST", f"/v1/prompts/{pid}", 409,
                        {"default_version": "3", "previous_default_version": "1"})
    assert err["code"] == "version_conflict" and err["param"] == "previous_default_version"
    assert (await env.ok("GET", f"/v1/prompts/{pid}"))["default_version"] == "2"


async def test_concurrent_version_creation_has_one_winner(env: Env) -> None:
    prompt = await _prompt(env)
    pid = prompt["id"]
    results = await asyncio.gather(*[
        env.call("POST", f"/v1/prompts/{pid}/versions", {"base_version": "1", "instructions": f"writer {i}"})
        for i in range(6)])
    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 409, 409, 409, 409, 409]
    versions = await env.ok("GET", f"/v1/prompts/{pid}/versions")
    assert [v["version"] for v in versions["data"]] == ["2", "1"]


# --- rendering -------------------------------------------------------------------------------------


async def test_render_default_version_with_defaults(env: Env) -> None:
    prompt = await _prompt(env)
    rendered = await env.gateway.prompts.render(
        {"id": prompt["id"], "variables": {"customer": "Ada", "question": "Why?"}})
    assert rendered.version == "1"
    assert rendered.instructions == "You help Ada with the gadget."
    assert rendered.input == [{"type": "message", "role": "user",
                               "content": [{"type": "input_text", "text": "Question: Why?"}]}]
    assert rendered.reference == {"id": prompt["id"], "version": "1",
                                  "variables": {"customer": "Ada", "question": "Why?"}}


async def test_render_specific_version_and_input_text_value(env: Env) -> None:
    prompt = await _prompt(env)
    await env.ok("POST", f"/v1/prompts/{prompt['id']}/versions",
                 {"base_version": "1", "instructions": "Hi {{x}}"})
    rendered = await env.gateway.prompts.render({"id": prompt["id"], "version": "2",
                     "variables": {"x": {"type": "input_text", "text": "there"}}})
    assert rendered.instructions == "Hi there" and rendered.input == []


async def test_render_image_and_file_variables_split_text(env: Env) -> None:
    prompt = await _prompt(env, instructions=None, variables=None, input=[
        {"role": "user", "content": "Look at {{img}} and {{doc}}, then answer."}])
    image = {"type": "input_image", "image_url": "https://example.test/cat.png", "detail": "low"}
    file = {"type": "input_file", "file_id": "file_123"}
    rendered = await env.gateway.prompts.render(
        {"id": prompt["id"], "variables": {"img": image, "doc": file}})
    assert rendered.instructions is None
    assert rendered.input[0]["content"] == [
        {"type": "input_text", "text": "Look at "}, image,
        {"type": "input_text", "text": " and "}, file,
        {"type": "input_text", "text": ", then answer."}]


async def test_render_errors(env: Env) -> None:
    prompt = await _prompt(env)
    pid = prompt["id"]

    async def fails(ref: Any) -> APIError:
        with pytest.raises(APIError) as exc:
            await env.gateway.prompts.render(ref)
        return exc.value

    err = await fails({"id": pid, "variables": {"customer": "Ada"}})
    assert err.status == 400 and err.param == "prompt.variables.question" and "question" in err.message
    assert err.code == "missing_prompt_variable"
    err = await fails({"id": pid, "variables": {"customer": "A", "question": "q", "typo": "x"}})
    assert err.status == 400 and err.param == "prompt.variables.typo"
    err = await fails({"id": pid, "variables": {"customer": {"type": "input_image", "image_url": "u"},
                                                "question": "q"}})
    assert err.status == 400 and err.param == "prompt.variables.customer"
    err = await fails({"id": pid, "variables": {"customer": 5}})
    assert err.status == 400 and err.param is not None and err.param.startswith("prompt.variables.customer")
    err = await fails({"variables": {}})
    assert err.status == 400 and err.param == "prompt.id"
    err = await fails({"id": "pmpt_missing"})
    assert err.status == 404 and err.param == "prompt.id"
    err = await fails({"id": pid, "version": "42", "variables": {}})
    assert err.status == 404 and err.param == "prompt.version"


@settings(max_examples=40, deadline=None)
@given(value=st.text(max_size=30))
def test_substitution_is_single_pass(value: str) -> None:
    # A value containing placeholders (or braces) is inserted literally, never expanded again.
    version: dict[str, Any] = {"id": "pmpt_x", "version": "1", "instructions": "<{{a}}|{{b}}>",
                               "input": None, "variables": {}}
    rendered = prompts.render_version(version, {"a": value, "b": "{{a}}"})
    assert rendered.instructions == f"<{value}|{{{{a}}}}>"


# --- persistence -----------------------------------------------------------------------------------


async def test_survives_restart(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    gateway = sqlite_gateway(db)
    env = Env(gateway)
    prompt = await _prompt(env)
    v2 = await env.ok("POST", f"/v1/prompts/{prompt['id']}/versions",
                      {"base_version": "1", "instructions": "two"})
    await gateway.aclose()

    gateway2 = sqlite_gateway(db)
    try:
        env2 = Env(gateway2)
        assert await env2.ok("GET", f"/v1/prompts/{prompt['id']}") == {**prompt, "latest_version": "2"}
        assert await env2.ok("GET", f"/v1/prompts/{prompt['id']}/versions/2") == v2
        # The concurrency state survives too: version 1 is stale.
        await env2.err("POST", f"/v1/prompts/{prompt['id']}/versions", 409,
                       {"base_version": "1", "instructions": "x"})
        rendered = await gateway2.prompts.render({"id": prompt["id"], "version": "2"})
        assert rendered.instructions == "two"
    finally:
        await gateway2.aclose()


@pytest.mark.parametrize(("body", "param"), [
    ({"metadata": "x"}, "metadata"),
    ({"name": 3}, "name"),
    ({"default_version": 2, "previous_default_version": "1"}, "default_version"),
    ({"make_default": True}, "make_default"),
])
async def test_update_bad_input(env: Env, body: dict[str, Any], param: str) -> None:
    prompt = await _prompt(env)
    err = await env.err("POST", f"/v1/prompts/{prompt['id']}", 400, body)
    assert err["param"] == param, err
    assert await env.ok("GET", f"/v1/prompts/{prompt['id']}") == prompt


async def test_version_bad_input(env: Env) -> None:
    prompt = await _prompt(env)
    path = f"/v1/prompts/{prompt['id']}/versions"
    err = await env.err("POST", path, 400, {"base_version": "1"})
    assert err["param"] == "instructions"
    err = await env.err("POST", path, 400, {"base_version": "1", "instructions": "x", "make_default": "yes"})
    assert err["param"] == "make_default"
    err = await env.err("POST", path, 400, {"base_version": "1", "instructions": "x", "metadata": {}})
    assert err["param"] == "metadata"  # metadata belongs to the prompt, not to a version
    assert (await env.ok("GET", path))["data"] == [await env.ok("GET", f"{path}/1")]
