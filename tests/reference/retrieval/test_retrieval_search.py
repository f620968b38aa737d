"""Vector store search ranking and result shapes (reference.retrieval.search).

The corpus is fixtures/documents, extracted and chunked by the real pipeline and embedded with
the scripted backend's hashed bag-of-words embedding (ARCHITECTURE.md, "Scripted backend
protocol": lower-cased word tokens, 256 dims, L2-normalised), so ranking here is what the
gateway does against the fixture backend.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fixtures.backend.scripts import embed
from reference.retrieval import (
    ChunkMeta,
    RetrievalError,
    chunk_text,
    extract_text,
    file_citations,
    file_search_call_item,
    parse_file_search_tool,
    parse_search_request,
    rank,
    results_as_context,
    search,
    search_results_page,
)
from reference.retrieval.vectors import FloatMatrix

ROOT = Path(__file__).resolve().parents[3]
DOCS = ROOT / "fixtures" / "documents"
SPEC = Path(os.environ.get("SPECS_DIR", ROOT.parent / "shared" / "specs")) / "openai-openapi.yaml"

ATTRIBUTES: dict[str, dict[str, Any]] = {
    "sourdough.md": {"topic": "cooking", "year": 2023, "public": True},
    "tides.html": {"topic": "science", "year": 2021, "public": True},
    "solar.txt": {"topic": "energy", "year": 2024, "public": False},
    "volcanoes.csv": {"topic": "science", "year": 2019, "public": True},
    "glossary.json": {"topic": "ops", "year": 2022, "public": False},
    "events.jsonl": {"topic": "ops", "year": 2025, "public": False},
}


def vec(text: str) -> FloatMatrix:
    return np.asarray(embed(text), dtype=np.float32)


@pytest.fixture(scope="module")
def corpus() -> tuple[FloatMatrix, list[ChunkMeta]]:
    chunks: list[ChunkMeta] = []
    for n, (name, attributes) in enumerate(sorted(ATTRIBUTES.items())):
        text = extract_text(name, (DOCS / name).read_bytes(), None)
        for chunk in chunk_text(
            text, {"type": "static", "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 20}}
        ):
            chunks.append(ChunkMeta(f"file-{n}", name, chunk.text, attributes))
    matrix = np.stack([vec(c.text) for c in chunks])
    return matrix, chunks


def names(hits: list[Any]) -> list[str]:
    return [hit.chunk.filename for hit in hits]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("How often should I feed my sourdough starter?", "sourdough.md"),
        ("What causes the ocean tides?", "tides.html"),
        ("Why does solar panel output fall when the cells get hot?", "solar.txt"),
        ("Which country is Etna in?", "volcanoes.csv"),
        ("definition of latency", "glossary.json"),
        ("which gateway version was rolled back", "events.jsonl"),
    ],
)
def test_the_answering_document_ranks_first(
    corpus: tuple[FloatMatrix, list[ChunkMeta]], query: str, expected: str
) -> None:
    matrix, chunks = corpus
    hits = rank(vec(query), matrix, chunks, max_num_results=50)
    assert names(hits)[0] == expected
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert hits[0].score > hits[1].score


def test_score_is_cosine_similarity(corpus: tuple[FloatMatrix, list[ChunkMeta]]) -> None:
    matrix, chunks = corpus
    query = vec("ocean tides moon")
    (hit,) = rank(query, matrix, chunks, max_num_results=1)
    expected = float(np.dot(query, matrix[hit.row]) / np.linalg.norm(query) / np.linalg.norm(matrix[hit.row]))
    assert hit.score == pytest.approx(expected, abs=1e-6)


def test_score_threshold_cuts_results(corpus: tuple[FloatMatrix, list[ChunkMeta]]) -> None:
    matrix, chunks = corpus
    query = vec("How often should I feed my sourdough starter?")
    everything = rank(query, matrix, chunks, max_num_results=50)
    assert len(everything) == len(chunks)  # threshold 0 (the default) keeps all, zeros included
    top, second = everything[0].score, everything[1].score
    between = (top + second) / 2
    cut = rank(query, matrix, chunks, max_num_results=50, score_threshold=between)
    assert names(cut) == ["sourdough.md"]
    inclusive = rank(query, matrix, chunks, max_num_results=50, score_threshold=second)
    assert len(inclusive) >= 2 and all(h.score >= second for h in inclusive)
    assert rank(query, matrix, chunks, max_num_results=50, score_threshold=min(1.0, top + 1e-3)) == []


def test_filters_exclude_documents(corpus: tuple[FloatMatrix, list[ChunkMeta]]) -> None:
    matrix, chunks = corpus
    query = vec("What causes the ocean tides?")
    energy = rank(
        query, matrix, chunks, max_num_results=50, filters={"type": "eq", "key": "topic", "value": "energy"}
    )
    assert set(names(energy)) == {"solar.txt"}
    science_recent = {
        "type": "and",
        "filters": [
            {"type": "eq", "key": "topic", "value": "science"},
            {"type": "lt", "key": "year", "value": 2021},
        ],
    }
    assert set(names(rank(query, matrix, chunks, max_num_results=50, filters=science_recent))) == {
        "volcanoes.csv"
    }
    private = rank(
        query, matrix, chunks, max_num_results=50, filters={"type": "eq", "key": "public", "value": False}
    )
    assert "tides.html" not in names(private)
    assert set(names(private)) == {"solar.txt", "glossary.json", "events.jsonl"}
    assert rank(query, matrix, chunks, filters={"type": "eq", "key": "topic", "value": "none"}) == []


def test_max_num_results_limits_and_validates(corpus: tuple[FloatMatrix, list[ChunkMeta]]) -> None:
    matrix, chunks = corpus
    query = vec("tides")
    assert len(rank(query, matrix, chunks, max_num_results=2)) == 2
    assert len(rank(query, matrix, chunks)) == min(10, len(chunks))
    for bad in (0, 51, 2.0, True):
        with pytest.raises(RetrievalError) as info:
            rank(query, matrix, chunks, max_num_results=bad)  # type: ignore[arg-type]
        assert info.value.param == "max_num_results"


def test_array_query_takes_each_chunks_best_match(corpus: tuple[FloatMatrix, list[ChunkMeta]]) -> None:
    matrix, chunks = corpus
    queries = ["feed the sourdough starter", "ocean tides moon gravity"]
    hits = rank(np.stack([vec(q) for q in queries]), matrix, chunks, max_num_results=2)
    assert set(names(hits)) == {"sourdough.md", "tides.html"}
    # Each hit scores exactly its best single-query score.
    for hit in hits:
        single = max(
            rank(vec(q), matrix, chunks, max_num_results=50)[0].score
            for q in queries
            if rank(vec(q), matrix, chunks, max_num_results=1)[0].row == hit.row
        )
        assert hit.score == pytest.approx(single)


def test_negative_cosine_clamps_to_zero_and_ties_keep_matrix_order() -> None:
    chunks = [ChunkMeta(f"f{i}", f"n{i}", f"t{i}") for i in range(4)]
    matrix = np.array([[-1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [2.0, 0.0]], dtype=np.float32)
    hits = rank(np.array([1.0, 0.0]), matrix, chunks, max_num_results=4)
    # Rows 0 (cosine -1) and 1 (cosine 0) both score 0 and so keep their matrix order.
    assert [h.row for h in hits] == [2, 3, 0, 1]
    assert [h.score for h in hits] == pytest.approx([1.0, 1.0, 0.0, 0.0])
    assert [h.row for h in rank(np.array([1.0, 0.0]), matrix, chunks, max_num_results=1)] == [2]


def test_empty_store_has_no_results() -> None:
    assert rank(np.ones(4), np.zeros((0, 4)), []) == []


def test_search_page_shape_matches_the_spec(corpus: tuple[FloatMatrix, list[ChunkMeta]]) -> None:
    matrix, chunks = corpus
    options = parse_search_request(
        {
            "query": "ocean tides",
            "max_num_results": 3,
            "ranking_options": {"ranker": "none", "score_threshold": 0.1},
            "filters": {"type": "ne", "key": "topic", "value": "cooking"},
        }
    )
    page = search(options, vec("ocean tides"), matrix, chunks)
    assert page["object"] == "vector_store.search_results.page"
    assert page["search_query"] == ["ocean tides"]
    assert page["has_more"] is False and page["next_page"] is None
    first = page["data"][0]
    assert set(first) == {"file_id", "filename", "score", "attributes", "content"}
    assert first["filename"] == "tides.html"
    assert first["attributes"] == ATTRIBUTES["tides.html"]
    assert first["content"][0]["type"] == "text" and "gravity of the moon" in first["content"][0]["text"]
    assert all(item["score"] >= 0.1 for item in page["data"])
    assert all(item["filename"] != "sourdough.md" for item in page["data"])
    if SPEC.exists():
        _validate_against_spec(page, "VectorStoreSearchResultsPage")


@functools.cache
def _spec_registry() -> Any:
    import yaml
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    spec = yaml.load(SPEC.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return Registry().with_resource(
        "urn:openai", Resource.from_contents(spec, default_specification=DRAFT202012)
    )


def _validate_against_spec(instance: Any, schema_name: str) -> None:
    import jsonschema

    registry = _spec_registry()
    schema = {"$ref": f"urn:openai#/components/schemas/{schema_name}"}
    jsonschema.Draft202012Validator(schema, registry=registry).validate(instance)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "query"),
        ({"query": []}, "query"),
        ({"query": ["a", 1]}, "query"),
        ({"query": "  "}, "query"),
        ({"query": 5}, "query"),
        ({"query": "a", "max_num_results": 0}, "max_num_results"),
        ({"query": "a", "max_num_results": 51}, "max_num_results"),
        ({"query": "a", "max_num_results": "5"}, "max_num_results"),
        ({"query": "a", "rewrite_query": "yes"}, "rewrite_query"),
        ({"query": "a", "ranking_options": {"score_threshold": 1.5}}, "ranking_options.score_threshold"),
        ({"query": "a", "ranking_options": {"score_threshold": -0.1}}, "ranking_options.score_threshold"),
        ({"query": "a", "ranking_options": {"ranker": "best"}}, "ranking_options.ranker"),
        ({"query": "a", "ranking_options": {"hybrid_search": {}}}, "ranking_options.hybrid_search"),
        ({"query": "a", "ranking_options": []}, "ranking_options"),
        ({"query": "a", "filters": {"type": "eq", "key": "k"}}, "filters.value"),
        ({"query": "a", "page": 2}, "page"),
    ],
)
def test_search_request_validation(body: dict[str, Any], param: str) -> None:
    with pytest.raises(RetrievalError) as info:
        parse_search_request(body)
    assert info.value.param == param
    assert info.value.as_api_error().status == 400


def test_search_request_defaults_and_array_query() -> None:
    options = parse_search_request({"query": ["a", "b"]})
    assert options.queries == ("a", "b")
    assert options.max_num_results == 10
    assert options.score_threshold == 0.0
    assert options.ranker == "auto" and options.rewrite_query is False and options.filters is None


def test_file_search_tool_parsing() -> None:
    tool = parse_file_search_tool(
        {
            "type": "file_search",
            "vector_store_ids": ["vs_1", "vs_2"],
            "max_num_results": 4,
            "ranking_options": {
                "ranker": "default-2024-11-15",
                "score_threshold": 0.25,
                "hybrid_search": {"embedding_weight": 0.7, "text_weight": 0.3},
            },
            "filters": {"type": "in", "key": "topic", "value": ["a", "b"]},
        },
        "tools[2]",
    )
    assert tool.vector_store_ids == ("vs_1", "vs_2")
    assert tool.options.max_num_results == 4 and tool.options.score_threshold == 0.25
    assert tool.options.filters is not None and tool.options.filters.matches({"topic": "b"})
    defaults = parse_file_search_tool({"type": "file_search", "vector_store_ids": ["vs_1"], "filters": None})
    assert defaults.options.max_num_results == 10 and defaults.options.filters is None
    cases: list[tuple[dict[str, Any], str]] = [
        ({"type": "file_search"}, "tools[0].vector_store_ids"),
        ({"type": "file_search", "vector_store_ids": "vs_1"}, "tools[0].vector_store_ids"),
        (
            {"type": "file_search", "vector_store_ids": ["vs"], "max_num_results": 99},
            "tools[0].max_num_results",
        ),
        (
            {"type": "file_search", "vector_store_ids": ["vs"], "ranking_options": {"ranker": "none"}},
            "tools[0].ranking_options.ranker",
        ),
        (
            {"type": "file_search", "vector_store_ids": ["vs"], "filters": {"type": "xor", "filters": []}},
            "tools[0].filters.type",
        ),
        ({"type": "file_search", "vector_store_ids": ["vs"], "extra": 1}, "tools[0].extra"),
        ({"type": "function", "name": "f"}, "tools[0]"),
    ]
    for bad, param in cases:
        with pytest.raises(RetrievalError) as info:
            parse_file_search_tool(bad)
        assert info.value.param == param


def test_file_search_call_item_and_citations(corpus: tuple[FloatMatrix, list[ChunkMeta]]) -> None:
    matrix, chunks = corpus
    hits = rank(
        vec("science tides volcano"),
        matrix,
        chunks,
        max_num_results=3,
        filters={"type": "eq", "key": "topic", "value": "science"},
    )
    item = file_search_call_item("fs_1", ["science tides volcano"], hits)
    assert item["type"] == "file_search_call" and item["status"] == "completed"
    assert item["queries"] == ["science tides volcano"]
    assert [r["filename"] for r in item["results"]] == names(hits)
    assert set(item["results"][0]) == {"file_id", "filename", "score", "attributes", "text"}
    assert item["results"][0]["text"] == hits[0].chunk.text
    assert file_search_call_item("fs_1", ["q"], None)["results"] is None
    citations = file_citations(hits + hits, index=42)
    assert citations == [
        {"type": "file_citation", "file_id": fid, "filename": name, "index": 42}
        for fid, name in dict.fromkeys((h.chunk.file_id, h.chunk.filename) for h in hits)
    ]
    assert len(citations) == len({h.chunk.file_id for h in hits})
    context = results_as_context(hits)
    assert hits[0].chunk.text in context and hits[0].chunk.file_id in context
    assert results_as_context([]) == "No results found in the vector stores."
    if SPEC.exists():
        _validate_against_spec(item, "FileSearchToolCall")
        for citation in citations:
            _validate_against_spec(citation, "FileCitationBody")


def test_page_with_no_hits() -> None:
    assert search_results_page(["q"], []) == {
        "object": "vector_store.search_results.page",
        "search_query": ["q"],
        "data": [],
        "has_more": False,
        "next_page": None,
    }


def test_prenormalised_matrix_gives_the_same_ranking(corpus: tuple[FloatMatrix, list[ChunkMeta]]) -> None:
    from reference.retrieval.vectors import normalize

    matrix, chunks = corpus
    scaled = matrix * np.linspace(0.5, 3.0, len(chunks), dtype=np.float32)[:, None]
    query = vec("ocean tides moon")
    plain = rank(query, scaled, chunks, max_num_results=5)
    cached = rank(query, normalize(scaled), chunks, max_num_results=5, normalized=True)
    assert [h.row for h in plain] == [h.row for h in cached]
    assert [h.score for h in plain] == pytest.approx([h.score for h in cached], abs=1e-6)


def test_vectors_and_metadata_out_of_step_is_a_programming_error() -> None:
    chunks = [ChunkMeta("f", "n", "t")]
    with pytest.raises(ValueError, match="shape"):
        rank(np.ones(2), np.ones((2, 2)), chunks)
