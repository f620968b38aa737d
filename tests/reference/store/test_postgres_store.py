"""What only the PostgreSQL store has: its migrations on a shared server, replicas opening one
database together, and riding out a server restart (503 while down, no gateway restart)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from reference.store import StoreUnavailable, open_store
from reference.store.migrations import LATEST_VERSION
from tests.support import postgres

psycopg = pytest.importorskip("psycopg")
PostgresStore = pytest.importorskip("reference.store.postgres").PostgresStore


def test_empty_database_is_migrated_once_by_replicas_opening_it_together() -> None:
    url = postgres.fresh_database()
    with ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(lambda _n: open_store(url), range(4)))
    try:
        assert {s.schema_version for s in stores} == {LATEST_VERSION}  # type: ignore[attr-defined]
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT version FROM schema_version").fetchall() == [(LATEST_VERSION,)]
            tables = {r[0] for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
            assert {"responses", "input_items", "objects", "chunks", "schema_version"} <= tables
            # JSON is text, never jsonb: jsonb would re-serialise what GET must return verbatim.
            types = set(conn.execute("SELECT DISTINCT data_type FROM information_schema.columns "
                                     "WHERE column_name = 'body'").fetchall())
            assert types == {("text",)}
        # What one replica writes, another reads.
        stores[0].save_response("resp_1", '{"id": "resp_1"}', created_at=1, status="completed")
        stored = stores[3].get_response("resp_1")
        assert stored is not None and stored.body == '{"id": "resp_1"}'
    finally:
        for s in stores:
            s.close()


def test_newer_database_is_refused() -> None:
    url = postgres.fresh_database()
    open_store(url).close()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE schema_version SET version = 999")
    with pytest.raises(RuntimeError, match="newer"):
        open_store(url)


def test_unreachable_server_is_a_clear_error() -> None:
    # Port 1 on loopback: nothing listens there.
    with pytest.raises(StoreUnavailable) as caught:
        PostgresStore("postgresql://postgres:secret@127.0.0.1:1/none?connect_timeout=1", timeout=0.5)
    assert caught.value.status == 503
    assert "secret" not in str(caught.value) + caught.value.detail


def test_store_answers_503_while_the_server_is_down_and_reconnects_after() -> None:
    server = postgres.server()
    url = postgres.fresh_database()
    store = PostgresStore(url, timeout=0.5)
    try:
        store.save_response("resp_1", '{"a":1}', created_at=1, status="completed")
        server.stop_server()
        try:
            with pytest.raises(StoreUnavailable) as caught:
                store.get_response("resp_1")
            assert (caught.value.status, caught.value.type) == (503, "server_error")
        finally:
            server.start_server()
        stored = store.get_response("resp_1")
        assert stored is not None and stored.body == '{"a":1}'
    finally:
        store.close()


async def test_gateway_answers_503_openai_errors_while_postgresql_is_down() -> None:
    from reference.backend import Backend
    from reference.gateway import build_gateway

    server = postgres.server()
    gateway = build_gateway(PostgresStore(postgres.fresh_database(), timeout=0.5),
                            Backend("http://backend.test"))
    client = gateway.http_app().test_client()
    try:
        created = await client.post("/v1/conversations", json={"metadata": {"k": "v"}})
        conv = await created.get_json()
        server.stop_server()
        try:
            down = await client.get(f"/v1/conversations/{conv['id']}")
            assert down.status_code == 503
            error = (await down.get_json())["error"]
            assert (error["type"], error["code"]) == ("server_error", "store_unavailable")
        finally:
            server.start_server()
        back = await client.get(f"/v1/conversations/{conv['id']}")
        assert back.status_code == 200
        assert await back.get_data() == await created.get_data()
    finally:
        await gateway.aclose()
