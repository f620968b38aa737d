"""Files and vector stores: the service behind `/v1/files` and `/v1/vector_stores`.

One `VectorStores` per gateway (built by `reference.gateway`), holding what the HTTP blueprints
and the Responses `file_search` tool share: the blob directory with uploaded bytes, the
ingestion tasks, and a per-vector-store cache of the normalised chunk matrix for search. The
composition root starts it (`start`: resume interrupted ingestion) and stops it (`aclose`).

Persistence (everything survives a restart): objects in the store's `ObjectStore` under the
kinds `Kind.FILE`, `VECTOR_STORE`, `VECTOR_STORE_FILE` and `FILE_BATCH` (parent = vector store
id); chunk vectors in its `chunks` table; file bytes in `<db path>.files/<file_id>` (a
temporary directory for an in-memory database). Stored
bodies may carry internal fields starting with `_` (MIME type, batch membership); `render`
strips them before anything reaches a client.

Derived fields are computed when read, never stored, so they cannot drift: a vector store's
`file_counts`, `usage_bytes` and `status` ("in_progress" while any file is, else "completed",
"expired" past `expires_at`), and a batch's `file_counts` and status.

Decisions the spec leaves open (pinned by tests/test_vector_stores*.py):
- Restart: a vector-store file still `in_progress` when the gateway stopped is ingested again
  when the service starts (the file bytes are on disk and chunk replacement is atomic, so a
  half-done job left nothing behind); its batch completes as usual. Resuming beats failing it:
  clients polling `create_and_poll` see it finish.
- Replicas: an ingestion job is leased (`reference.store.leases`, job `ingest/<vs>/<file>`) by
  the process running it. A starting process resumes only unleased or expired jobs, and the
  lease heartbeat resumes those of a replica that died (`resume_expired`). A file's status
  leaves `in_progress` by compare-and-set (`ObjectStore.replace_if`), so a cancel on one replica
  and the end of the ingestion on another cannot both win.
- Adding a file whose extension/MIME type we cannot read answers 400 (`code:
  unsupported_file`, param `file_id`) for a single file, as OpenAI does; inside a batch the file
  is accepted and ends `failed` with `last_error.code = "unsupported_file"`, so one bad file does
  not reject the batch. An empty or unparsable document ends `failed` with `invalid_file`.
- Adding a file that is already in the store returns the existing vector-store file when it is
  `in_progress` or `completed`; a `failed` or `cancelled` one is ingested again.
- Deleting a file (`DELETE /v1/files/{id}`) removes it from every vector store ("Delete a file
  and remove it from all vector stores."), chunks included.
- Cancelling a batch cancels its files still `in_progress` (they end `cancelled`, nothing stored
  for them); cancelling a cancelled batch returns it; a finished batch cannot be cancelled (400).
  A batch is `failed` when every one of its files failed, else `completed` once none is running.
- Uploads accept any file type (OpenAI's `user_data` and `vision` purposes take non-text files);
  the type only matters when a file is added to a vector store. Empty uploads are refused (400).
- Expiry is reported, not enforced: past `expires_at` a vector store says `status: "expired"`
  but stays readable and searchable, and files are never deleted when their `expires_at` passes.
- `usage_bytes` counts what search keeps: chunk text (UTF-8) plus the float32 vectors.
- At most `MAX_CONCURRENT_INGESTIONS` jobs extract and embed at once; the others wait
  `in_progress`. The embedding model is `ingest.DEFAULT_EMBEDDING_MODEL` unless one is given;
  `auto` (the CLI's default) is resolved once, at the first embedding, by `ingest.resolve_model`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from reference import retrieval
from reference.backend import Backend
from reference.core import errors, ids, pagination
from reference.core.errors import APIError
from reference.retrieval import vectors
from reference.retrieval.search import (
    DEFAULT_MAX_RESULTS,
    ChunkMeta,
    Hit,
    SearchOptions,
    parse_search_request,
    search_results_page,
)
from reference.retrieval.search import rank as rank_hits
from reference.services import ingest
from reference.store import Kind, ObjectStore, StoreThread
from reference.store.leases import JobLeases

log = logging.getLogger("reference.vector_stores")

FILE = Kind.FILE
VECTOR_STORE = Kind.VECTOR_STORE
VS_FILE = Kind.VECTOR_STORE_FILE
BATCH = Kind.FILE_BATCH
BATCH_PREFIX = "vsfb"

FILE_STATUSES = ("in_progress", "completed", "failed", "cancelled")
MAX_CONCURRENT_INGESTIONS = 4
"""Jobs that extract and embed at the same time; the rest of a large batch waits its turn
(still `in_progress`), so a 2000-file batch cannot flood the backend or the 2 worker cores."""
DAY = 86_400
LEFTOVER_AGE = 600
"""Seconds after its last write a partial or unrecorded upload counts as left behind: far past
the HTTP body timeout, and past the moment a live upload records its file object."""
INGEST_JOB = "ingest/"
"""Lease name prefix of an ingestion job: `ingest/<vector store id>/<file id>`."""


def render(obj: dict[str, Any]) -> dict[str, Any]:
    """The object without internal (`_`-prefixed) fields."""
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def _counts(files: Sequence[dict[str, Any]]) -> dict[str, int]:
    counts = {status: 0 for status in FILE_STATUSES}
    for f in files:
        counts[f["status"]] = counts.get(f["status"], 0) + 1
    return {**counts, "total": len(files)}


@dataclass
class _Matrix:
    """A vector store's searchable chunks: normalised vectors and their metadata."""

    matrix: Any
    metas: list[ChunkMeta]
    files: tuple[tuple[str, ...], ...] = ()
    """The completed files it was built from (id, status, usage, attributes, strategy)."""


@dataclass
class VectorStores:
    objects: ObjectStore
    thread: StoreThread
    backend: Backend | None
    """The embedding endpoint (the model backend unless configured apart; None: ingestion and
    search fail cleanly)."""
    blob_dir: Path
    embedding_model: str = ingest.DEFAULT_EMBEDDING_MODEL
    embedding_dimensions: int | None = None
    clock: Callable[[], float] = time.time
    _tasks: dict[tuple[str, str], asyncio.Task[None]] = field(default_factory=dict)
    _cache: dict[str, _Matrix] = field(default_factory=dict)
    _versions: dict[str, int] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(MAX_CONCURRENT_INGESTIONS))
    _started: bool = False
    _temp_dir: str | None = None
    leases: JobLeases | None = field(default=None, kw_only=True)
    """Who runs which ingestion job across replicas (None: this process alone, no leases)."""

    # -- plumbing ------------------------------------------------------------------------
    @classmethod
    def open(cls, objects: ObjectStore, thread: StoreThread, backend: Backend | None, *,
             blob_dir: str | Path | None, leases: JobLeases | None, embedding_model: str | None = None,
             embedding_dimensions: int | None = None) -> VectorStores:
        """The service with its blob directory created (`None`: a temporary one, removed by
        `aclose`)."""
        temp = None
        if blob_dir is None:
            temp = tempfile.mkdtemp(prefix="responses-gateway-files-")
            blob_dir = temp
        path = Path(blob_dir)
        path.mkdir(parents=True, exist_ok=True)
        return cls(objects, thread, backend, path, embedding_model or ingest.DEFAULT_EMBEDDING_MODEL,
                   embedding_dimensions, _temp_dir=temp, leases=leases)

    async def _model(self, backend: Backend) -> str:
        """The embedding model, `auto` resolved (once: the answer is kept)."""
        if self.embedding_model == ingest.AUTO_MODEL:
            self.embedding_model = await ingest.resolve_model(backend, ingest.AUTO_MODEL)
        return self.embedding_model

    async def _run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await self.thread.run(fn, *args, **kwargs)

    def _invalidate(self, vs_id: str) -> None:
        """Drop the cached search matrix; the version stops an in-flight build from caching."""
        self._versions[vs_id] = self._versions.get(vs_id, 0) + 1
        self._cache.pop(vs_id, None)

    def now(self) -> int:
        return int(self.clock())

    def blob_path(self, file_id: str) -> Path:
        # Only called with ids found in the store (ours: `file_` + hex), never with client text,
        # so the path cannot leave blob_dir.
        return self.blob_dir / file_id

    async def start(self) -> None:
        """Resume ingestion that a previous process left `in_progress` (see module docstring)."""
        if self._started:
            return
        self._started = True
        await self._remove_leftover_blobs()
        for vs in await self._run(self.objects.list, VECTOR_STORE):
            for f in await self._run(self.objects.list, VS_FILE, parent=vs["id"]):
                if (f["status"] == "in_progress" and (vs["id"], f["id"]) not in self._tasks
                        and await self._claim(vs["id"], f["id"])):
                    log.info("resuming ingestion of %s into %s", f["id"], vs["id"])
                    self._schedule(vs["id"], f["id"])

    async def resume_expired(self) -> None:
        """Ingest again the files whose job lease expired (the replica running them stopped);
        run by the lease heartbeat."""
        if self.leases is None:
            return
        for job in await self.leases.expired(INGEST_JOB):
            vs_id, _, file_id = job.removeprefix(INGEST_JOB).partition("/")
            if (vs_id, file_id) in self._tasks or not await self._claim(vs_id, file_id):
                continue
            vs_file = await self._run(self.objects.get, VS_FILE, file_id, parent=vs_id)
            if vs_file is not None and vs_file["status"] == "in_progress":
                log.warning("resuming ingestion of %s into %s: its replica stopped", file_id, vs_id)
                self._schedule(vs_id, file_id)
            else:
                await self._release(vs_id, file_id)

    async def _claim(self, vs_id: str, file_id: str) -> bool:
        return True if self.leases is None else await self.leases.claim(f"{INGEST_JOB}{vs_id}/{file_id}")

    async def _release(self, vs_id: str, file_id: str) -> None:
        if self.leases is not None:
            await self.leases.release(f"{INGEST_JOB}{vs_id}/{file_id}")

    async def _remove_leftover_blobs(self) -> None:
        """Delete what a stopped process left behind in the blob directory: uploads cut off
        mid-way (`<file_id>.part`, never renamed into place) and bytes whose file object was
        never stored (a crash between the rename and the store write). Only what nobody wrote
        for `LEFTOVER_AGE` seconds: replicas share the directory, and another one's upload may
        be in flight (this process serves nothing yet)."""
        known = {f["id"] for f in await self._run(self.objects.list, FILE)}
        cutoff = time.time() - LEFTOVER_AGE

        def sweep() -> list[str]:
            removed = []
            for path in self.blob_dir.iterdir():
                if (path.is_file() and (path.suffix == ".part" or path.name not in known)
                        and path.stat().st_mtime < cutoff):
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()
                        removed.append(path.name)
            return removed

        removed = await asyncio.to_thread(sweep)
        if removed:
            log.warning("removed %d partial or orphaned upload(s) from %s", len(removed), self.blob_dir)

    async def aclose(self) -> None:
        """Stop ingestion jobs; their files stay `in_progress` and resume on the next start (or
        at once on another replica: their leases are released)."""
        keys = list(self._tasks)
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        self._tasks.clear()
        for vs_id, file_id in keys:
            with contextlib.suppress(APIError):
                await self._release(vs_id, file_id)
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)

    # -- files ---------------------------------------------------------------------------
    async def save_file(self, obj: dict[str, Any]) -> None:
        await self._run(self.objects.put, FILE, obj)

    async def get_file_raw(self, file_id: str) -> dict[str, Any]:
        obj: dict[str, Any] | None = await self._run(self.objects.get, FILE, file_id)
        if obj is None:
            raise errors.not_found("file", file_id)
        return obj

    async def get_file(self, file_id: str) -> dict[str, Any]:
        return render(await self.get_file_raw(file_id))

    async def list_files(self, *, purpose: str | None, limit: str | None, after: str | None,
                         order: str | None) -> dict[str, Any]:
        items = [render(f) for f in await self._run(self.objects.list, FILE)
                 if purpose is None or f["purpose"] == purpose]
        return page_files(items, limit=limit, after=after, order=order)

    async def delete_file(self, file_id: str) -> dict[str, Any]:
        async with self._lock:
            # Checked under the lock: of two concurrent deletes exactly one finds the file.
            await self.get_file_raw(file_id)
            for vs in await self._run(self.objects.list, VECTOR_STORE):
                if await self._run(self.objects.get, VS_FILE, file_id, parent=vs["id"]) is not None:
                    await self._remove_vs_file(vs["id"], file_id)
            await self._run(self.objects.delete, FILE, file_id)
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(self.blob_path(file_id).unlink)
        return {"id": file_id, "object": "file", "deleted": True}

    # -- vector stores -------------------------------------------------------------------
    async def _vs_raw(self, vs_id: str) -> dict[str, Any]:
        obj: dict[str, Any] | None = await self._run(self.objects.get, VECTOR_STORE, vs_id)
        if obj is None:
            raise errors.not_found("vector store", vs_id)
        return obj

    async def _view(self, vs: dict[str, Any]) -> dict[str, Any]:
        files = await self._run(self.objects.list, VS_FILE, parent=vs["id"])
        counts = _counts(files)
        out = render(vs)
        out["usage_bytes"] = sum(int(f.get("usage_bytes") or 0) for f in files)
        out["file_counts"] = counts
        out["status"] = "in_progress" if counts["in_progress"] else "completed"
        if out.get("expires_after"):
            out["expires_at"] = int(out["last_active_at"]) + int(out["expires_after"]["days"]) * DAY
            if self.now() >= out["expires_at"]:
                out["status"] = "expired"
        return out

    async def create_vector_store(self, body: dict[str, Any]) -> dict[str, Any]:
        file_ids = body.get("file_ids") or []
        strategy = body.get("chunking_strategy")
        retrieval.resolve_strategy(strategy)
        files = [await self._file_for_vs(fid, "file_ids") for fid in file_ids]
        now = self.now()
        vs: dict[str, Any] = {
            "id": ids.new_id(ids.VECTOR_STORE), "object": "vector_store", "created_at": now,
            "name": body.get("name") or "", "usage_bytes": 0,
            "file_counts": _counts([]), "status": "completed",
            "expires_at": None, "last_active_at": now, "metadata": body.get("metadata") or {},
        }
        # VectorStoreObject.expires_after is an object, not nullable: absent when there is none.
        if body.get("expires_after") is not None:
            vs["expires_after"] = body["expires_after"]
        if body.get("description") is not None:
            vs["description"] = body["description"]
        await self._run(self.objects.put, VECTOR_STORE, vs)
        for f in files:
            await self._attach(vs["id"], f, strategy, {})
        return await self._view(vs)

    async def get_vector_store(self, vs_id: str) -> dict[str, Any]:
        return await self._view(await self._vs_raw(vs_id))

    async def modify_vector_store(self, vs_id: str, body: dict[str, Any]) -> dict[str, Any]:
        vs = await self._vs_raw(vs_id)
        if "name" in body:
            vs["name"] = body["name"] or ""
        if "metadata" in body:
            vs["metadata"] = body["metadata"] or {}
        if "expires_after" in body:
            if body["expires_after"] is None:  # removes the expiration policy
                vs.pop("expires_after", None)
                vs["expires_at"] = None
            else:
                vs["expires_after"] = body["expires_after"]
        vs["last_active_at"] = self.now()
        await self._run(self.objects.put, VECTOR_STORE, vs)
        return await self._view(vs)

    async def list_vector_stores(self, **page: Any) -> dict[str, Any]:
        stores = await self._run(self.objects.list, VECTOR_STORE)
        result = pagination.paginate(stores, **page)
        result["data"] = [await self._view(vs) for vs in result["data"]]
        return result

    async def delete_vector_store(self, vs_id: str) -> dict[str, Any]:
        async with self._lock:
            # Checked under the lock: of two concurrent deletes exactly one finds the store.
            await self._vs_raw(vs_id)
            for key in [k for k in self._tasks if k[0] == vs_id]:
                await self._cancel_task(key)
            # The store cascades to the store's files, batches and chunks.
            await self._run(self.objects.delete, VECTOR_STORE, vs_id)
            self._invalidate(vs_id)
        return {"id": vs_id, "object": "vector_store.deleted", "deleted": True}

    # -- vector store files --------------------------------------------------------------
    async def _file_for_vs(self, file_id: object, param: str) -> dict[str, Any]:
        if not isinstance(file_id, str) or not file_id:
            raise errors.invalid_request(f"Invalid '{param}': expected a file id.", param)
        obj: dict[str, Any] | None = await self._run(self.objects.get, FILE, file_id)
        if obj is None:
            raise errors.not_found("file", file_id, param)
        return obj

    async def _attach(self, vs_id: str, file: dict[str, Any], strategy: dict[str, Any] | None,
                      attributes: dict[str, Any], batch_id: str | None = None) -> dict[str, Any]:
        """Create (or return / retry) the vector-store file and start its ingestion."""
        async with self._lock:
            # The caller checked both before waiting for the lock; a delete may have run since,
            # and an entry for a deleted file (or store) would dangle.
            if await self._run(self.objects.get, FILE, file["id"]) is None:
                raise errors.not_found("file", file["id"], "file_id" if batch_id is None else "file_ids")
            await self._vs_raw(vs_id)
            existing: dict[str, Any] | None = await self._run(self.objects.get, VS_FILE, file["id"],
                                                              parent=vs_id)
            reusable = existing is not None and existing["status"] in ("in_progress", "completed")
            if reusable and batch_id is None:
                assert existing is not None
                return existing
            if (vs_id, file["id"]) in self._tasks:
                await self._cancel_task((vs_id, file["id"]), release=False)
            elif not await self._claim(vs_id, file["id"]):
                # Another replica is ingesting this very file into this store: join its run.
                joined = await self._join_running(vs_id, file["id"], batch_id)
                if joined is not None:
                    return joined
                if not await self._claim(vs_id, file["id"]):
                    raise APIError(409, "This file is being added to the vector store by another "
                                   "request; retry.", errors.INVALID_REQUEST, "file_id", "conflict")
            vs_file: dict[str, Any] = {
                "id": file["id"], "object": "vector_store.file", "usage_bytes": 0,
                "created_at": self.now(), "vector_store_id": vs_id, "status": "in_progress",
                "last_error": None,
                "chunking_strategy": retrieval.resolve_strategy(strategy).as_dict(),
                "attributes": attributes,
            }
            if batch_id is not None:
                vs_file["_batch_id"] = batch_id
            try:
                await self._run(self.objects.put, VS_FILE, vs_file, parent=vs_id)
            except BaseException:
                await self._release(vs_id, file["id"])  # no job: no lease to renew
                raise
            self._schedule(vs_id, file["id"])
            return vs_file

    async def _join_running(self, vs_id: str, file_id: str, batch_id: str | None) -> dict[str, Any] | None:
        """The vector-store file another replica is ingesting, now a member of `batch_id`; None
        when that run ended meanwhile."""
        for _attempt in range(5):
            text = await self._run(self.objects.get_text, VS_FILE, file_id, parent=vs_id)
            current = None if text is None else json.loads(text)
            if current is None or current["status"] != "in_progress":
                return None
            if batch_id is None or current.get("_batch_id") == batch_id:
                return dict(current)
            current["_batch_id"] = batch_id
            if await self._run(self.objects.replace_if, VS_FILE, file_id, text, current, parent=vs_id):
                return dict(current)
        return None

    def _schedule(self, vs_id: str, file_id: str) -> None:
        task = asyncio.create_task(self._ingest_leased(vs_id, file_id), name=f"ingest {vs_id}/{file_id}")
        key = (vs_id, file_id)
        self._tasks[key] = task

        def done(t: asyncio.Task[None]) -> None:
            if self._tasks.get(key) is t:
                del self._tasks[key]
        task.add_done_callback(done)

    async def _ingest_leased(self, vs_id: str, file_id: str) -> None:
        """`_ingest`, then its lease released; a job this process cancelled is released (or
        kept, re-attached) by whoever cancelled it."""
        try:
            await self._ingest(vs_id, file_id)
        finally:
            task = asyncio.current_task()
            if task is None or not task.cancelling():
                await self._release(vs_id, file_id)

    async def _ingest(self, vs_id: str, file_id: str) -> None:
        vs_file = await self._run(self.objects.get, VS_FILE, file_id, parent=vs_id)
        file = await self._run(self.objects.get, FILE, file_id)
        if vs_file is None:
            return
        if file is None:
            outcome = ingest.Outcome.failed("invalid_file", "The file was deleted.")
        else:
            try:
                async with self._slots:
                    outcome = await ingest.ingest_file(
                        run=self._run, objects=self.objects, backend=self.backend,
                        model=await self._model(self.backend) if self.backend else self.embedding_model,
                        dimensions=self.embedding_dimensions, vector_store_id=vs_id, file_id=file_id,
                        path=self.blob_path(file_id), filename=file["filename"], mime=file.get("_mime"),
                        chunking_strategy=vs_file.get("chunking_strategy"),
                    )
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug or a store fault: record it rather than leave in_progress
                log.exception("ingestion of %s into %s failed", file_id, vs_id)
                outcome = ingest.Outcome.failed("server_error", "The file could not be ingested.")
        async with self._lock:
            while True:
                text = await self._run(self.objects.get_text, VS_FILE, file_id, parent=vs_id)
                current = None if text is None else json.loads(text)
                if current is None or current["status"] != "in_progress":
                    # Removed or cancelled while we worked: keep nothing of this run.
                    await self._run(self.objects.delete_chunks, vs_id, file_id)
                    return
                current.update(status=outcome.status, usage_bytes=outcome.usage_bytes,
                               last_error=outcome.last_error)
                # Compare and set: a cancel on another replica between the read and this write
                # wins, and this run then keeps nothing (the next turn of the loop).
                if await self._run(self.objects.replace_if, VS_FILE, file_id, text, current, parent=vs_id):
                    break
            self._invalidate(vs_id)

    async def _cancel_task(self, key: tuple[str, str], *, release: bool = True) -> None:
        task = self._tasks.pop(key, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        # The task may have been cancelled while its chunk write was on the store thread.
        await self._run(self.objects.delete_chunks, key[0], key[1])
        if release:
            await self._release(*key)

    async def _remove_vs_file(self, vs_id: str, file_id: str) -> None:
        await self._cancel_task((vs_id, file_id))
        await self._run(self.objects.delete, VS_FILE, file_id, parent=vs_id)  # chunks cascade
        self._invalidate(vs_id)

    async def create_vs_file(self, vs_id: str, body: dict[str, Any]) -> dict[str, Any]:
        await self._vs_raw(vs_id)
        if "file_id" not in body:
            raise errors.invalid_request("Missing required parameter: 'file_id'.", "file_id",
                                         "missing_required_parameter")
        file = await self._file_for_vs(body["file_id"], "file_id")
        strategy = body.get("chunking_strategy")
        retrieval.resolve_strategy(strategy)
        attributes = retrieval.validate_attributes(body.get("attributes"))
        try:
            retrieval.detect_kind(file["filename"], file.get("_mime"))
        except retrieval.UnsupportedFileType as exc:
            raise errors.invalid_request(exc.message, "file_id", "unsupported_file") from exc
        return render(await self._attach(vs_id, file, strategy, attributes))

    async def _vs_file_raw(self, vs_id: str, file_id: str) -> dict[str, Any]:
        await self._vs_raw(vs_id)
        obj: dict[str, Any] | None = await self._run(self.objects.get, VS_FILE, file_id, parent=vs_id)
        if obj is None:
            raise errors.not_found("vector store file", file_id)
        return obj

    async def get_vs_file(self, vs_id: str, file_id: str) -> dict[str, Any]:
        return render(await self._vs_file_raw(vs_id, file_id))

    async def update_vs_file(self, vs_id: str, file_id: str, body: dict[str, Any]) -> dict[str, Any]:
        if "attributes" not in body:
            raise errors.invalid_request("Missing required parameter: 'attributes'.", "attributes",
                                         "missing_required_parameter")
        attributes = retrieval.validate_attributes(body["attributes"])
        async with self._lock:
            obj = await self._vs_file_raw(vs_id, file_id)
            obj["attributes"] = attributes
            await self._run(self.objects.put, VS_FILE, obj, parent=vs_id)
            self._invalidate(vs_id)
        return render(obj)

    async def delete_vs_file(self, vs_id: str, file_id: str) -> dict[str, Any]:
        async with self._lock:
            await self._vs_file_raw(vs_id, file_id)
            await self._remove_vs_file(vs_id, file_id)
        return {"id": file_id, "object": "vector_store.file.deleted", "deleted": True}

    async def list_vs_files(self, vs_id: str, *, status: str | None, batch_id: str | None = None,
                            **page: Any) -> dict[str, Any]:
        await self._vs_raw(vs_id)
        if status is not None and status not in FILE_STATUSES:
            raise errors.invalid_request(
                f"Invalid value: '{status}'. Supported values are: {', '.join(map(repr, FILE_STATUSES))}.",
                "filter", "invalid_value")
        files = await self._run(self.objects.list, VS_FILE, parent=vs_id)
        if batch_id is not None:
            batch = await self._batch_raw(vs_id, batch_id)
            members = set(batch["_file_ids"])
            files = [f for f in files if f["id"] in members and f.get("_batch_id") == batch_id]
        items = [render(f) for f in files if status is None or f["status"] == status]
        return pagination.paginate(items, **page)

    async def vs_file_content(self, vs_id: str, file_id: str) -> dict[str, Any]:
        await self._vs_file_raw(vs_id, file_id)
        chunks = await self._run(self.objects.chunks, vs_id, file_id)
        return {
            "object": "vector_store.file_content.page",
            "data": [{"type": "text", "text": c.text} for c in chunks],
            "has_more": False,
            "next_page": None,
        }

    # -- batches -------------------------------------------------------------------------
    async def _batch_raw(self, vs_id: str, batch_id: str) -> dict[str, Any]:
        await self._vs_raw(vs_id)
        obj: dict[str, Any] | None = await self._run(self.objects.get, BATCH, batch_id, parent=vs_id)
        if obj is None:
            raise errors.not_found("vector store file batch", batch_id)
        return obj

    async def _batch_view(self, batch: dict[str, Any]) -> dict[str, Any]:
        vs_id = batch["vector_store_id"]
        files = [f for f in await self._run(self.objects.list, VS_FILE, parent=vs_id)
                 if f.get("_batch_id") == batch["id"]]
        counts = _counts(files)
        out = render(batch)
        out["file_counts"] = counts
        if batch.get("_cancelled"):
            out["status"] = "in_progress" if counts["in_progress"] else "cancelled"
        elif counts["in_progress"]:
            out["status"] = "in_progress"
        elif counts["total"] and counts["failed"] == counts["total"]:
            out["status"] = "failed"
        else:
            out["status"] = "completed"
        return out

    async def create_batch(self, vs_id: str, body: dict[str, Any]) -> dict[str, Any]:
        await self._vs_raw(vs_id)
        has_ids, has_files = body.get("file_ids") is not None, body.get("files") is not None
        if has_ids == has_files:
            raise errors.invalid_request("Provide exactly one of 'file_ids' or 'files'.",
                                         "files" if has_files else "file_ids")
        strategy = body.get("chunking_strategy")
        retrieval.resolve_strategy(strategy)
        attributes = retrieval.validate_attributes(body.get("attributes"))
        entries: list[tuple[Any, Any, dict[str, Any]]] = []
        raw = body["file_ids"] if has_ids else body["files"]
        param = "file_ids" if has_ids else "files"
        if not isinstance(raw, list) or not 1 <= len(raw) <= 2000:
            raise errors.invalid_request(f"Invalid '{param}': expected an array of 1 to 2000 items.", param)
        for i, item in enumerate(raw):
            if has_ids:
                entries.append((item, strategy, attributes))
                continue
            p = f"files[{i}]"
            if not isinstance(item, dict) or "file_id" not in item:
                raise errors.invalid_request(f"Missing required parameter: '{p}.file_id'.", f"{p}.file_id")
            extra = sorted(set(item) - {"file_id", "chunking_strategy", "attributes"})
            if extra:
                raise errors.invalid_request(f"Unknown parameter: '{p}.{extra[0]}'.", f"{p}.{extra[0]}",
                                             "unknown_parameter")
            # "The global `attributes` or `chunking_strategy` will be ignored and must be
            # specified for each file."
            retrieval.resolve_strategy(item.get("chunking_strategy"), f"{p}.chunking_strategy")
            entries.append((item["file_id"], item.get("chunking_strategy"),
                            retrieval.validate_attributes(item.get("attributes"), f"{p}.attributes")))
        param_of = (lambda i: f"file_ids[{i}]") if has_ids else (lambda i: f"files[{i}].file_id")
        files = [await self._file_for_vs(fid, param_of(i)) for i, (fid, _, _) in enumerate(entries)]
        batch: dict[str, Any] = {
            "id": ids.new_id(BATCH_PREFIX), "object": "vector_store.files_batch",
            "created_at": self.now(), "vector_store_id": vs_id, "status": "in_progress",
            "file_counts": _counts([]), "_file_ids": [f["id"] for f in files],
        }
        await self._run(self.objects.put, BATCH, batch, parent=vs_id)
        for file, (_, strat, attrs) in zip(files, entries, strict=True):
            await self._attach(vs_id, file, strat, attrs, batch_id=batch["id"])
        return await self._batch_view(batch)

    async def get_batch(self, vs_id: str, batch_id: str) -> dict[str, Any]:
        return await self._batch_view(await self._batch_raw(vs_id, batch_id))

    async def cancel_batch(self, vs_id: str, batch_id: str) -> dict[str, Any]:
        async with self._lock:
            batch = await self._batch_raw(vs_id, batch_id)
            view = await self._batch_view(batch)
            if view["status"] in ("completed", "failed"):
                raise errors.invalid_request(
                    f"Cannot cancel a vector store file batch that is {view['status']}.", None,
                    "invalid_state")
            if batch.get("_cancelled"):
                return view  # cancelling a cancelled batch returns it
            batch["_cancelled"] = True
            await self._run(self.objects.put, BATCH, batch, parent=vs_id)
            cancelled = 0
            for f in await self._run(self.objects.list, VS_FILE, parent=vs_id):
                if (f.get("_batch_id") == batch_id and f["status"] == "in_progress"
                        and await self._cancel_file(vs_id, f["id"])):
                    cancelled += 1
            self._invalidate(vs_id)
            view = await self._batch_view(batch)
            if not cancelled and view["file_counts"]["in_progress"] == 0:
                # Every file finished (on another replica) before the cancel reached it: the
                # batch was over, and the cancel changes nothing.
                batch.pop("_cancelled")
                await self._run(self.objects.put, BATCH, batch, parent=vs_id)
                view = await self._batch_view(batch)
                raise errors.invalid_request(
                    f"Cannot cancel a vector store file batch that is {view['status']}.", None,
                    "invalid_state")
        return view

    async def _cancel_file(self, vs_id: str, file_id: str) -> bool:
        """End an `in_progress` vector-store file `cancelled` (compare and set: an ingestion that
        ends on another replica at the same moment cannot also win); True when it was cancelled."""
        while True:
            text = await self._run(self.objects.get_text, VS_FILE, file_id, parent=vs_id)
            current = None if text is None else json.loads(text)
            if current is None or current["status"] != "in_progress":
                return False
            current["status"] = "cancelled"
            if await self._run(self.objects.replace_if, VS_FILE, file_id, text, current, parent=vs_id):
                break
        # Stop the job when it runs here (its replica notices the status otherwise) and drop
        # what it stored.
        await self._cancel_task((vs_id, file_id))
        return True

    # -- search --------------------------------------------------------------------------
    async def _matrix(self, vs_id: str) -> _Matrix:
        version = self._versions.get(vs_id, 0)
        files = {f["id"]: f for f in await self._run(self.objects.list, VS_FILE, parent=vs_id)
                 if f["status"] == "completed"}
        # Checked on every search: another replica sharing the store may have added, removed or
        # re-ingested a file since this one built its matrix.
        stamp = tuple((fid, json.dumps(f.get("attributes"), sort_keys=True), str(f.get("usage_bytes")),
                       str(f.get("created_at")), json.dumps(f.get("chunking_strategy"), sort_keys=True))
                      for fid, f in files.items())
        cached = self._cache.get(vs_id)
        if cached is not None and cached.files == stamp:
            return cached
        chunks = [c for c in await self._run(self.objects.chunks, vs_id) if c.file_id in files]
        names: dict[str, str] = {}
        for fid in files:
            obj = await self._run(self.objects.get, FILE, fid)
            names[fid] = obj["filename"] if obj else fid
        metas = [ChunkMeta(c.file_id, names[c.file_id], c.text,
                           files[c.file_id].get("attributes") or {}) for c in chunks]
        if chunks:
            dim = len(chunks[0].vector) // 4
            matrix = vectors.normalize(vectors.stack((c.vector for c in chunks), dim))
        else:
            matrix = np.zeros((0, 1), dtype=np.float32)
        entry = _Matrix(matrix, metas, stamp)
        if self._versions.get(vs_id, 0) == version:  # nothing changed while we read
            self._cache[vs_id] = entry
        return entry

    async def _query_vectors(self, queries: Sequence[str]) -> Any:
        backend = self.backend
        if backend is None:
            raise APIError(500, "This gateway has no model backend configured.", errors.SERVER_ERROR)
        return np.asarray(await ingest.embed(backend, list(queries), model=await self._model(backend),
                                             dimensions=self.embedding_dimensions), dtype=np.float32)

    async def rank(self, vector_store_ids: Sequence[str], options: SearchOptions
                   ) -> list[Hit]:
        """Best chunks over several vector stores (one ranking over their union)."""
        metas: list[ChunkMeta] = []
        blocks = []
        for vs_id in vector_store_ids:
            m = await self._matrix(vs_id)
            if m.metas:
                metas.extend(m.metas)
                blocks.append(m.matrix)
        if not metas:
            # Nothing to search: still validate the options, but skip embedding the query.
            empty = np.zeros((0, 1), dtype=np.float32)
            return rank_hits(empty, empty, [], max_num_results=options.max_num_results,
                             score_threshold=options.score_threshold, filters=options.filters)
        queries = await self._query_vectors(options.queries)
        matrix = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
        if queries.shape[1] != matrix.shape[1]:
            raise errors.invalid_request(
                "The query embedding and the stored embeddings have different dimensions: was "
                "the embedding model changed?", None, "embedding_mismatch")
        return rank_hits(queries, matrix, metas, max_num_results=options.max_num_results,
                            score_threshold=options.score_threshold, filters=options.filters,
                            normalized=True)

    async def search(self, vs_id: str, body: Any) -> dict[str, Any]:
        vs = await self._vs_raw(vs_id)
        options = parse_search_request(body)
        hits = await self.rank([vs_id], options)
        vs["last_active_at"] = self.now()
        await self._run(self.objects.put, VECTOR_STORE, vs)
        return search_results_page(options.queries, hits)

    async def search_stores(
        self,
        vector_store_ids: Sequence[str],
        query: str | Sequence[str],
        *,
        max_num_results: int = DEFAULT_MAX_RESULTS,
        filters: Any = None,
        score_threshold: float = 0.0,
    ) -> list[Hit]:
        """For the Responses `file_search` tool: the best chunks over `vector_store_ids`.

        Unknown vector store ids are a 404 `APIError`. `filters` is a parsed `retrieval.Filter` or
        the raw JSON (validated here: a bad filter or `max_num_results` is a 400 `APIError`). Render hits with
        `retrieval.file_search_call_item`, `results_as_context` and `file_citations`.
        """
        for vs_id in vector_store_ids:
            await self._vs_raw(vs_id)
        queries = (query,) if isinstance(query, str) else tuple(query)
        try:
            parsed = retrieval.parse_filter(filters) if isinstance(filters, dict) else filters
            options = SearchOptions(queries, max_num_results, score_threshold, "auto", False, parsed)
            return await self.rank(list(vector_store_ids), options)
        except retrieval.RetrievalError as exc:
            raise exc.as_api_error() from exc

    async def file_search(self, vector_store_ids: Sequence[str], options: SearchOptions) -> list[Hit]:
        """`reference.tools.ToolServices.search`: `search_stores` with the tool's options."""
        return await self.search_stores(
            vector_store_ids, options.queries, max_num_results=options.max_num_results,
            filters=options.filters, score_threshold=options.score_threshold)

    async def check_vector_store(self, vector_store_id: str) -> None:
        """`reference.tools.ToolServices.check_vector_store`: 404 `APIError` when unknown."""
        await self._vs_raw(vector_store_id)


def page_files(items: Sequence[dict[str, Any]], *, limit: str | int | None, after: str | None,
               order: str | None) -> dict[str, Any]:
    """`GET /v1/files` pagination: "Limit can range between 1 and 10,000, and the default is
    10,000." (wider than the 1..100 of `core.pagination`, which validates the rest)."""
    if limit is None:
        n = 10_000
    else:
        try:
            n = int(limit)
        except ValueError:
            raise errors.invalid_request(f"Invalid 'limit': expected an integer, but got {limit!r} instead.",
                                         "limit", "invalid_type") from None
    if not 1 <= n <= 10_000:
        raise errors.invalid_request(
            f"Invalid 'limit': expected a value between 1 and 10000, but got {n} instead.", "limit",
            "invalid_value")
    # `after` and `order` are validated the usual way (400 naming the parameter).
    pagination.paginate(items, limit=1, after=after, order=order)
    ordered = list(items) if (order or "desc") == "asc" else list(reversed(items))
    start = 0 if after is None else [i["id"] for i in ordered].index(after) + 1
    page = ordered[start:start + n]
    return {"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None, "has_more": start + n < len(ordered)}
