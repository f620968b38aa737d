"""PostgreSQL implementation of `ResponseStore` and `ObjectStore` (several gateway replicas
sharing one database).

`open_store("postgresql://...")` builds one. psycopg 3 with a `psycopg_pool.ConnectionPool`:
every store call borrows a connection for one transaction (the `with pool.connection()` block
commits on success and rolls back on an exception), so a call is atomic exactly as with SQLite.
The pool checks a connection before lending it and replaces broken ones, so a PostgreSQL restart
needs no gateway restart; while the server is down a call raises `StoreUnavailable` (the HTTP
layer answers 503).

The schema is the same numbered migrations as SQLite (`reference.store.migrations`), written in
PostgreSQL's dialect. JSON is kept in `text` columns, never `jsonb` (which would re-serialise),
so a GET returns the bytes the create stored. Replicas starting together migrate once: migration
runs under a transaction-scoped advisory lock.

Vector search ranks in-process (`reference.retrieval`) over the chunks this store returns; at
startup the store looks for the `vector` extension (pgvector) and reports it in
`vector_search` and the log, so operators can see which ranking a deployment uses.
"""

from __future__ import annotations

import builtins
import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from reference.core.serialization import dump
from reference.store.base import CASCADES, Chunk, Kind, StoredResponse, StoreUnavailable
from reference.store.migrations import POSTGRES_MIGRATIONS

log = logging.getLogger(__name__)

DEFAULT_POOL_MIN = 1
DEFAULT_POOL_MAX = 4
"""Each replica runs its store calls on one thread (`StoreThread`), so one connection is busy at
a time; the spare ones absorb a connection being replaced after a server restart."""

DEFAULT_TIMEOUT = 2.0
"""Seconds a store call waits for a connection before answering 503 (server down)."""

_MIGRATION_LOCK = 0x7265_7370_6773  # any constant shared by every replica ("respgs")
_APPEND_LOCK_CLASS = 0x7265_7370  # first key of the per-(kind, parent) append locks ("resp")

IN_PROCESS = "in-process"
PGVECTOR = "pgvector"


def migrate(conn: psycopg.Connection[Any],
            migrations: Sequence[Sequence[str]] = POSTGRES_MIGRATIONS) -> int:
    """Apply every migration newer than the database's version, each in its own transaction
    together with its version bump; return the resulting version. Raises `RuntimeError` when the
    database is newer than this code."""
    for _attempt in range(len(migrations) + 1):
        with conn.transaction():
            # One migrator at a time across replicas; the lock ends with the transaction.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = conn.execute("SELECT version FROM schema_version").fetchone()
            if row is None:
                conn.execute("INSERT INTO schema_version (version) VALUES (0)")
                version = 0
            else:
                version = int(row[0])
            if version > len(migrations):
                raise RuntimeError(f"database schema version {version} is newer than this gateway "
                                   f"supports ({len(migrations)})")
            if version == len(migrations):
                return version
            for statement in migrations[version]:
                conn.execute(statement.encode())
            conn.execute("UPDATE schema_version SET version = %s", (version + 1,))
    raise AssertionError("unreachable: every loop iteration applies one migration")


class PostgresStore:
    def __init__(self, url: str, *, min_size: int = DEFAULT_POOL_MIN, max_size: int = DEFAULT_POOL_MAX,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = url
        self._sizes = (min_size, max_size)
        self._timeout = timeout
        self._renew_lock = threading.Lock()
        self._pool = self._open_pool()
        try:
            with self._pool.connection() as conn:
                self.schema_version = migrate(conn)
                has_vector = conn.execute(
                    "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone() is not None
        except BaseException:
            self._pool.close()
            raise
        self.vector_search = PGVECTOR if has_vector else IN_PROCESS
        log.info("PostgreSQL store at %s: schema version %d, pool %d..%d connections, vector "
                 "ranking %s", _redacted(url), self.schema_version, min_size, max_size,
                 "in-process (pgvector is installed; this version ranks in-process)"
                 if has_vector else "in-process (pgvector extension not installed)")
        self.objects = PostgresObjectStore(self._tx)

    def _open_pool(self) -> ConnectionPool[Any]:
        pool: ConnectionPool[Any] = ConnectionPool(
            self.url, min_size=self._sizes[0], max_size=self._sizes[1], timeout=self._timeout,
            check=ConnectionPool.check_connection, open=False, kwargs={"autocommit": True},
            name="responses-store")
        try:
            pool.open(wait=True, timeout=self._timeout)
        except PoolTimeout as exc:
            pool.close()
            raise StoreUnavailable(f"cannot connect to PostgreSQL at {_redacted(self.url)}") from exc
        return pool

    def _acquire(self) -> tuple[ConnectionPool[Any], psycopg.Connection[Any]]:
        pool = self._pool
        try:
            return pool, pool.getconn()
        except PoolTimeout as exc:
            # After an outage the pool retries with a growing back-off, so it may still be waiting
            # when the server is back: if the server answers, a fresh pool serves this call now.
            if not self._server_answers():
                raise StoreUnavailable(f"no connection to PostgreSQL within {self._timeout} s") from exc
            with self._renew_lock:
                if self._pool is pool:
                    log.warning("PostgreSQL is reachable again: reopening the connection pool")
                    self._pool = self._open_pool()
                    pool.close(timeout=0)
                pool = self._pool
            try:
                return pool, pool.getconn()
            except PoolTimeout as again:
                raise StoreUnavailable(f"no connection to PostgreSQL within {self._timeout} s") from again

    def _server_answers(self) -> bool:
        try:
            psycopg.connect(self.url, connect_timeout=max(1, int(self._timeout))).close()
        except psycopg.Error:
            return False
        return True

    @contextmanager
    def _tx(self) -> Iterator[psycopg.Connection[Any]]:
        """One transaction on a pooled connection; connection failures become `StoreUnavailable`."""
        pool, conn = self._acquire()
        try:
            with conn.transaction():
                yield conn
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(str(exc) or type(exc).__name__) from exc
        finally:
            pool.putconn(conn)

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
        with self._tx() as conn:
            # ON CONFLICT ... DO UPDATE keeps `seq`: an updated background response keeps its place.
            conn.execute(
                """
                INSERT INTO responses (id, created_at, status, previous_response_id, body)
                VALUES (%s, %s, %s, %s, %s)
                ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, body = EXCLUDED.body
                """,
                (response_id, created_at, status, previous_response_id, body),
            )
            if input_items is not None:
                conn.execute("DELETE FROM input_items WHERE response_id = %s", (response_id,))
                with conn.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO input_items (response_id, position, item_id, body) "
                        "VALUES (%s, %s, %s, %s)",
                        ((response_id, i, item_id, text) for i, (item_id, text) in enumerate(input_items)),
                    )

    def get_response(self, response_id: str) -> StoredResponse | None:
        with self._tx() as conn:
            row = conn.execute("SELECT body, previous_response_id FROM responses WHERE id = %s",
                               (response_id,)).fetchone()
            if row is None:
                return None
            items = conn.execute("SELECT body FROM input_items WHERE response_id = %s ORDER BY position",
                                 (response_id,)).fetchall()
        return StoredResponse(response_id, row[0], tuple(r[0] for r in items), row[1])

    def get_input_items(self, response_id: str) -> list[str] | None:
        stored = self.get_response(response_id)
        return None if stored is None else list(stored.input_items)

    def delete_response(self, response_id: str) -> bool:
        with self._tx() as conn:
            return conn.execute("DELETE FROM responses WHERE id = %s", (response_id,)).rowcount > 0

    def list_responses(self) -> list[str]:
        with self._tx() as conn:
            rows = conn.execute("SELECT body FROM responses ORDER BY created_at, seq").fetchall()
        return [r[0] for r in rows]

    def ids_with_status(self, *statuses: str) -> list[str]:
        if not statuses:
            return []
        with self._tx() as conn:
            rows = conn.execute("SELECT id FROM responses WHERE status = ANY(%s) ORDER BY created_at, seq",
                                (list(statuses),)).fetchall()
        return [r[0] for r in rows]

    # -- job leases: expiry on the database's clock, so replicas need not agree on theirs --------
    def claim_job(self, job: str, owner: str, seconds: float) -> bool:
        with self._tx() as conn:
            # A concurrent claimer of the same row waits for this one's row lock, then sees the
            # renewed expiry and updates nothing: exactly one claim wins.
            return conn.execute(
                """
                INSERT INTO job_leases (job, owner, expires_at)
                VALUES (%s, %s, extract(epoch FROM clock_timestamp()) + %s)
                ON CONFLICT (job) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
                WHERE job_leases.owner = EXCLUDED.owner
                   OR job_leases.expires_at < extract(epoch FROM clock_timestamp())
                """,
                (job, owner, seconds)).rowcount > 0

    def renew_jobs(self, owner: str, seconds: float) -> list[str]:
        with self._tx() as conn:
            rows = conn.execute(
                "UPDATE job_leases SET expires_at = extract(epoch FROM clock_timestamp()) + %s "
                "WHERE owner = %s RETURNING job", (seconds, owner)).fetchall()
        return sorted(r[0] for r in rows)

    def release_job(self, job: str, owner: str) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM job_leases WHERE job = %s AND owner = %s", (job, owner))

    def expired_jobs(self) -> list[str]:
        with self._tx() as conn:
            rows = conn.execute("SELECT job FROM job_leases WHERE expires_at < "
                                "extract(epoch FROM clock_timestamp()) ORDER BY expires_at").fetchall()
        return [r[0] for r in rows]

    def close(self) -> None:
        self._pool.close()


class PostgresObjectStore:
    """`ObjectStore` over the `objects` and `chunks` tables; same semantics as the SQLite one
    (`reference.store.objects`): '' stands for "no parent", order is insertion order (`seq`)."""

    def __init__(self, tx: Callable[[], Any]) -> None:
        self._tx = tx

    def put(self, kind: Kind, obj: dict[str, Any] | str, *, parent: str | None = None,
            object_id: str | None = None, created_at: int | None = None) -> str:
        text = obj if isinstance(obj, str) else dump(obj)
        data = json.loads(text) if object_id is None or created_at is None else {}
        oid = object_id if object_id is not None else str(data["id"])
        created = created_at if created_at is not None else int(data.get("created_at") or 0)
        with self._tx() as conn:
            conn.execute(
                """
                INSERT INTO objects (kind, id, parent, created_at, body) VALUES (%s, %s, %s, %s, %s)
                ON CONFLICT (kind, id, parent) DO UPDATE SET body = EXCLUDED.body
                """,
                (str(kind), oid, parent or "", created, text),
            )
        return text

    def put_many(self, kind: Kind, objs: Sequence[tuple[str, str]], *, parent: str,
                 created_at: int) -> None:
        with self._tx() as conn:
            # Identity values are handed out per row, not per transaction: without this lock two
            # replicas appending to one conversation would interleave their items. The lock (in
            # the two-key space, apart from the migration lock) ends with the transaction.
            conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                         (_APPEND_LOCK_CLASS, f"{kind}/{parent}"))
            with conn.cursor() as cur:
                cur.executemany(
                    """
                    INSERT INTO objects (kind, id, parent, created_at, body) VALUES (%s, %s, %s, %s, %s)
                    ON CONFLICT (kind, id, parent) DO UPDATE SET body = EXCLUDED.body
                    """,
                    [(str(kind), oid, parent, created_at, text) for oid, text in objs],
                )

    def replace_if(self, kind: Kind, object_id: str, expected: str, obj: dict[str, Any] | str, *,
                   parent: str | None = None) -> str | None:
        text = obj if isinstance(obj, str) else dump(obj)
        with self._tx() as conn:
            # Under READ COMMITTED an UPDATE that waited for a concurrent writer's row lock
            # re-checks its WHERE on the new row: of two racing writers one matches.
            updated = conn.execute(
                "UPDATE objects SET body = %s WHERE kind = %s AND id = %s AND parent = %s AND body = %s",
                (text, str(kind), object_id, parent or "", expected)).rowcount
        return text if updated > 0 else None

    def get_text(self, kind: Kind, object_id: str, *, parent: str | None = None) -> str | None:
        with self._tx() as conn:
            row = conn.execute("SELECT body FROM objects WHERE kind = %s AND id = %s AND parent = %s",
                               (str(kind), object_id, parent or "")).fetchone()
        return None if row is None else str(row[0])

    def get(self, kind: Kind, object_id: str, *, parent: str | None = None) -> dict[str, Any] | None:
        text = self.get_text(kind, object_id, parent=parent)
        return None if text is None else json.loads(text)

    def list(self, kind: Kind, *, parent: str | None = None) -> builtins.list[dict[str, Any]]:
        with self._tx() as conn:
            rows = conn.execute("SELECT body FROM objects WHERE kind = %s AND parent = %s ORDER BY seq",
                                (str(kind), parent or "")).fetchall()
        return [json.loads(r[0]) for r in rows]

    def delete(self, kind: Kind, object_id: str, *, parent: str | None = None) -> bool:
        with self._tx() as conn:
            deleted = conn.execute("DELETE FROM objects WHERE kind = %s AND id = %s AND parent = %s",
                                   (str(kind), object_id, parent or "")).rowcount > 0
            for child_kind in CASCADES.get(kind, ()):
                conn.execute("DELETE FROM objects WHERE kind = %s AND parent = %s",
                             (str(child_kind), object_id))
            if kind == Kind.VECTOR_STORE:
                conn.execute("DELETE FROM chunks WHERE vector_store_id = %s", (object_id,))
            elif kind == Kind.VECTOR_STORE_FILE:
                conn.execute("DELETE FROM chunks WHERE vector_store_id = %s AND file_id = %s",
                             (parent or "", object_id))
        return deleted

    def replace_chunks(self, vector_store_id: str, file_id: str,
                       chunks: Sequence[tuple[str, bytes]]) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM chunks WHERE vector_store_id = %s AND file_id = %s",
                         (vector_store_id, file_id))
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO chunks (vector_store_id, file_id, position, text, vector) "
                    "VALUES (%s, %s, %s, %s, %s)",
                    [(vector_store_id, file_id, i, text, vec) for i, (text, vec) in enumerate(chunks)],
                )

    def chunks(self, vector_store_id: str, file_id: str | None = None) -> builtins.list[Chunk]:
        query = ("SELECT vector_store_id, file_id, position, text, vector FROM chunks "
                 "WHERE vector_store_id = %s")
        args: tuple[str, ...] = (vector_store_id,)
        if file_id is not None:
            query += " AND file_id = %s"
            args += (file_id,)
        with self._tx() as conn:
            rows = conn.execute((query + " ORDER BY file_id, position").encode(), args).fetchall()
        return [Chunk(r[0], r[1], int(r[2]), r[3], bytes(r[4])) for r in rows]

    def delete_chunks(self, vector_store_id: str, file_id: str | None = None) -> None:
        with self._tx() as conn:
            if file_id is None:
                conn.execute("DELETE FROM chunks WHERE vector_store_id = %s", (vector_store_id,))
            else:
                conn.execute("DELETE FROM chunks WHERE vector_store_id = %s AND file_id = %s",
                             (vector_store_id, file_id))


def _redacted(url: str) -> str:
    """The URL without its password (logs never carry credentials)."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<unparsable URL>"
    info.pop("password", None)
    return " ".join(f"{k}={v}" for k, v in info.items())
