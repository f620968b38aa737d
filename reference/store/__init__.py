"""Persistence for responses, their input items and the stateful resources.

`ResponseStore` (with its `ObjectStore`) is the interface; `SQLiteStore` the default
implementation, `PostgresStore` (`reference.store.postgres`, psycopg 3: the `postgres` extra) the
one several replicas share. `open_store(url)` picks one from a path or URL. `StoreThread` is the
thread store calls run on.
"""

from __future__ import annotations

from pathlib import Path

from reference.store.base import (
    CASCADES,
    Chunk,
    Kind,
    ObjectStore,
    ResponseStore,
    StoredResponse,
    StoreUnavailable,
)
from reference.store.sqlite import SQLiteStore
from reference.store.thread import StoreThread


def open_store(location: str | Path) -> ResponseStore:
    """Open the store at `location`: a file path, `sqlite:///path`, `:memory:`, or
    `postgresql://...` / `postgres://...` (a libpq connection URL)."""
    text = str(location)
    if text.startswith(("postgresql://", "postgres://")):
        # Imported here: psycopg is only needed by deployments that use PostgreSQL.
        try:
            from reference.store.postgres import PostgresStore
        except ImportError as exc:
            raise ValueError(f"a postgresql:// store needs psycopg 3 and psycopg_pool ({exc}); install "
                             "the 'postgres' extra") from exc
        return PostgresStore(text)
    if text.startswith("sqlite://"):
        text = text.removeprefix("sqlite://") or ":memory:"
    elif "://" in text:
        raise ValueError(f"unsupported store URL {text!r} (use a SQLite path, sqlite:///path or postgresql://...)")
    return SQLiteStore(text)


__all__ = [
    "CASCADES",
    "Chunk",
    "Kind",
    "ObjectStore",
    "ResponseStore",
    "SQLiteStore",
    "StoreThread",
    "StoreUnavailable",
    "StoredResponse",
    "open_store",
]
