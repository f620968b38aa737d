"""Persistence for responses and their input items.

`ResponseStore` is the interface; `SQLiteStore` the default implementation. `open_store(url)`
picks one from a path or URL so a PostgreSQL store can be added without touching callers.
"""

from __future__ import annotations

from pathlib import Path

from reference.store.base import ResponseStore, StoredResponse
from reference.store.sqlite import SQLiteStore


def open_store(location: str | Path) -> ResponseStore:
    """Open the store at `location`: a file path, `sqlite:///path`, or `:memory:`."""
    text = str(location)
    if text.startswith("sqlite://"):
        text = text.removeprefix("sqlite://") or ":memory:"
    elif "://" in text:
        raise ValueError(f"unsupported store URL {text!r} (only SQLite paths are supported)")
    return SQLiteStore(text)


__all__ = ["ResponseStore", "SQLiteStore", "StoredResponse", "open_store"]
