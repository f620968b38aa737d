"""Tenant isolation as a store decorator: with API keys (`serve --api-keys FILE`) every stored
object belongs to the tenant whose key created it, and other tenants cannot see it.

`TenantScopedStore(inner)` wraps a `ResponseStore`. The tenant of the current request is the
context variable `current_tenant` (set by the HTTP adapter's key check and by the ext_proc
processor; asyncio tasks and store-thread calls inherit it). While it is None (no API keys,
startup recovery) the decorator passes everything through. Otherwise:

- a response or top-level object (file, vector store, conversation, prompt, connector) is
  recorded as the tenant's when first stored, and is invisible to every other tenant: `get`
  answers None, `delete` False, lists leave it out. The services' own "unknown id" paths then
  give the answers (404, or the 400 of an unknown `previous_response_id`, an unknown vector
  store in a tool, a connector id that does not resolve, a file that cannot be attached);
- children (vector-store files and batches, conversation items, prompt versions) are visible
  exactly when their parent is.

Ownership records live in the object table (kind `tenant.owner`), so they persist with the data.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from typing import Any

from reference.store.base import Chunk, Kind, ObjectStore, ResponseStore, StoredResponse

current_tenant: ContextVar[str | None] = ContextVar("gateway_tenant", default=None)

OWNED_KINDS = frozenset({Kind.FILE, Kind.VECTOR_STORE, Kind.CONVERSATION, Kind.PROMPT, Kind.CONNECTOR})
PARENT_KIND = {
    Kind.VECTOR_STORE_FILE: Kind.VECTOR_STORE,
    Kind.FILE_BATCH: Kind.VECTOR_STORE,
    Kind.CONVERSATION_ITEM: Kind.CONVERSATION,
    Kind.PROMPT_VERSION: Kind.PROMPT,
}
RESPONSE = "response"


def _key(kind: str, object_id: str) -> str:
    return f"{kind}/{object_id}"


class TenantScopedObjects:
    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner

    # -- ownership ---------------------------------------------------------------------------
    def owner(self, kind: str, object_id: str) -> str | None:
        record = self.inner.get(Kind.OWNER, _key(kind, object_id))
        return None if record is None else str(record.get("tenant"))

    def claim(self, kind: str, object_id: str, tenant: str) -> None:
        if self.owner(kind, object_id) is None:
            self.inner.put(Kind.OWNER, {"id": _key(kind, object_id), "tenant": tenant},
                           object_id=_key(kind, object_id), created_at=0)

    def release(self, kind: str, object_id: str) -> None:
        self.inner.delete(Kind.OWNER, _key(kind, object_id))

    def owns(self, tenant: str | None, kind: str, object_id: str) -> bool:
        return tenant is None or self.owner(kind, object_id) == tenant

    def _visible(self, kind: Kind, object_id: str | None, parent: str | None) -> bool:
        tenant = current_tenant.get()
        if tenant is None:
            return True
        if kind in OWNED_KINDS and object_id is not None:
            return self.owns(tenant, kind, object_id)
        if kind in PARENT_KIND and parent is not None:
            return self.owns(tenant, PARENT_KIND[kind], parent)
        return True

    # -- ObjectStore ---------------------------------------------------------------------------
    def put(self, kind: Kind, obj: dict[str, Any] | str, *, parent: str | None = None,
            object_id: str | None = None, created_at: int | None = None) -> str:
        tenant = current_tenant.get()
        if tenant is not None and kind in OWNED_KINDS:
            oid = object_id or (obj.get("id") if isinstance(obj, dict) else json.loads(obj).get("id"))
            owner = self.owner(kind, str(oid))
            if owner is not None and owner != tenant:
                raise PermissionError(f"{kind} {oid} belongs to another tenant")
            self.claim(kind, str(oid), tenant)
        return self.inner.put(kind, obj, parent=parent, object_id=object_id, created_at=created_at)

    def put_many(self, kind: Kind, objs: Sequence[tuple[str, str]], *, parent: str,
                 created_at: int) -> None:
        if kind in OWNED_KINDS:  # owned objects are recorded one by one
            for oid, text in objs:
                self.put(kind, text, parent=parent, object_id=oid, created_at=created_at)
            return
        self.inner.put_many(kind, objs, parent=parent, created_at=created_at)

    def replace_if(self, kind: Kind, object_id: str, expected: str, obj: dict[str, Any] | str, *,
                   parent: str | None = None) -> str | None:
        if not self._visible(kind, object_id, parent):
            return None
        return self.inner.replace_if(kind, object_id, expected, obj, parent=parent)

    def get_text(self, kind: Kind, object_id: str, *, parent: str | None = None) -> str | None:
        if not self._visible(kind, object_id, parent):
            return None
        return self.inner.get_text(kind, object_id, parent=parent)

    def get(self, kind: Kind, object_id: str, *, parent: str | None = None) -> dict[str, Any] | None:
        if not self._visible(kind, object_id, parent):
            return None
        return self.inner.get(kind, object_id, parent=parent)

    def list(self, kind: Kind, *, parent: str | None = None) -> builtins.list[dict[str, Any]]:
        tenant = current_tenant.get()
        if tenant is None:
            return self.inner.list(kind, parent=parent)
        if kind in PARENT_KIND and parent is not None and not self.owns(tenant, PARENT_KIND[kind], parent):
            return []
        items = self.inner.list(kind, parent=parent)
        if kind in OWNED_KINDS:
            items = [item for item in items if self.owns(tenant, kind, str(item.get("id")))]
        return items

    def delete(self, kind: Kind, object_id: str, *, parent: str | None = None) -> bool:
        if not self._visible(kind, object_id, parent):
            return False
        deleted = self.inner.delete(kind, object_id, parent=parent)
        if deleted and kind in OWNED_KINDS:
            self.release(kind, object_id)
        return deleted

    def replace_chunks(self, vector_store_id: str, file_id: str, chunks: Sequence[tuple[str, bytes]]) -> None:
        self.inner.replace_chunks(vector_store_id, file_id, chunks)

    def chunks(self, vector_store_id: str, file_id: str | None = None) -> builtins.list[Chunk]:
        return self.inner.chunks(vector_store_id, file_id)

    def delete_chunks(self, vector_store_id: str, file_id: str | None = None) -> None:
        self.inner.delete_chunks(vector_store_id, file_id)


class TenantScopedStore:
    """A `ResponseStore` whose objects and responses are scoped to `current_tenant`."""

    def __init__(self, inner: ResponseStore) -> None:
        self.inner = inner
        self._objects = TenantScopedObjects(inner.objects)

    @property
    def objects(self) -> ObjectStore:
        return self._objects

    def _mine(self, response_id: str) -> bool:
        return self._objects.owns(current_tenant.get(), RESPONSE, response_id)

    def save_response(self, response_id: str, body: str, *, created_at: int, status: str,
                      previous_response_id: str | None = None,
                      input_items: Iterable[tuple[str, str]] | None = None) -> None:
        tenant = current_tenant.get()
        if tenant is not None:
            owner = self._objects.owner(RESPONSE, response_id)
            if owner is not None and owner != tenant:
                raise PermissionError(f"response {response_id} belongs to another tenant")
            self._objects.claim(RESPONSE, response_id, tenant)
        self.inner.save_response(response_id, body, created_at=created_at, status=status,
                                 previous_response_id=previous_response_id, input_items=input_items)

    def get_response(self, response_id: str) -> StoredResponse | None:
        return self.inner.get_response(response_id) if self._mine(response_id) else None

    def get_input_items(self, response_id: str) -> list[str] | None:
        return self.inner.get_input_items(response_id) if self._mine(response_id) else None

    def delete_response(self, response_id: str) -> bool:
        if not self._mine(response_id):
            return False
        deleted = self.inner.delete_response(response_id)
        if deleted:
            self._objects.release(RESPONSE, response_id)
        return deleted

    def list_responses(self) -> list[str]:
        texts = self.inner.list_responses()
        if current_tenant.get() is None:
            return texts
        return [text for text in texts if self._mine(str(json.loads(text).get("id")))]

    def ids_with_status(self, *statuses: str) -> list[str]:
        return [rid for rid in self.inner.ids_with_status(*statuses) if self._mine(rid)]

    # Job leases belong to gateway processes, not to tenants.
    def claim_job(self, job: str, owner: str, seconds: float) -> bool:
        return self.inner.claim_job(job, owner, seconds)

    def renew_jobs(self, owner: str, seconds: float) -> list[str]:
        return self.inner.renew_jobs(owner, seconds)

    def release_job(self, job: str, owner: str) -> None:
        self.inner.release_job(job, owner)

    def expired_jobs(self) -> list[str]:
        return self.inner.expired_jobs()

    def close(self) -> None:
        self.inner.close()
