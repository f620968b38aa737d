"""Security of the Envoy path: what reaches the model backend, and in which order the processor's
verdict and Envoy's upstream connection happen.

Real processes (scripted backend, gateway, Envoy); the backend's request recording
(`GET /_fixture/requests`) shows exactly which headers the model server received.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from devstack.stack import Stack, StackConfig
from fixtures.backend.testing import sse_data
from reference.core.envoy_contract import IN_GATEWAY_HEADER

pytestmark = [pytest.mark.envoy, pytest.mark.slow]

KEY_ENV = "SECURITY_TEST_BACKEND_KEY"
GATEWAY_KEY = "sk-gateway-own-key-0123456789"

# What a client may send that must never reach the model server: its own credentials and
# anything else the gateway does not know to be harmless.
CLIENT_SECRETS = {
    "authorization": "Bearer sk-client-secret",
    "cookie": "session=client-cookie",
    "x-api-key": "client-x-api-key",
    "proxy-authorization": "Basic Y2xpZW50OnNlY3JldA==",
    "x-custom-internal": "client-private",
    "openai-organization": "org-client",
}
# The allow-list: content negotiation, tracing and request ids pass through.
CLIENT_ALLOWED = {
    "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "tracestate": "vendor=client",
    "x-request-id": "req-client-0001",
    "accept-language": "en",
}


@pytest.fixture(scope="module")
def keyed_stack() -> Iterator[Stack]:
    os.environ[KEY_ENV] = GATEWAY_KEY
    stack = Stack(StackConfig(backend_api_key_env=KEY_ENV))
    try:
        with stack:
            yield stack
    finally:
        os.environ.pop(KEY_ENV, None)


def _recorded_chat_requests(stack: Stack) -> list[dict[str, Any]]:
    recorded = httpx.get(f"{stack.backend_url}/_fixture/requests", timeout=5).json()["requests"]
    return [r for r in recorded if r["path"].endswith("/chat/completions")]


def _assert_only_gateway_credentials(headers: dict[str, str]) -> None:
    assert headers.get("authorization") == f"Bearer {GATEWAY_KEY}", headers
    for name in CLIENT_SECRETS:
        if name != "authorization":
            assert name not in headers, (name, headers)
    for name, value in CLIENT_ALLOWED.items():
        assert headers.get(name) == value, (name, headers)
    leaked = [name for name, value in headers.items() if "client" in value and name not in CLIENT_ALLOWED]
    assert not leaked, headers


def _post(stack: Stack, body: dict[str, Any]) -> httpx.Response:
    httpx.delete(f"{stack.backend_url}/_fixture/requests", timeout=5)
    headers = {**CLIENT_SECRETS, **CLIENT_ALLOWED}
    return httpx.post(f"{stack.envoy_url}/v1/responses", json=body, headers=headers, timeout=30)


def test_backend_gets_gateway_key_not_client_credentials_json(keyed_stack: Stack) -> None:
    r = _post(keyed_stack, {"model": "m", "input": "[[text:json]]"})
    assert r.status_code == 200, r.text
    assert r.json()["output"][0]["content"][0]["text"] == "json"
    chats = _recorded_chat_requests(keyed_stack)
    assert len(chats) == 1
    _assert_only_gateway_credentials(chats[0]["headers"])


def test_backend_gets_gateway_key_not_client_credentials_streaming(keyed_stack: Stack) -> None:
    r = _post(keyed_stack, {"model": "m", "input": "[[text:a b]]", "stream": True})
    assert r.status_code == 200, r.text
    events = [json.loads(d) for d in sse_data(r.content) if d != "[DONE]"]
    assert events[-1]["type"] == "response.completed"
    chats = _recorded_chat_requests(keyed_stack)
    assert len(chats) == 1
    _assert_only_gateway_credentials(chats[0]["headers"])


def test_backend_gets_gateway_key_not_client_credentials_hosted_tools(keyed_stack: Stack) -> None:
    vs = httpx.post(f"{keyed_stack.envoy_url}/v1/vector_stores", json={"name": "empty"}, timeout=10)
    assert vs.status_code == 200, vs.text
    tools = [{"type": "file_search", "vector_store_ids": [vs.json()["id"]]}]
    for stream in (False, True):
        r = _post(keyed_stack, {"model": "m", "input": "[[text:tools]]", "tools": tools, "stream": stream})
        assert r.status_code == 200, r.text
        chats = _recorded_chat_requests(keyed_stack)
        assert chats, "the hosted tool loop called no model"
        for chat in chats:
            # The loop's own model client: the gateway's key, no client header at all.
            assert chat["headers"].get("authorization") == f"Bearer {GATEWAY_KEY}", chat["headers"]
            assert not any(name in chat["headers"] for name in CLIENT_SECRETS if name != "authorization")


def test_client_naming_the_in_gateway_route_is_refused(keyed_stack: Stack) -> None:
    """A client sending the marker header of the route to the gateway's HTTP server: Envoy
    picks that route, but ext_proc is on there and answers 400 to the request headers, so
    nothing reaches the HTTP server or the model server."""
    httpx.delete(f"{keyed_stack.backend_url}/_fixture/requests", timeout=5)
    headers = {**CLIENT_SECRETS, **CLIENT_ALLOWED, IN_GATEWAY_HEADER: "1"}
    for stream in (False, True):
        r = httpx.post(f"{keyed_stack.envoy_url}/v1/responses", headers=headers, timeout=30,
                       json={"model": "m", "input": "[[text:routed]]", "stream": stream})
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "reserved_header"
    assert _recorded_chat_requests(keyed_stack) == []


def test_background_stream_through_envoy_streams_and_stores_completed() -> None:
    with Stack(StackConfig()) as stack, httpx.Client(base_url=stack.envoy_url, timeout=30) as via:
        r = via.post("/v1/responses", json={"model": "m", "input": "[[text:later on]]",
                                            "background": True, "stream": True})
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(d) for d in sse_data(r.content) if d != "[DONE]"]
        assert events[0]["type"] == "response.created"
        assert events[-1]["type"] == "response.completed"
        rid = events[-1]["response"]["id"]
        deadline = time.monotonic() + 10
        got: dict[str, Any] = {}
        while time.monotonic() < deadline:
            got = via.get(f"/v1/responses/{rid}").json()
            if got["status"] == "completed":
                break
            time.sleep(0.05)
        assert got["status"] == "completed"
        assert got["output"][0]["content"][0]["text"] == "later on"


# --- the processor's verdict before the upstream connection ---------------------------------------


@pytest.fixture(scope="module")
def backend_down() -> Iterator[Stack]:
    with Stack(StackConfig()) as stack:
        stack.backend.stop()
        yield stack


@pytest.mark.parametrize(("body", "status", "param"), [
    (b"{not json", 400, None),
    (json.dumps({"model": "m", "input": "hi", "temperature": 7}).encode(), 400, "temperature"),
    (json.dumps({"model": "m", "input": "hi", "previous_response_id": "resp_nope"}).encode(), 400,
     "previous_response_id"),
    (json.dumps({"model": "m", "input": "hi", "stream": True, "temperature": -1}).encode(), 400,
     "temperature"),
])
def test_client_mistake_is_4xx_even_when_backend_is_down(
        backend_down: Stack, body: bytes, status: int, param: str | None) -> None:
    r = httpx.post(f"{backend_down.envoy_url}/v1/responses", content=body,
                   headers={"content-type": "application/json"}, timeout=10)
    assert r.status_code == status, r.text
    assert r.json()["error"]["param"] == param


def test_background_create_is_queued_even_when_backend_is_down(backend_down: Stack) -> None:
    r = httpx.post(f"{backend_down.envoy_url}/v1/responses", timeout=10,
                   json={"model": "m", "input": "hi", "background": True})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "queued"
    # The job exists exactly once and fails on its own (the backend is unreachable).
    rid = r.json()["id"]
    deadline = time.monotonic() + 10
    got: dict[str, Any] = {}
    while time.monotonic() < deadline:
        got = httpx.get(f"{backend_down.envoy_url}/v1/responses/{rid}", timeout=5).json()
        if got["status"] not in ("queued", "in_progress"):
            break
        time.sleep(0.05)
    assert got["status"] == "failed"


def test_valid_request_with_backend_down_is_still_502(backend_down: Stack) -> None:
    r = httpx.post(f"{backend_down.envoy_url}/v1/responses", json={"model": "m", "input": "hi"}, timeout=10)
    assert r.status_code == 502
    assert r.json()["error"]["code"] == "backend_unreachable"


# --- unusable JSON through Envoy: 400 from the processor, never a 500 ------------------------------


@pytest.fixture(scope="module")
def plain_stack() -> Iterator[Stack]:
    with Stack(StackConfig()) as stack:
        yield stack


def _deep_schema(levels: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "array", "items": schema}
    return schema


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("body", "code"), [
    ('{"model": "m", "input": ' + "[" * 100_000 + "]" * 100_000 + "}", "json_too_deep"),
    ('{"model": "m", "input": "a\\ud800b"}', "invalid_unicode"),
    (json.dumps({"model": "m", "input": "hi", "text": {"format": {
        "type": "json_schema", "name": "deep", "schema": _deep_schema(900)}}}), "json_too_deep"),
], ids=["deep-100000", "lone-surrogate", "json-schema-900"])
def test_unusable_json_is_400_through_envoy(plain_stack: Stack, body: str, code: str, stream: bool) -> None:
    if stream:
        body = body.replace('{"model": "m",', '{"model": "m", "stream": true,', 1)
    for url in (plain_stack.envoy_url, plain_stack.http_url):
        r = httpx.post(f"{url}/v1/responses", content=body.encode(), timeout=30,
                       headers={"content-type": "application/json"})
        assert r.status_code == 400, (url, r.text[:300])
        assert r.json()["error"]["code"] == code
    # A catch-all route (HTTP server behind Envoy) answers the same.
    r = httpx.post(f"{plain_stack.envoy_url}/v1/conversations", timeout=30,
                   content=b'{"metadata": {"k": "a\\ud800b"}}', headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_unicode"


def test_client_disconnect_through_envoy_is_not_blamed_on_the_backend(plain_stack: Stack) -> None:
    tag = f"gone-{time.monotonic_ns()}"
    body = {"model": "m", "stream": True, "metadata": {"tag": tag},
            "input": "[[slow:300]] [[text:one two three four five six]]"}
    with httpx.Client(base_url=plain_stack.envoy_url, timeout=30) as client, client.stream(
            "POST", "/v1/responses", json=body) as r:
        for line in r.iter_lines():
            if line.startswith("data: "):
                break  # the client goes away after the first event
    deadline = time.monotonic() + 10
    mine: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        listed = httpx.get(f"{plain_stack.http_url}/v1/responses", params={"limit": 100}, timeout=5).json()
        mine = next((x for x in listed["data"] if (x.get("metadata") or {}).get("tag") == tag), None)
        if mine is not None and mine["status"] != "in_progress":
            break
        time.sleep(0.1)
    assert mine is not None and mine["status"] == "failed", mine
    message = mine["error"]["message"]
    assert "returned an invalid response" not in message
    assert "client disconnected" in message


# --- API keys and tenants through Envoy ------------------------------------------------------------


@pytest.fixture(scope="module")
def keyed_tenants(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    keys = tmp_path_factory.mktemp("keys") / "api-keys"
    keys.write_text("# key tenant\nsk-alice alice\nsk-bob bob\n")
    with Stack(StackConfig(extra_gateway_args=["--api-keys", str(keys)])) as stack:
        yield stack


ALICE = {"authorization": "Bearer sk-alice"}
BOB = {"authorization": "Bearer sk-bob"}


@pytest.mark.parametrize("stream", [False, True])
def test_envoy_requires_a_key(keyed_tenants: Stack, stream: bool) -> None:
    for headers in ({}, {"authorization": "Bearer sk-unknown"}):
        r = httpx.post(f"{keyed_tenants.envoy_url}/v1/responses", headers=headers, timeout=10,
                       json={"model": "m", "input": "hi", "stream": stream})
        assert r.status_code == 401, r.text
        assert r.json()["error"]["code"] == "invalid_api_key"
    r = httpx.get(f"{keyed_tenants.envoy_url}/v1/responses", timeout=10)
    assert r.status_code == 401
    assert httpx.get(f"{keyed_tenants.http_url}/health", timeout=10).status_code == 200
    # Nothing unauthenticated reached the backend.
    assert _recorded_chat_requests(keyed_tenants) == []


@pytest.mark.parametrize("stream", [False, True])
def test_envoy_objects_belong_to_their_tenant(keyed_tenants: Stack, stream: bool) -> None:
    url = f"{keyed_tenants.envoy_url}/v1/responses"
    r = httpx.post(url, headers=ALICE, timeout=10,
                   json={"model": "m", "input": "[[text:mine]]", "stream": stream})
    assert r.status_code == 200, r.text
    if stream:
        rid = [json.loads(d) for d in sse_data(r.content) if d != "[DONE]"][-1]["response"]["id"]
    else:
        rid = r.json()["id"]
    assert httpx.get(f"{url}/{rid}", headers=ALICE, timeout=10).status_code == 200
    assert httpx.get(f"{url}/{rid}", headers=BOB, timeout=10).status_code == 404
    chained = httpx.post(url, headers=BOB, timeout=10,
                         json={"model": "m", "input": "hi", "previous_response_id": rid, "stream": stream})
    assert chained.status_code == 400 and chained.json()["error"]["param"] == "previous_response_id"
    mine = httpx.post(url, headers=ALICE, timeout=10, json={"model": "m", "input": "[[text:again]]",
                                                             "previous_response_id": rid})
    assert mine.status_code == 200, mine.text
    listed = httpx.get(url, headers=BOB, timeout=10).json()["data"]
    assert rid not in [x["id"] for x in listed]


def test_envoy_hosted_tool_stream_keeps_keys_and_tenants(keyed_tenants: Stack) -> None:
    """A hosted-tool stream is handed to the gateway's HTTP server with the client's key, so it
    is checked there as well and the response belongs to the caller's tenant; another tenant's
    vector store cannot be named."""
    base = keyed_tenants.envoy_url + "/v1"
    vs = httpx.post(f"{base}/vector_stores", headers=ALICE, json={"name": "alice"}, timeout=10)
    assert vs.status_code == 200, vs.text
    body = {"model": "m", "input": "[[text:searched]]", "stream": True,
            "tools": [{"type": "file_search", "vector_store_ids": [vs.json()["id"]]}]}
    assert httpx.post(f"{base}/responses", json=body, timeout=10).status_code == 401
    r = httpx.post(f"{base}/responses", headers=ALICE, json=body, timeout=30)
    assert r.status_code == 200, r.text
    events = [json.loads(d) for d in sse_data(r.content) if d != "[DONE]"]
    assert events[-1]["type"] == "response.completed"
    rid = events[-1]["response"]["id"]
    assert httpx.get(f"{base}/responses/{rid}", headers=ALICE, timeout=10).status_code == 200
    assert httpx.get(f"{base}/responses/{rid}", headers=BOB, timeout=10).status_code == 404
    other = httpx.post(f"{base}/responses", headers=BOB, json=body, timeout=30)
    assert other.status_code == 404, other.text
