"""Chunking strategies (reference.retrieval.chunking)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference.retrieval import InvalidChunkingStrategy, chunk_text, count_tokens, resolve_strategy
from reference.retrieval.chunking import AUTO, token_spans


def static(size: int, overlap: int) -> dict[str, Any]:
    return {"type": "static", "static": {"max_chunk_size_tokens": size, "chunk_overlap_tokens": overlap}}


def test_token_approximation_is_documented_behaviour() -> None:
    assert count_tokens("") == 0
    assert count_tokens("   \n\t") == 0
    assert count_tokens("Hello, world!") == 4  # Hello , world !
    assert count_tokens("retrieval") == 2  # 6-character word pieces: retrie + val
    assert count_tokens("a_b 42") == 2
    assert count_tokens("caf\u00e9 na\u00efve") == 2  # unicode letters are word characters


def test_auto_is_800_tokens_with_400_overlap() -> None:
    # AutoChunkingStrategyRequestParam: "max_chunk_size_tokens of 800 and chunk_overlap_tokens of 400".
    assert resolve_strategy(None) == resolve_strategy({"type": "auto"}) == AUTO
    assert AUTO.as_dict() == static(800, 400)
    text = " ".join(f"w{i}" for i in range(2000))
    chunks = chunk_text(text, {"type": "auto"})
    assert [c.token_count for c in chunks] == [800, 800, 800, 800]
    assert chunks[1].text.split()[0] == "w400"
    assert chunks[-1].text.split()[-1] == "w1999"
    assert chunk_text(text, None) == chunks


def test_static_windows_exact_positions() -> None:
    text = " ".join(f"t{i}" for i in range(250))
    chunks = chunk_text(text, static(100, 30))
    assert [(c.text.split()[0], c.text.split()[-1]) for c in chunks] == [
        ("t0", "t99"),
        ("t70", "t169"),
        ("t140", "t239"),
        ("t210", "t249"),
    ]
    assert [c.index for c in chunks] == [0, 1, 2, 3]


def test_short_text_is_one_chunk_and_blank_text_none() -> None:
    assert [c.text for c in chunk_text("  just a few words.  ", None)] == ["just a few words."]
    assert chunk_text("", None) == []
    assert chunk_text(" \n ", static(100, 0)) == []


def test_text_exactly_one_window_is_not_followed_by_a_tail_chunk() -> None:
    text = " ".join(["x"] * 100)
    assert len(chunk_text(text, static(100, 50))) == 1


def test_chunk_keeps_original_formatting() -> None:
    text = "Line one.\n\n  Line two:\tdone"
    (chunk,) = chunk_text(text, None)
    assert chunk.text == "Line one.\n\n  Line two:\tdone"
    assert text[chunk.start : chunk.end] == chunk.text


@pytest.mark.parametrize(
    ("strategy", "param"),
    [
        (
            {"type": "static", "static": {"max_chunk_size_tokens": 99, "chunk_overlap_tokens": 0}},
            "chunking_strategy.static.max_chunk_size_tokens",
        ),
        (
            {"type": "static", "static": {"max_chunk_size_tokens": 4097, "chunk_overlap_tokens": 0}},
            "chunking_strategy.static.max_chunk_size_tokens",
        ),
        (
            {"type": "static", "static": {"max_chunk_size_tokens": 800.0, "chunk_overlap_tokens": 0}},
            "chunking_strategy.static.max_chunk_size_tokens",
        ),
        (
            {"type": "static", "static": {"max_chunk_size_tokens": True, "chunk_overlap_tokens": 0}},
            "chunking_strategy.static.max_chunk_size_tokens",
        ),
        (
            {"type": "static", "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 101}},
            "chunking_strategy.static.chunk_overlap_tokens",
        ),
        (
            {"type": "static", "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": -1}},
            "chunking_strategy.static.chunk_overlap_tokens",
        ),
        (
            {"type": "static", "static": {"max_chunk_size_tokens": 200}},
            "chunking_strategy.static.chunk_overlap_tokens",
        ),
        (
            {"type": "static", "static": {"chunk_overlap_tokens": 10}},
            "chunking_strategy.static.max_chunk_size_tokens",
        ),
        (
            {"type": "static", "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 0, "x": 1}},
            "chunking_strategy.static.x",
        ),
        ({"type": "static"}, "chunking_strategy.static"),
        ({"type": "static", "static": 5}, "chunking_strategy.static"),
        ({"type": "auto", "static": {}}, "chunking_strategy.static"),
        ({"type": "other"}, "chunking_strategy.type"),
        ({}, "chunking_strategy.type"),
        ("auto", "chunking_strategy"),
    ],
)
def test_invalid_strategies_name_the_parameter(strategy: Any, param: str) -> None:
    with pytest.raises(ValueError) as info:
        chunk_text("some text", strategy)
    assert isinstance(info.value, InvalidChunkingStrategy)
    assert info.value.param == param
    assert param in str(info.value)
    assert info.value.as_api_error().status == 400


def test_bounds_are_inclusive() -> None:
    # "The minimum value is 100 and the maximum value is 4096"; overlap "must not exceed half".
    assert resolve_strategy(static(100, 50)).chunk_overlap_tokens == 50
    assert resolve_strategy(static(4096, 2048)).max_chunk_size_tokens == 4096
    assert resolve_strategy(static(101, 50)).chunk_overlap_tokens == 50


_WORDS = ["alpha", "be", "c", "retrieval", "x_y", "42", "\u00e9t\u00e9", "supercalifragilistic"]
_SEPARATORS = [" ", "  ", "\n", ", ", ". ", "!", "-", "\t"]


@st.composite
def _texts(draw: st.DrawFn) -> str:
    # Hypothesis keeps generated lists short, so a word count plus a seeded generator gives
    # texts long enough to span many chunks (up to ~4000 tokens) while still shrinking on n.
    n = draw(st.integers(min_value=0, max_value=1500))
    rng = draw(st.randoms(use_true_random=False))
    return "".join(rng.choice(_WORDS) + rng.choice(_SEPARATORS) for _ in range(n))


_TEXTS = _texts()


@settings(max_examples=40)
@given(
    text=_TEXTS,
    size=st.integers(min_value=100, max_value=260),
    overlap_fraction=st.floats(min_value=0.0, max_value=0.5),
)
def test_chunks_cover_text_in_order_with_exact_overlap(text: str, size: int, overlap_fraction: float) -> None:
    overlap = int(size * overlap_fraction)
    chunks = chunk_text(text, static(size, overlap))
    spans = token_spans(text)
    if not spans:
        assert chunks == []
        return
    first_token = {start: i for i, (start, _) in enumerate(spans)}
    last_token = {end: i for i, (_, end) in enumerate(spans)}
    windows = [(first_token[c.start], last_token[c.end]) for c in chunks]
    # In order, starting at the first token and ending at the last one.
    assert windows[0][0] == 0
    assert windows[-1][1] == len(spans) - 1
    assert [c.index for c in chunks] == list(range(len(chunks)))
    for chunk, (lo, hi) in zip(chunks, windows, strict=True):
        assert text[chunk.start : chunk.end] == chunk.text
        assert chunk.token_count == hi - lo + 1 == count_tokens(chunk.text)
        assert chunk.token_count <= size
    for (lo, hi), (next_lo, next_hi) in itertools.pairwise(windows):
        # Every chunk but the last is full, and the next one starts exactly `overlap` tokens
        # before this one ends: no gap, no extra overlap.
        assert hi - lo + 1 == size
        assert hi - next_lo + 1 == overlap
        assert next_hi > hi
