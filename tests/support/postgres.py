"""The throwaway PostgreSQL server the store tests share (`devstack.postgres`).

One server per test session, started on first use; each test gets a fresh database. Where no
PostgreSQL binaries are installed the tests that need it skip with the reason, unless
`POSTGRES_REQUIRED=1` (CI), which turns that skip into a failure.
"""

from __future__ import annotations

import itertools
import os

import pytest

from devstack.postgres import PostgresUnavailable, ThrowawayPostgres

_server: ThrowawayPostgres | None = None
_names = itertools.count(1)


def server() -> ThrowawayPostgres:
    """The session's server (started on the first call); skips or fails when unavailable."""
    global _server
    if _server is None:
        try:
            import psycopg  # noqa: F401  (the store's driver: without it there is nothing to test)

            _server = ThrowawayPostgres.start()
        except (PostgresUnavailable, ImportError) as exc:
            if os.environ.get("POSTGRES_REQUIRED") == "1":
                pytest.fail(f"POSTGRES_REQUIRED=1 but {exc}")
            pytest.skip(f"PostgreSQL tests skipped: {exc} (install postgresql, or set POSTGRES_BIN)")
    return _server


def fresh_database() -> str:
    """A new empty database on the session's server; its URL."""
    pg = server()
    name = f"test_{os.getpid()}_{next(_names)}"
    import psycopg  # the tests that reach here need it anyway; faster than a psql subprocess

    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    return pg.database_url(name)


def stop() -> None:
    global _server
    if _server is not None:
        _server.stop()
        _server = None
