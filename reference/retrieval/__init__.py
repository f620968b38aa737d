"""Retrieval core for vector stores and the file_search tool (sans-IO).

Pure functions over bytes, strings, lists and numpy arrays: text extraction (`extract`),
chunking (`chunking`), both in one call (`ingest`), attribute filters and attribute
validation (`filters`), float32 embedding blobs and the cosine kernel (`vectors`) and ranked
search with the OpenAI result shapes (`search`). No asyncio,
Quart, grpc or httpx: the store and HTTP layers call in with data and get data back. Every
client error is a `RetrievalError` (a ValueError with the OpenAI `param`), a 400 for the HTTP
layer via `as_api_error()`.
"""

from reference.retrieval.chunking import Chunk, StaticStrategy, chunk_text, count_tokens, resolve_strategy
from reference.retrieval.errors import (
    EmptyDocument,
    InvalidAttributes,
    InvalidChunkingStrategy,
    InvalidFilter,
    RetrievalError,
    UnreadableDocument,
    UnsupportedFileType,
)
from reference.retrieval.extract import SUPPORTED_EXTENSIONS, detect_kind, extract_text
from reference.retrieval.filters import (
    Comparison,
    Compound,
    Filter,
    matches,
    parse_filter,
    validate_attributes,
)
from reference.retrieval.ingest import Ingested, ingest
from reference.retrieval.search import (
    ChunkMeta,
    FileSearchTool,
    Hit,
    SearchOptions,
    file_citation,
    file_citations,
    file_search_call_item,
    file_search_call_results,
    parse_file_search_tool,
    parse_search_request,
    rank,
    results_as_context,
    search,
    search_results_page,
)

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "Chunk",
    "ChunkMeta",
    "Comparison",
    "Compound",
    "EmptyDocument",
    "FileSearchTool",
    "Filter",
    "Hit",
    "Ingested",
    "InvalidAttributes",
    "InvalidChunkingStrategy",
    "InvalidFilter",
    "RetrievalError",
    "SearchOptions",
    "StaticStrategy",
    "UnreadableDocument",
    "UnsupportedFileType",
    "chunk_text",
    "count_tokens",
    "detect_kind",
    "extract_text",
    "file_citation",
    "file_citations",
    "file_search_call_item",
    "file_search_call_results",
    "ingest",
    "matches",
    "parse_file_search_tool",
    "parse_filter",
    "parse_search_request",
    "rank",
    "resolve_strategy",
    "results_as_context",
    "search",
    "search_results_page",
    "validate_attributes",
]
