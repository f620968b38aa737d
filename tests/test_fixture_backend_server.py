"""fixtures.backend as a real HTTP server: incremental SSE with the scripted spacing, a real
dropped connection, delays, errors, listings, recording, and the `python -m` entry point."""

from __future__ import annotations

import itertools
import json
import signal
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from fixtures.backend.server import BackendHandle, run_in_thread, start_subprocess
from fixtures.backend.testing import TOOLS, assemble, chat, chunks_of, sse_data


@pytest.fixture
def backend() -> Iterator[BackendHandle]:
    handle = run_in_thread(port=0)
    yield handle
    handle.stop()


@pytest.fixture
def client(backend: BackendHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=backend.url, timeout=10) as c:
        yield c


def test_json_completion(client: httpx.Client) -> None:
    r = client.post("/v1/chat/completions", json=chat("[[text:hello world]]"))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.json()["choices"][0]["message"]["content"] == "hello world"


def test_sse_completion_with_usage_and_tool_pieces(client: httpx.Client) -> None:
    body = chat("[[tools:2]]", stream=True, tools=TOOLS, stream_options={"include_usage": True})
    r = client.post("/v1/chat/completions", json=body)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers.get("transfer-encoding") == "chunked"
    chunks = chunks_of(r.content)  # ends with data: [DONE]
    rebuilt = assemble(chunks)
    assert rebuilt["finish_reason"] == "tool_calls"
    assert [json.loads(c["function"]["arguments"]) for c in rebuilt["message"]["tool_calls"]] == [
        {"index": 0},
        {"index": 1},
    ]
    assert rebuilt["usage"]["completion_tokens"] >= 1


def test_sse_spacing_is_real_and_incremental(client: httpx.Client) -> None:
    # 6 frames 50 ms apart: role, the 3 word pieces of "a b c", the finish chunk, [DONE]
    body = chat("[[slow:50]] [[text:a b c]]", stream=True)
    arrivals: list[tuple[float, str]] = []
    with client.stream("POST", "/v1/chat/completions", json=body) as r:
        start = time.monotonic()  # headers are in: the frames are paced from here
        for line in r.iter_lines():
            if line.startswith("data: "):
                arrivals.append((time.monotonic() - start, line[6:]))
    total = arrivals[-1][0]
    frames = len(arrivals)
    assert frames == 6  # role, "a ", "b ", "c", finish, [DONE]
    assert total - arrivals[0][0] >= 0.05 * (frames - 1) * 0.9
    assert arrivals[0][0] < total / 2  # the first chunk arrives early, not with the rest
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(arrivals)]
    # each frame came on its own (a busy 2-core CI box may bunch one pair, never most of them)
    assert sum(g >= 0.025 for g in gaps) >= len(gaps) - 1, gaps


def test_slow_json_waits_before_answer(client: httpx.Client) -> None:
    start = time.monotonic()
    r = client.post("/v1/chat/completions", json=chat("[[slow:150]]"))
    assert r.status_code == 200 and time.monotonic() - start >= 0.14


def test_delay_before_headers_triggers_client_timeout(backend: BackendHandle) -> None:
    with httpx.Client(base_url=backend.url, timeout=httpx.Timeout(5, read=0.1)) as c:
        with pytest.raises(httpx.ReadTimeout):
            c.post("/v1/chat/completions", json=chat("[[delay:600]]"))
        start = time.monotonic()
    with httpx.Client(base_url=backend.url, timeout=5) as c:
        r = c.post("/v1/chat/completions", json=chat("[[delay:200]] hi"))
    assert r.status_code == 200 and time.monotonic() - start >= 0.19


def test_drop_mid_stream_is_a_protocol_error(client: httpx.Client) -> None:
    received: list[str] = []
    with pytest.raises(httpx.RemoteProtocolError):  # noqa: SIM117
        with client.stream("POST", "/v1/chat/completions", json=chat("[[drop]]", stream=True)) as r:
            assert r.status_code == 200
            for line in r.iter_lines():
                if line.startswith("data: "):
                    received.append(line[6:])
    contents = [json.loads(p)["choices"][0]["delta"].get("content") for p in received]
    assert [c for c in contents if c] == ["partial ", "answer"]
    assert "[DONE]" not in received
    # the server keeps serving new connections afterwards
    assert client.get("/_fixture/health").json() == {"status": "ok"}


def test_drop_without_stream_closes_before_any_response(client: httpx.Client) -> None:
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        client.post("/v1/chat/completions", json=chat("[[drop]]"))


@pytest.mark.parametrize(
    ("content", "status", "body"),
    [
        (
            "[[error:503]]",
            503,
            {"error": {"message": "scripted error 503", "type": "server_error", "param": None, "code": None}},
        ),
        ("[[error:400:ollama]]", 400, {"error": "scripted error 400"}),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_errors(
    client: httpx.Client, content: str, status: int, body: dict[str, object], stream: bool
) -> None:
    r = client.post("/v1/chat/completions", json=chat(content, stream=stream))
    assert r.status_code == status
    assert r.headers["content-type"] == "application/json"
    assert r.json() == body


def test_error_by_model_name(client: httpx.Client) -> None:
    r = client.post(
        "/v1/chat/completions",
        json={"model": "scripted-error:502", "messages": [{"role": "user", "content": "x"}]},
    )
    assert r.status_code == 502


def test_malformed(client: httpx.Client) -> None:
    r = client.post("/v1/chat/completions", json=chat("[[malformed]]"))
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()
    r = client.post("/v1/chat/completions", json=chat("[[malformed]]", stream=True))
    payloads = sse_data(r.content)
    assert any(p.startswith("{this is not JSON") for p in payloads)


def test_listings_and_health(client: httpx.Client) -> None:
    models = client.get("/v1/models").json()
    assert models["object"] == "list"
    assert {"id", "object", "created", "owned_by"} <= set(models["data"][0])
    assert "scripted-refusal" in {m["id"] for m in models["data"]}
    tags = client.get("/api/tags").json()
    assert tags["models"][0]["name"] == "scripted:latest"
    assert client.get("/_fixture/health").status_code == 200
    assert client.get("/nowhere").status_code == 404
    assert client.post("/v1/chat/completions", content=b"{broken").status_code == 400


def test_embeddings_similarity_over_http(client: httpx.Client) -> None:
    texts = ["the red fox jumps", "a red fox sleeps", "interest rates rise again"]
    r = client.post("/v1/embeddings", json={"model": "emb", "input": texts})
    vectors = [d["embedding"] for d in r.json()["data"]]

    def cos(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cos(vectors[0], vectors[1]) > cos(vectors[0], vectors[2])


def test_recording(client: httpx.Client, backend: BackendHandle) -> None:
    client.post("/v1/chat/completions?x=1", json=chat("first"), headers={"X-Trace": "abc"})
    client.post("/v1/embeddings", content=b"not json at all")
    recorded = client.get("/_fixture/requests").json()["requests"]
    assert [(r["method"], r["path"]) for r in recorded] == [
        ("POST", "/v1/chat/completions?x=1"),
        ("POST", "/v1/embeddings"),
    ]
    assert recorded[0]["headers"]["x-trace"] == "abc"
    assert recorded[0]["body"] == chat("first")  # parsed as JSON
    assert recorded[1]["body"] == "not json at all"
    assert backend.engine.recorder.requests == recorded
    assert client.delete("/_fixture/requests").status_code == 200
    assert client.get("/_fixture/requests").json() == {"requests": []}


def test_keep_alive_serves_several_requests_on_one_connection(client: httpx.Client) -> None:
    for i in range(3):
        r = client.post("/v1/chat/completions", json=chat(f"[[text:n{i}]]", stream=bool(i % 2)))
        assert r.status_code == 200
    # the [DONE]-terminated stream left the connection reusable: ids count up on one server
    r = client.post("/v1/chat/completions", json=chat("x"))
    assert r.json()["id"] == "chatcmpl-scripted-4"


def test_openai_sdk_talks_to_it(backend: BackendHandle) -> None:
    openai = pytest.importorskip("openai")
    sdk = openai.OpenAI(base_url=backend.url + "/v1", api_key="unused", max_retries=0)
    completion = sdk.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "[[text:hi there]]"}]
    )
    assert completion.choices[0].message.content == "hi there"
    pieces = [
        c.choices[0].delta.content or ""
        for c in sdk.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "[[text:a b]]"}], stream=True
        )
        if c.choices
    ]
    assert "".join(pieces) == "a b"
    emb = sdk.embeddings.create(model="e", input="red apple")  # the SDK asks for base64
    assert len(emb.data[0].embedding) == 256
    with pytest.raises(openai.RateLimitError):
        sdk.chat.completions.create(model="scripted-error:429", messages=[{"role": "user", "content": "x"}])


def test_subprocess_starts_and_stops_cleanly() -> None:
    handle = start_subprocess(port=0)
    try:
        assert handle.url.startswith("http://127.0.0.1:")
        r = httpx.post(handle.url + "/v1/chat/completions", json=chat("[[text:alive]]"), timeout=10)
        assert r.json()["choices"][0]["message"]["content"] == "alive"
    finally:
        code = handle.stop()
    assert code == 0  # SIGTERM is handled: a clean shutdown, not death by signal
    assert handle.process.poll() == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(handle.url + "/_fixture/health", timeout=2)


def test_subprocess_sigint_also_clean() -> None:
    with start_subprocess() as handle:
        handle.process.send_signal(signal.SIGINT)
        assert handle.process.wait(10) == 0


def test_expect_100_continue_is_answered(backend: BackendHandle) -> None:
    # curl sends `Expect: 100-continue` for bodies over 1 KiB; the server must not stall it.
    body = json.dumps(chat("[[text:big]] " + "x" * 2000)).encode()
    host, port = backend.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        head = (
            f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
        )
        sock.sendall(head.encode())
        assert sock.recv(4096).startswith(b"HTTP/1.1 100 ")
        sock.sendall(body)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    status, _, payload = reply.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 200 ")
    assert json.loads(payload)["choices"][0]["message"]["content"] == "big"
