"""Versioned schema migrations for the SQLite and PostgreSQL stores.

The schema version lives in a one-row `schema_version` table. `MIGRATIONS` is an ordered list:
migration N (1-based) brings a database from version N-1 to N. Opening a database applies the
missing migrations in order, each in its own transaction, so an interrupted upgrade resumes
where it stopped and reopening an up-to-date database changes nothing. Append new migrations;
never edit a released one (databases in the field have already applied it).

`POSTGRES_MIGRATIONS` is the same list, migration for migration, in PostgreSQL's dialect
(`reference.store.postgres.migrate` applies it): a schema change is appended to both.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

# Each migration is a list of statements run in one transaction.
MIGRATIONS: Sequence[Sequence[str]] = (
    # 1: responses and their input items, kept as the exact JSON text that was returned, so a GET
    # after a restart is byte-identical to the original answer.
    (
        """
        CREATE TABLE responses (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            created_at INTEGER NOT NULL,
            status TEXT NOT NULL,
            previous_response_id TEXT,
            body TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE input_items (
            response_id TEXT NOT NULL REFERENCES responses(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            item_id TEXT NOT NULL,
            body TEXT NOT NULL,
            PRIMARY KEY (response_id, position)
        )
        """,
    ),
    # 2: listing responses newest-first by creation time needs an index once the table grows.
    ("CREATE INDEX responses_created_at ON responses(created_at, seq)",),
    # 3: the stateful resources (files, vector stores, conversations, prompts, connectors) share
    # one table of JSON objects, plus the vector-store chunks; see reference.store.objects.
    (
        """
        CREATE TABLE objects (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            id TEXT NOT NULL,
            parent TEXT,
            created_at INTEGER NOT NULL,
            body TEXT NOT NULL,
            UNIQUE (kind, id, parent)
        )
        """,
        "CREATE INDEX objects_kind_parent ON objects(kind, parent, seq)",
        """
        CREATE TABLE chunks (
            vector_store_id TEXT NOT NULL,
            file_id TEXT NOT NULL,
            position INTEGER NOT NULL,
            text TEXT NOT NULL,
            vector BLOB NOT NULL,
            PRIMARY KEY (vector_store_id, file_id, position)
        )
        """,
    ),
    # 4: job leases. A background response or an ingestion job is run by the one gateway process
    # holding its lease (owner + expiry, renewed by a heartbeat); a lease that expired belongs
    # to a process that died, and any live one may take the job over (reference.store.leases).
    (
        """
        CREATE TABLE job_leases (
            job TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            expires_at REAL NOT NULL
        )
        """,
        "CREATE INDEX job_leases_expires_at ON job_leases(expires_at)",
    ),
)

# The same migrations for PostgreSQL: JSON stays in `text` (never `jsonb`, which re-serialises);
# `seq` is an identity column (insertion order); '' stands for "no parent" as in SQLite.
POSTGRES_MIGRATIONS: Sequence[Sequence[str]] = (
    (
        """
        CREATE TABLE responses (
            seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            created_at BIGINT NOT NULL,
            status TEXT NOT NULL,
            previous_response_id TEXT,
            body TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE input_items (
            response_id TEXT NOT NULL REFERENCES responses(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            item_id TEXT NOT NULL,
            body TEXT NOT NULL,
            PRIMARY KEY (response_id, position)
        )
        """,
    ),
    ("CREATE INDEX responses_created_at ON responses(created_at, seq)",),
    (
        """
        CREATE TABLE objects (
            seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            kind TEXT NOT NULL,
            id TEXT NOT NULL,
            parent TEXT NOT NULL DEFAULT '',
            created_at BIGINT NOT NULL,
            body TEXT NOT NULL,
            UNIQUE (kind, id, parent)
        )
        """,
        "CREATE INDEX objects_kind_parent ON objects(kind, parent, seq)",
        """
        CREATE TABLE chunks (
            vector_store_id TEXT NOT NULL,
            file_id TEXT NOT NULL,
            position INTEGER NOT NULL,
            text TEXT NOT NULL,
            vector BYTEA NOT NULL,
            PRIMARY KEY (vector_store_id, file_id, position)
        )
        """,
    ),
    (
        """
        CREATE TABLE job_leases (
            job TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            expires_at DOUBLE PRECISION NOT NULL
        )
        """,
        "CREATE INDEX job_leases_expires_at ON job_leases(expires_at)",
    ),
)

LATEST_VERSION = len(MIGRATIONS)
assert len(POSTGRES_MIGRATIONS) == LATEST_VERSION, "every migration has a PostgreSQL twin"


def current_version(conn: sqlite3.Connection) -> int:
    """The schema version of `conn`'s database (0 for an empty database)."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = conn.execute("SELECT version FROM schema_version").fetchone()
    if row is None:
        conn.execute("INSERT INTO schema_version (version) VALUES (0)")
        conn.commit()
        return 0
    return int(row[0])


def migrate(conn: sqlite3.Connection, migrations: Sequence[Sequence[str]] = MIGRATIONS) -> int:
    """Apply every migration newer than the database's version; return the resulting version.

    Raises `RuntimeError` when the database is newer than this code (a downgrade would silently
    misread data).
    """
    version = current_version(conn)
    if version > len(migrations):
        raise RuntimeError(
            f"database schema version {version} is newer than this gateway supports ({len(migrations)})"
        )
    for number in range(version + 1, len(migrations) + 1):
        # An explicit BEGIN: the sqlite3 module only opens transactions implicitly before DML,
        # so DDL would otherwise autocommit. A migration applies entirely, with its version
        # bump, or not at all.
        conn.commit()
        conn.execute("BEGIN")
        try:
            for statement in migrations[number - 1]:
                conn.execute(statement)
            conn.execute("UPDATE schema_version SET version = ?", (number,))
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
    return len(migrations)
