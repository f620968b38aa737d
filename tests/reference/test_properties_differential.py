"""Differential properties between independently written halves (issue 6).

The harness's SSE parser (conformance.sse, written to the WHATWG rules) and the reference's
event encoder (reference.core.sse) were written apart on purpose. For any list of events and any
chunking of the encoded bytes, the parser must give back exactly the events that were encoded:
a parser that drops events split across network chunks fails here.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from conformance.sse import SSEParser
from reference.core.sse import encode_done, encode_event

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
_events = st.lists(
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(
                ["response.created", "response.output_text.delta", "response.completed", "error"]
            ),
            "sequence_number": st.integers(0, 10_000),
            "delta": _text,
        }
    ),
    min_size=1,
    max_size=12,
)


def _chunk(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, start = [], 0
    for point in [*points, len(data)]:
        pieces.append(data[start:point])
        start = point
    return pieces


@given(events=_events, cuts=st.lists(st.integers(0, 10_000), max_size=40), done=st.booleans())
def test_parser_recovers_every_encoded_event_under_any_chunking(
    events: list[dict[str, Any]], cuts: list[int], done: bool
) -> None:
    wire = b"".join(encode_event(e) for e in events) + (encode_done() if done else b"")
    parser = SSEParser()
    parsed = []
    for piece in _chunk(wire, cuts):
        parsed.extend(parser.feed(piece))
    parsed.extend(parser.close())
    assert parser.discarded_tail is None
    frames = [(p.event, p.data) for p in parsed]
    expected = [(e["type"], json.dumps(e, separators=(",", ":"))) for e in events]
    if done:
        expected.append(("message", "[DONE]"))
    assert [(t, d if d == "[DONE]" else json.loads(d)) for t, d in frames] == [
        (t, d if d == "[DONE]" else json.loads(d)) for t, d in expected
    ]


def test_crlf_split_before_an_empty_chunk_keeps_the_blank_line() -> None:
    # "\r" ends one chunk, "\n" (its CRLF half) arrives alone, then the blank line: the blank
    # line must still dispatch the event.
    parser = SSEParser()
    got = []
    for piece in (b"data: a\r", b"\n", b"\n"):
        got.extend(parser.feed(piece))
    assert [e.data for e in got] == ["a"]
