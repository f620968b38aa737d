"""The composition root: the one place that builds a gateway.

    gateway = build_gateway(open_store(db), Backend(url), blob_dir=files_dir_for(db))
    await gateway.start()                       # recover interrupted work
    app = gateway.http_app(max_body_bytes=...)   # the HTTP adapter (Quart)
    extproc = await gateway.serve_extproc(host, port)   # the ext_proc adapter (gRPC)
    ...
    await extproc.stop(2.0)
    await gateway.aclose()

Wiring (every arrow is a constructor argument; nothing is looked up):

    store ──┬──────────────┬───────────────┬──────────────┬─────────────┐
    thread ─┤              │               │              │             │
            v              v               v              v             │
      Conversations     Prompts        Connectors    VectorStores <── backend
            │ ConversationLog  │ PromptRenderer  │ connector_refs  │ file_search, check_vector_store
            │              │               └──────┬───────┘             │
            │              │                 ToolServices (+ MCPToolCache)
            v              v                      v                     v
          Engine(store, backend, thread, conversations, prompts, tools) <┘
            │                                 │
            v                                 v
     reference.http.create_app(engine, Services)   reference.extproc.server.serve_extproc(engine)

The root owns every lifecycle: `start` recovers background responses and resumes ingestion
(only jobs no live process holds: `JobLeases`), then starts the lease heartbeat, which renews
this process's job leases and takes over the expired ones of replicas that died; `aclose`
stops the heartbeat, the ingestion jobs and background responses, then closes the backend
client, the store and its thread (in that order: nothing may touch the store after it closed).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from quart import Quart

from reference.auth import ApiKeys
from reference.backend import Backend
from reference.config import DEFAULT_BODY_TIMEOUT, DEFAULT_MAX_BODY_BYTES
from reference.engine import Engine
from reference.extproc.server import ExtProcHandle, serve_extproc
from reference.http import create_app
from reference.mcp_client import MCPToolCache
from reference.observability.metrics import GatewayMetrics
from reference.services import Connectors, Conversations, Prompts, Services, VectorStores
from reference.services.ingest import DEFAULT_EMBEDDING_MODEL
from reference.store import ResponseStore, SQLiteStore, StoreThread
from reference.store.leases import DEFAULT_LEASE_SECONDS, JobLeases
from reference.store.sqlite import MEMORY
from reference.store.tenancy import TenantScopedStore
from reference.tools import ToolServices


def files_dir_for(store: ResponseStore) -> Path | None:
    """Where uploaded file bytes live beside `store`: `<db path>.files`, or None (a temporary
    directory) for an in-memory database or a store that is not a local file."""
    if not isinstance(store, SQLiteStore):
        return None
    if store.path == MEMORY or store.path.startswith("file::memory:"):
        return None
    return Path(store.path + ".files")


@dataclass
class Gateway:
    """One gateway's parts, built by `build_gateway`."""

    store: ResponseStore
    thread: StoreThread
    backend: Backend | None
    services: Services
    engine: Engine
    api_keys: ApiKeys | None = None
    """KEY -> tenant (`--api-keys`): both adapters then require a key; None: open."""
    metrics: GatewayMetrics | None = None
    """What both adapters, the engine and the store thread record (`GET /metrics`)."""
    leases: JobLeases = field(kw_only=True)
    """This process's job leases (background responses, ingestion) and their heartbeat."""

    @property
    def conversations(self) -> Conversations:
        return self.services.conversations

    @property
    def prompts(self) -> Prompts:
        return self.services.prompts

    @property
    def connectors(self) -> Connectors:
        return self.services.connectors

    @property
    def vector_stores(self) -> VectorStores:
        return self.services.vector_stores

    async def start(self) -> list[str]:
        """Before serving: mark background responses a previous process left unfinished as
        failed (returns their ids) and resume its interrupted ingestion jobs."""
        recovered = await self.engine.recover()
        await self.vector_stores.start()
        self.leases.start([self.engine.sweep_expired, self.vector_stores.resume_expired])
        return recovered

    async def aclose(self) -> None:
        await self.leases.aclose()  # first: no sweep may start a job while the others stop
        await self.vector_stores.aclose()
        await self.engine.aclose()
        if self.backend is not None:
            await self.backend.aclose()
        embedder = self.vector_stores.backend
        if embedder is not None and embedder is not self.backend:
            await embedder.aclose()
        await self.thread.run(self.store.close)
        self.thread.close()

    def http_app(self, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                 stream_done_marker: bool = False, body_timeout: float = DEFAULT_BODY_TIMEOUT) -> Quart:
        """The HTTP adapter over this gateway's engine and services."""
        return create_app(self.engine, self.services, max_body_bytes=max_body_bytes,
                          stream_done_marker=stream_done_marker, body_timeout=body_timeout,
                          api_keys=self.api_keys, metrics=self.metrics)

    async def serve_extproc(self, host: str, port: int, *, done_marker: bool = False) -> ExtProcHandle:
        """The ext_proc adapter (gRPC, with health) on host:port; port 0 picks a free one."""
        return await serve_extproc(self.engine, host, port, done_marker=done_marker, api_keys=self.api_keys,
                                   metrics=self.metrics)


def build_gateway(
    store: ResponseStore,
    backend: Backend | None,
    *,
    blob_dir: str | Path | None = None,
    embedding_model: str = DEFAULT_EMBEDDING_MODEL,
    embedding_backend: Backend | None = None,
    embedding_dimensions: int | None = None,
    mcp_cache: MCPToolCache | None = None,
    clock: Callable[[], float] = time.time,
    api_keys: ApiKeys | None = None,
    metrics: GatewayMetrics | None = None,
    job_lease_seconds: float = DEFAULT_LEASE_SECONDS,
) -> Gateway:
    """Wire a gateway over `store` and `backend` (None: a gateway without a model backend,
    whose model calls answer 500). `blob_dir` defaults to `files_dir_for(store)`. Embeddings
    go to `embedding_backend` (default: `backend`) with `embedding_model` (`auto`: ask it) and,
    when given, `embedding_dimensions`. Background and ingestion jobs are leased for
    `job_lease_seconds` (`reference.store.leases`). `metrics`
    defaults to a registry of the gateway's own (give the backend the same one to see its
    calls)."""
    if metrics is None:
        metrics = GatewayMetrics()
    if blob_dir is None:
        blob_dir = files_dir_for(store)
    if api_keys is not None:
        # Tenants: every stored object belongs to the key that created it.
        store = TenantScopedStore(store)
    thread = StoreThread(observe=metrics.store_call)
    leases = JobLeases(store, thread, seconds=job_lease_seconds)
    # One MCP tool-list cache per gateway: tool lists are not fetched per request. Its URL
    # allow-list also bounds the servers a connector may name.
    mcp = mcp_cache if mcp_cache is not None else MCPToolCache()
    conversations = Conversations(store.objects, thread)
    prompts = Prompts(store.objects, thread)
    connectors = Connectors(store.objects, thread, url_allowed=mcp.allows)
    vector_stores = VectorStores.open(
        store.objects, thread, embedding_backend if embedding_backend is not None else backend,
        blob_dir=blob_dir if blob_dir is not None else files_dir_for(store), leases=leases,
        embedding_model=embedding_model, embedding_dimensions=embedding_dimensions)
    tools = ToolServices(mcp=mcp,
                         search=vector_stores.file_search,
                         check_vector_store=vector_stores.check_vector_store,
                         connectors=connectors.connector_refs)
    engine = Engine(store, backend, thread=thread, conversations=conversations, prompts=prompts,
                    tools=tools, leases=leases, clock=clock, metrics=metrics)
    return Gateway(store, thread, backend,
                   Services(conversations, prompts, connectors, vector_stores), engine, api_keys, metrics,
                   leases=leases)
