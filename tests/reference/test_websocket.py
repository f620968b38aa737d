"""WebSocket mode (`GET /v1/responses` upgraded) against `responses-gateway serve` in front of the
scripted backend: the `websockets` client, the official SDK's `client.responses.connect()`, and the
rules of reference/core/websocket.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import OpenAI
from quart.testing.connections import WebsocketResponseError
from websockets.asyncio.client import ClientConnection, connect

from devstack.gateway_process import GatewayProcess
from reference.core import websocket as ws
from reference.core.errors import APIError
from reference.gateway import Gateway, build_gateway
from reference.store import open_store


def ws_url(gateway: GatewayProcess) -> str:
    return gateway.url.replace("http://", "ws://", 1) + "/responses"


async def turn(sock: ClientConnection, **create: Any) -> list[dict[str, Any]]:
    """Send one response.create and read until its terminal event (or an error envelope)."""
    await sock.send(json.dumps({"type": "response.create", "model": "scripted", **create}))
    return await read_turn(sock)


async def read_turn(sock: ClientConnection) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    while True:
        event = json.loads(await asyncio.wait_for(sock.recv(), 20))
        events.append(event)
        if event["type"] in ws.TERMINAL or event["type"] == "error":
            return events


# --- core -------------------------------------------------------------------------------------


def test_client_message_rules() -> None:
    parsed = ws.parse_client_message('{"type":"response.create","model":"m","input":"x","stream_id":"a_1"}')
    assert parsed.body == {"model": "m", "input": "x", "stream": True} and parsed.stream_id == "a_1"
    for bad, param in (('{"type":"response.cancel"}', "type"), ("[1]", None),
                       ('{"type":"response.create","model":"m","stream":true}', "stream"),
                       ('{"type":"response.create","model":"m","background":false}', "background"),
                       ('{"type":"response.create","stream_id":"a b"}', "stream_id")):
        with pytest.raises(APIError) as err:
            ws.parse_client_message(bad)
        assert err.value.status == 400 and err.value.param == param
    event = ws.error_event(APIError(400, "nope", "invalid_request_error", "previous_response_id",
                                    "previous_response_not_found"), "lane")
    assert event == {"type": "error", "status": 400, "stream_id": "lane", "error": {
        "message": "nope", "type": "invalid_request_error", "param": "previous_response_id",
        "code": "previous_response_not_found"}}


def test_connection_state_keeps_the_latest_and_evicts() -> None:
    state = ws.ConnectionState()
    state.remember("resp_1", [{"id": "a"}])
    assert state.history_for("resp_1") == [{"id": "a"}] and state.history_for("resp_0") is None
    state.evict("resp_0")
    assert state.history_for("resp_1") is not None
    state.evict("resp_1")
    assert state.history_for("resp_1") is None


# --- in-process: time limit, upgrades where none is offered -----------------------------------


@pytest.fixture
async def gateway_without_backend() -> AsyncIterator[Gateway]:
    gateway = build_gateway(open_store(":memory:"), None)
    try:
        yield gateway
    finally:
        await gateway.aclose()


async def test_connection_time_limit_error_then_close(gateway_without_backend: Gateway) -> None:
    app = gateway_without_backend.http_app()
    app.config["WEBSOCKET_MAX_SECONDS"] = 0.2
    async with app.test_client().websocket("/v1/responses") as sock:
        event = json.loads(await asyncio.wait_for(sock.receive(), 5))
    assert event["type"] == "error" and event["status"] == 400
    assert event["error"]["code"] == "websocket_connection_limit_reached"


async def test_upgrade_where_no_websocket_is_offered_is_an_honest_http_error(
    gateway_without_backend: Gateway,
) -> None:
    app = gateway_without_backend.http_app()
    for path in ("/v1/files", "/v1/nowhere"):
        with pytest.raises(WebsocketResponseError) as err:
            async with app.test_client().websocket(path) as sock:
                await sock.receive()
        response = err.value.response
        assert response.status_code in (404, 405), path
        assert json.loads(await response.get_data())["error"]["code"] in ("not_found", "method_not_allowed")


# --- against serve --------------------------------------------------------------------------------


async def test_events_match_the_sse_stream(gateway: GatewayProcess) -> None:
    async with connect(ws_url(gateway)) as sock:
        events = await turn(sock, input="[[text:one two three]]")
    types = [e["type"] for e in events]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    sse = httpx.post(gateway.url + "/responses", json={"model": "scripted", "input": "[[text:one two three]]",
                                                       "stream": True}, timeout=20)
    sse_types = [json.loads(line[6:])["type"] for line in sse.text.splitlines() if line.startswith("data: {")]
    assert types == sse_types
    final = events[-1]["response"]
    assert final["status"] == "completed" and final["output"][0]["content"][0]["text"] == "one two three"
    stored = httpx.get(gateway.url + f"/responses/{final['id']}").json()
    assert stored["output"] == final["output"]


async def test_store_false_continues_on_the_same_socket_only(gateway: GatewayProcess) -> None:
    async with connect(ws_url(gateway)) as sock:
        first = (await turn(sock, input="[[text:the word is papaya]]", store=False))[-1]["response"]
        second = await turn(sock, input="[[messages]]", store=False, previous_response_id=first["id"])
        assert second[-1]["type"] == "response.completed"
        seen = json.loads(second[-1]["response"]["output"][0]["content"][0]["text"])
        want = ["[[text:the word is papaya]]", "the word is papaya", "[[messages]]"]
        assert [m["content"] for m in seen] == want
    async with connect(ws_url(gateway)) as other:
        error = (await turn(other, input="again", store=False, previous_response_id=first["id"]))[-1]
    assert error["type"] == "error" and error["status"] == 400
    assert error["error"]["code"] == "previous_response_not_found"


async def test_failed_continuation_evicts_the_previous_response(gateway: GatewayProcess) -> None:
    async with connect(ws_url(gateway)) as sock:
        first = (await turn(sock, input="hello", store=False))[-1]["response"]
        failed = await turn(sock, input="[[error:503]]", store=False, previous_response_id=first["id"])
        assert failed[-1]["type"] == "response.failed"
        again = (await turn(sock, input="hello", store=False, previous_response_id=first["id"]))[-1]
    assert again["type"] == "error" and again["error"]["code"] == "previous_response_not_found"


async def test_messages_are_processed_one_at_a_time(gateway: GatewayProcess) -> None:
    async with connect(ws_url(gateway)) as sock:
        for text in ("[[slow:30]] [[text:a b c d]]", "[[text:e f]]"):
            await sock.send(json.dumps({"type": "response.create", "model": "scripted", "input": text,
                                        "stream_id": "lane"}))
        events = await read_turn(sock) + await read_turn(sock)
    ids = [e["response"]["id"] if "response" in e else None for e in events]
    first_id, second_id = ids[0], next(i for i in ids[1:] if i not in (None, ids[0]))
    switch = ids.index(second_id)
    assert all(i in (None, first_id) for i in ids[:switch])
    assert all(i in (None, second_id) for i in ids[switch:])
    assert events[switch - 1]["type"] == "response.completed"
    assert {e.get("stream_id") for e in events} == {"lane"}


async def test_errors_keep_the_socket_open(gateway: GatewayProcess) -> None:
    async with connect(ws_url(gateway)) as sock:
        error = (await turn(sock, input="x", stream=True))[-1]
        assert error == {"type": "error", "status": 400, "error": error["error"]}
        assert error["error"]["param"] == "stream"
        await sock.send("not json")
        assert json.loads(await sock.recv())["error"]["code"] == "invalid_json"
        assert (await turn(sock, input="[[text:fine]]"))[-1]["type"] == "response.completed"


def test_sdk_connect(gateway: GatewayProcess) -> None:
    with OpenAI(base_url=gateway.url, api_key="unused", max_retries=0, timeout=20) as client, \
            client.responses.connect() as connection:
        connection.response.create(model="scripted", input="[[text:hello over websocket]]", store=False)
        deltas: list[str] = []
        for event in connection:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
            if event.type == "response.completed":
                first = event.response
                break
        connection.response.create(model="scripted", input="[[text:again]]", store=False,
                                   previous_response_id=first.id)
        for event in connection:
            if event.type in ("response.completed", "error"):
                break
    assert "".join(deltas) == "hello over websocket"
    assert event.type == "response.completed" and event.response.output_text == "again"


async def test_hosted_tools_run_over_the_socket(gateway: GatewayProcess) -> None:
    docs = Path(__file__).resolve().parents[2] / "fixtures" / "documents"
    with httpx.Client(base_url=gateway.url, timeout=20) as http:
        file_id = http.post("/files", data={"purpose": "assistants"},
                            files={"file": ("solar.txt", (docs / "solar.txt").read_bytes())}).json()["id"]
        store = http.post("/vector_stores", json={"name": "ws", "file_ids": [file_id]}).json()
        for _ in range(100):
            if http.get(f"/vector_stores/{store['id']}").json()["status"] == "completed":
                break
            await asyncio.sleep(0.1)
    async with connect(ws_url(gateway)) as sock:
        events = await turn(sock, input='[[tool:file_search:{"query":"solar panels"}]]',
                            tools=[{"type": "file_search", "vector_store_ids": [store["id"]]}])
    types = [e["type"] for e in events]
    assert "response.file_search_call.completed" in types, types
    assert types[-1] == "response.completed"
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[-1]["response"]["output"][0]["type"] == "file_search_call"
