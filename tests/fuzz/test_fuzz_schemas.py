"""Unit tests for the fuzzer's schema preparation, allow-list and known-finding matching."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from schemathesis.core.result import Ok

from fuzz import allowlist, known, schemas
from fuzz.run import CHECKS, Failure, Outcome, parse_events, st_command, summarize

ROOT = Path(__file__).resolve().parents[2]
OPENAI_SPEC = Path(os.environ.get("SPECS_DIR", ROOT.parent / "shared" / "specs")) / "openai-openapi.yaml"


def _reference_doc() -> dict[str, Any]:
    ok = {"200": {"description": "", "content": {"application/json": {"schema": {"type": "object"}}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/v1/responses": {"post": {"operationId": "post_create_response", "responses": ok}},
            "/v1/responses/{response_id}": {
                "get": {"operationId": "get_get_response", "responses": ok},
                "delete": {"operationId": "delete_delete_response", "responses": ok},
            },
            "/v1/responses/{response_id}/input_items": {
                "get": {"operationId": "get_list_input_items", "responses": ok},
            },
        },
    }


# --- reference schema: links ---------------------------------------------------------------


def test_links_chain_create_to_get_input_items_and_delete() -> None:
    doc = _reference_doc()
    out = schemas.reference_schema(doc)
    links = out["paths"]["/v1/responses"]["post"]["responses"]["200"]["links"]
    assert links["GetResponse"] == {
        "operationId": "get_get_response",
        "parameters": {"response_id": "$response.body#/id"},
        "description": "the created response can be retrieved by its id",
    }
    assert links["DeleteResponse"]["operationId"] == "delete_delete_response"
    assert links["ListInputItems"]["operationId"] == "get_list_input_items"
    # No cancel route in this document: no dangling link to it.
    assert "CancelResponse" not in links
    after_delete = out["paths"]["/v1/responses/{response_id}"]["delete"]["responses"]["200"]["links"]
    assert after_delete["GetDeletedResponse"]["operationId"] == "get_get_response"
    # The input is not modified.
    assert "links" not in doc["paths"]["/v1/responses"]["post"]["responses"]["200"]


def test_links_load_in_schemathesis_as_stateful_transitions() -> None:
    import schemathesis

    schema = schemathesis.openapi.from_dict(schemas.reference_schema(_reference_doc()))
    ops = {r.ok().label for r in schema.get_all_operations() if isinstance(r, Ok)}
    assert "POST /v1/responses" in ops
    create = schema["/v1/responses"]["POST"]
    links = {name for _, response in create.responses.items() for name, _ in response.iter_links()}
    assert links == {"GetResponse", "ListInputItems", "DeleteResponse"}
    delete = schema["/v1/responses/{response_id}"]["DELETE"]
    assert {name for _, r in delete.responses.items() for name, _ in r.iter_links()} == {"GetDeletedResponse"}


# --- the OpenAI document: filtering and repairs ------------------------------------------------


def _openai_doc() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "OpenAI", "version": "2.3.0"},
        "servers": [{"url": "https://api.openai.com/v1"}],
        "security": [{"ApiKeyAuth": []}],
        "paths": {
            "/responses": {"post": {"responses": {"200": {"description": "", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Response"}}}}}}},
            "/responses?beta=true": {"post": {"responses": {"200": {"description": ""}}}},
            "/responses/{response_id}": {
                "parameters": [{"in": "path", "name": "response_id", "required": True,
                                "schema": {"type": "string"}}],
                "get": {"responses": {"200": {"description": ""}}},
                "delete": {"responses": {"404": {"description": "", "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}},
            },
            "/responses/compact": {"post": {"responses": {"200": {"description": ""}}}},
            "/chat/completions": {"post": {"responses": {"200": {"description": ""}}}},
        },
        "components": {
            "schemas": {
                "Response": {
                    "type": "object",
                    "x-stainless-const": True,
                    "properties": {
                        "created_at": {"type": "integer", "format": "unixtime"},
                        "status": {"type": "string", "enum": ["completed"], "nullable": True},
                        "error": {"$ref": "#/components/schemas/Error", "nullable": True},
                        "expires": {"allOf": [{"$ref": "#/components/schemas/Expiry"}, {"nullable": True}]},
                        "nullable": {"type": "object", "properties": {}},
                    },
                },
                "Error": {"type": "object", "properties": {"message": {"type": "string"}}},
                "ErrorResponse": {"type": "object", "properties": {
                    "error": {"$ref": "#/components/schemas/Error"}}},
                "Expiry": {"type": "object"},
                "Unused": {"type": "string"},
            },
            "securitySchemes": {"ApiKeyAuth": {"type": "http", "scheme": "bearer"}},
        },
    }


IMPLEMENTED = {
    ("/v1/responses", "post"), ("/v1/responses/{}", "get"), ("/v1/responses/{}", "delete"),
    ("/v1/responses", "get"),
}


def test_openai_filtered_to_implemented_operations_and_beta_keys_dropped() -> None:
    out = schemas.openai_schema(_openai_doc(), IMPLEMENTED)
    assert set(out["paths"]) == {"/v1/responses", "/v1/responses/{response_id}"}
    assert set(out["paths"]["/v1/responses/{response_id}"]) == {"parameters", "get", "delete"}
    assert "security" not in out and "servers" not in out


def test_openai_nullable_unixtime_and_stainless_repaired() -> None:
    props = schemas.openai_schema(_openai_doc(), IMPLEMENTED)["components"]["schemas"]["Response"]
    assert "x-stainless-const" not in props
    p = props["properties"]
    assert p["created_at"] == {"type": "integer"}
    assert p["status"] == {"type": ["string", "null"], "enum": ["completed", None]}
    assert p["error"] == {"anyOf": [{"$ref": "#/components/schemas/Error"}, {"type": "null"}]}
    assert p["expires"] == {"anyOf": [{"allOf": [{"$ref": "#/components/schemas/Expiry"}]}, {"type": "null"}]}
    # A *property* named `nullable` is not the keyword.
    assert p["nullable"] == {"type": "object", "properties": {}}


def test_openai_error_responses_wrapped_and_unused_components_pruned() -> None:
    out = schemas.openai_schema(_openai_doc(), IMPLEMENTED)
    not_found = out["paths"]["/v1/responses/{response_id}"]["delete"]["responses"]["404"]
    schema = not_found["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/ErrorResponse"}
    assert set(out["components"]["schemas"]) == {"Response", "Error", "ErrorResponse", "Expiry"}
    assert "securitySchemes" not in out["components"]


def test_implemented_operations_ignores_parameter_names() -> None:
    doc: dict[str, Any] = {"paths": {"/v1/vector_stores/{vs_id}": {"get": {}, "parameters": []}}}
    assert schemas.implemented_operations(doc) == {("/v1/vector_stores/{}", "get")}
    assert schemas.template_key("/v1/vector_stores/{vector_store_id}") == "/v1/vector_stores/{}"


@pytest.mark.skipif(not OPENAI_SPEC.exists(), reason="the OpenAI document is not beside the repository")
def test_real_openai_document_prepares_and_loads() -> None:
    import schemathesis

    doc = schemas.load_document(OPENAI_SPEC)
    implemented = {
        ("/v1/responses", "post"), ("/v1/responses/{}", "get"), ("/v1/responses/{}", "delete"),
        ("/v1/responses/{}/cancel", "post"), ("/v1/responses/{}/input_items", "get"),
    }
    out = schemas.openai_schema(doc, implemented)
    assert set(out["paths"]) == {
        "/v1/responses", "/v1/responses/{response_id}", "/v1/responses/{response_id}/cancel",
        "/v1/responses/{response_id}/input_items",
    }
    text = json.dumps(out, default=str)
    assert '"nullable"' not in text.replace('"nullable": {', "")
    assert "unixtime" not in text and "x-stainless" not in text
    schema = schemathesis.openapi.from_dict(json.loads(text))
    labels = {r.ok().label for r in schema.get_all_operations() if isinstance(r, Ok)}
    assert "POST /v1/responses" in labels and "DELETE /v1/responses/{response_id}" in labels


# --- allow-list and known findings -------------------------------------------------------------


def test_allowlist_gives_reasons_per_profile() -> None:
    assert allowlist.reason_for("openai", "POST /v1/responses", 400)
    assert allowlist.reason_for("openai", "GET /v1/responses/{response_id}", 404)
    assert allowlist.reason_for("openai", "POST /v1/responses", 404)
    assert allowlist.reason_for("openai", "POST /v1/responses", 418) is None
    # The reference documents its 400s itself; 5xx is never allowed.
    assert allowlist.reason_for("reference", "POST /v1/responses", 400) is None
    assert all(entry.status < 500 and entry.reason for entry in allowlist.ALLOWLIST)
    assert {entry.profile for entry in allowlist.ALLOWLIST} <= set(allowlist.PROFILES)


def test_known_findings_each_name_an_existing_regression_test() -> None:
    source = (ROOT / "tests" / "fuzz" / "test_fuzz_regressions.py").read_text()
    for finding in known.KNOWN_FINDINGS:
        path, _, name = finding.test.partition("::")
        assert path == "tests/fuzz/test_fuzz_regressions.py"
        assert f"def {name}(" in source


# The matching mechanism, exercised with the shapes of findings this fuzzer made (all fixed
# since; fuzz/known.py's list is empty while no finding is open).
SAMPLE_KNOWN = (
    known.Match(
        "reference", "ST108", "DELETE /v1/responses/{response_id}", "DeletedResponse.object",
        test="tests/fuzz/test_fuzz_regressions.py::test_openapi_documents_deleted_response_object",
    ),
    known.Match("reference", "ST103", "*", "no documented response", message=r"Documented:\s*$"),
    known.Match(
        "openai", "ST101", "*", "Envoy reset after an early answer",
        response=r"^502 .*upstream_reset_before_response_started\{connection_termination\}",
        target="envoy",
    ),
)


@pytest.fixture
def sample_known(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(known, "KNOWN_FINDINGS", SAMPLE_KNOWN)


def test_known_and_accepted_matching(sample_known: None) -> None:
    assert known.known("reference", "ST103", "GET /health", "Received: 200\nDocumented: ")
    declared = "Received: 418\nDocumented: 200, 400"
    assert known.known("reference", "ST103", "GET /v1/responses", declared) is None
    msg = (
        'null is not of type "string"\n\n'
        "Schema at /components/schemas/ListFilesResponse/properties/first_id"
    )

    assert known.accepted("openai", "ST108", "GET /v1/files", msg)
    assert known.accepted("reference", "ST108", "GET /v1/files", msg) is None
    reset = ('502 {"error":{"code":"backend_unreachable","message":"The model backend could not be '
             'reached: upstream_reset_before_response_started{connection_termination}"}}')
    assert known.known("openai", "ST101", "GET /v1/files", "", response=reset, target="envoy")
    # The same answer from the direct target, or any other 5xx, is new.
    assert known.known("openai", "ST101", "GET /v1/files", "", response=reset, target="direct") is None
    assert known.known("openai", "ST101", "GET /v1/files", "", response="500 {}", target="envoy") is None
    missing = "Invalid data should have been rejected\nInvalid component: Missing request body"
    assert known.accepted("openai", "ST201", "POST /v1/vector_stores", missing)
    assert known.accepted("openai", "ST201", "POST /v1/responses", missing) is None


# --- the run's plumbing ------------------------------------------------------------------------


def test_st_command_carries_budget_checks_and_reports(tmp_path: Path) -> None:
    cmd = st_command(tmp_path / "s.json", "http://127.0.0.1:1", "openai", tmp_path,
                     max_examples=7, budget=12.4, seed=3, workers=1)
    joined = " ".join(cmd)
    assert "--max-examples 7" in joined and "--max-time 12" in joined and "--seed 3" in joined
    assert f"--checks {','.join(CHECKS['openai'])}" in joined
    assert "status_code_allowlisted" in CHECKS["openai"] and "status_code_conformance" not in joined
    assert {"not_a_server_error", "response_schema_conformance", "use_after_free"} <= set(CHECKS["reference"])


def _event(status: str, check: dict[str, Any], code: int) -> dict[str, Any]:
    return {"ScenarioFinished": {"status": status, "recorder": {
        "label": "DELETE /v1/responses/{response_id}",
        "cases": {"c1": {"value": {"method": "DELETE", "path": "/v1/responses/{response_id}"}}},
        "checks": {"c1": [check]},
        "interactions": {"c1": {
            "request": {"method": "DELETE", "uri": "http://h/v1/responses/resp_1"},
            "response": {"status_code": code, "content": {"$base64": "eyJvYmplY3QiOiAieCJ9"}},
        }},
    }}}


def test_parse_events_and_summary(tmp_path: Path, sample_known: None) -> None:
    failure = {"name": "response_schema_conformance", "status": "failure", "failure_info": {"failure": {
        "code": "ST108", "title": "Response violates schema",
        "operation": "DELETE /v1/responses/{response_id}", "message": '"response" was expected'}}}
    events = tmp_path / "events.ndjson"
    lines = [_event("failure", failure, 200), _event("failure", failure, 200),
             _event("success", {"name": "not_a_server_error", "status": "success"}, 404)]
    events.write_text("\n".join(json.dumps(e) for e in lines))
    failures, statuses = parse_events(events, "reference", "direct")
    assert len(failures) == 1
    f = failures[0]
    assert (f.code, f.operation) == ("ST108", "DELETE /v1/responses/{response_id}")
    assert f.request == "DELETE http://h/v1/responses/resp_1"
    assert f.response == '200 {"object": "x"}'
    assert f.known is not None and f.known.test.endswith("test_openapi_documents_deleted_response_object")
    assert statuses[("DELETE /v1/responses/{response_id}", 200)] == 2
    outcome = Outcome("direct", "reference", operations=["DELETE /v1/responses/{response_id}"],
                      generated=3, failures=failures, statuses=statuses)
    text = summarize([outcome], {}, max_examples=5, budgets={"reference": 10.0}, total_seconds=1.0)
    assert "time budget per run: reference 10s" in text
    assert "KNOWN" in text and "result: 0 new failure(s), 1 known, 0 accepted, 0 error(s)" in text
    new = Failure("openai", "direct", "ST101", "Server error", "POST /v1/responses", "500", "POST x", "500")
    text = summarize([Outcome("direct", "openai", failures=[new])], {}, max_examples=5,
                     budgets={"openai": None}, total_seconds=1.0)
    assert "time budget per run: openai none" in text
    assert "[NEW] ST101" in text and "result: 1 new failure(s)" in text
