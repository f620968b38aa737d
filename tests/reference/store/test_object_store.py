"""`ObjectStore` semantics every backend shares (SQLite and PostgreSQL): exact text, insertion
order, parents, cascades, chunks."""

from __future__ import annotations

import pytest

from reference.store import CASCADES, Kind
from tests.reference.store.conftest import OpenStore


def test_put_returns_and_keeps_the_exact_text(open_backend: OpenStore) -> None:
    objects = open_backend().objects
    text = '{ "id":"conv_1",  "created_at": 7, "metadata": {"k": "v\u00e9"}, "n": 1.50 }'
    assert objects.put(Kind.CONVERSATION, text) == text
    assert objects.get_text(Kind.CONVERSATION, "conv_1") == text
    assert objects.get(Kind.CONVERSATION, "conv_1") == {"id": "conv_1", "created_at": 7,
                                                         "metadata": {"k": "v\u00e9"}, "n": 1.5}
    # A dict is serialised compactly, non-ASCII kept.
    compact = objects.put(Kind.PROMPT, {"id": "pmpt_1", "t": "\u00e9"}, created_at=1)
    assert compact == '{"id":"pmpt_1","t":"\u00e9"}'


def test_replace_keeps_the_place_in_the_order(open_backend: OpenStore) -> None:
    objects = open_backend().objects
    for n in range(3):
        objects.put(Kind.FILE, {"id": f"file_{n}", "created_at": 5, "v": 0})
    objects.put(Kind.FILE, {"id": "file_0", "created_at": 5, "v": 1})
    listed = [(o["id"], o["v"]) for o in objects.list(Kind.FILE)]
    assert listed == [("file_0", 1), ("file_1", 0), ("file_2", 0)]


def test_parent_scopes_ids_and_lists(open_backend: OpenStore) -> None:
    objects = open_backend().objects
    objects.put(Kind.CONVERSATION_ITEM, {"id": "msg_1"}, parent="conv_a", created_at=1)
    objects.put(Kind.CONVERSATION_ITEM, {"id": "msg_1", "x": 2}, parent="conv_b", created_at=1)
    assert objects.get(Kind.CONVERSATION_ITEM, "msg_1", parent="conv_a") == {"id": "msg_1"}
    assert objects.get(Kind.CONVERSATION_ITEM, "msg_1") is None
    assert objects.list(Kind.CONVERSATION_ITEM, parent="conv_b") == [{"id": "msg_1", "x": 2}]
    assert objects.list(Kind.CONVERSATION_ITEM) == []


@pytest.mark.parametrize("parent_kind", sorted(CASCADES))
def test_delete_cascades_to_children_only_of_that_parent(open_backend: OpenStore, parent_kind: Kind) -> None:
    objects = open_backend().objects
    for pid in ("p_1", "p_2"):
        objects.put(parent_kind, {"id": pid}, created_at=1)
        for child in CASCADES[parent_kind]:
            objects.put(child, {"id": "c_1"}, parent=pid, created_at=1)
    assert objects.delete(parent_kind, "p_1") is True
    assert objects.delete(parent_kind, "p_1") is False
    for child in CASCADES[parent_kind]:
        assert objects.list(child, parent="p_1") == []
        assert objects.list(child, parent="p_2") == [{"id": "c_1"}]


def test_chunks_replace_atomically_and_go_with_their_store_and_file(open_backend: OpenStore) -> None:
    objects = open_backend().objects
    objects.put(Kind.VECTOR_STORE, {"id": "vs_1"}, created_at=1)
    objects.put(Kind.VECTOR_STORE_FILE, {"id": "file_1"}, parent="vs_1", created_at=1)
    objects.replace_chunks("vs_1", "file_1", [("a", b"\x00\x01"), ("b", b"\xff")])
    objects.replace_chunks("vs_1", "file_2", [("c", b"\x02")])
    objects.replace_chunks("vs_1", "file_1", [("a2", b"\x03\x00")])
    assert [(c.file_id, c.position, c.text, c.vector) for c in objects.chunks("vs_1")] == [
        ("file_1", 0, "a2", b"\x03\x00"), ("file_2", 0, "c", b"\x02")]
    assert [c.text for c in objects.chunks("vs_1", "file_2")] == ["c"]
    objects.delete(Kind.VECTOR_STORE_FILE, "file_1", parent="vs_1")
    assert [c.file_id for c in objects.chunks("vs_1")] == ["file_2"]
    objects.delete_chunks("vs_1", "file_2")
    assert objects.chunks("vs_1") == []
    objects.replace_chunks("vs_1", "file_3", [("d", b"\x04")])
    objects.delete(Kind.VECTOR_STORE, "vs_1")
    assert objects.chunks("vs_1") == []
