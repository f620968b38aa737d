"""Each mutation of fixtures/mutants on sample traffic: it really breaks its rule, and traffic it
does not target passes through byte for byte.

The sample stream comes from the reference's own sans-IO stream translator (a real, healthy
event stream), so the mutations are exercised on the shape they meet in the runner.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from dataclasses import dataclass
from typing import Any

import pytest

import protos
from fixtures.mutants.catalog import HAND_WRITTEN, get_mutant, select_mutants
from fixtures.mutants.proxy import AppendDone
from fixtures.mutants.sse import Frame, FrameSplitter
from fixtures.mutants.vocabulary import (
    Answer,
    Exchange,
    ExtProcFault,
    ExtProcStream,
    Headers,
    HttpFault,
    header,
)
from reference.core import sse as core_sse
from reference.core.models import CreateResponseRequest
from reference.core.responses import new_response
from reference.core.streaming import StreamTranslator

TERMINAL = {"response.completed", "response.failed", "response.incomplete"}


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def healthy_events(words: tuple[str, ...] = ("Say ", "hello ", "there.")) -> list[dict[str, Any]]:
    req = CreateResponseRequest.parse({"model": "scripted", "input": "Say hello there.", "stream": True})
    skeleton = new_response(req, response_id="resp_sample1", created_at=1_700_000_000, status="in_progress")
    counter = itertools.count()
    tr = StreamTranslator(skeleton, id_factory=lambda prefix: f"{prefix}_{next(counter)}")
    events = tr.start()
    events += tr.feed(_chunk({"role": "assistant", "content": ""}))
    for w in words:
        events += tr.feed(_chunk({"content": w}))
    events += tr.feed(_chunk({}, "stop"))
    events += tr.finish()
    return events


HEALTHY_SSE = b"".join(core_sse.encode_event(e) for e in healthy_events())


def ProxyRequest(method: str, target: str, headers: Headers, body: bytes = b"") -> Exchange:
    """A request as the proxy sees it (`target` below the API root /v1)."""
    return Exchange.of(method, "/v1" + target, headers, body)


def CREATE() -> Exchange:
    body = json.dumps({"model": "scripted", "input": "hi", "stream": True}).encode()
    return ProxyRequest("POST", "/responses", [("content-type", "application/json")], body)


SSE_HEADERS = [("content-type", "text/event-stream"), ("cache-control", "no-cache")]


def request(fault: HttpFault, ex: Exchange) -> Exchange | Answer:
    """The fault's request hook: the answer it gives instead of forwarding, else the exchange."""
    return asyncio.run(fault.on_request(ex)) or ex


def untouched(fault: HttpFault, ex: Exchange) -> bool:
    """The request hook forwards the exchange as it came."""
    before = (ex.method, ex.target(), ex.content(), list(ex.headers))
    return request(fault, ex) is ex and (ex.method, ex.target(), ex.content(), list(ex.headers)) == before


@dataclass
class Sent:
    """An answer as the proxy sends it."""

    status: int
    headers: Headers
    body: bytes

    @property
    def content_type(self) -> str:
        return (header(self.headers, "content-type") or "").split(";")[0]


def respond(fault: HttpFault, ex: Exchange, answer: Answer) -> Sent:
    out = asyncio.run(fault.on_response(ex, answer))
    body = out.content()
    return Sent(out.status, out.headers, body)


def drive_stream(
    mutation: HttpFault,
    req: Exchange | None = None,
    raw: bytes = HEALTHY_SSE,
    piece: int = 7,
    append_done: bool = False,
) -> tuple[int, list[tuple[str, str]], bytes]:
    """What the proxy does with a stream, fed in small uneven pieces."""
    head = Answer(200, list(SSE_HEADERS))
    mutator = mutation.on_stream(req or CREATE(), head)
    status, headers = head.status, head.headers
    if append_done:
        mutator = AppendDone() if mutator is None else mutator
    if mutator is None:
        return status, headers, raw
    splitter = FrameSplitter()
    out = bytearray()
    for i in range(0, len(raw), piece):
        for frame in splitter.feed(raw[i : i + piece]):
            out += b"".join(f.raw for f in mutator.feed(frame))
    tail = splitter.close()
    out += b"".join(f.raw for f in mutator.close()) + tail
    return status, headers, bytes(out)


def frames(raw: bytes) -> list[Frame]:
    splitter = FrameSplitter()
    return splitter.feed(raw)


def payloads(raw: bytes) -> list[dict[str, Any]]:
    return [f.payload for f in frames(raw) if f.payload is not None]


def seqs(raw: bytes) -> list[int]:
    return [p["sequence_number"] for p in payloads(raw)]


def types(raw: bytes) -> list[str]:
    return [p["type"] for p in payloads(raw)]


def deltas_match(raw: bytes) -> bool:
    ps = payloads(raw)
    text = "".join(p["delta"] for p in ps if p["type"] == "response.output_text.delta")
    done = [p["text"] for p in ps if p["type"] == "response.output_text.done"]
    return done == [text]


# --------------------------------------------------------------------------- the sample is healthy


def test_sample_stream_is_healthy() -> None:
    s = seqs(HEALTHY_SSE)
    assert s == list(range(len(s)))
    t = types(HEALTHY_SSE)
    assert t[0] == "response.created" and t[-1] == "response.completed"
    assert sum(x in TERMINAL for x in t) == 1
    assert "response.content_part.done" in t and "response.output_item.done" in t
    assert deltas_match(HEALTHY_SSE)
    assert all(f.event == f.type for f in frames(HEALTHY_SSE))
    assert HEALTHY_SSE.endswith(b"\n\n") and b"[DONE]" not in HEALTHY_SSE


def test_splitter_keeps_bytes_and_handles_crlf_and_tails() -> None:
    raw = b'event: a\r\ndata: {"type":"a"}\r\n\r\ndata: [DONE]\n\n: comment\n\ndata: tail'
    sp = FrameSplitter()
    got = [f for i in range(len(raw)) for f in sp.feed(raw[i : i + 1])]
    assert [f.raw for f in got] == [
        b'event: a\r\ndata: {"type":"a"}\r\n\r\n',
        b"data: [DONE]\n\n",
        b": comment\n\n",
    ]
    assert got[0].type == "a" and got[0].event == "a" and got[1].data == "[DONE]" and got[2].data is None
    assert sp.close() == b"data: tail"


# --------------------------------------------------------------------------- SSE mutants


def test_swap_events_breaks_order() -> None:
    _, _, out = drive_stream(get_mutant("sse.swap-events").new_http())
    s = seqs(out)
    assert sorted(s) == s[:0] + sorted(s) and any(b <= a for a, b in itertools.pairwise(s))
    assert not deltas_match(out)
    assert len(frames(out)) == len(frames(HEALTHY_SSE))


def test_sequence_gap() -> None:
    _, _, out = drive_stream(get_mutant("sse.sequence-gap").new_http())
    s = seqs(out)
    assert all(b > a for a, b in itertools.pairwise(s))  # still increasing ...
    assert [b - a for a, b in itertools.pairwise(s)].count(2) == 1  # ... with one number skipped
    assert types(out) == types(HEALTHY_SSE)


def test_sequence_repeat() -> None:
    _, _, out = drive_stream(get_mutant("sse.sequence-repeat").new_http())
    s = seqs(out)
    assert [b - a for a, b in itertools.pairwise(s)].count(0) == 1
    assert all(b - a in (0, 1) for a, b in itertools.pairwise(s))


def test_delta_mismatch() -> None:
    _, _, out = drive_stream(get_mutant("sse.delta-mismatch").new_http())
    assert not deltas_match(out)
    assert seqs(out) == seqs(HEALTHY_SSE)


@pytest.mark.parametrize(
    ("mutant_id", "dropped"),
    [
        ("sse.missing-content-part-done", "response.content_part.done"),
        ("sse.missing-output-item-done", "response.output_item.done"),
    ],
)
def test_missing_done_events(mutant_id: str, dropped: str) -> None:
    _, _, out = drive_stream(get_mutant(mutant_id).new_http())
    assert dropped not in types(out)
    assert [t for t in types(HEALTHY_SSE) if t != dropped] == types(out)
    assert seqs(out) == list(range(len(seqs(out))))  # only the event is missing, numbering intact


def test_two_terminal_events() -> None:
    _, _, out = drive_stream(get_mutant("sse.two-terminal-events").new_http())
    t = types(out)
    assert t[-2:] == ["response.completed", "response.completed"]
    assert seqs(out) == list(range(len(t)))


def test_done_spurious_and_missing() -> None:
    _, _, out = drive_stream(get_mutant("sse.done-spurious").new_http())
    assert frames(out)[-1].data == "[DONE]" and out.startswith(HEALTHY_SSE)
    # the openresponses baseline (the proxy's AppendDone adapter) ends with [DONE] ...
    _, _, base = drive_stream(HttpFault(), append_done=True)
    assert frames(base)[-1].data == "[DONE]"
    # ... and the done-missing mutant, applied after the adapter, takes it away again
    mutation = get_mutant("sse.done-missing").new_http()
    _, _, out = drive_stream(mutation, raw=base)
    assert out == HEALTHY_SSE


def test_event_name_mismatch() -> None:
    _, _, out = drive_stream(get_mutant("sse.event-name-mismatch").new_http())
    fs = frames(out)
    assert all(f.event == "message" != f.type for f in fs)
    assert [f.payload for f in fs] == [f.payload for f in frames(HEALTHY_SSE)]


@pytest.mark.parametrize(
    ("mutant_id", "ctype"),
    [("sse.content-type-json", "application/json"), ("sse.content-type-text", "text/plain")],
)
def test_stream_content_type(mutant_id: str, ctype: str) -> None:
    status, headers, out = drive_stream(get_mutant(mutant_id).new_http())
    assert (header(headers, "content-type") or "").startswith(ctype)
    assert out == HEALTHY_SSE and status == 200


def test_created_not_first() -> None:
    _, _, out = drive_stream(get_mutant("sse.created-not-first").new_http())
    t = types(out)
    assert t[:2] == ["response.in_progress", "response.created"]
    assert seqs(out) == list(range(len(t)))
    assert sorted(t) == sorted(types(HEALTHY_SSE))


def test_last_event_unterminated() -> None:
    _, _, out = drive_stream(get_mutant("sse.last-event-unterminated").new_http())
    assert out == HEALTHY_SSE[:-1] and not out.endswith(b"\n\n")
    sp = FrameSplitter()
    assert [f.type for f in sp.feed(out)][-1] != "response.completed"  # a browser drops it
    assert sp.close()


def test_completed_status_stuck() -> None:
    _, _, out = drive_stream(get_mutant("sse.completed-status-stuck").new_http())
    assert payloads(out)[-1]["response"]["status"] == "in_progress"
    assert payloads(HEALTHY_SSE)[-1]["response"]["status"] == "completed"


def test_buffered_deltas() -> None:
    _, _, out = drive_stream(get_mutant("sse.buffered-deltas").new_http())
    deltas = [p["delta"] for p in payloads(out) if p["type"] == "response.output_text.delta"]
    assert deltas == ["Say hello there."]
    assert deltas_match(out) and seqs(out) == list(range(len(seqs(out))))


def test_stream_mutants_leave_other_streams_alone() -> None:
    """A stream answering something other than POST /responses is not touched."""
    other = ProxyRequest("GET", "/responses/resp_1?stream=true", [])
    for mt in HAND_WRITTEN:
        if mt.http is None or mt.id == "object.id-prefix":
            continue
        status, headers, out = drive_stream(mt.new_http(), req=other)
        assert (status, out) == (200, HEALTHY_SSE), mt.id
        assert headers == SSE_HEADERS, mt.id


def test_untouched_frames_keep_their_bytes() -> None:
    """Frames before a mutation's first change go out byte-identical (no re-encoding)."""
    first = frames(HEALTHY_SSE)[0].raw
    for mid in (
        "sse.swap-events",
        "sse.sequence-gap",
        "sse.delta-mismatch",
        "sse.two-terminal-events",
        "sse.missing-content-part-done",
        "sse.buffered-deltas",
        "sse.completed-status-stuck",
    ):
        _, _, out = drive_stream(get_mutant(mid).new_http())
        assert out.startswith(first), mid


# --------------------------------------------------------------------------- Response objects


def sample_response() -> dict[str, Any]:
    events = healthy_events()
    return events[-1]["response"]


def drive_json(mutation: HttpFault, req: Exchange, status: int, body: Any) -> Sent:
    decided = request(mutation, req)
    assert isinstance(decided, Exchange)
    return respond(
        mutation,
        decided,
        Answer.of(status, [("content-type", "application/json")], json.dumps(body).encode()),
    )


def CREATE_JSON_() -> Exchange:
    return ProxyRequest("POST", "/responses", [], json.dumps({"model": "scripted", "input": "hi"}).encode())


@pytest.mark.parametrize(
    ("mutant_id", "broken"),
    [
        ("object.required-field-missing", lambda r: "tool_choice" not in r),
        ("object.required-field-null", lambda r: "tools" in r and r["tools"] is None),
        (
            "object.usage-total",
            lambda r: r["usage"]["total_tokens"] != r["usage"]["input_tokens"] + r["usage"]["output_tokens"],
        ),
        ("object.object-wrong", lambda r: r["object"] == "chat.completion"),
        ("object.model-not-echoed", lambda r: r["model"] != "scripted"),
        (
            "object.status-invalid",
            lambda r: (
                r["status"] not in ("completed", "failed", "in_progress", "cancelled", "queued", "incomplete")
            ),
        ),
        ("object.created-at-millis", lambda r: r["created_at"] > 10**12),
        ("object.annotations-missing", lambda r: "annotations" not in r["output"][0]["content"][0]),
    ],
)
def test_object_mutants(mutant_id: str, broken: Any) -> None:
    healthy = sample_response()
    assert not broken(healthy)
    mutation = get_mutant(mutant_id).new_http()
    # the create answer, a GET answer, and the response inside stream events are all rewritten
    for req in (CREATE_JSON_(), ProxyRequest("GET", "/responses/resp_sample1", [])):
        out = drive_json(mutation, req, 200, healthy)
        assert broken(json.loads(out.body)), req
    _, _, raw = drive_stream(mutation)
    assert broken(payloads(raw)[-1]["response"])
    # error answers are not objects to rewrite
    err = {"error": {"message": "x", "type": "invalid_request_error", "param": None, "code": None}}
    out = drive_json(mutation, CREATE_JSON_(), 400, err)
    assert json.loads(out.body) == err


def test_id_prefix_round_trip() -> None:
    mutation = get_mutant("object.id-prefix").new_http()
    out = drive_json(mutation, CREATE_JSON_(), 200, sample_response())
    rid = json.loads(out.body)["id"]
    assert rid.startswith("gw-") and not rid.startswith("resp_")
    # the client uses the id it was shown; the gateway gets its own back
    follow = request(mutation, ProxyRequest("GET", f"/responses/{rid}", []))
    assert isinstance(follow, Exchange) and follow.route == "/responses/resp_sample1"
    chained = request(
        mutation,
        ProxyRequest(
            "POST",
            "/responses",
            [],
            json.dumps({"model": "m", "input": "x", "previous_response_id": rid}).encode(),
        ),
    )
    assert isinstance(chained, Exchange) and chained.body["previous_response_id"] == "resp_sample1"
    _, _, raw = drive_stream(mutation)
    assert payloads(raw)[0]["response"]["id"] == "gw-sample1"


def test_failure_reported_completed() -> None:
    mutation = get_mutant("object.failure-completed").new_http()
    err = {
        "error": {
            "message": "The model backend failed: scripted error 503",
            "type": "server_error",
            "param": None,
            "code": "backend_error",
        }
    }
    out = drive_json(mutation, CREATE_JSON_(), 502, err)
    assert out.status == 200 and json.loads(out.body)["status"] == "completed"
    # a 4xx stays an error
    assert drive_json(mutation, CREATE_JSON_(), 400, err).status == 400
    # streams: response.failed turns into response.completed
    failed = healthy_events()[:2]
    failed_resp = dict(failed[0]["response"], status="failed", error={"code": "server_error", "message": "x"})
    failed.append({"type": "response.failed", "sequence_number": 2, "response": failed_resp})
    raw = b"".join(core_sse.encode_event(e) for e in failed)
    _, _, out_raw = drive_stream(mutation, raw=raw)
    last = payloads(out_raw)[-1]
    assert last["type"] == "response.completed" and last["response"]["status"] == "completed"
    assert last["response"]["error"] is None


# --------------------------------------------------------------------------- lifecycle / state


def test_unknown_id_found() -> None:
    mutation = get_mutant("state.unknown-id-200").new_http()
    err = {"error": {"message": "not found", "type": "invalid_request_error", "param": None, "code": None}}
    got = drive_json(mutation, ProxyRequest("GET", "/responses/resp_nope", []), 404, err)
    assert got.status == 200 and json.loads(got.body)["id"] == "resp_nope"
    deleted = drive_json(mutation, ProxyRequest("DELETE", "/responses/resp_nope", []), 404, err)
    assert deleted.status == 200 and json.loads(deleted.body)["deleted"] is True
    # other 404s (an unknown route) stay
    assert drive_json(mutation, ProxyRequest("GET", "/nothing", []), 404, err).status == 404


def test_delete_not_forwarded() -> None:
    mutation = get_mutant("state.delete-not-deleting").new_http()
    decided = request(mutation, ProxyRequest("DELETE", "/responses/resp_1", []))
    assert isinstance(decided, Answer) and decided.status == 200
    assert decided.body == {"id": "resp_1", "object": "response.deleted", "deleted": True}
    get = ProxyRequest("GET", "/responses/resp_1", [])
    assert untouched(mutation, get)


def test_store_false_persisted() -> None:
    mutation = get_mutant("state.store-false-persisted").new_http()
    req = ProxyRequest(
        "POST", "/responses", [], json.dumps({"model": "m", "input": "x", "store": False}).encode()
    )
    forwarded = request(mutation, req)
    assert isinstance(forwarded, Exchange) and "store" not in json.loads(forwarded.content())
    stored = dict(sample_response(), store=True)
    out = respond(mutation, forwarded, Answer.of(200, [], json.dumps(stored).encode()))
    assert json.loads(out.body)["store"] is False  # the echo still claims store: false
    plain = ProxyRequest("POST", "/responses", [], json.dumps({"model": "m", "input": "x"}).encode())
    assert untouched(mutation, plain)


def page(ids: list[str], has_more: bool) -> dict[str, Any]:
    data = [{"id": i, "type": "message", "role": "user", "content": []} for i in ids]
    return {
        "object": "list",
        "data": data,
        "first_id": ids[0] if ids else None,
        "last_id": ids[-1] if ids else None,
        "has_more": has_more,
    }


def test_has_more_lies() -> None:
    mutation = get_mutant("state.has-more-lies").new_http()
    req = ProxyRequest("GET", "/responses/resp_1/input_items?limit=2", [])
    out = drive_json(mutation, req, 200, page(["a", "b"], True))
    assert json.loads(out.body)["has_more"] is False
    out = drive_json(mutation, req, 200, page(["c"], False))
    assert json.loads(out.body)["has_more"] is True


def test_cursor_skips_and_repeats() -> None:
    skip = get_mutant("state.cursor-skips").new_http()
    first = ProxyRequest("GET", "/responses/resp_1/input_items?limit=2&order=asc", [])
    assert json.loads(drive_json(skip, first, 200, page(["a", "b"], True)).body)["data"][0]["id"] == "a"
    nxt = ProxyRequest("GET", "/responses/resp_1/input_items?limit=2&order=asc&after=b", [])
    got = json.loads(drive_json(skip, nxt, 200, page(["c", "d"], False)).body)
    assert [d["id"] for d in got["data"]] == ["d"] and got["first_id"] == "d"  # c is never seen

    rep = get_mutant("state.cursor-repeats").new_http()
    drive_json(rep, first, 200, page(["a", "b"], True))
    got = json.loads(drive_json(rep, nxt, 200, page(["c", "d"], False)).body)
    assert [d["id"] for d in got["data"]] == ["b", "c", "d"]  # b twice across the pages


def test_items_reversed() -> None:
    conv = get_mutant("state.conversation-items-order").new_http()
    req = ProxyRequest("GET", "/conversations/conv_1/items?order=asc", [])
    got = json.loads(drive_json(conv, req, 200, page(["a", "b", "c"], False)).body)
    assert [d["id"] for d in got["data"]] == ["c", "b", "a"] and got["first_id"] == "c"
    # input_items are not its business
    other = ProxyRequest("GET", "/responses/resp_1/input_items", [])
    assert json.loads(drive_json(conv, other, 200, page(["a", "b"], False)).body) == page(["a", "b"], False)
    inp = get_mutant("state.input-items-order").new_http()
    got = json.loads(drive_json(inp, other, 200, page(["a", "b"], False)).body)
    assert [d["id"] for d in got["data"]] == ["b", "a"]


def test_instructions_inherited() -> None:
    mutation = get_mutant("state.instructions-inherited").new_http()
    first = ProxyRequest(
        "POST",
        "/responses",
        [],
        json.dumps({"model": "m", "input": "x", "instructions": "Talk like a pirate."}).encode(),
    )
    decided = request(mutation, first)
    assert isinstance(decided, Exchange)
    respond(mutation, decided, Answer.of(200, [], json.dumps(sample_response()).encode()))
    follow = ProxyRequest(
        "POST",
        "/responses",
        [],
        json.dumps({"model": "m", "input": "y", "previous_response_id": "resp_sample1"}).encode(),
    )
    out = request(mutation, follow)
    assert isinstance(out, Exchange) and json.loads(out.content())["instructions"] == "Talk like a pirate."
    # a follow-up with its own instructions keeps them
    own = ProxyRequest(
        "POST",
        "/responses",
        [],
        json.dumps(
            {"model": "m", "input": "y", "previous_response_id": "resp_sample1", "instructions": "Be brief."}
        ).encode(),
    )
    out = request(mutation, own)
    assert isinstance(out, Exchange) and out.body["instructions"] == "Be brief."
    # streamed creates are remembered from response.created
    stream_req = ProxyRequest(
        "POST",
        "/responses",
        [],
        json.dumps({"model": "m", "input": "x", "instructions": "Rhyme.", "stream": True}).encode(),
    )
    decided = request(mutation, stream_req)
    assert isinstance(decided, Exchange)
    drive_stream(mutation, req=decided)
    again = request(mutation, ProxyRequest("POST", "/responses", [], follow.raw))
    assert isinstance(again, Exchange) and again.body["instructions"] == "Rhyme."


# --------------------------------------------------------------------------- errors


ERR_400 = {
    "error": {
        "message": "We could not parse the JSON body of your request.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_json",
    }
}
ERR_BACKEND_429 = {
    "error": {"message": "scripted error 429", "type": "invalid_request_error", "param": None, "code": None}
}


def test_error_as_string() -> None:
    out = drive_json(get_mutant("errors.error-as-string").new_http(), CREATE_JSON_(), 400, ERR_400)
    assert out.status == 400 and json.loads(out.body) == {"error": ERR_400["error"]["message"]}


def test_500_for_400() -> None:
    mutation = get_mutant("errors.500-for-400").new_http()
    out = drive_json(mutation, CREATE_JSON_(), 400, ERR_400)
    assert out.status == 500 and json.loads(out.body) == ERR_400
    assert drive_json(mutation, CREATE_JSON_(), 404, ERR_400).status == 404


def test_backend_4xx_masked() -> None:
    mutation = get_mutant("errors.backend-4xx-masked").new_http()
    out = drive_json(mutation, CREATE_JSON_(), 429, ERR_BACKEND_429)
    assert out.status == 200 and json.loads(out.body)["status"] == "completed"
    assert json.loads(out.body)["output"] == []
    # the gateway's own validation errors (naming a param, or about the JSON) stay
    assert drive_json(mutation, CREATE_JSON_(), 400, ERR_400).status == 400
    named = {"error": dict(ERR_400["error"], param="model", code=None)}
    assert drive_json(mutation, CREATE_JSON_(), 400, named).status == 400


def test_error_as_text() -> None:
    out = drive_json(get_mutant("errors.content-type-text").new_http(), CREATE_JSON_(), 400, ERR_400)
    assert out.content_type == "text/plain" and json.loads(out.body) == ERR_400


def test_http_mutants_pass_untargeted_traffic_byte_identical() -> None:
    """A 200 answer no mutant targets (GET /models) leaves every mutant untouched."""
    body = b'{"object": "list", "data": [{"id": "scripted", "object": "model"}]}'
    for mt in HAND_WRITTEN:
        mutation = mt.new_http()
        req = ProxyRequest("GET", "/models", [("accept", "application/json")])
        assert untouched(mutation, req), mt.id
        resp = Answer.of(200, [("content-type", "application/json")], body)
        assert respond(mutation, req, resp).body == body, mt.id


# --------------------------------------------------------------------------- ext_proc


class Ext:
    """An ExtProcFault driven as the ext_proc proxy drives it, on one stream."""

    def __init__(self, fault: ExtProcFault) -> None:
        self.fault, self.stream, self.last = fault, ExtProcStream(), protos.ProcessingRequest()

    @property
    def health(self) -> tuple[str, ...]:
        return self.fault.health

    def on_request(self, req: Any) -> Any:
        self.stream.observe(req)
        out = self.fault.request(self.stream, req) if self.fault.request else req
        self.last, self.stream.first = req, False
        return out

    def on_response(self, reply: Any) -> list[Any]:
        self.stream.observe_reply(reply)
        return self.fault.reply(self.stream, self.last, reply) if self.fault.reply else [reply]


def _hdrs(common: Any) -> dict[str, bytes]:
    return {h.header.key: h.header.raw_value for h in common.header_mutation.set_headers}


def request_body_reply(chat: bytes) -> Any:
    return protos.ProcessingResponse(
        request_body=protos.BodyResponse(
            response=protos.CommonResponse(
                header_mutation=protos.HeaderMutation(
                    set_headers=[
                        protos.HeaderValueOption(
                            header=protos.HeaderValue(key=":path", raw_value=b"/v1/chat/completions")
                        ),
                        protos.HeaderValueOption(
                            header=protos.HeaderValue(key="content-length", raw_value=str(len(chat)).encode())
                        ),
                    ]
                ),
                body_mutation=protos.BodyMutation(body=chat),
            )
        )
    )


def response_body_reply(data: bytes) -> Any:
    return protos.ProcessingResponse(
        response_body=protos.BodyResponse(
            response=protos.CommonResponse(body_mutation=protos.BodyMutation(body=data))
        )
    )


CHAT = json.dumps({"model": "m", "messages": [{"role": "user", "content": "secret plans"}]}).encode()
CLIENT_BODY = json.dumps({"model": "m", "input": "secret plans"}).encode()


def test_extproc_stale_content_length() -> None:
    mutation = Ext(get_mutant("extproc.stale-content-length").new_extproc())
    mutation.on_request(
        protos.ProcessingRequest(request_body=protos.HttpBody(body=CLIENT_BODY, end_of_stream=True))
    )
    reply = request_body_reply(CHAT)
    (out,) = mutation.on_response(reply)
    common = out.request_body.response
    assert common.body_mutation.body == CHAT
    assert _hdrs(common)["content-length"] == str(len(CLIENT_BODY)).encode() != str(len(CHAT)).encode()
    assert [h.header.key for h in common.header_mutation.set_headers].count("content-length") == 1
    assert _hdrs(reply.request_body.response)["content-length"] == str(len(CHAT)).encode()  # input untouched


def test_extproc_wrong_mutation_kinds() -> None:
    body = response_body_reply(b"event: x\ndata: {}\n\n")
    (out,) = Ext(get_mutant("extproc.headers-for-body").new_extproc()).on_response(body)
    assert out.WhichOneof("response") == "response_headers"
    (out,) = Ext(get_mutant("extproc.immediate-mid-stream").new_extproc()).on_response(body)
    assert out.WhichOneof("response") == "immediate_response"
    wrong_kind = Ext(get_mutant("extproc.streamed-response-in-streamed-mode").new_extproc())
    # BUFFERED (the default): a plain body mutation is right, nothing changes
    assert wrong_kind.on_response(body) == [body]
    # the server switches the response body to STREAMED in its response_headers reply ...
    switch = protos.ProcessingResponse(
        response_headers=protos.HeadersResponse(),
        mode_override=protos.ProcessingMode(response_body_mode=protos.ProcessingMode.STREAMED),
    )
    assert wrong_kind.on_response(switch) == [switch]
    # ... and from then on chunks come back as the FULL_DUPLEX_STREAMED kind
    (out,) = wrong_kind.on_response(body)
    assert out.response_body.response.body_mutation.WhichOneof("mutation") == "streamed_response"
    assert out.response_body.response.body_mutation.streamed_response.body == b"event: x\ndata: {}\n\n"
    # a filter configured STREAMED from the start (protocol_config on the first message)
    configured = Ext(get_mutant("extproc.streamed-response-in-streamed-mode").new_extproc())
    configured.on_request(
        protos.ProcessingRequest(
            request_headers=protos.HttpHeaders(),
            protocol_config=protos.ProtocolConfiguration(response_body_mode=protos.ProcessingMode.STREAMED),
        )
    )
    (out,) = configured.on_response(body)
    assert out.response_body.response.body_mutation.WhichOneof("mutation") == "streamed_response"
    # other phases are left alone
    headers = protos.ProcessingResponse(response_headers=protos.HeadersResponse())
    for mid in (
        "extproc.headers-for-body",
        "extproc.immediate-mid-stream",
        "extproc.streamed-response-in-streamed-mode",
    ):
        assert Ext(get_mutant(mid).new_extproc()).on_response(headers) == [headers]


def test_extproc_history_header() -> None:
    (out,) = Ext(get_mutant("extproc.history-header").new_extproc()).on_response(request_body_reply(CHAT))
    leaked = _hdrs(out.request_body.response)["x-gateway-history"]
    assert json.loads(base64.b64decode(leaked)) == json.loads(CHAT)["messages"]


def test_extproc_no_health_flag() -> None:
    assert get_mutant("extproc.no-health").new_extproc().health == ()
    assert get_mutant("extproc.history-header").new_extproc().health


# --------------------------------------------------------------------------- the catalog


def test_catalog_shape() -> None:
    assert len(HAND_WRITTEN) >= 30
    for mt in HAND_WRITTEN:
        assert mt.http is not None or mt.extproc is not None, mt.id
        if mt.http is not None and mt.extproc is not None:
            # both adapters carry the same fault (object faults): the rule broken is still one
            assert mt.category == "object", mt.id
        assert mt.description and mt.rule and mt.category in {"sse", "object", "state", "errors", "extproc"}
        assert mt.level in ("MUST", "SHOULD", "INFO") and mt.profile in ("openai", "openresponses")
    cats = {mt.category for mt in HAND_WRITTEN}
    assert cats == {"sse", "object", "state", "errors", "extproc"}
    assert [mt.id for mt in select_mutants(["sse.content-type-*"])] == [
        "sse.content-type-json",
        "sse.content-type-text",
    ]
    assert len(select_mutants(["extproc"])) == sum(mt.category == "extproc" for mt in HAND_WRITTEN)
    with pytest.raises(KeyError):
        get_mutant("nope")


def test_every_mutant_changes_something() -> None:
    """No catalog entry is a disguised identity: each one alters at least one sample exchange."""
    spaced = sample_response()
    spaced["output"][0]["content"][0]["text"] = "two  spaces"

    def samples_json() -> list[tuple[Exchange, int, Any]]:
        return [
            (CREATE_JSON_(), 200, sample_response()),
            (CREATE_JSON_(), 200, spaced),
            (CREATE_JSON_(), 400, ERR_400),
            (CREATE_JSON_(), 429, ERR_BACKEND_429),
            (CREATE_JSON_(), 502, ERR_400),
            (ProxyRequest("GET", "/responses/resp_x", []), 404, ERR_400),
            (ProxyRequest("DELETE", "/responses/resp_x", []), 200, {"id": "resp_x", "deleted": True}),
            (ProxyRequest("GET", "/responses/resp_1/input_items?after=a", []), 200, page(["b", "c"], False)),
            (ProxyRequest("GET", "/conversations/c/items", []), 200, page(["b", "c"], False)),
        ]

    for mt in HAND_WRITTEN:
        if mt.http is None:
            ext = Ext(mt.new_extproc())
            switch = protos.ProcessingResponse(
                response_headers=protos.HeadersResponse(),
                mode_override=protos.ProcessingMode(response_body_mode=protos.ProcessingMode.STREAMED),
            )
            replies = [request_body_reply(CHAT), switch, response_body_reply(b"x")]
            ext.on_request(
                protos.ProcessingRequest(request_body=protos.HttpBody(body=CLIENT_BODY, end_of_stream=True))
            )
            changed = not ext.health or any(ext.on_response(r) != [r] for r in replies)
            assert changed, mt.id
            continue
        mutation = mt.new_http()
        changed = False
        _status, headers, out = drive_stream(mutation)
        changed |= out != HEALTHY_SSE or headers != SSE_HEADERS
        _, _, out = drive_stream(mt.new_http(), append_done=True)
        changed |= mt.profile == "openresponses" and b"[DONE]" not in out
        for req, st, body in samples_json():
            m2 = mt.new_http()
            if mt.id == "state.cursor-repeats":
                drive_json(
                    m2, ProxyRequest("GET", "/responses/resp_1/input_items", []), 200, page(["a"], True)
                )
            before = (req.method, req.target(), req.content())
            decided = request(m2, req)
            same = (req.method, req.target(), req.content()) == before
            if isinstance(decided, Answer):
                changed = True
                continue
            raw = json.dumps(body).encode()
            out_resp = respond(m2, decided, Answer.of(st, [("content-type", "application/json")], raw))
            changed |= not same or out_resp.body != raw or out_resp.status != st
            changed |= out_resp.headers != [("content-type", "application/json")]
        if mt.id == "state.store-false-persisted":
            unstored = ProxyRequest("POST", "/responses", [], b'{"store": false}')
            changed |= not untouched(mt.new_http(), unstored)
        if mt.id == "state.instructions-inherited":
            changed = True  # needs a two-request conversation: covered by test_instructions_inherited
        assert changed, mt.id


def test_object_fault_on_the_extproc_path_too() -> None:
    """Object mutants break the ext_proc adapter's bodies the same way as the HTTP answers."""
    healthy = sample_response()
    text = json.dumps(healthy).encode()
    buffered = response_body_reply(text)
    buffered.response_body.response.header_mutation.set_headers.append(
        protos.HeaderValueOption(
            header=protos.HeaderValue(key="content-length", raw_value=str(len(text)).encode())
        )
    )
    ext = Ext(get_mutant("object.usage-total").new_extproc())
    (out,) = ext.on_response(buffered)
    body = out.response_body.response.body_mutation.body
    usage = json.loads(body)["usage"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"] + 1
    assert _hdrs(out.response_body.response)["content-length"] == str(len(body)).encode()
    # streamed chunks: the events' responses are rewritten, the other frames keep their bytes
    chunk = HEALTHY_SSE
    (out,) = Ext(get_mutant("object.object-wrong").new_extproc()).on_response(response_body_reply(chunk))
    rewritten = out.response_body.response.body_mutation.body
    assert [p["response"]["object"] for p in payloads(rewritten) if "response" in p] == [
        "chat.completion"
    ] * 3
    assert frames(rewritten)[3].raw == frames(chunk)[3].raw
    # bodies that are no Response (errors, [DONE]) pass
    other = response_body_reply(b'{"error": {"message": "x"}}')
    assert Ext(get_mutant("object.object-wrong").new_extproc()).on_response(other) == [other]


def test_id_prefix_on_the_extproc_path() -> None:
    ext = Ext(get_mutant("object.id-prefix").new_extproc())
    (out,) = ext.on_response(response_body_reply(json.dumps(sample_response()).encode()))
    assert json.loads(out.response_body.response.body_mutation.body)["id"] == "gw-sample1"
    req = protos.ProcessingRequest(
        request_body=protos.HttpBody(body=b'{"model":"m","input":"x","previous_response_id":"gw-sample1"}')
    )
    mapped = ext.on_request(req)
    assert json.loads(mapped.request_body.body)["previous_response_id"] == "resp_sample1"
    plain = protos.ProcessingRequest(request_body=protos.HttpBody(body=b'{"model":"m","input":"x"}'))
    assert ext.on_request(plain) is plain
