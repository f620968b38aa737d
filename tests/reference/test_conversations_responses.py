"""Conversations and prompts used by `POST /v1/responses` (the engine calls
`Conversations.load_items` / `append_items` and `Prompts.render` of `reference.services`)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import respx
from quart.typing import TestClientProtocol as QuartTestClient

from fixtures.backend.respx_routes import mount
from reference.backend import Backend
from reference.gateway import build_gateway
from reference.store import SQLiteStore

BACKEND = "http://backend.test"


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[QuartTestClient]:
    with respx.mock(assert_all_called=False) as router:
        mount(router, BACKEND)
        gateway = build_gateway(SQLiteStore(tmp_path / "db.sqlite"), Backend(BACKEND, timeout=5))
        yield gateway.http_app().test_client()
        await gateway.aclose()


async def _post(http: QuartTestClient, path: str, body: dict[str, Any], status: int = 200) -> Any:
    resp = await http.post(path, json=body)
    text = await resp.get_data(as_text=True)
    assert resp.status_code == status, text
    return json.loads(text)


def _seen_messages(response: dict[str, Any]) -> list[dict[str, Any]]:
    """The chat messages the backend received (`[[messages]]` directive)."""
    text = response["output"][0]["content"][0]["text"]
    messages: list[dict[str, Any]] = json.loads(text)
    return messages


async def test_response_reads_and_extends_the_conversation(http: QuartTestClient) -> None:
    conv = await _post(http, "/v1/conversations", {"items": [{"role": "user", "content": "My name is Ada."}]})
    first = await _post(http, "/v1/responses", {"model": "m", "conversation": conv["id"],
                                                "input": "[[text:Hello Ada]]"})
    assert first["output"][0]["content"][0]["text"] == "Hello Ada"
    items = (await (await http.get(f"/v1/conversations/{conv['id']}/items?order=asc")).get_json())["data"]
    texts = [part["text"] for item in items for part in item["content"]]
    assert texts == ["My name is Ada.", "[[text:Hello Ada]]", "Hello Ada"]
    assert items[-1]["id"] == first["output"][0]["id"]

    # The next turn sees the whole conversation, in order, before its own input.
    second = await _post(http, "/v1/responses", {"model": "m", "conversation": {"id": conv["id"]},
                                                 "input": "[[messages]]"})
    seen = _seen_messages(second)
    expected = ["My name is Ada.", "[[text:Hello Ada]]", "Hello Ada", "[[messages]]"]
    assert [m["content"] for m in seen] == expected
    assert [m["role"] for m in seen] == ["user", "user", "assistant", "user"]


async def test_unknown_or_deleted_conversation(http: QuartTestClient) -> None:
    body = {"model": "m", "conversation": "conv_missing", "input": "x"}
    err = await _post(http, "/v1/responses", body, 404)
    assert err["error"]["param"] == "conversation"
    conv = await _post(http, "/v1/conversations", {})
    await http.delete(f"/v1/conversations/{conv['id']}")
    await _post(http, "/v1/responses", {"model": "m", "conversation": conv["id"], "input": "x"}, 404)


async def test_prompt_rendered_into_a_response(http: QuartTestClient) -> None:
    prompt = await _post(http, "/v1/prompts", {
        "instructions": "Answer in a {{tone}} tone.",
        "input": [{"role": "user", "content": "Context: {{context}}"}]})
    response = await _post(http, "/v1/responses", {
        "model": "m", "input": "[[messages]]",
        "prompt": {"id": prompt["id"], "variables": {"tone": "brief", "context": "tests"}}})
    assert _seen_messages(response) == [
        {"role": "system", "content": "Answer in a brief tone."},
        {"role": "user", "content": "Context: tests"},
        {"role": "user", "content": "[[messages]]"},
    ]
    assert response["prompt"]["id"] == prompt["id"] and response["prompt"]["version"] == "1"

    partial = {"id": prompt["id"], "variables": {"tone": "x"}}
    err = await _post(http, "/v1/responses", {"model": "m", "input": "x", "prompt": partial}, 400)
    assert err["error"]["param"] == "prompt.variables.context"
    await _post(http, "/v1/responses", {"model": "m", "input": "x", "prompt": {"id": "pmpt_missing"}}, 404)
