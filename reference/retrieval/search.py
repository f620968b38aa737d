"""Vector store search and the file_search tool's result shapes.

Given the query embedding(s), the chunk embeddings of a vector store and each chunk's metadata,
`rank` returns the best chunks; `search_results_page` renders them as the
`POST /vector_stores/{id}/search` answer (VectorStoreSearchResultsPage), and
`file_search_call_item` / `file_citations` as the Responses `file_search_call` output item and
the `file_citation` annotations.

Choices the spec leaves open (pinned by tests):
- Similarity is cosine. The spec bounds `score` to [0, 1] ("minimum: 0, maximum: 1"), so a
  negative cosine (a chunk pointing away from the query) is clamped to 0 rather than rescaling
  everything with (1 + cos) / 2, which would give an unrelated chunk 0.5 and make
  `score_threshold` meaningless.
- A query that is an array of strings ("A list of queries to search for") searches for each
  and a chunk scores its best match over the queries (max), i.e. the union of the searches. An
  averaged query vector would favour chunks that are vaguely about everything over chunks that
  answer one of the questions exactly.
- One result item per chunk, best first; ties keep the order of the chunk matrix, so results
  are deterministic. `content` holds that chunk's text. `has_more` is false and `next_page`
  null: `max_num_results` is the page size, and OpenAI's endpoint does not page further either.
- `score_threshold` keeps chunks with `score >= threshold` (0, the default, keeps all).
- `ranker` is accepted and validated; there is no re-ranker, so every value ranks by cosine.
  `rewrite_query` is accepted; the query is never rewritten, so `search_query` echoes it.
- Attribute filters are applied before ranking (a mask), so they never reduce recall.
- Attributes belong to the vector store file (VectorStoreFileAttributes), so a filter is
  evaluated once per `file_id`: chunks of one file must carry the same attributes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from reference.retrieval import vectors
from reference.retrieval.errors import RetrievalError
from reference.retrieval.filters import Attributes, Filter, parse_filter

MIN_RESULTS, MAX_RESULTS, DEFAULT_MAX_RESULTS = 1, 50, 10
SEARCH_RANKERS = ("none", "auto", "default-2024-11-15")  # VectorStoreSearchRequest.ranking_options
TOOL_RANKERS = ("auto", "default-2024-11-15")  # RankerVersionType (FileSearchTool.ranking_options)


@dataclass(frozen=True)
class ChunkMeta:
    """What search needs to know about one stored chunk besides its vector."""

    file_id: str
    filename: str
    text: str
    attributes: Attributes = field(default_factory=dict)


@dataclass(frozen=True)
class Hit:
    chunk: ChunkMeta
    score: float
    row: int  # index of the chunk in the matrix, for callers that keep more per row


@dataclass(frozen=True)
class SearchOptions:
    """Validated search parameters shared by the search endpoint and the file_search tool."""

    queries: tuple[str, ...] = ()
    max_num_results: int = DEFAULT_MAX_RESULTS
    score_threshold: float = 0.0
    ranker: str = "auto"
    rewrite_query: bool = False
    filters: Filter | None = None


@dataclass(frozen=True)
class FileSearchTool:
    """A validated `{"type": "file_search", ...}` tool of a Responses request."""

    vector_store_ids: tuple[str, ...]
    options: SearchOptions


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_keys(obj: Mapping[str, Any], allowed: Sequence[str], param: str | None) -> None:
    for key in obj:
        if key not in allowed:
            name = f"{param}.{key}" if param else key
            raise RetrievalError(f"Unknown parameter '{name}'.", name)


def _max_num_results(value: object, param: str) -> int:
    # "This number should be between 1 and 50 inclusive."
    if not _is_int(value) or not MIN_RESULTS <= value <= MAX_RESULTS:  # type: ignore[operator]
        raise RetrievalError(
            f"Invalid '{param}': expected an integer between {MIN_RESULTS} and {MAX_RESULTS}, got {value!r}.",
            param,
        )
    assert isinstance(value, int)
    return value


def _ranking_options(
    obj: object, param: str, rankers: Sequence[str], allowed: Sequence[str]
) -> tuple[str, float]:
    if not isinstance(obj, Mapping):
        raise RetrievalError(f"Invalid '{param}': expected an object.", param)
    _check_keys(obj, allowed, param)
    ranker = obj.get("ranker", "auto")
    if ranker not in rankers:
        raise RetrievalError(
            f"Invalid value for '{param}.ranker': {ranker!r}; expected one of {', '.join(rankers)}.",
            f"{param}.ranker",
        )
    threshold = obj.get("score_threshold", 0.0)
    # "score_threshold ... a number between 0 and 1"
    if not _is_number(threshold) or not 0.0 <= threshold <= 1.0:
        raise RetrievalError(
            f"Invalid '{param}.score_threshold': expected a number between 0 and 1, got {threshold!r}.",
            f"{param}.score_threshold",
        )
    hybrid = obj.get("hybrid_search")
    if hybrid is not None:
        hp = f"{param}.hybrid_search"
        if not isinstance(hybrid, Mapping):
            raise RetrievalError(f"Invalid '{hp}': expected an object.", hp)
        _check_keys(hybrid, ("embedding_weight", "text_weight"), hp)
        for key in ("embedding_weight", "text_weight"):
            if not _is_number(hybrid.get(key)):
                raise RetrievalError(f"Invalid '{hp}.{key}': expected a number.", f"{hp}.{key}")
    return str(ranker), float(threshold)


def parse_search_request(body: Mapping[str, Any]) -> SearchOptions:
    """Validate a VectorStoreSearchRequest body (`additionalProperties: false`)."""
    if not isinstance(body, Mapping):
        raise RetrievalError("The request body must be a JSON object.", None)
    _check_keys(body, ("query", "rewrite_query", "max_num_results", "filters", "ranking_options"), None)
    if "query" not in body:
        raise RetrievalError("Missing required parameter: 'query'.", "query")
    query = body["query"]
    if isinstance(query, str):
        queries: tuple[str, ...] = (query,)
    elif isinstance(query, list) and query and all(isinstance(q, str) for q in query):
        queries = tuple(query)
    else:
        raise RetrievalError("Invalid 'query': expected a string or a non-empty array of strings.", "query")
    if not any(q.strip() for q in queries):
        raise RetrievalError("Invalid 'query': the query is empty.", "query")
    rewrite = body.get("rewrite_query", False)
    if not isinstance(rewrite, bool):
        raise RetrievalError("Invalid 'rewrite_query': expected a boolean.", "rewrite_query")
    max_results = _max_num_results(body.get("max_num_results", DEFAULT_MAX_RESULTS), "max_num_results")
    ranker, threshold = "auto", 0.0
    if body.get("ranking_options") is not None:
        ranker, threshold = _ranking_options(
            body["ranking_options"], "ranking_options", SEARCH_RANKERS, ("ranker", "score_threshold")
        )
    filters = parse_filter(body["filters"], "filters") if body.get("filters") is not None else None
    return SearchOptions(queries, max_results, threshold, ranker, rewrite, filters)


def parse_file_search_tool(tool: Mapping[str, Any], param: str = "tools[0]") -> FileSearchTool:
    """Validate a FileSearchTool of a Responses request; `param` locates it in the request.

    The tool's `max_num_results` has no default in the spec; we use the search endpoint's 10.
    """
    if not isinstance(tool, Mapping) or tool.get("type") != "file_search":
        raise RetrievalError(f"Invalid '{param}': expected a file_search tool.", param)
    _check_keys(tool, ("type", "vector_store_ids", "max_num_results", "ranking_options", "filters"), param)
    ids = tool.get("vector_store_ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
        raise RetrievalError(
            f"Invalid '{param}.vector_store_ids': expected an array of vector store ids.",
            f"{param}.vector_store_ids",
        )
    max_results = DEFAULT_MAX_RESULTS
    if tool.get("max_num_results") is not None:
        max_results = _max_num_results(tool["max_num_results"], f"{param}.max_num_results")
    ranker, threshold = "auto", 0.0
    if tool.get("ranking_options") is not None:
        ranker, threshold = _ranking_options(
            tool["ranking_options"],
            f"{param}.ranking_options",
            TOOL_RANKERS,
            ("ranker", "score_threshold", "hybrid_search"),
        )
    filters = parse_filter(tool["filters"], f"{param}.filters") if tool.get("filters") is not None else None
    options = SearchOptions((), max_results, threshold, ranker, False, filters)
    return FileSearchTool(tuple(ids), options)


def filter_mask(chunks: Sequence[ChunkMeta], filters: Filter | None) -> npt.NDArray[np.bool_]:
    """Which chunks pass the filter; evaluated once per file (attributes are per file)."""
    if filters is None:
        return np.ones(len(chunks), dtype=bool)
    verdicts: dict[str, bool] = {}
    mask = np.empty(len(chunks), dtype=bool)
    for i, chunk in enumerate(chunks):
        verdict = verdicts.get(chunk.file_id)
        if verdict is None:
            verdict = verdicts[chunk.file_id] = filters.matches(chunk.attributes)
        mask[i] = verdict
    return mask


def rank(
    query_vectors: npt.ArrayLike,
    chunk_vectors: npt.ArrayLike,
    chunks: Sequence[ChunkMeta],
    *,
    max_num_results: int = DEFAULT_MAX_RESULTS,
    score_threshold: float = 0.0,
    filters: Filter | Mapping[str, Any] | None = None,
    normalized: bool = False,
) -> list[Hit]:
    """The best chunks for the queries, best first (see the module docstring for the rules).

    `query_vectors` is one vector (d,) or one per query (q, d); `chunk_vectors` is (n, d) with
    row i describing `chunks[i]`; `normalized=True` promises its rows are unit vectors
    (`vectors.normalize` once when caching the matrix) and skips normalising per query.
    """
    _max_num_results(max_num_results, "max_num_results")
    if not _is_number(score_threshold) or not 0.0 <= score_threshold <= 1.0:
        raise RetrievalError(
            "Invalid 'ranking_options.score_threshold': expected a number between 0 and 1.",
            "ranking_options.score_threshold",
        )
    matrix = np.asarray(chunk_vectors, dtype=np.float32)
    if len(chunks) == 0:
        return []
    if matrix.ndim != 2 or matrix.shape[0] != len(chunks):
        # A programming error in the caller (store and metadata out of step), not a client's.
        raise ValueError(f"chunk_vectors has shape {matrix.shape}, expected ({len(chunks)}, dims)")
    parsed = parse_filter(filters) if isinstance(filters, Mapping) else filters
    queries = np.atleast_2d(np.asarray(query_vectors, dtype=np.float32))
    scores = np.clip(vectors.cosine_scores(queries, matrix, normalized=normalized).max(axis=0), 0.0, 1.0)
    mask = filter_mask(chunks, parsed) & (scores >= score_threshold)
    return [Hit(chunks[i], float(scores[i]), int(i)) for i in vectors.top_k(scores, max_num_results, mask)]


def search_results_page(search_query: Sequence[str], hits: Sequence[Hit]) -> dict[str, Any]:
    """The VectorStoreSearchResultsPage object."""
    return {
        "object": "vector_store.search_results.page",
        "search_query": list(search_query),
        "data": [
            {
                "file_id": hit.chunk.file_id,
                "filename": hit.chunk.filename,
                "score": hit.score,
                "attributes": dict(hit.chunk.attributes),
                "content": [{"type": "text", "text": hit.chunk.text}],
            }
            for hit in hits
        ],
        "has_more": False,
        "next_page": None,
    }


def search(
    options: SearchOptions,
    query_vectors: npt.ArrayLike,
    chunk_vectors: npt.ArrayLike,
    chunks: Sequence[ChunkMeta],
    *,
    normalized: bool = False,
) -> dict[str, Any]:
    """Validated options + embeddings in, the search endpoint's answer out."""
    hits = rank(
        query_vectors,
        chunk_vectors,
        chunks,
        max_num_results=options.max_num_results,
        score_threshold=options.score_threshold,
        filters=options.filters,
        normalized=normalized,
    )
    return search_results_page(options.queries, hits)


def file_search_call_results(hits: Sequence[Hit]) -> list[dict[str, Any]]:
    """`results` entries of a `file_search_call` item: file_id, filename, score, attributes, text."""
    return [
        {
            "file_id": hit.chunk.file_id,
            "filename": hit.chunk.filename,
            "score": hit.score,
            "attributes": dict(hit.chunk.attributes),
            "text": hit.chunk.text,
        }
        for hit in hits
    ]


def file_search_call_item(
    call_id: str,
    queries: Sequence[str],
    hits: Sequence[Hit] | None,
    *,
    status: str = "completed",
) -> dict[str, Any]:
    """The FileSearchToolCall output item.

    `results` is null unless the request asked for it (`include: ["file_search_call.results"]`
    in OpenAI's API): pass `hits=None` for that.
    """
    return {
        "id": call_id,
        "type": "file_search_call",
        "status": status,
        "queries": list(queries),
        "results": None if hits is None else file_search_call_results(hits),
    }


def file_citation(file_id: str, filename: str, index: int) -> dict[str, Any]:
    """One FileCitationBody annotation."""
    return {"type": "file_citation", "file_id": file_id, "filename": filename, "index": index}


def file_citations(hits: Sequence[Hit], index: int) -> list[dict[str, Any]]:
    """One `file_citation` per distinct cited file, in rank order, all at `index`.

    The spec describes `index` as "The index of the file in the list of files", while OpenAI's
    answers put there the character position in the output text the citation belongs to. We
    follow the answers: the engine passes the length of the output text, so the citations sit
    at its end (we do not know which sentence drew on which chunk).
    """
    seen: set[str] = set()
    citations = []
    for hit in hits:
        if hit.chunk.file_id not in seen:
            seen.add(hit.chunk.file_id)
            citations.append(file_citation(hit.chunk.file_id, hit.chunk.filename, index))
    return citations


def results_as_context(hits: Sequence[Hit]) -> str:
    """The search results as the tool output text the model reads on its next turn."""
    if not hits:
        return "No results found in the vector stores."
    blocks = [
        f"<result file_id={hit.chunk.file_id!r} filename={hit.chunk.filename!r} score={hit.score:.4f}>\n"
        f"{hit.chunk.text}\n</result>"
        for hit in hits
    ]
    return "\n".join(blocks)
