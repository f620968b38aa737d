"""Test helpers from tests/reference/core/test_core_schemas.py, shared with other test modules."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest

SPECS = Path("/work/shared/specs")


@functools.cache
def _components(profile: str) -> dict[str, Any]:
    if profile == "openresponses":
        path = SPECS / "openresponses-openapi.json"
        if not path.exists():
            pytest.skip("Open Responses spec not available")
        return dict(json.loads(path.read_text())["components"])
    yaml = pytest.importorskip("yaml")
    path = SPECS / "openai-openapi.yaml"
    if not path.exists():
        pytest.skip("OpenAI spec not available")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return dict(yaml.load(path.read_text(), Loader=loader)["components"])


@functools.cache
def _validator(profile: str, schema_name: str) -> Any:
    jsonschema = pytest.importorskip("jsonschema")
    components = _components(profile)
    return jsonschema.Draft202012Validator(
        {"$ref": f"#/components/schemas/{schema_name}", "components": components}
    )


def schema_errors(response: dict[str, Any], profile: str) -> list[str]:
    name = "ResponseResource" if profile == "openresponses" else "Response"
    validator = _validator(profile, name)
    return sorted(f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(response))
