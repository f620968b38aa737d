"""The stores: migrations, WAL, byte-identical round trips across reopen.

Tests taking `open_backend` run against SQLite and PostgreSQL (`conftest.py`); the others pin
SQLite's own mechanics (its migration runner, WAL)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from reference.store import ResponseStore, SQLiteStore, open_store
from reference.store.migrations import LATEST_VERSION, MIGRATIONS, current_version, migrate
from tests.reference.store.conftest import OpenStore


def _body(rid: str, created_at: int = 1, **extra: object) -> str:
    # Deliberately unusual spacing and key order: the store must not re-serialise.
    return (f'{{"id": "{rid}",  "object":"response", "created_at": {created_at}, '
            f'"extra": {json.dumps(extra)}, "text":"h\\u00e9"}}')


def test_store_satisfies_the_protocol(open_backend: OpenStore) -> None:
    store = open_backend()
    assert isinstance(store, ResponseStore)
    assert store.schema_version == LATEST_VERSION  # type: ignore[attr-defined]


def test_empty_database_is_migrated_to_latest(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    store = SQLiteStore(path)
    assert store.schema_version == LATEST_VERSION == len(MIGRATIONS)
    store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT version FROM schema_version").fetchall() == [(LATEST_VERSION,)]
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"responses", "input_items", "schema_version"} <= tables
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert "responses_created_at" in indexes


def test_reopen_is_idempotent_and_keeps_data(open_backend: OpenStore) -> None:
    store = open_backend()
    store.save_response("resp_1", _body("resp_1"), created_at=1, status="completed",
                        input_items=[("msg_1", '{"id":"msg_1"}')])
    store.close()
    for _ in range(2):
        store = open_backend()
        assert store.schema_version == LATEST_VERSION  # type: ignore[attr-defined]
        assert store.get_response("resp_1") is not None
        store.close()


def test_upgrade_from_an_older_version_applies_only_newer_migrations(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    conn = sqlite3.connect(path)
    assert migrate(conn, MIGRATIONS[:1]) == 1
    conn.execute("INSERT INTO responses (id, created_at, status, body) "
                 "VALUES ('resp_old', 5, 'completed', '{}')")
    conn.commit()
    conn.close()
    store = SQLiteStore(path)
    assert store.schema_version == LATEST_VERSION
    assert store.get_response("resp_old") is not None
    store.close()


def test_failed_migration_rolls_back_and_keeps_version(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "db.sqlite")
    broken = (*MIGRATIONS, ("CREATE TABLE t (x INTEGER)", "THIS IS NOT SQL"))
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, broken)
    assert current_version(conn) == LATEST_VERSION
    assert conn.execute("SELECT name FROM sqlite_master WHERE name='t'").fetchone() is None


def test_newer_database_is_refused(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "db.sqlite")
    migrate(conn)
    conn.execute("UPDATE schema_version SET version = 999")
    conn.commit()
    with pytest.raises(RuntimeError, match="newer"):
        migrate(conn)


def test_wal_is_on_for_files(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite")
    assert store.journal_mode == "wal"
    store.close()
    # WAL is persistent in the file header: a fresh connection sees it too.
    conn = sqlite3.connect(tmp_path / "db.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_round_trip_is_byte_identical_across_reopen(open_backend: OpenStore) -> None:
    body = _body("resp_a", nested={"b": [1, 2.50, None], "e": "\u00e9\u2028 \U0001f600"})
    items = [("msg_1", '{"id":"msg_1", "type":"message", "t":"hé 😀"}'), ("fc_1", '{ "id": "fc_1" }')]
    store = open_backend()
    store.save_response("resp_a", body, created_at=1, status="completed", input_items=items)
    store.close()
    store = open_backend()
    stored = store.get_response("resp_a")
    assert stored is not None
    assert stored.body == body
    assert stored.input_items == tuple(text for _, text in items)
    assert store.get_input_items("resp_a") == [text for _, text in items]
    store.close()


def test_update_keeps_items_and_list_position(open_backend: OpenStore) -> None:
    store = open_backend()
    store.save_response("resp_1", _body("resp_1"), created_at=1, status="queued",
                        input_items=[("msg_1", '{"id":"msg_1"}')])
    store.save_response("resp_2", _body("resp_2"), created_at=1, status="completed",
                        previous_response_id="resp_1")
    store.save_response("resp_1", '{"id":"resp_1","status":"completed"}', created_at=1, status="completed")
    assert store.get_input_items("resp_1") == ['{"id":"msg_1"}']
    listed = store.list_responses()
    assert [json.loads(b)["id"] for b in listed] == ["resp_1", "resp_2"]
    assert listed[0] == '{"id":"resp_1","status":"completed"}'
    stored2 = store.get_response("resp_2")
    assert stored2 is not None and stored2.previous_response_id == "resp_1"


def test_list_orders_by_creation_time(open_backend: OpenStore) -> None:
    store = open_backend()
    store.save_response("resp_late", _body("resp_late", 20), created_at=20, status="completed")
    store.save_response("resp_early", _body("resp_early", 10), created_at=10, status="completed")
    assert [json.loads(b)["id"] for b in store.list_responses()] == ["resp_early", "resp_late"]


def test_delete_removes_response_and_items(open_backend: OpenStore) -> None:
    store = open_backend()
    store.save_response("resp_1", _body("resp_1"), created_at=1, status="completed",
                        input_items=[("msg_1", "{}")])
    assert store.delete_response("resp_1") is True
    assert store.get_response("resp_1") is None
    assert store.get_input_items("resp_1") is None
    assert store.delete_response("resp_1") is False
    # The items went too: a response saved again under the same id starts without them.
    store.save_response("resp_1", "{}", created_at=2, status="completed")
    assert store.get_input_items("resp_1") == []


def test_open_store_accepts_paths_urls_and_memory(tmp_path: Path) -> None:
    s1 = open_store(tmp_path / "a.sqlite")
    s2 = open_store(f"sqlite://{tmp_path / 'b.sqlite'}")
    s3 = open_store(":memory:")
    for s in (s1, s2, s3):
        s.save_response("resp_x", "{}", created_at=0, status="completed")
        assert s.get_response("resp_x") is not None
        s.close()
    assert (tmp_path / "b.sqlite").exists()
    with pytest.raises(ValueError, match="postgresql://"):
        open_store("mysql://localhost/db")


def test_ids_with_status(open_backend: OpenStore) -> None:
    store = open_backend()
    store.save_response("resp_q", "{}", created_at=1, status="queued")
    store.save_response("resp_p", "{}", created_at=2, status="in_progress")
    store.save_response("resp_c", "{}", created_at=3, status="completed")
    assert store.ids_with_status("queued", "in_progress") == ["resp_q", "resp_p"]
    assert store.ids_with_status() == []
