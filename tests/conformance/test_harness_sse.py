"""The harness's own SSE parser against the WHATWG event-stream rules."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.sse import SSEEvent, SSEParser, parse_all


def feed_chunks(payload: bytes, cuts: list[int]) -> tuple[list[SSEEvent], SSEParser]:
    parser = SSEParser()
    events: list[SSEEvent] = []
    prev = 0
    for cut in sorted(set(cuts)):
        events += parser.feed(payload[prev:cut])
        prev = cut
    events += parser.feed(payload[prev:])
    events += parser.close()
    return events, parser


def test_basic_event_with_type_and_default_type() -> None:
    events, _ = parse_all(b'event: response.created\ndata: {"a":1}\n\ndata: x\n\n')
    assert events == [SSEEvent("response.created", '{"a":1}'), SSEEvent("message", "x")]


def test_multi_line_data_is_joined_with_lf() -> None:
    events, _ = parse_all(b"data: one\ndata:two\ndata:  three\n\n")
    assert events[0].data == "one\ntwo\n three"  # only one leading space is dropped


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_all_line_endings(eol: bytes) -> None:
    payload = eol.join([b"event: e", b"data: a", b"data: b", b"", b"data: c", b"", b""])
    events, parser = parse_all(payload)
    assert events == [SSEEvent("e", "a\nb"), SSEEvent("message", "c")]
    assert parser.discarded_tail is None


def test_crlf_split_across_chunks_is_one_line_end() -> None:
    events, _ = feed_chunks(b"data: a\r\n\r\ndata: b\r\n\r\n", [8, 9, 10])
    assert [e.data for e in events] == ["a", "b"]


def test_comments_are_recorded_not_dispatched() -> None:
    events, parser = parse_all(b": keep-alive\n\n:x\ndata: d\n\n")
    assert [e.data for e in events] == ["d"]
    assert parser.comments == [" keep-alive", "x"]


def test_leading_bom_is_dropped_once_even_when_split() -> None:
    events, _ = feed_chunks(b"\xef\xbb\xbfdata: a\n\n", [1, 2])
    assert events == [SSEEvent("message", "a")]
    events, _ = parse_all("\ufeffdata: a\n\n")
    assert events == [SSEEvent("message", "a")]
    # a second BOM is content: the line's field name becomes "\ufeffdata", which is ignored
    events, _ = parse_all(b"\xef\xbb\xbf\xef\xbb\xbfdata: a\n\n")
    assert events == []


def test_id_and_retry_fields() -> None:
    events, parser = parse_all(
        b"id: 7\nretry: 1500\ndata: a\n\nretry: soon\ndata: b\n\nid: x\x00y\ndata: c\n\n"
    )
    assert events[0] == SSEEvent("message", "a", id="7", retry=1500)
    assert events[1].retry == 1500  # a non-digit retry is ignored
    assert events[2].id == "7"  # an id containing NULL is ignored
    assert parser.last_event_id == "7"


def test_field_without_colon_and_unknown_fields() -> None:
    events, _ = parse_all(b"data\nfoo: bar\n\n")
    assert events == [SSEEvent("message", "")]


def test_event_without_data_is_not_dispatched_and_type_resets() -> None:
    events, _ = parse_all(b"event: lonely\n\ndata: x\n\n")
    assert events == [SSEEvent("message", "x")]


def test_unterminated_final_event_is_discarded_and_reported() -> None:
    events, parser = parse_all(b"data: a\n\ndata: b\n")
    assert [e.data for e in events] == ["a"]
    assert parser.discarded_tail is not None
    events, parser = parse_all(b"data: a\n\ndata: partial")
    assert [e.data for e in events] == ["a"]
    assert parser.discarded_tail is not None and "partial" in parser.discarded_tail


def test_trailing_cr_at_eof_terminates_the_line() -> None:
    events, parser = parse_all(b"data: a\r\r")
    assert [e.data for e in events] == ["a"]
    assert parser.discarded_tail is None


def test_invalid_utf8_is_replaced() -> None:
    events, _ = parse_all(b"data: \xff\n\n")
    assert events[0].data == "\ufffd"


def test_feed_after_close_is_an_error() -> None:
    parser = SSEParser()
    parser.close()
    with pytest.raises(ValueError):
        parser.feed(b"data: x\n\n")


# ---------------------------------------------------------------------- properties

_chars = st.characters(blacklist_characters="\r\n\x00", blacklist_categories=["Cs"])
_text = st.text(alphabet=_chars, max_size=12)
_event = st.tuples(
    st.one_of(st.none(), st.text(alphabet="abcdefghij._", min_size=1, max_size=8)),
    st.lists(_text, min_size=1, max_size=3),
    st.one_of(st.none(), st.text(alphabet="0123456789abc", min_size=1, max_size=4)),
)


def _encode(events: list[tuple[str | None, list[str], str | None]], eols: list[str], comments: bool) -> bytes:
    out = []
    i = 0
    prev = ""

    def eol() -> str:
        # a CR followed by an LF would be one CRLF line end: keep mixed endings unambiguous
        nonlocal i, prev
        i += 1
        e = eols[i % len(eols)]
        if prev == "\r" and e == "\n":
            e = "\r\n"
        prev = e[-1]
        return e

    for etype, lines, eid in events:
        if comments:
            out.append(":comment" + eol())
        if etype is not None:
            out.append(f"event: {etype}" + eol())
        if eid is not None:
            out.append(f"id: {eid}" + eol())
        out += [f"data: {line}" + eol() for line in lines]
        out.append(eol())
    return "".join(out).encode()


@settings(max_examples=60, deadline=None)
@given(
    events=st.lists(_event, max_size=5),
    eols=st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=1, max_size=3),
    comments=st.booleans(),
    bom=st.booleans(),
    data=st.data(),
)
def test_any_serialisation_and_any_chunking_gives_the_same_events(events, eols, comments, bom, data) -> None:  # type: ignore[no-untyped-def]
    payload = (b"\xef\xbb\xbf" if bom else b"") + _encode(events, eols, comments)
    cuts = data.draw(st.lists(st.integers(0, len(payload)), max_size=8))
    got, parser = feed_chunks(payload, cuts)
    expected = []
    last_id = ""
    for etype, lines, eid in events:
        if eid is not None:
            last_id = eid
        expected.append(SSEEvent(etype or "message", "\n".join(lines), id=last_id))
    assert got == expected
    assert parser.discarded_tail is None


@settings(max_examples=60, deadline=None)
@given(payload=st.binary(max_size=80), cuts=st.lists(st.integers(0, 80), max_size=6))
def test_chunking_never_changes_the_result_of_arbitrary_bytes(payload: bytes, cuts: list[int]) -> None:
    whole, p1 = parse_all(payload)
    split, p2 = feed_chunks(payload, [c for c in cuts if c <= len(payload)])
    assert whole == split
    assert (p1.discarded_tail is None) == (p2.discarded_tail is None)
    assert p1.comments == p2.comments
