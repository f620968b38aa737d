"""`--backend-api responses`: the model hop speaks stateless Responses (reference/core/upstream.py).

The scripted backend's `/v1/responses` refuses every piece of state, so each gateway feature
that works here (chains, conversations, background, hosted tools) proves the gateway kept the
state itself and sent the backend one self-contained request.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import respx
from quart.typing import TestClientProtocol as QuartTestClient

from fixtures.backend.respx_routes import MountedBackend, mount
from fixtures.backend.scripts import ScriptEngine
from reference.backend import Backend
from reference.core import errors, upstream
from reference.core.sse import DONE
from reference.gateway import build_gateway
from reference.store import SQLiteStore

BACKEND = "http://backend.test"
TOOLS = [{"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}]


# --- the codec, sans-IO ------------------------------------------------------------------------


def test_chat_request_becomes_a_stateless_responses_body() -> None:
    chat = {
        "model": "m",
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 7,
        "temperature": 0.3,
        "presence_penalty": 1.0,
        "parallel_tool_calls": False,
        "messages": [
            {"role": "system", "content": "be brief"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": "data:x"}},
                ],
            },
            {
                "role": "assistant",
                "content": "checking",
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        ],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": {}}},
    }
    body = upstream.responses_request(chat)
    assert body["store"] is False and "previous_response_id" not in body and "conversation" not in body
    assert body["input"] == [
        {"type": "message", "role": "system", "content": "be brief"},
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "look"},
                {"type": "input_image", "image_url": "data:x", "detail": "auto"},
            ],
        },
        {"type": "message", "role": "assistant", "content": "checking"},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
    ]
    assert body["max_output_tokens"] == 7 and body["temperature"] == 0.3 and body["stream"] is True
    assert "presence_penalty" not in body and "stream_options" not in body
    assert body["tools"] == [{"type": "function", "name": "f", "parameters": {"type": "object"}}]
    assert body["tool_choice"] == {"type": "function", "name": "f"}
    assert body["text"] == {"format": {"type": "json_schema", "name": "n", "schema": {}}}


def scripted(request: dict[str, Any]) -> Any:
    plan = ScriptEngine().handle("POST", "/v1/responses", [], json.dumps(request).encode())
    return plan


def test_response_object_becomes_a_chat_completion() -> None:
    plan = scripted({"model": "m", "input": "[[tool]]", "store": False, "tools": TOOLS})
    completion = upstream.completion_from_response(plan.body)
    [choice] = completion["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": "{}"}
    plan = scripted({"model": "m", "input": "[[length]]", "store": False})
    completion = upstream.completion_from_response(plan.body)
    assert completion["choices"][0]["finish_reason"] == "length"
    assert completion["choices"][0]["message"]["content"] == "partial answer"
    assert completion["usage"]["prompt_tokens"] == 1
    with pytest.raises(errors.APIError) as failed:
        upstream.completion_from_response(
            json.dumps(
                {"output": [], "status": "failed", "error": {"message": "boom", "code": "server_error"}}
            )
        )
    assert failed.value.status == 502 and "boom" in failed.value.message
    with pytest.raises(errors.APIError):
        upstream.completion_from_response(b'{"choices": []}')


def test_event_stream_becomes_chat_chunks_whatever_the_split() -> None:
    plan = scripted(
        {
            "model": "m",
            "input": 'hi [[tool:get_weather:{"city":"Paris"}]] [[text:a b]]',
            "store": False,
            "stream": True,
            "tools": TOOLS,
        }
    )
    wire = b"".join(plan.frames)
    for size in (1, 7, len(wire)):
        decoder = upstream.ResponsesStreamDecoder()
        out: list[Any] = []
        for start in range(0, len(wire), size):
            out += decoder.feed(wire[start : start + size])
        out += decoder.close()
        assert out[-1] is DONE
        chunks = [c for c in out if isinstance(c, dict)]
        text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
        args = "".join(
            call["function"]["arguments"]
            for c in chunks
            if c["choices"]
            for call in c["choices"][0]["delta"].get("tool_calls", [])
        )
        assert text == "a b" and args == '{"city":"Paris"}'
        assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "tool_calls"
        assert chunks[-1]["usage"]["completion_tokens"] >= 1
    failed = (
        b'event: response.failed\ndata: {"type":"response.failed","response":{"error":{"message":"x"}}}\n\n'
    )
    with pytest.raises(errors.APIError):
        upstream.ResponsesStreamDecoder().feed(failed)


def test_unknown_backend_api_is_refused() -> None:
    with pytest.raises(ValueError, match="chat, responses"):
        Backend(BACKEND, api="soap")  # type: ignore[arg-type]


# --- the direct HTTP path ----------------------------------------------------------------------


class Client:
    def __init__(self, http: QuartTestClient, backend: MountedBackend) -> None:
        self.http = http
        self.backend = backend

    async def create(self, **body: Any) -> dict[str, Any]:
        body.setdefault("model", "m")
        resp = await self.http.post("/v1/responses", json=body)
        assert resp.status_code == 200, await resp.get_data(as_text=True)
        result: dict[str, Any] = await resp.get_json()
        return result

    def upstream(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.backend.recorder.requests if r["path"] == "/v1/responses"]


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    with respx.mock(assert_all_called=False) as router:
        mounted = mount(router, BACKEND)
        gateway = build_gateway(
            SQLiteStore(tmp_path / "db.sqlite"), Backend(BACKEND, timeout=5, api="responses")
        )
        yield Client(gateway.http_app().test_client(), mounted)
        await gateway.aclose()


async def test_chain_is_expanded_and_ids_are_the_gateways(client: Client) -> None:
    first = await client.create(input="[[text:one]]", instructions="sys")
    assert first["id"].startswith("resp_") and not first["id"].startswith("resp_scripted")
    second = await client.create(input="[[messages]]", previous_response_id=first["id"])
    assert second["previous_response_id"] == first["id"]
    seen = json.loads(second["output"][0]["content"][0]["text"])
    assert [(m["role"], m["content"]) for m in seen] == [
        ("user", "[[text:one]]"),
        ("assistant", "one"),
        ("user", "[[messages]]"),
    ]
    assert len(client.upstream()) == 2 and client.backend.recorder.requests[0]["path"] == "/v1/responses"
    for sent in client.upstream():
        assert sent["store"] is False and "previous_response_id" not in sent and "conversation" not in sent
    got = await client.http.get(f"/v1/responses/{second['id']}")
    assert (await got.get_json())["output"] == second["output"]
    items = await client.http.get(f"/v1/responses/{second['id']}/input_items")
    assert (await items.get_json())["data"][0]["content"][0]["text"] == "[[messages]]"


async def test_conversation_and_stream(client: Client) -> None:
    conv = await (await client.http.post("/v1/conversations", json={})).get_json()
    await client.create(input="[[text:first]]", conversation=conv["id"])
    resp = await client.http.post(
        "/v1/responses",
        json={"model": "m", "input": "[[messages]] [[slow:1]]", "conversation": conv["id"], "stream": True},
    )
    text = await resp.get_data(as_text=True)
    frames = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]
    assert [f["type"] for f in frames][:2] == ["response.created", "response.in_progress"]
    final = frames[-1]
    assert final["type"] == "response.completed" and final["response"]["conversation"] == {"id": conv["id"]}
    seen = json.loads(final["response"]["output"][0]["content"][0]["text"])
    assert [m["content"] for m in seen] == ["[[text:first]]", "first", "[[messages]] [[slow:1]]"]
    assert all("conversation" not in sent for sent in client.upstream())


async def test_background_runs_in_the_gateway(client: Client) -> None:
    queued = await client.create(input="[[text:later]]", background=True)
    assert queued["status"] in ("queued", "in_progress")
    for _ in range(100):
        got = await (await client.http.get(f"/v1/responses/{queued['id']}")).get_json()
        if got["status"] == "completed":
            break
        await asyncio.sleep(0.02)
    assert got["status"] == "completed" and got["output"][0]["content"][0]["text"] == "later"
    assert all(sent.get("background") is None for sent in client.upstream())


async def test_function_tools_and_backend_errors(client: Client) -> None:
    resp = await client.create(input="[[tool]]", tools=TOOLS)
    [call] = resp["output"]
    assert call["type"] == "function_call" and call["name"] == "get_weather"
    follow = await client.create(
        previous_response_id=resp["id"],
        tools=TOOLS,
        input=[{"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}],
    )
    assert follow["output"][0]["content"][0]["text"] == "tool result: sunny"
    bad = await client.http.post("/v1/responses", json={"model": "m", "input": "[[error:503]]"})
    assert bad.status_code == 502
    rejected = await client.http.post("/v1/responses", json={"model": "m", "input": "x", "temperature": 5})
    assert rejected.status_code == 400


# --- the option's wiring -----------------------------------------------------------------------


def test_backend_api_option_reaches_config_serve_and_up(monkeypatch: pytest.MonkeyPatch) -> None:
    import devstack.stack
    from devstack.cli import _build_parser
    from devstack.stack import Stack, StackConfig, up_command
    from reference.config import GatewayConfig

    with pytest.raises(ValueError, match="backend_api"):
        GatewayConfig(backend_url=BACKEND, backend_api="soap")
    serve = _build_parser().parse_args(["serve", "--backend-api", "responses"])
    assert serve.backend_api == "responses"
    assert _build_parser().parse_args(["serve"]).backend_api == "chat"
    with pytest.raises(SystemExit):
        _build_parser().parse_args(["up", "--backend-api", "soap"])
    stack = Stack(StackConfig(backend_url=BACKEND, backend_api="responses"))
    command = stack._gateway_command(1, 2)
    assert command[command.index("--backend-api") + 1] == "responses"
    started: list[StackConfig] = []
    monkeypatch.setattr(devstack.stack, "run_up", lambda config: started.append(config) or 0)
    assert up_command(_build_parser().parse_args(["up", "--backend-api", "responses"])) == 0
    assert started[0].backend_api == "responses"
