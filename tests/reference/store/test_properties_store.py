"""Store round trip: any stored object reads back identical after a restart (SQLite) or a
reconnect (PostgreSQL).

"Restart" is a new `SQLiteStore` on the same file after the first was closed, which is what a
gateway restart does. Identity is byte identity of the JSON text, the promise GET makes.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reference.store import Kind, SQLiteStore, open_store
from tests.support import postgres

_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20) | st.floats(
    allow_nan=False, allow_infinity=False
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(
    bodies=st.lists(st.dictionaries(st.text(max_size=8), _json, max_size=6), min_size=1, max_size=5),
    items=st.lists(_json, max_size=4),
    pretty=st.booleans(),
)
def test_any_response_reads_back_byte_identical_after_restart(
    bodies: list[dict[str, Any]], items: list[Any], pretty: bool
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "db.sqlite"
        store = SQLiteStore(path)
        texts = {}
        for n, body in enumerate(bodies):
            rid = f"resp_{n}"
            text = json.dumps({"id": rid, **body}, indent=2 if pretty else None, ensure_ascii=pretty)
            item_texts = [(f"msg_{n}_{i}", json.dumps(item)) for i, item in enumerate(items)]
            store.save_response(rid, text, created_at=n, status="completed", input_items=item_texts)
            store.objects.put(Kind.CONVERSATION, text, object_id=rid, created_at=n)
            texts[rid] = (text, [t for _, t in item_texts])
        store.close()

        reopened = SQLiteStore(path)
        for rid, (text, item_texts) in texts.items():
            stored = reopened.get_response(rid)
            assert stored is not None
            assert stored.body == text
            assert list(stored.input_items) == item_texts
            assert reopened.objects.get_text(Kind.CONVERSATION, rid) == text
        assert reopened.list_responses() == [t for t, _ in texts.values()]
        reopened.close()


_postgres_url: list[str] = []


@settings(max_examples=20)
@given(
    bodies=st.lists(st.dictionaries(st.text(max_size=8), _json, max_size=6), min_size=1, max_size=5),
    items=st.lists(_json, max_size=4),
    pretty=st.booleans(),
)
def test_any_response_reads_back_byte_identical_from_postgresql_after_reconnect(
    bodies: list[dict[str, Any]], items: list[Any], pretty: bool
) -> None:
    # One database for every example (creating one each time is slow); emptied first.
    if not _postgres_url:
        _postgres_url.append(postgres.fresh_database())
    store = open_store(_postgres_url[0])
    with store._tx() as conn:  # type: ignore[attr-defined]
        conn.execute("TRUNCATE responses, input_items, objects, chunks")
    texts = {}
    for n, body in enumerate(bodies):
        rid = f"resp_{n}"
        text = json.dumps({"id": rid, **body}, indent=2 if pretty else None, ensure_ascii=pretty)
        item_texts = [(f"msg_{n}_{i}", json.dumps(item)) for i, item in enumerate(items)]
        store.save_response(rid, text, created_at=n, status="completed", input_items=item_texts)
        store.objects.put(Kind.CONVERSATION, text, object_id=rid, created_at=n)
        texts[rid] = (text, [t for _, t in item_texts])
    store.close()

    reopened = open_store(_postgres_url[0])
    for rid, (text, item_texts) in texts.items():
        stored = reopened.get_response(rid)
        assert stored is not None
        assert stored.body == text
        assert list(stored.input_items) == item_texts
        assert reopened.objects.get_text(Kind.CONVERSATION, rid) == text
    assert reopened.list_responses() == [t for t, _ in texts.values()]
    reopened.close()
