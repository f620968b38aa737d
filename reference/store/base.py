"""The store interface.

The engine and the services depend on these Protocols, not on SQLite: a PostgreSQL store
(several gateway replicas sharing state) implements the same methods. Methods are synchronous
and blocking; callers keep them off the event loop by running them on the gateway's one store
thread (`reference.store.StoreThread`).

Responses and items are handed over and returned as JSON *text*: the store never re-serialises,
so what a client reads back is byte-identical to what it was first sent.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from reference.core import errors
from reference.core.errors import APIError


class Kind(StrEnum):
    """The kinds of stateful object in `ObjectStore` (the value is what the table holds)."""

    FILE = "file"
    VECTOR_STORE = "vector_store"
    VECTOR_STORE_FILE = "vector_store.file"
    """Parent: the vector store id."""
    FILE_BATCH = "vector_store.file_batch"
    """Parent: the vector store id."""
    CONVERSATION = "conversation"
    CONVERSATION_ITEM = "conversation.item"
    """Parent: the conversation id."""
    PROMPT = "prompt"
    PROMPT_VERSION = "prompt.version"
    """Parent: the prompt id; id: the version number as a string."""
    CONNECTOR = "connector"
    OWNER = "tenant.owner"
    """Which tenant owns an object (`reference.store.tenancy`); id: `<kind>/<object id>`."""


CASCADES: Mapping[Kind, tuple[Kind, ...]] = {
    Kind.VECTOR_STORE: (Kind.VECTOR_STORE_FILE, Kind.FILE_BATCH),
    Kind.CONVERSATION: (Kind.CONVERSATION_ITEM,),
    Kind.PROMPT: (Kind.PROMPT_VERSION,),
}
"""Deleting an object of the key kind deletes its children of these kinds (parent = its id).
Chunks go with their vector store and with their vector-store file."""


class StoreUnavailable(APIError):
    """The database cannot be reached (a PostgreSQL server down or restarting): a 503
    `server_error` the client may retry, never a 500 traceback. Any store may raise it from any
    method; the next call tries again (a pooled store reconnects by itself)."""

    def __init__(self, detail: str) -> None:
        super().__init__(503, "The gateway's database is unavailable; retry later.", errors.SERVER_ERROR,
                         None, "store_unavailable")
        self.detail = detail


@dataclass(frozen=True)
class Chunk:
    vector_store_id: str
    file_id: str
    position: int
    text: str
    vector: bytes


@runtime_checkable
class ObjectStore(Protocol):
    """Stateful objects by (kind, id, parent) as JSON text, in insertion order; chunk vectors.

    Every kind is serialised the same way (compact JSON, non-ASCII kept) and every delete
    cascades as `CASCADES` says.
    """

    def put(self, kind: Kind, obj: dict[str, Any] | str, *, parent: str | None = None,
            object_id: str | None = None, created_at: int | None = None) -> str:
        """Insert or replace (a replaced object keeps its place in the order); return the JSON
        text. A dict is serialised by the store; a str is stored as given. `object_id` and
        `created_at` default to the object's `id` and `created_at`."""

    def put_many(self, kind: Kind, objs: Sequence[tuple[str, str]], *, parent: str,
                 created_at: int) -> None:
        """Insert or replace `(object_id, json_text)` pairs under `parent` in one transaction,
        adjacent in the order: no other writer's objects of `kind` under `parent` (another
        process appending to the same conversation) come between them."""

    def replace_if(self, kind: Kind, object_id: str, expected: str, obj: dict[str, Any] | str, *,
                   parent: str | None = None) -> str | None:
        """Compare and set: replace the object only if its stored text is still `expected`
        (atomic across every process sharing the database); the new text, or None when another
        writer changed or deleted it first."""

    def get_text(self, kind: Kind, object_id: str, *, parent: str | None = None) -> str | None: ...

    def get(self, kind: Kind, object_id: str, *, parent: str | None = None) -> dict[str, Any] | None: ...

    def list(self, kind: Kind, *, parent: str | None = None) -> builtins.list[dict[str, Any]]:
        """Every object of `kind` (under `parent`), oldest first."""

    def delete(self, kind: Kind, object_id: str, *, parent: str | None = None) -> bool:
        """Delete an object and what `CASCADES` hangs off it; False when it did not exist."""

    def replace_chunks(self, vector_store_id: str, file_id: str,
                       chunks: Sequence[tuple[str, bytes]]) -> None:
        """Atomically replace a file's chunks in a vector store: a failed ingestion loses nothing."""

    def chunks(self, vector_store_id: str, file_id: str | None = None) -> builtins.list[Chunk]: ...

    def delete_chunks(self, vector_store_id: str, file_id: str | None = None) -> None: ...


@dataclass(frozen=True)
class StoredResponse:
    id: str
    body: str
    """The response object as JSON text, exactly as stored."""
    input_items: tuple[str, ...]
    """The request's own input items as JSON texts, in order."""
    previous_response_id: str | None


@runtime_checkable
class ResponseStore(Protocol):
    @property
    def objects(self) -> ObjectStore:
        """The stateful resources (files, vector stores, conversations, prompts, connectors)."""

    def save_response(
        self,
        response_id: str,
        body: str,
        *,
        created_at: int,
        status: str,
        previous_response_id: str | None = None,
        input_items: Iterable[tuple[str, str]] | None = None,
    ) -> None:
        """Insert or replace a response's JSON text.

        `input_items` are `(item_id, json_text)` pairs; when given they replace the stored items,
        when None the stored items are kept (a status update of a background response).
        """

    def get_response(self, response_id: str) -> StoredResponse | None: ...

    def get_input_items(self, response_id: str) -> list[str] | None:
        """The input items' JSON texts in order, or None when the response is unknown."""

    def delete_response(self, response_id: str) -> bool: ...

    def list_responses(self) -> list[str]:
        """Every stored response's JSON text, oldest first."""

    def ids_with_status(self, *statuses: str) -> list[str]:
        """Ids of the responses whose status is one of `statuses`, oldest first."""

    # Job leases (`reference.store.leases`): a lease names its owner (one gateway process) and
    # expires unless renewed; times are the database's clock, so replicas need not agree on theirs.

    def claim_job(self, job: str, owner: str, seconds: float) -> bool:
        """Lease `job` to `owner` for `seconds`; True when it was unleased, its lease had expired
        or `owner` already held it (then renewed), False while another owner's lease runs."""

    def renew_jobs(self, owner: str, seconds: float) -> list[str]:
        """Extend every lease `owner` holds to `seconds` from now; the jobs it still holds."""

    def release_job(self, job: str, owner: str) -> None:
        """End `owner`'s lease of `job` (nothing when another owner holds it now)."""

    def expired_jobs(self) -> list[str]:
        """Jobs whose lease expired (their owner stopped renewing), oldest expiry first."""

    def close(self) -> None: ...
