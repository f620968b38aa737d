"""The schemas the harness ships are the published ones, prose stripped, source recorded."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conformance.schema import PACKAGED, SchemaValidator, packaged_document
from scripts.extract_schemas import DOCUMENTS, main, strip

ROOT = Path(__file__).resolve().parents[2]
SPECS = Path(os.environ.get("SPECS_DIR", ROOT.parent / "shared" / "specs"))


def test_prose_goes_but_a_property_named_description_stays() -> None:
    schema = {
        "type": "object",
        "description": "prose",
        "example": {"x": 1},
        "properties": {"description": {"type": "string", "description": "prose"}, "name": {"type": "string"}},
        "required": ["name"],
    }
    assert strip(schema) == {
        "type": "object",
        "properties": {"description": {"type": "string"}, "name": {"type": "string"}},
        "required": ["name"],
    }


@pytest.mark.skipif(not (SPECS / DOCUMENTS["openai"]).exists(), reason="no published specs beside the repo")
def test_the_shipped_schemas_are_extracted_from_the_published_documents() -> None:
    # `--check` re-extracts and compares byte for byte
    assert main(["--specs", str(SPECS), "--check"]) == 0


def test_every_profile_ships_its_schemas_with_their_source() -> None:
    assert set(PACKAGED) == set(DOCUMENTS)
    for profile in PACKAGED:
        doc = json.loads(packaged_document(profile).read_text(encoding="utf-8"))
        source = doc["x-extracted-from"]
        assert source["file"] == DOCUMENTS[profile]
        assert len(source["sha256"]) == 64 and "commit" in source["source"]
        schemas = doc["components"]["schemas"]
        assert schemas and not [name for name, schema in schemas.items() if "description" in schema]
        validator = SchemaValidator.for_profile(profile)
        assert validator.event_schemas["response.output_text.delta"]


def test_a_response_without_required_fields_is_caught_by_the_shipped_schemas() -> None:
    validator = SchemaValidator.for_profile("openai")
    assert validator.errors({"object": "response"}, "Response")
    # the document's own examples show usage null in response.created: accepted; a string is not
    assert not [e for e in validator.errors({"usage": None}, "Response") if e.startswith("usage")]
    assert [e for e in validator.errors({"usage": "none"}, "Response") if e.startswith("usage")]
    event_schema = validator.event_schemas["response.output_text.delta"]
    delta = {"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0,
             "content_index": 0, "delta": "x", "sequence_number": 3}
    assert validator.errors(delta, event_schema)  # logprobs is required
    assert not validator.errors({**delta, "logprobs": []}, event_schema)
