"""JSON-schema validators for the response object of both profiles, built from the specs in
/work/shared/specs (read at test time, never copied into the repository)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest

SPECS = Path("/work/shared/specs")


@functools.cache
def _validator(profile: str) -> Any:
    jsonschema = pytest.importorskip("jsonschema")
    if profile == "openresponses":
        path = SPECS / "openresponses-openapi.json"
        if not path.exists():
            pytest.skip("Open Responses spec not available")
        components = json.loads(path.read_text())["components"]
        name = "ResponseResource"
    else:
        yaml = pytest.importorskip("yaml")
        path = SPECS / "openai-openapi.yaml"
        if not path.exists():
            pytest.skip("OpenAI spec not available")
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        components = yaml.load(path.read_text(), Loader=loader)["components"]
        name = "Response"
    return jsonschema.Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": components})


def schema_errors(response: dict[str, Any], profile: str) -> list[str]:
    validator = _validator(profile)
    return sorted(f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(response))
