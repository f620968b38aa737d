"""One call for the store's ingestion job: a file's bytes in, its chunks out.

The chunking strategy is validated before the file is read, so a request with a bad strategy
fails the same way (400 naming the parameter) whatever the file holds. Embedding the chunks is
the caller's job (it needs the model backend); this module stays pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reference.retrieval.chunking import Chunk, StaticStrategy, chunk_text, resolve_strategy
from reference.retrieval.extract import extract_text


@dataclass(frozen=True)
class Ingested:
    text: str
    chunks: list[Chunk]
    strategy: StaticStrategy  # `strategy.as_dict()` is the vector_store.file's `chunking_strategy`


def ingest(
    filename: str, content: bytes, mime: str | None, chunking_strategy: Mapping[str, Any] | None = None
) -> Ingested:
    """Extract and chunk one file; raises the `RetrievalError`s of both steps."""
    strategy = resolve_strategy(chunking_strategy)
    text = extract_text(filename, content, mime)
    return Ingested(text, chunk_text(text, strategy), strategy)
