"""SQLite persistence for the stateful OpenAI resources (`ObjectStore` of `reference.store.base`).

Files, vector stores, vector-store files, file batches, conversations, conversation items,
prompts (one row per version) and connectors all share one shape: an id, a kind, an optional
parent (the vector store of a vector-store file, the conversation of an item), a creation order
and the object's exact JSON text. One table serves them all, so pagination, use-after-delete and
restart behaviour are the same everywhere and each resource adapter stays thin.

Chunk vectors of vector stores live in `chunks` (float32 blobs, see reference.retrieval), file
bytes on disk under `<blob_dir>/<file_id>`: the client's filename is metadata only, never a path.

Like `SQLiteStore`, methods are blocking; callers run them on the store thread. The schema is
migration 3 of `reference.store.migrations`.
"""

from __future__ import annotations

import builtins
import json
import sqlite3
import threading
from collections.abc import Sequence
from typing import Any

from reference.core.serialization import dump
from reference.store.base import CASCADES, Chunk, Kind

JSONObject = dict[str, Any]


class SQLiteObjectStore:
    """Objects by (kind, id, parent) as JSON text, in insertion order; chunks with vectors.

    Shares the connection and lock of a `SQLiteStore` so one database file holds everything and
    migrations run once.
    """

    def __init__(self, conn: sqlite3.Connection, lock: threading.Lock) -> None:
        self._conn = conn
        self._lock = lock

    # -- objects -------------------------------------------------------------------------
    def put(self, kind: Kind, obj: dict[str, Any] | str, *, parent: str | None = None,
            object_id: str | None = None, created_at: int | None = None) -> str:
        """Insert or replace; a replaced object keeps its place in the order. Returns the JSON text."""
        # The one serialisation of stored objects (compact, non-ASCII kept), every kind alike.
        text = obj if isinstance(obj, str) else dump(obj)
        data = json.loads(text) if object_id is None or created_at is None else {}
        oid = object_id if object_id is not None else str(data["id"])
        created = created_at if created_at is not None else int(data.get("created_at") or 0)
        with self._lock, self._conn:
            # SQLite treats NULLs as distinct in UNIQUE constraints, so store '' for "no parent".
            self._conn.execute(
                """
                INSERT INTO objects (kind, id, parent, created_at, body) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(kind, id, parent) DO UPDATE SET body = excluded.body
                """,
                (kind, oid, parent or "", created, text),
            )
        return text

    def put_many(self, kind: Kind, objs: Sequence[tuple[str, str]], *, parent: str,
                 created_at: int) -> None:
        # One transaction: SQLite holds its one write lock until the commit, so the rows are
        # adjacent in `seq` even with another process writing the same file.
        with self._lock, self._conn:
            self._conn.executemany(
                """
                INSERT INTO objects (kind, id, parent, created_at, body) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(kind, id, parent) DO UPDATE SET body = excluded.body
                """,
                [(kind, oid, parent, created_at, text) for oid, text in objs],
            )

    def replace_if(self, kind: Kind, object_id: str, expected: str, obj: dict[str, Any] | str, *,
                   parent: str | None = None) -> str | None:
        text = obj if isinstance(obj, str) else dump(obj)
        with self._lock, self._conn:
            cur = self._conn.execute(
                "UPDATE objects SET body = ? WHERE kind = ? AND id = ? AND parent = ? AND body = ?",
                (text, kind, object_id, parent or "", expected))
            return text if cur.rowcount > 0 else None

    def get_text(self, kind: Kind, object_id: str, *, parent: str | None = None) -> str | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT body FROM objects WHERE kind = ? AND id = ? AND parent = ?",
                (kind, object_id, parent or ""),
            ).fetchone()
        return None if row is None else str(row[0])

    def get(self, kind: Kind, object_id: str, *, parent: str | None = None) -> dict[str, Any] | None:
        text = self.get_text(kind, object_id, parent=parent)
        return None if text is None else json.loads(text)

    def list(self, kind: Kind, *, parent: str | None = None) -> list[JSONObject]:
        """Every object of `kind` (under `parent`), oldest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT body FROM objects WHERE kind = ? AND parent = ? ORDER BY seq",
                (kind, parent or ""),
            ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def delete(self, kind: Kind, object_id: str, *, parent: str | None = None) -> bool:
        """Delete an object and what `CASCADES` hangs off it (children, chunks)."""
        with self._lock, self._conn:
            cur = self._conn.execute(
                "DELETE FROM objects WHERE kind = ? AND id = ? AND parent = ?",
                (kind, object_id, parent or ""),
            )
            for child_kind in CASCADES.get(kind, ()):
                self._conn.execute("DELETE FROM objects WHERE kind = ? AND parent = ?",
                                   (child_kind, object_id))
            if kind == Kind.VECTOR_STORE:
                self._conn.execute("DELETE FROM chunks WHERE vector_store_id = ?", (object_id,))
            elif kind == Kind.VECTOR_STORE_FILE:
                self._conn.execute("DELETE FROM chunks WHERE vector_store_id = ? AND file_id = ?",
                                   (parent or "", object_id))
            return cur.rowcount > 0

    # -- chunks --------------------------------------------------------------------------
    def replace_chunks(self, vector_store_id: str, file_id: str,
                       chunks: Sequence[tuple[str, bytes]]) -> None:
        """Atomically replace a file's chunks in a vector store: a failed ingestion loses nothing."""
        with self._lock, self._conn:
            self._conn.execute("DELETE FROM chunks WHERE vector_store_id = ? AND file_id = ?",
                               (vector_store_id, file_id))
            self._conn.executemany(
                "INSERT INTO chunks (vector_store_id, file_id, position, text, vector) "
                "VALUES (?, ?, ?, ?, ?)",
                [(vector_store_id, file_id, i, text, vec) for i, (text, vec) in enumerate(chunks)],
            )

    def chunks(self, vector_store_id: str, file_id: str | None = None) -> builtins.list[Chunk]:
        query = ("SELECT vector_store_id, file_id, position, text, vector FROM chunks "
                 "WHERE vector_store_id = ?")
        args: tuple[str, ...] = (vector_store_id,)
        if file_id is not None:
            query += " AND file_id = ?"
            args += (file_id,)
        with self._lock:
            rows = self._conn.execute(query + " ORDER BY file_id, position", args).fetchall()
        return [Chunk(r[0], r[1], int(r[2]), r[3], bytes(r[4])) for r in rows]

    def delete_chunks(self, vector_store_id: str, file_id: str | None = None) -> None:
        with self._lock, self._conn:
            if file_id is None:
                self._conn.execute("DELETE FROM chunks WHERE vector_store_id = ?", (vector_store_id,))
            else:
                self._conn.execute("DELETE FROM chunks WHERE vector_store_id = ? AND file_id = ?",
                                   (vector_store_id, file_id))
