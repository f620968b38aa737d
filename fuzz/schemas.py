"""The two OpenAPI documents the fuzzer feeds to schemathesis, prepared as plain dicts.

- `reference_schema(doc)`: the reference gateway's own `/openapi.json` (quart-schema), plus the
  OpenAPI links quart-schema cannot express (create -> get / input_items / cancel / delete,
  delete -> get), so the stateful phase chains real response ids.
- `openai_schema(doc, implemented)`: the official OpenAI document filtered to the operations
  the target implements, with the pitfalls listed in ``shared/specs/README.md`` repaired.

Everything here is pure dict manipulation (no I/O) so the unit tests can check each repair.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})

# The OpenAI document's `servers: [{url: https://api.openai.com/v1}]`: its path keys have no
# `/v1` prefix, the reference's do.
OPENAI_PREFIX = "/v1"

_PARAM = re.compile(r"\{[^}/]+\}")


def template_key(path: str) -> str:
    """A path template with parameter names erased: `/v1/responses/{id}` == `/v1/responses/{x}`."""
    return _PARAM.sub("{}", path.rstrip("/") or "/")


def implemented_operations(doc: Mapping[str, Any]) -> set[tuple[str, str]]:
    """`(template_key(path), method)` for every operation a (reference) document declares."""
    ops: set[tuple[str, str]] = set()
    for path, item in doc.get("paths", {}).items():
        for method in item:
            if method in HTTP_METHODS:
                ops.add((template_key(path), method))
    return ops


# --- the reference's own document ---------------------------------------------------------------

_RESPONSES = "/v1/responses"
_ONE = "/v1/responses/{response_id}"


def _link(operation_id: str, description: str) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "parameters": {"response_id": "$response.body#/id"},
        "description": description,
    }


def _operation_id(doc: Mapping[str, Any], path: str, method: str) -> str | None:
    op = doc.get("paths", {}).get(path, {}).get(method)
    return op.get("operationId") if isinstance(op, dict) else None


def add_response_links(doc: dict[str, Any]) -> dict[str, Any]:
    """Add OpenAPI links for the responses resource (returns a new dict).

    quart-schema has no way to declare links. Links use `operationId` (which quart-schema
    generates) so they survive a route's path parameter being renamed. Only links whose both
    ends exist in `doc` are added.
    """
    # A JSON round trip rather than deepcopy: deepcopy keeps objects shared between operations
    # shared, and a link added to one response would appear on the others.
    doc = json.loads(json.dumps(doc, default=str))
    create = doc.get("paths", {}).get(_RESPONSES, {}).get("post")
    targets = {
        "GetResponse": (_ONE, "get", "the created response can be retrieved by its id"),
        "ListInputItems": (f"{_ONE}/input_items", "get", "its input items can be listed"),
        "CancelResponse": (f"{_ONE}/cancel", "post", "it can be cancelled (400 unless background)"),
        "DeleteResponse": (_ONE, "delete", "it can be deleted"),
    }
    if isinstance(create, dict):
        links: dict[str, Any] = {}
        for name, (path, method, why) in targets.items():
            op_id = _operation_id(doc, path, method)
            if op_id:
                links[name] = _link(op_id, why)
        ok = create.setdefault("responses", {}).setdefault("200", {"description": "created"})
        ok.setdefault("links", {}).update(links)
    delete = doc.get("paths", {}).get(_ONE, {}).get("delete")
    get_id = _operation_id(doc, _ONE, "get")
    if isinstance(delete, dict) and get_id:
        ok = delete.setdefault("responses", {}).setdefault("200", {"description": "deleted"})
        # After a delete the same id must be gone (404): schemathesis' use_after_free check.
        ok.setdefault("links", {})["GetDeletedResponse"] = _link(get_id, "a deleted response is gone")
    return doc


def reference_schema(doc: Mapping[str, Any]) -> dict[str, Any]:
    return add_response_links(dict(doc))


# --- the official OpenAI document ---------------------------------------------------------------


def load_document(path: str | Path) -> dict[str, Any]:
    """Load a YAML/JSON OpenAPI document (the C loader when available: the OpenAI one is 3 MB)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, encoding="utf-8") as fh:
        data = yaml.load(fh, Loader=loader)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not an OpenAPI document")
    return data


def _walk(node: Any, fn: Any) -> Any:
    """Rebuild a JSON-like tree top-down: `fn` rewrites a dict, then its children are walked."""
    if isinstance(node, dict):
        node = fn(node)
        return {k: _walk(v, fn) for k, v in node.items()}
    if isinstance(node, list):
        return [_walk(v, fn) for v in node]
    return node


def _is_bare_nullable(node: Any) -> bool:
    return (
        isinstance(node, dict) and node.get("nullable") is True and set(node) <= {"nullable", "description"}
    )


def _fix_schema_node(node: dict[str, Any]) -> dict[str, Any]:
    # `allOf: [{$ref: X}, {nullable: true}]` means "X or null" in OpenAPI 3.0; read literally
    # in 3.1 the second member is a no-op and null is rejected.
    all_of = node.get("allOf")
    if isinstance(all_of, list) and any(_is_bare_nullable(m) for m in all_of):
        rest = [m for m in all_of if not _is_bare_nullable(m)]
        node = {k: v for k, v in node.items() if k != "allOf"}
        if rest:
            node["allOf"] = rest
        return {"anyOf": [node, {"type": "null"}]}
    # `nullable` is an OpenAPI 3.0 keyword; the document says `openapi: 3.1.0`, whose JSON
    # Schema dialect ignores it, so without this repair `null` values would be rejected.
    # Only a boolean `nullable` is the keyword (a property *named* nullable has a dict value).
    if node.get("nullable") is True:
        node = dict(node)
        del node["nullable"]
        typ = node.get("type")
        if isinstance(typ, str):
            node["type"] = [typ, "null"]
            if isinstance(node.get("enum"), list) and None not in node["enum"]:
                node["enum"] = [*node["enum"], None]
        elif isinstance(typ, list):
            if "null" not in typ:
                node["type"] = [*typ, "null"]
        else:
            node = {"anyOf": [node, {"type": "null"}]}
    elif node.get("nullable") is False:
        node = {k: v for k, v in node.items() if k != "nullable"}
    # `format: unixtime` (integer seconds) is an OpenAI extension. Generators and validators
    # treat unknown formats as annotations anyway; dropping it makes that explicit and keeps
    # hypothesis-jsonschema from warning on every integer.
    if node.get("format") == "unixtime":
        node = {k: v for k, v in node.items() if k != "format"}
    # `x-stainless-const: true` marks a one-value enum as a constant for the SDK generator;
    # the enum already says so. Extensions are ignored by JSON Schema; strip them to be sure.
    if any(isinstance(k, str) and k.startswith("x-stainless") for k in node):
        node = {k: v for k, v in node.items() if not (isinstance(k, str) and k.startswith("x-stainless"))}
    return node


def _refs(node: Any) -> Iterable[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref
        for v in node.values():
            yield from _refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from _refs(v)


def _prune_components(doc: dict[str, Any]) -> dict[str, Any]:
    """Keep only the components reachable from the kept paths (3 MB -> a few hundred KB)."""
    components = doc.get("components", {})
    keep: dict[str, set[str]] = {}
    todo = list(_refs(doc.get("paths", {})))
    seen: set[str] = set()
    while todo:
        ref = todo.pop()
        if ref in seen or not ref.startswith("#/components/"):
            continue
        seen.add(ref)
        parts = ref[len("#/components/"):].split("/")
        if len(parts) < 2:
            continue
        kind, name = parts[0], parts[1].replace("~1", "/").replace("~0", "~")
        target = components.get(kind, {}).get(name)
        if target is None:
            continue
        keep.setdefault(kind, set()).add(name)
        todo.extend(_refs(target))
    doc["components"] = {
        kind: {name: components[kind][name] for name in sorted(names)} for kind, names in keep.items()
    }
    # Security schemes are referenced by name, not $ref; the reference needs no auth.
    doc.pop("security", None)
    return doc


_ERROR = "#/components/schemas/Error"
_ERROR_RESPONSE = "#/components/schemas/ErrorResponse"


def _wrap_error_responses(paths: dict[str, Any]) -> None:
    """Point declared error responses at `ErrorResponse` (`{"error": Error}`), in place.

    The few declared 404s (DELETE /responses/{id}, POST /responses/{id}/cancel) reference the
    bare `Error` object (`{code, message, param, type}`), but the API, like every OpenAI error,
    wraps it: `{"error": {...}}` (the document's own `ErrorResponse` schema).
    """
    for item in paths.values():
        for method, op in item.items():
            if method not in HTTP_METHODS or not isinstance(op, dict):
                continue
            for status, resp in op.get("responses", {}).items():
                if not str(status).startswith(("4", "5")) or not isinstance(resp, dict):
                    continue
                for media in resp.get("content", {}).values():
                    if isinstance(media, dict) and media.get("schema") == {"$ref": _ERROR}:
                        media["schema"] = {"$ref": _ERROR_RESPONSE}


def openai_schema(doc: Mapping[str, Any], implemented: set[tuple[str, str]]) -> dict[str, Any]:
    """The OpenAI document reduced to the operations in `implemented`, pitfalls repaired.

    `implemented` comes from the target's own /openapi.json (`implemented_operations`), so
    files, vector stores and conversations are fuzzed exactly when the reference serves them.
    The server URL is dropped (schemathesis gets the target's base URL) and the `/v1` prefix
    of `servers[0].url` is moved into the path keys.
    """
    paths: dict[str, Any] = {}
    for path, item in doc.get("paths", {}).items():
        # Six path keys carry `?beta=true`: not a valid OpenAPI path (a query string in a
        # path key), and duplicates of the plain operations.
        if "?" in path:
            continue
        full = OPENAI_PREFIX + path
        kept = {
            method: op
            for method, op in item.items()
            if method in HTTP_METHODS and (template_key(full), method) in implemented
        }
        if not kept:
            continue
        shared = {k: v for k, v in item.items() if k not in HTTP_METHODS}
        paths[full] = copy.deepcopy({**shared, **kept})
    _wrap_error_responses(paths)
    out: dict[str, Any] = {
        "openapi": doc.get("openapi", "3.1.0"),
        "info": doc.get("info", {"title": "OpenAI", "version": "unknown"}),
        "paths": paths,
        "components": doc.get("components", {}),
    }
    out = _prune_components(out)
    fixed: dict[str, Any] = _walk(out, _fix_schema_node)
    return fixed
