"""Parsing a client's JSON request body, with every way it can be unusable answered as a 400.

`json.loads` accepts more than the gateway can use: nesting deep enough to exhaust the
interpreter's recursion limit (then, or later in validation, copying or serialising, a
`RecursionError`), strings holding lone UTF-16 surrogates (`"\\ud800"`, valid JSON syntax but no
Unicode text: encoding it as UTF-8 for the store or the backend fails), the non-JSON constants
`NaN` / `Infinity` and numbers too large for a float (`1e999` parses to infinity, which cannot be
written back as JSON). Each is a client mistake and gets an OpenAI error naming the problem.

RFC 8259 section 9: "An implementation may set limits on the maximum depth of nesting."
RFC 8259 section 8.2: a string containing an unpaired surrogate has "unpredictable" behaviour
in receiving software; this one refuses it.
"""

from __future__ import annotations

import json
import math
from typing import Any

from reference.core import errors

# Deeper than any real request needs (OpenAI documents structured-output schemas of at most 10
# nesting levels), far below the interpreter's recursion limit.
MAX_DEPTH = 128


def _bad_constant(name: str) -> Any:
    raise errors.invalid_request(
        f"The request body is not valid JSON: {name} is not a JSON number.", None, "invalid_json")


def _parse_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise errors.invalid_request(
            f"The request body holds a number out of range ({text[:40]}).", None, "invalid_json")
    return value


def _path(parts: tuple[str | int, ...]) -> str | None:
    if not parts:
        return None
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _lone_surrogate(text: str) -> str | None:
    for ch in text:
        if "\ud800" <= ch <= "\udfff":
            return f"\\u{ord(ch):04x}"
    return None


def check_value(value: Any) -> None:
    """Raise a 400 when a parsed JSON value nests deeper than MAX_DEPTH or holds a string (or
    object key) with a lone surrogate. Iterative: safe on any depth."""
    stack: list[tuple[Any, int, tuple[str | int, ...]]] = [(value, 1, ())]
    while stack:
        node, depth, path = stack.pop()
        if isinstance(node, str):
            bad = _lone_surrogate(node)
            if bad is not None:
                where = _path(path)
                raise errors.invalid_request(
                    f"The request body holds a string with a lone surrogate ({bad}) at "
                    f"{where or 'the top level'}: strings must be valid Unicode text.",
                    where, "invalid_unicode")
            continue
        if not isinstance(node, dict | list):
            continue
        if depth > MAX_DEPTH:
            raise errors.invalid_request(
                f"The request body is nested more than {MAX_DEPTH} levels deep.", None, "json_too_deep")
        if isinstance(node, dict):
            for key, child in node.items():
                bad = _lone_surrogate(key)
                if bad is not None:
                    raise errors.invalid_request(
                        f"The request body holds an object key with a lone surrogate ({bad}): "
                        "keys must be valid Unicode text.", _path(path), "invalid_unicode")
                stack.append((child, depth + 1, (*path, key)))
        else:
            stack.extend((child, depth + 1, (*path, i)) for i, child in enumerate(node))


def loads(body: bytes | str) -> Any:
    """Parse a client's JSON body; every unusable body is an `APIError` 400 saying why."""
    try:
        value = json.loads(body, parse_constant=_bad_constant, parse_float=_parse_float)
    except RecursionError:
        raise errors.invalid_request(
            f"The request body is nested more than {MAX_DEPTH} levels deep.", None, "json_too_deep") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.invalid_request(
            f"We could not parse the JSON body of your request. The body must be valid JSON ({exc}).",
            None, "invalid_json") from None
    check_value(value)
    return value
