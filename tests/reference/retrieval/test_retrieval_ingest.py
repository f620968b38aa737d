"""File ingestion in one call, and vector store file attribute validation."""

from __future__ import annotations

from typing import Any

import pytest

from reference.retrieval import (
    EmptyDocument,
    InvalidAttributes,
    InvalidChunkingStrategy,
    count_tokens,
    ingest,
    validate_attributes,
)


def test_ingest_extracts_chunks_and_reports_the_strategy() -> None:
    html = (
        "<html><body>"
        + "".join(f"<p>sentence number {i} about tides.</p>" for i in range(120))
        + "</body></html>"
    )
    result = ingest(
        "page.html",
        html.encode(),
        "text/html",
        {"type": "static", "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 10}},
    )
    assert result.text.startswith("sentence number 0 about tides.")
    assert len(result.chunks) > 1
    assert all(c.token_count <= 100 and c.token_count == count_tokens(c.text) for c in result.chunks)
    assert result.strategy.as_dict() == {
        "type": "static",
        "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 10},
    }
    assert ingest("a.txt", b"short", None).strategy.as_dict()["static"] == {
        "max_chunk_size_tokens": 800,
        "chunk_overlap_tokens": 400,
    }


def test_strategy_is_checked_before_the_file() -> None:
    bad = {"type": "static", "static": {"max_chunk_size_tokens": 50, "chunk_overlap_tokens": 0}}
    with pytest.raises(InvalidChunkingStrategy):
        ingest("empty.txt", b"", None, bad)
    with pytest.raises(EmptyDocument):
        ingest("empty.txt", b"", None, None)


def test_valid_attributes() -> None:
    attrs = {f"k{i}": v for i, v in enumerate(["s" * 512, 1, 2.5, True] * 4)}
    assert validate_attributes(attrs) == attrs
    assert validate_attributes(None) == {}
    assert validate_attributes({"k" * 64: "v"}) == {"k" * 64: "v"}


@pytest.mark.parametrize(
    ("attrs", "param"),
    [
        ({f"k{i}": i for i in range(17)}, "attributes"),
        ({"k" * 65: "v"}, "attributes"),
        ({"k": "s" * 513}, "attributes.k"),
        ({"k": None}, "attributes.k"),
        ({"k": ["a"]}, "attributes.k"),
        ({"k": {"a": 1}}, "attributes.k"),
        (["k"], "attributes"),
    ],
)
def test_invalid_attributes(attrs: Any, param: str) -> None:
    # VectorStoreFileAttributes: 16 pairs, keys <= 64 chars, string values <= 512 chars.
    with pytest.raises(InvalidAttributes) as info:
        validate_attributes(attrs)
    assert info.value.param == param
