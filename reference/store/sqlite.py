"""SQLite implementation of `ResponseStore` (WAL journal, versioned migrations).

One connection guarded by a lock: SQLite serialises writers anyway, and the engine calls the
store from a single dedicated thread, so a pool would buy nothing. WAL lets readers (another
process inspecting the file, a second gateway process on the same host) proceed during writes.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from reference.store.base import StoredResponse
from reference.store.migrations import migrate
from reference.store.objects import SQLiteObjectStore

MEMORY = ":memory:"


class SQLiteStore:
    def __init__(self, path: str | Path = MEMORY) -> None:
        self.path = str(path)
        if self.path != MEMORY:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # check_same_thread=False: the connection is created on the caller's thread and used on
        # the engine's store thread; the lock below makes that safe.
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level="DEFERRED")
        self._lock = threading.Lock()
        with self._lock:
            self._conn.execute("PRAGMA foreign_keys = ON")
            if self.path != MEMORY:
                self._conn.execute("PRAGMA journal_mode = WAL")
                # NORMAL is durable across application crashes in WAL mode (only a power loss can
                # drop the last transactions), and much faster than FULL.
                self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute("PRAGMA busy_timeout = 5000")
            self.schema_version = migrate(self._conn)
        # The stateful resources (files, vector stores, conversations, ...) share this database.
        self.objects = SQLiteObjectStore(self._conn, self._lock)

    @property
    def journal_mode(self) -> str:
        with self._lock:
            return str(self._conn.execute("PRAGMA journal_mode").fetchone()[0])

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
        with self._lock, self._conn:
            # ON CONFLICT ... DO UPDATE keeps `seq`, so a background response updated from queued
            # to completed keeps its place in the list order.
            self._conn.execute(
                """
                INSERT INTO responses (id, created_at, status, previous_response_id, body)
                VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET status = excluded.status, body = excluded.body
                """,
                (response_id, created_at, status, previous_response_id, body),
            )
            if input_items is not None:
                self._conn.execute("DELETE FROM input_items WHERE response_id = ?", (response_id,))
                self._conn.executemany(
                    "INSERT INTO input_items (response_id, position, item_id, body) VALUES (?, ?, ?, ?)",
                    ((response_id, i, item_id, text) for i, (item_id, text) in enumerate(input_items)),
                )

    def get_response(self, response_id: str) -> StoredResponse | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT body, previous_response_id FROM responses WHERE id = ?", (response_id,)
            ).fetchone()
            if row is None:
                return None
            items = self._conn.execute(
                "SELECT body FROM input_items WHERE response_id = ? ORDER BY position", (response_id,)
            ).fetchall()
        return StoredResponse(response_id, row[0], tuple(r[0] for r in items), row[1])

    def get_input_items(self, response_id: str) -> list[str] | None:
        stored = self.get_response(response_id)
        return None if stored is None else list(stored.input_items)

    def delete_response(self, response_id: str) -> bool:
        with self._lock, self._conn:
            cur = self._conn.execute("DELETE FROM responses WHERE id = ?", (response_id,))
            return cur.rowcount > 0

    def list_responses(self) -> list[str]:
        with self._lock:
            rows = self._conn.execute("SELECT body FROM responses ORDER BY created_at, seq").fetchall()
        return [r[0] for r in rows]

    def ids_with_status(self, *statuses: str) -> list[str]:
        if not statuses:
            return []
        marks = ",".join("?" * len(statuses))
        with self._lock:
            rows = self._conn.execute(
                f"SELECT id FROM responses WHERE status IN ({marks}) ORDER BY created_at, seq", statuses
            ).fetchall()
        return [r[0] for r in rows]

    # -- job leases (one host: the process clock is the database's) ----------------------------
    def claim_job(self, job: str, owner: str, seconds: float) -> bool:
        now = time.time()
        with self._lock, self._conn:
            cur = self._conn.execute(
                """
                INSERT INTO job_leases (job, owner, expires_at) VALUES (?, ?, ?)
                ON CONFLICT(job) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
                WHERE job_leases.owner = excluded.owner OR job_leases.expires_at < ?
                """,
                (job, owner, now + seconds, now),
            )
            return cur.rowcount > 0

    def renew_jobs(self, owner: str, seconds: float) -> list[str]:
        with self._lock, self._conn:
            rows = self._conn.execute(
                "UPDATE job_leases SET expires_at = ? WHERE owner = ? RETURNING job",
                (time.time() + seconds, owner)).fetchall()
        return sorted(r[0] for r in rows)

    def release_job(self, job: str, owner: str) -> None:
        with self._lock, self._conn:
            self._conn.execute("DELETE FROM job_leases WHERE job = ? AND owner = ?", (job, owner))

    def expired_jobs(self) -> list[str]:
        with self._lock:
            rows = self._conn.execute("SELECT job FROM job_leases WHERE expires_at < ? ORDER BY expires_at",
                                      (time.time(),)).fetchall()
        return [r[0] for r in rows]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
