"""Vector store ingestion: a stored file's bytes -> text -> chunks -> embeddings -> SQLite.

`ingest_file` is the body of one background job (`reference.services.vector_stores` schedules it, one
asyncio task per vector-store file, and records the outcome). Extraction and chunking are the
sans-IO `reference.retrieval` functions, run on a worker thread because PDF parsing is CPU
work; embeddings come from the model backend's OpenAI-compatible `POST /v1/embeddings`; the
vectors land with `ObjectStore.replace_chunks`, one transaction, so a job that fails or is
cancelled at any point before it leaves the file's previous chunks exactly as they were
("a failed ingestion loses nothing already stored").

Outcomes follow VectorStoreFileObject.last_error: "One of `server_error`, `unsupported_file`,
or `invalid_file`" - an extension we cannot read is `unsupported_file`, a file that is empty or
does not parse as its type is `invalid_file`, and a backend or storage fault is `server_error`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from reference import retrieval
from reference.backend import Backend, api_root, request_headers
from reference.core import errors
from reference.core.errors import APIError
from reference.retrieval import vectors
from reference.store import ObjectStore

log = logging.getLogger("reference.ingest")

T = TypeVar("T")
Runner = Callable[..., Awaitable[Any]]

DEFAULT_EMBEDDING_MODEL = "text-embedding-3-small"
AUTO_MODEL = "auto"
"""`--embedding-model auto` (the CLI's default): ask the embedding endpoint which model to use
(`resolve_model`)."""
EMBED_BATCH = 64
"""Chunks per `/v1/embeddings` request: big enough to amortise the round trip, small enough
that one request stays far below any server's body limit (64 x 800 tokens)."""


def embeddings_url(base_url: str) -> str:
    """Same rule as `reference.backend.chat_completions_url`: a bare host means `/v1`."""
    return api_root(base_url) + "/embeddings"


def choose_model(ids: Sequence[str]) -> str:
    """The embedding model `auto` means, given the ids the endpoint's `GET /v1/models` lists:
    the only one (a vLLM server runs one model), else `text-embedding-3-small` when listed
    (OpenAI; an Ollama model copied to that name), else the first id with `embed` in it
    (Ollama's `nomic-embed-text`, `mxbai-embed-large`, ...), else `text-embedding-3-small`."""
    if len(ids) == 1:
        return ids[0]
    if DEFAULT_EMBEDDING_MODEL in ids:
        return DEFAULT_EMBEDDING_MODEL
    return next((i for i in ids if "embed" in i.lower()), DEFAULT_EMBEDDING_MODEL)


async def resolve_model(backend: Backend, model: str) -> str:
    """`model`, or for `auto` the endpoint's choice (`choose_model`; a model list that cannot be
    read falls back to `text-embedding-3-small`, and the embedding call then says what is wrong)."""
    if model != AUTO_MODEL:
        return model
    try:
        listed = await backend.list_models()
    except APIError as exc:
        log.warning("embedding model auto: cannot list the models of %s (%s); using %s",
                    backend.base_url, exc.message, DEFAULT_EMBEDDING_MODEL)
        return DEFAULT_EMBEDDING_MODEL
    chosen = choose_model([m["id"] for m in listed["data"]])
    log.info("embedding model auto: %s serves %s", backend.base_url, chosen)
    return chosen


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _vector(item: Any) -> list[float]:
    if not isinstance(item, dict):
        raise errors.backend_bad_response("an embeddings item is not an object")
    raw = item.get("embedding")
    if isinstance(raw, str):
        # encoding_format "base64": little-endian float32, what the openai SDK asks for.
        try:
            return vectors.decode(base64.b64decode(raw, validate=True)).tolist()
        except (binascii.Error, ValueError) as exc:
            raise errors.backend_bad_response("an embedding is not valid base64 float32") from exc
    if isinstance(raw, list) and raw and all(_is_number(v) for v in raw):
        return [float(v) for v in raw]
    raise errors.backend_bad_response("an embeddings item has no embedding")


async def embed(backend: Backend, texts: Sequence[str], *, model: str,
                dimensions: int | None = None) -> list[list[float]]:
    """Embed `texts` (in order) through the embedding endpoint `backend` (the model backend
    unless `--embedding-url` names another); every fault is an `APIError`. `dimensions` is sent
    only when given (models that cannot shorten their vectors reject it).

    Uses the Backend's own httpx client, so the API key, timeout and connection pool are the
    ones configured for it. `reference.backend.Backend` has no embeddings call yet; this is
    the one place that speaks the endpoint.
    """
    url = embeddings_url(backend.base_url)
    client: httpx.AsyncClient = backend._client
    out: list[list[float]] = []
    for start in range(0, len(texts), EMBED_BATCH):
        batch = list(texts[start:start + EMBED_BATCH])
        request: dict[str, Any] = {"model": model, "input": batch, "encoding_format": "float"}
        if dimensions is not None:
            request["dimensions"] = dimensions
        started = time.perf_counter()
        try:
            resp = await client.post(url, content=json.dumps(request).encode(), headers=request_headers())
        except httpx.TimeoutException as exc:
            raise errors.backend_timeout(backend.timeout) from exc
        except httpx.HTTPError as exc:
            raise errors.backend_unreachable(f"{type(exc).__name__}: {exc}") from exc
        finally:
            backend.observe("embeddings", started, None)
        if resp.status_code >= 400:
            raise errors.from_backend_http(resp.status_code, resp.content)
        try:
            data = json.loads(resp.content)
        except ValueError as exc:
            raise errors.backend_bad_response("the embeddings body is not JSON") from exc
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list) or len(items) != len(batch):
            raise errors.backend_bad_response(
                f"expected {len(batch)} embeddings, got {len(items) if isinstance(items, list) else 'none'}")
        # The spec orders results by `index`; sort in case a server does not.
        ordered = sorted(items, key=lambda i: i.get("index", 0) if isinstance(i, dict) else 0)
        out.extend(_vector(item) for item in ordered)
    dims = {len(v) for v in out}
    if len(dims) > 1:
        raise errors.backend_bad_response(f"embeddings of different lengths {sorted(dims)}")
    return out


@dataclass(frozen=True)
class Outcome:
    """What a finished job records on the vector-store file."""

    status: str  # "completed" | "failed"
    usage_bytes: int = 0
    chunk_count: int = 0
    last_error: dict[str, str] | None = None

    @classmethod
    def failed(cls, code: str, message: str) -> Outcome:
        return cls("failed", last_error={"code": code, "message": message})


def usage_bytes(chunks: Sequence[tuple[str, bytes]]) -> int:
    """Storage a file takes in a vector store: its chunk texts (UTF-8) plus their vectors.

    The spec: "The total vector store usage in bytes. Note that this may be different from the
    original file size." We count what we actually keep for search.
    """
    return sum(len(text.encode()) + len(vec) for text, vec in chunks)


def _prepare(path: Path, filename: str, mime: str | None,
             strategy: dict[str, Any] | None) -> retrieval.Ingested:
    return retrieval.ingest(filename, path.read_bytes(), mime, strategy)


async def ingest_file(
    *,
    run: Runner,
    objects: ObjectStore,
    backend: Backend | None,
    model: str,
    dimensions: int | None = None,
    vector_store_id: str,
    file_id: str,
    path: Path,
    filename: str,
    mime: str | None,
    chunking_strategy: dict[str, Any] | None,
) -> Outcome:
    """Run one ingestion job; `run` executes blocking store calls on the store thread.

    Returns the outcome instead of raising, except for `asyncio.CancelledError` (a cancelled
    batch or shutdown), which propagates with nothing written.
    """
    try:
        prepared = await asyncio.to_thread(_prepare, path, filename, mime, chunking_strategy)
    except retrieval.UnsupportedFileType as exc:
        return Outcome.failed("unsupported_file", exc.message)
    except retrieval.RetrievalError as exc:
        return Outcome.failed("invalid_file", exc.message)
    except OSError as exc:
        log.warning("cannot read %s for %s: %s", path, file_id, exc)
        return Outcome.failed("server_error", "The file's content could not be read.")
    texts = [chunk.text for chunk in prepared.chunks]
    if not texts:
        return Outcome.failed("invalid_file", "The file contains no text to index.")
    if backend is None:
        return Outcome.failed("server_error", "This gateway has no model backend to compute embeddings.")
    try:
        embeddings = await embed(backend, texts, model=model, dimensions=dimensions)
        rows = [(text, vectors.encode(vec)) for text, vec in zip(texts, embeddings, strict=True)]
    except APIError as exc:
        return Outcome.failed("server_error", f"Embedding the file failed: {exc.message}")
    except ValueError as exc:  # non-finite numbers from the backend
        return Outcome.failed("server_error", f"Embedding the file failed: {exc}")
    await run(objects.replace_chunks, vector_store_id, file_id, rows)
    return Outcome("completed", usage_bytes(rows), len(rows))
