"""Attribute filters (reference.retrieval.filters): every operator, nesting, and errors."""

from __future__ import annotations

from typing import Any

import pytest

from reference.retrieval import InvalidFilter, matches, parse_filter

DOC: dict[str, str | int | float | bool] = {
    "author": "ada",
    "year": 2021,
    "score": 4.5,
    "draft": False,
    "region": "eu",
}


def cmp(op: str, key: str, value: Any) -> dict[str, Any]:
    return {"type": op, "key": key, "value": value}


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        (cmp("eq", "author", "ada"), True),
        (cmp("eq", "author", "bob"), False),
        (cmp("eq", "year", 2021.0), True),  # numbers compare by value, int or float
        (cmp("eq", "draft", False), True),
        (cmp("eq", "draft", 0), False),  # a boolean never equals a number
        (cmp("eq", "year", "2021"), False),  # nor a number a string
        (cmp("ne", "author", "bob"), True),
        (cmp("ne", "author", "ada"), False),
        (cmp("ne", "draft", True), True),
        (cmp("gt", "year", 2020), True),
        (cmp("gt", "year", 2021), False),
        (cmp("gte", "year", 2021), True),
        (cmp("gte", "score", 4.6), False),
        (cmp("lt", "score", 5), True),
        (cmp("lt", "score", 4.5), False),
        (cmp("lte", "score", 4.5), True),
        (cmp("lte", "year", 2020), False),
        (cmp("gt", "author", "aa"), True),  # strings order lexicographically
        (cmp("lt", "author", "ab"), False),
        (cmp("gt", "year", "2000"), False),  # ordering across kinds is false, not an error
        (cmp("in", "region", ["us", "eu"]), True),
        (cmp("in", "region", ["us", "apac"]), False),
        (cmp("in", "year", [2019, 2021]), True),
        (cmp("in", "year", ["2021"]), False),
        (cmp("nin", "region", ["us", "apac"]), True),
        (cmp("nin", "region", ["eu"]), False),
        (cmp("in", "region", []), False),
        (cmp("nin", "region", []), True),
    ],
)
def test_comparison_operators(filter_: dict[str, Any], expected: bool) -> None:
    assert matches(filter_, DOC) is expected
    assert parse_filter(filter_).matches(DOC) is expected


@pytest.mark.parametrize("op", ["eq", "ne", "gt", "gte", "lt", "lte", "in", "nin"])
def test_missing_attribute_fails_every_comparison(op: str) -> None:
    value: Any = ["x"] if op in ("in", "nin") else "x"
    assert matches(cmp(op, "missing", value), DOC) is False


def test_compound_and_or_and_nesting() -> None:
    recent_eu = {"type": "and", "filters": [cmp("gte", "year", 2020), cmp("eq", "region", "eu")]}
    assert matches(recent_eu, DOC)
    assert not matches({"type": "and", "filters": [cmp("gte", "year", 2022), cmp("eq", "region", "eu")]}, DOC)
    assert matches({"type": "or", "filters": [cmp("gte", "year", 2022), cmp("eq", "region", "eu")]}, DOC)
    assert not matches({"type": "or", "filters": [cmp("gte", "year", 2022), cmp("eq", "region", "us")]}, DOC)
    nested = {
        "type": "or",
        "filters": [
            {"type": "and", "filters": [cmp("eq", "author", "bob"), cmp("eq", "draft", False)]},
            {
                "type": "and",
                "filters": [
                    recent_eu,
                    {"type": "or", "filters": [cmp("lt", "score", 3), cmp("eq", "draft", False)]},
                ],
            },
        ],
    }
    assert matches(nested, DOC)
    assert not matches(nested, {**DOC, "draft": True})


def test_empty_compounds_are_identities() -> None:
    assert matches({"type": "and", "filters": []}, DOC) is True
    assert matches({"type": "or", "filters": []}, DOC) is False


def test_no_filter_matches_everything() -> None:
    assert matches(None, {}) is True


@pytest.mark.parametrize(
    ("filter_", "param", "fragment"),
    [
        (cmp("like", "author", "a"), "filters.type", "'like'"),
        ({"key": "author", "value": "a"}, "filters.type", "type"),
        ({"type": "eq", "value": "a"}, "filters.key", "key"),
        ({"type": "eq", "key": "author"}, "filters.value", "value"),
        ({"type": "eq", "key": "", "value": "a"}, "filters.key", "key"),
        ({"type": "eq", "key": 3, "value": "a"}, "filters.key", "key"),
        ({**cmp("eq", "author", "a"), "extra": 1}, "filters.extra", "extra"),
        (cmp("eq", "author", None), "filters.value", "value"),
        (cmp("eq", "author", {"a": 1}), "filters.value", "value"),
        (cmp("eq", "author", ["a"]), "filters.value", "value"),
        (cmp("gt", "draft", True), "filters.value", "booleans"),
        (cmp("in", "region", "eu"), "filters.value", "array"),
        (cmp("in", "region", ["eu", True]), "filters.value[1]", "value[1]"),
        (cmp("nin", "region", ["eu", None]), "filters.value[1]", "value[1]"),
        ({"type": "and"}, "filters.filters", "filters"),
        ({"type": "and", "filters": cmp("eq", "a", 1)}, "filters.filters", "array"),
        (
            {"type": "or", "filters": [cmp("eq", "a", 1), cmp("between", "a", 1)]},
            "filters.filters[1].type",
            "between",
        ),
        (
            {
                "type": "and",
                "filters": [{"type": "or", "filters": [cmp("eq", "a", 1), {"type": "eq", "key": "a"}]}],
            },
            "filters.filters[0].filters[1].value",
            "value",
        ),
        ({"type": "and", "filters": [], "key": "x"}, "filters.key", "key"),
        ("author = ada", "filters", "object"),
    ],
)
def test_invalid_filters_name_the_offending_key(filter_: Any, param: str, fragment: str) -> None:
    with pytest.raises(InvalidFilter) as info:
        parse_filter(filter_)
    assert info.value.param == param
    assert fragment in info.value.message
    body = info.value.as_api_error().body()["error"]
    assert body["param"] == param
    assert body["type"] == "invalid_request_error"


def test_param_prefix_locates_the_filter_in_a_responses_request() -> None:
    with pytest.raises(InvalidFilter) as info:
        parse_filter(cmp("bad", "k", 1), "tools[1].filters")
    assert info.value.param == "tools[1].filters.type"
