"""Persistence for responses, their input items and the stateful resources.

`ResponseStore` (with its `ObjectStore`) is the interface; `SQLiteStore` the default
implementation. `open_store(url)` picks one from a path or URL so a PostgreSQL store can be added
without touching callers. `StoreThread` is the thread store calls run on.
"""

from __future__ import annotations

from pathlib import Path

from reference.store.base import CASCADES, Chunk, Kind, ObjectStore, ResponseStore, StoredResponse
from reference.store.sqlite import SQLiteStore
from reference.store.thread import StoreThread


def open_store(location: str | Path) -> ResponseStore:
    """Open the store at `location`: a file path, `sqlite:///path`, or `:memory:`."""
    text = str(location)
    if text.startswith("sqlite://"):
        text = text.removeprefix("sqlite://") or ":memory:"
    elif "://" in text:
        raise ValueError(f"unsupported store URL {text!r} (only SQLite paths are supported)")
    return SQLiteStore(text)


__all__ = ["CASCADES", "Chunk", "Kind", "ObjectStore", "ResponseStore", "SQLiteStore", "StoreThread",
           "StoredResponse", "open_store"]
