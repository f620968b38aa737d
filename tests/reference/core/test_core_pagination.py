"""OpenAI list pagination (reference.core.pagination.paginate)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference.core.errors import APIError
from reference.core.pagination import paginate

ITEMS = [{"id": f"msg_{i}"} for i in range(5)]  # ascending creation order


def _ids(page: dict[str, Any]) -> list[str]:
    return [item["id"] for item in page["data"]]


def test_default_is_desc_limit_20() -> None:
    page = paginate(ITEMS)
    assert page == {
        "object": "list",
        "data": list(reversed(ITEMS)),
        "first_id": "msg_4",
        "last_id": "msg_0",
        "has_more": False,
    }


def test_asc_with_limit_and_after() -> None:
    page = paginate(ITEMS, limit=2, order="asc")
    assert _ids(page) == ["msg_0", "msg_1"] and page["has_more"] is True
    assert page["first_id"] == "msg_0" and page["last_id"] == "msg_1"
    page = paginate(ITEMS, limit=2, order="asc", after="msg_1")
    assert _ids(page) == ["msg_2", "msg_3"] and page["has_more"] is True
    page = paginate(ITEMS, limit=2, order="asc", after="msg_3")
    assert _ids(page) == ["msg_4"] and page["has_more"] is False


def test_desc_after_walks_towards_older_items() -> None:
    page = paginate(ITEMS, limit=2, after="msg_3")
    assert _ids(page) == ["msg_2", "msg_1"] and page["has_more"] is True


def test_before_returns_the_items_just_before_the_cursor() -> None:
    page = paginate(ITEMS, limit=2, order="asc", before="msg_4")
    assert _ids(page) == ["msg_2", "msg_3"] and page["has_more"] is True
    page = paginate(ITEMS, limit=10, order="asc", before="msg_2")
    assert _ids(page) == ["msg_0", "msg_1"] and page["has_more"] is False


def test_after_and_before_together() -> None:
    assert _ids(paginate(ITEMS, order="asc", after="msg_0", before="msg_4")) == ["msg_1", "msg_2", "msg_3"]
    assert _ids(paginate(ITEMS, order="asc", after="msg_3", before="msg_1")) == []


def test_empty_list() -> None:
    assert paginate([]) == {
        "object": "list",
        "data": [],
        "first_id": None,
        "last_id": None,
        "has_more": False,
    }


def test_limit_from_a_query_string_and_none_defaults() -> None:
    assert _ids(paginate(ITEMS, limit="1", order=None)) == ["msg_4"]
    assert len(paginate([{"id": str(i)} for i in range(30)], limit=None)["data"]) == 20


@pytest.mark.parametrize("limit", [0, 101, -1, "abc", True])
def test_bad_limit(limit: Any) -> None:
    with pytest.raises(APIError) as info:
        paginate(ITEMS, limit=limit)
    assert info.value.status == 400 and info.value.param == "limit"


def test_bad_order() -> None:
    with pytest.raises(APIError) as info:
        paginate(ITEMS, order="sideways")
    assert info.value.status == 400 and info.value.param == "order"


@pytest.mark.parametrize("cursor", ["after", "before"])
def test_unknown_cursor_is_a_400_naming_it(cursor: str) -> None:
    with pytest.raises(APIError) as info:
        paginate(ITEMS, **{cursor: "msg_404"})
    assert info.value.status == 400 and info.value.param == cursor


@settings(max_examples=60)
@given(st.integers(0, 30), st.integers(1, 100), st.sampled_from(["asc", "desc"]))
def test_walking_after_yields_every_item_once(count: int, limit: int, order: str) -> None:
    items = [{"id": f"item_{i}"} for i in range(count)]
    seen: list[str] = []
    after = None
    while True:
        page = paginate(items, limit=limit, after=after, order=order)
        assert len(page["data"]) <= limit
        seen += _ids(page)
        if not page["has_more"]:
            break
        assert page["data"]
        after = page["last_id"]
    expected = [item["id"] for item in items]
    assert seen == (expected if order == "asc" else expected[::-1])


@settings(max_examples=60)
@given(st.integers(1, 30), st.integers(1, 100), st.sampled_from(["asc", "desc"]))
def test_walking_before_yields_every_item_once(count: int, limit: int, order: str) -> None:
    items = [{"id": f"item_{i}"} for i in range(count)]
    ordered = items if order == "asc" else items[::-1]
    # Start from the end of the list: the last item, then page backwards with `before`.
    seen = [ordered[-1]["id"]]
    before = ordered[-1]["id"]
    while True:
        page = paginate(items, limit=limit, before=before, order=order)
        assert len(page["data"]) <= limit
        seen = _ids(page) + seen
        if not page["has_more"]:
            break
        before = page["first_id"]
    assert seen == [item["id"] for item in ordered]
