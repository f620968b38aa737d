"""Validate objects against a named schema of an OpenAPI document.

By default the document is the one the harness ships for the profile (``conformance/schemas/``:
the published schemas, extracted by ``scripts/extract_schemas.py``, which records their source
and commit); ``--openapi PATH`` takes any other document, e.g. a newer release.

Published documents need a little help before a JSON-Schema validator can use them (see the
pitfalls listed with the specs):

* ``nullable: true`` is an OpenAPI 3.0 keyword that 3.1 validators ignore, so the schema is
  rewritten to ``anyOf: [<schema>, {type: null}]``;
* ``format: unixtime`` is custom: it is checked as "an integer number of seconds";
* ``x-stainless-const`` and other ``x-`` keys are annotations, ignored by the validator;
* path keys containing ``?beta=true`` are not valid OpenAPI paths and are dropped;
* a property the document's own examples set to ``null`` although its schema does not allow it
  (``NULL_IN_OWN_EXAMPLES``) accepts ``null``: a gateway that answers like the document's
  examples made a legitimate choice.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

_URI = "urn:conformance:openapi"


def _fix_nullable(node: Any) -> Any:
    if isinstance(node, dict):
        fixed = {k: _fix_nullable(v) for k, v in node.items()}
        if fixed.pop("nullable", False) is True:
            annotations = {k: fixed.pop(k) for k in ("description", "title", "default") if k in fixed}
            return {"anyOf": [fixed, {"type": "null"}], **annotations}
        return fixed
    if isinstance(node, list):
        return [_fix_nullable(v) for v in node]
    return node


#: schema -> properties shown as ``null`` by the document's own examples. OpenAI's
#: ResponseCreatedEvent and ResponseInProgressEvent examples carry a Response with
#: ``"usage": null``, while Response.usage is a bare ``$ref: ResponseUsage``.
NULL_IN_OWN_EXAMPLES: dict[str, tuple[str, ...]] = {"Response": ("usage",)}


def _allow_null_as_examples_do(schemas: dict[str, Any]) -> dict[str, Any]:
    schemas = dict(schemas)
    for name, props in NULL_IN_OWN_EXAMPLES.items():
        if name not in schemas:
            continue
        schema = dict(schemas[name])
        parts = [schema] + [p for p in schema.get("allOf", []) if isinstance(p, dict)]
        for part in parts:
            properties = part.get("properties")
            if not isinstance(properties, dict):
                continue
            for prop in props:
                if prop in properties:
                    properties[prop] = {"anyOf": [properties[prop], {"type": "null"}]}
        schemas[name] = schema
    return schemas


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~10x faster on the 3 MB OpenAI spec


@functools.lru_cache(maxsize=4)
def _load_cached(path: str, mtime: float) -> dict[str, Any]:
    text = Path(path).read_text(encoding="utf-8")
    try:
        doc = json.loads(text) if path.endswith(".json") else yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:  # (a JSON error is a ValueError already)
        raise ValueError(f"{path}: not YAML: {exc}") from exc
    if not isinstance(doc, dict) or "components" not in doc:
        raise ValueError(f"{path}: not an OpenAPI document with components")
    doc = dict(doc)  # shallow: the nested parts we change are rebuilt, not mutated
    doc["paths"] = {k: v for k, v in (doc.get("paths") or {}).items() if "?" not in k}
    doc["components"] = _fix_nullable(doc["components"])
    doc["components"]["schemas"] = _allow_null_as_examples_do(doc["components"].get("schemas", {}))
    return doc


#: profile -> the schemas shipped for it (package data, see scripts/extract_schemas.py)
PACKAGED = {"openai": "openai.json", "openresponses": "openresponses.json"}


def packaged_document(profile: str) -> Path:
    """The path of the schemas shipped for ``profile``."""
    return Path(str(resources.files("conformance") / "schemas" / PACKAGED[profile]))


def load_document(path: str | Path) -> dict[str, Any]:
    """The document, prepared for validation (cached per path and modification time)."""
    p = Path(path).resolve()
    return _load_cached(str(p), p.stat().st_mtime)


_FORMATS = jsonschema.FormatChecker()


@_FORMATS.checks("unixtime")
def _is_unixtime(value: object) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


class SchemaValidator:
    @classmethod
    def for_profile(cls, profile: str) -> SchemaValidator:
        """The shipped schemas of the profile's published document."""
        return cls(packaged_document(profile), label=f"the shipped {profile} schemas")

    def __init__(self, path: str | Path, label: str | None = None) -> None:
        self.path = label or str(path)
        self.document = load_document(path)
        resource = Resource.from_contents(self.document, default_specification=DRAFT202012)
        self._registry: Registry = Registry().with_resource(_URI, resource)
        self._cache: dict[str, jsonschema.protocols.Validator] = {}

    @property
    def schema_names(self) -> list[str]:
        return sorted(self.document["components"].get("schemas", {}))

    def _validator(self, name: str) -> jsonschema.protocols.Validator:
        if name not in self._cache:
            if name not in self.document["components"].get("schemas", {}):
                raise KeyError(f"schema {name!r} not in {self.path}")
            schema = {"$ref": f"{_URI}#/components/schemas/{name}"}
            self._cache[name] = jsonschema.Draft202012Validator(
                schema, registry=self._registry, format_checker=_FORMATS
            )
        return self._cache[name]

    def has(self, name: str) -> bool:
        return name in self.document["components"].get("schemas", {})

    @functools.cached_property
    def event_schemas(self) -> dict[str, str]:
        """Stream event ``type`` -> the schema of that event in this document.

        The OpenAI document lists its events in ``ResponseStreamEvent`` (an ``anyOf``); the Open
        Responses document names them ``*StreamingEvent``. An event schema's ``type`` property
        is a one-value ``enum`` or a ``const``.
        """
        schemas = self.document["components"].get("schemas", {})
        union = schemas.get("ResponseStreamEvent", {})
        names = [ref["$ref"].rsplit("/", 1)[-1] for ref in union.get("anyOf", union.get("oneOf", []))
                 if isinstance(ref, dict) and "$ref" in ref]
        names += [n for n in schemas if n.endswith("StreamingEvent") and n not in names]
        out: dict[str, str] = {}
        for name in names:
            prop = (schemas.get(name, {}).get("properties") or {}).get("type") or {}
            values = prop.get("enum") or ([prop["const"]] if "const" in prop else [])
            for value in values:
                out.setdefault(str(value), name)
        return out

    def errors(self, obj: Any, name: str) -> list[str]:
        """Human-readable schema errors (empty when valid); a missing schema name is one error."""
        try:
            validator = self._validator(name)
        except KeyError as exc:
            return [str(exc)]
        out = []
        for err in sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path)):
            where = "/".join(str(p) for p in err.absolute_path) or "(root)"
            out.append(f"{where}: {err.message[:300]}")
        return out
