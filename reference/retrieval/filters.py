"""Attribute filters for vector store search and the file_search tool.

Shapes (openai-openapi.yaml):
- ComparisonFilter `{"type", "key", "value"}`, all required, no other keys; `type` is one of
  "`eq`, `ne`, `gt`, `gte`, `lt`, `lte`, `in`, `nin`"; `value` is "string, number, or
  boolean", or an array of strings/numbers.
- CompoundFilter `{"type": "and" | "or", "filters": [...]}`: "Array of filters to combine.
  Items can be `ComparisonFilter` or `CompoundFilter`" (nesting to any depth).

Attributes are VectorStoreFileAttributes: `dict[str, str | number | bool]`.

Semantics the spec leaves open, chosen here and pinned by tests:
- Values are compared only within one kind: strings with strings, numbers with numbers
  (int and float alike), booleans with booleans. `True` never equals `1` (Python would say it
  does). A comparison across kinds is simply false.
- `gt`/`gte`/`lt`/`lte` order numbers numerically and strings lexicographically (so ISO dates
  compare correctly); a boolean value with an ordering operator is rejected as invalid.
- `in`/`nin` need an array value and the other operators a scalar one; anything else is
  rejected naming the `value` parameter.
- A missing attribute fails every comparison, `ne` and `nin` included (SQL's NULL rule): a
  filter `{"type": "ne", "key": "author", "value": "x"}` selects files that have an author
  other than x. Write `or` with another condition to include files without the key.
- `and` over no filters is true and `or` over none is false (the identities of each).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from reference.retrieval.errors import InvalidAttributes, InvalidFilter

Scalar: TypeAlias = str | int | float | bool
Attributes: TypeAlias = Mapping[str, Scalar]

COMPARISON_OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "nin")
COMPOUND_OPERATORS = ("and", "or")
_ORDERING: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def _kind(value: object) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return None


def _same(a: object, b: object) -> bool:
    return _kind(a) == _kind(b) and a == b


@dataclass(frozen=True)
class Comparison:
    op: str
    key: str
    value: Scalar | tuple[str | int | float, ...]

    def matches(self, attributes: Attributes) -> bool:
        if self.key not in attributes:
            return False
        actual = attributes[self.key]
        if self.op == "eq":
            return _same(actual, self.value)
        if self.op == "ne":
            return not _same(actual, self.value)
        if self.op in ("in", "nin"):
            assert isinstance(self.value, tuple)
            found = any(_same(actual, v) for v in self.value)
            return found if self.op == "in" else not found
        kind = _kind(actual)
        if kind not in ("number", "string") or kind != _kind(self.value):
            return False
        return _ORDERING[self.op](actual, self.value)


@dataclass(frozen=True)
class Compound:
    op: str
    filters: tuple[Filter, ...]

    def matches(self, attributes: Attributes) -> bool:
        if self.op == "and":
            return all(f.matches(attributes) for f in self.filters)
        return any(f.matches(attributes) for f in self.filters)


Filter: TypeAlias = Comparison | Compound


def parse_filter(obj: object, param: str = "filters") -> Filter:
    """Validate a ComparisonFilter / CompoundFilter and return its evaluator.

    Raises `InvalidFilter` whose `param` is the dotted path of the offending key, e.g.
    `filters.filters[2].value`.
    """
    if not isinstance(obj, Mapping):
        raise InvalidFilter(f"Invalid '{param}': expected an object, got {type(obj).__name__}.", param)
    if "type" not in obj:
        raise InvalidFilter(f"Missing required parameter '{param}.type'.", f"{param}.type")
    op = obj["type"]
    if op in COMPOUND_OPERATORS:
        _no_extra_keys(obj, ("type", "filters"), param)
        items = obj.get("filters")
        if "filters" not in obj:
            raise InvalidFilter(f"Missing required parameter '{param}.filters'.", f"{param}.filters")
        if not isinstance(items, Sequence) or isinstance(items, str | bytes):
            raise InvalidFilter(
                f"Invalid '{param}.filters': expected an array of filters.", f"{param}.filters"
            )
        parsed = tuple(parse_filter(item, f"{param}.filters[{i}]") for i, item in enumerate(items))
        return Compound(op, parsed)
    if op not in COMPARISON_OPERATORS:
        allowed = ", ".join(repr(o) for o in COMPARISON_OPERATORS + COMPOUND_OPERATORS)
        raise InvalidFilter(
            f"Invalid value for '{param}.type': {op!r}; expected one of {allowed}.", f"{param}.type"
        )
    _no_extra_keys(obj, ("type", "key", "value"), param)
    for required in ("key", "value"):
        if required not in obj:
            raise InvalidFilter(f"Missing required parameter '{param}.{required}'.", f"{param}.{required}")
    key = obj["key"]
    if not isinstance(key, str) or not key:
        raise InvalidFilter(f"Invalid '{param}.key': expected a non-empty string.", f"{param}.key")
    value = obj["value"]
    value_param = f"{param}.value"
    if op in ("in", "nin"):
        if not isinstance(value, Sequence) or isinstance(value, str | bytes):
            raise InvalidFilter(
                f"Invalid '{value_param}': operator '{op}' needs an array of strings or numbers.",
                value_param,
            )
        for i, item in enumerate(value):
            if _kind(item) not in ("string", "number"):
                raise InvalidFilter(
                    f"Invalid '{value_param}[{i}]': expected a string or a number, got {item!r}.",
                    f"{value_param}[{i}]",
                )
        return Comparison(op, key, tuple(value))
    kind = _kind(value)
    if kind is None:
        raise InvalidFilter(
            f"Invalid '{value_param}': operator '{op}' needs a string, number or boolean, got {value!r}.",
            value_param,
        )
    if op in _ORDERING and kind == "boolean":
        raise InvalidFilter(f"Invalid '{value_param}': operator '{op}' cannot order booleans.", value_param)
    return Comparison(op, key, value)


def _no_extra_keys(obj: Mapping[str, Any], allowed: tuple[str, ...], param: str) -> None:
    # additionalProperties: false on both filter schemas.
    for key in obj:
        if key not in allowed:
            raise InvalidFilter(f"Unknown parameter '{param}.{key}'.", f"{param}.{key}")


def matches(filter_obj: Mapping[str, Any] | Filter | None, attributes: Attributes) -> bool:
    """True when `attributes` pass the filter (no filter passes everything)."""
    if filter_obj is None:
        return True
    parsed = filter_obj if isinstance(filter_obj, Comparison | Compound) else parse_filter(filter_obj)
    return parsed.matches(attributes)


MAX_ATTRIBUTES = 16
MAX_ATTRIBUTE_KEY_LENGTH = 64
MAX_ATTRIBUTE_STRING_LENGTH = 512


def validate_attributes(obj: object, param: str = "attributes") -> dict[str, Scalar]:
    """Validate VectorStoreFileAttributes (null means none) and return a plain dict.

    Spec: "Set of 16 key-value pairs ... Keys are strings with a maximum length of 64
    characters. Values are strings with a maximum length of 512 characters, booleans, or
    numbers."
    """
    if obj is None:
        return {}
    if not isinstance(obj, Mapping):
        raise InvalidAttributes(f"Invalid '{param}': expected an object.", param)
    if len(obj) > MAX_ATTRIBUTES:
        raise InvalidAttributes(
            f"Invalid '{param}': at most {MAX_ATTRIBUTES} attributes are allowed, got {len(obj)}.", param
        )
    result: dict[str, Scalar] = {}
    for key, value in obj.items():
        if not isinstance(key, str) or len(key) > MAX_ATTRIBUTE_KEY_LENGTH:
            raise InvalidAttributes(
                f"Invalid '{param}': keys are strings of at most {MAX_ATTRIBUTE_KEY_LENGTH} characters.",
                param,
            )
        kind = _kind(value)
        if kind is None:
            raise InvalidAttributes(
                f"Invalid '{param}.{key}': values are strings, numbers or booleans, got {value!r}.",
                f"{param}.{key}",
            )
        if kind == "string" and len(value) > MAX_ATTRIBUTE_STRING_LENGTH:  # type: ignore[arg-type]
            raise InvalidAttributes(
                f"Invalid '{param}.{key}': strings are at most {MAX_ATTRIBUTE_STRING_LENGTH} characters.",
                f"{param}.{key}",
            )
        result[key] = value  # type: ignore[assignment]
    return result
