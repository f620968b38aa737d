"""SSE encoding and the incremental chat-stream decoder (reference.core.sse)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference.core.errors import APIError
from reference.core.sse import DONE, ChatStreamDecoder, EventStreamEncoder, encode_done, encode_event


def test_encode_event() -> None:
    event = {"type": "response.output_text.delta", "sequence_number": 3, "delta": "h\u00e9\nllo"}
    raw = encode_event(event)
    assert raw.startswith(b"event: response.output_text.delta\ndata: {")
    assert raw.endswith(b"}\n\n")
    assert raw.count(b"\n") == 3  # the newline inside the delta is escaped by JSON
    data = raw.split(b"\n")[1][len(b"data: ") :]
    assert b", " not in data and b": " not in data  # compact separators
    assert json.loads(data) == event


def test_encode_done() -> None:
    assert encode_done() == b"data: [DONE]\n\n"


def _decode_all(raw: bytes, pieces: list[int] | None = None) -> list[Any]:
    decoder = ChatStreamDecoder()
    out: list[Any] = []
    cuts = sorted(set(pieces or []))
    start = 0
    for cut in [*cuts, len(raw)]:
        out += decoder.feed(raw[start:cut])
        start = cut
    return out + decoder.close()


DELTA = {"type": "response.output_text.delta", "delta": "hi"}


@pytest.mark.parametrize("terminal", ["response.completed", "response.incomplete", "response.failed"])
def test_done_marker_follows_the_terminal_event_once(terminal: str) -> None:
    # Open Responses: "The terminal event MUST be the literal string `[DONE]`".
    encoder = EventStreamEncoder(done_marker=True)
    assert encoder.encode([DELTA]) == encode_event(DELTA)
    end = {"type": terminal}
    assert encoder.encode([end]) == encode_event(end) + encode_done()
    assert encoder.close() == b""


def test_done_marker_closes_a_stream_without_terminal_event() -> None:
    encoder = EventStreamEncoder(done_marker=True)
    encoder.encode([DELTA])
    assert encoder.close() == encode_done()
    assert encoder.close() == b""


def test_no_done_marker_in_the_openai_profile() -> None:
    encoder = EventStreamEncoder(done_marker=False)
    assert encoder.encode([DELTA, {"type": "response.completed"}]) == b"".join(
        encode_event(e) for e in (DELTA, {"type": "response.completed"}))
    assert encoder.close() == b""


def test_decodes_chunks_and_done() -> None:
    raw = b'data: {"a":1}\n\ndata: {"b":2}\n\ndata: [DONE]\n\n'
    decoder = ChatStreamDecoder()
    assert decoder.feed(raw) == [{"a": 1}, {"b": 2}, DONE]
    assert decoder.done


def test_crlf_comments_and_other_fields() -> None:
    raw = (
        b': keep-alive\r\nevent: chunk\r\nid: 7\r\ndata:{"a":1}\r\n\r\nretry: 10\r\n\r\ndata: [DONE]\r\n\r\n'
    )
    assert _decode_all(raw) == [{"a": 1}, DONE]


def test_bare_cr_line_endings() -> None:
    assert _decode_all(b'data: {"a":1}\r\rdata: [DONE]\r\r') == [{"a": 1}, DONE]


def test_multi_line_data_is_joined() -> None:
    assert _decode_all(b'data: {"a":\ndata: 1}\n\n') == [{"a": 1}]


def test_split_inside_crlf_and_utf8() -> None:
    raw = 'data: {"t":"h\u00e9"}\r\n\r\n'.encode()
    decoder = ChatStreamDecoder()
    out: list[Any] = []
    for i in range(len(raw)):
        out += decoder.feed(raw[i : i + 1])
    assert out == [{"t": "h\u00e9"}]


def test_unterminated_last_event_is_dispatched_on_close() -> None:
    decoder = ChatStreamDecoder()
    assert decoder.feed(b'data: {"a":1}') == []
    assert decoder.close() == [{"a": 1}]


@pytest.mark.parametrize(
    "raw", [b"data: not json\n\n", b"data: [1,2]\n\n", b'data: {"a":\n\n', b"data: \xff\xfe\n\n"]
)
def test_garbage_is_a_502(raw: bytes) -> None:
    with pytest.raises(APIError) as info:
        ChatStreamDecoder().feed(raw)
    assert info.value.status == 502 and info.value.code == "backend_bad_response"


_payload = st.dictionaries(
    st.sampled_from(["id", "content", "x"]), st.one_of(st.integers(), st.text(max_size=6)), max_size=3
)


@st.composite
def _stream(draw: st.DrawFn) -> tuple[bytes, list[Any]]:
    payloads = draw(st.lists(_payload, max_size=5))
    newline = draw(st.sampled_from([b"\n", b"\r\n", b"\r"]))
    raw = b""
    for payload in payloads:
        if draw(st.booleans()):
            raw += b": comment" + newline
        raw += b"data: " + json.dumps(payload, ensure_ascii=False).encode() + newline + newline
    expected: list[Any] = list(payloads)
    if draw(st.booleans()):
        raw += b"data: [DONE]" + newline + newline
        expected.append(DONE)
    return raw, expected


@settings(max_examples=60)
@given(_stream(), st.lists(st.integers(0, 400), max_size=12))
def test_any_split_gives_the_same_chunks(stream: tuple[bytes, list[Any]], cuts: list[int]) -> None:
    raw, expected = stream
    cuts = [c for c in cuts if c <= len(raw)]
    assert _decode_all(raw) == expected
    assert _decode_all(raw, cuts) == expected
