"""Request validation (CreateResponseRequest.parse) and the response skeleton (new_response)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field, ValidationError

from conformance.profiles import OPENRESPONSES_RESPONSE_REQUIRED
from reference.core import errors, translate
from reference.core.errors import APIError
from reference.core.models import (
    CreateResponseRequest,
    DeletedResponse,
    ErrorResponse,
    FunctionCall,
    FunctionTool,
    InputImage,
    InputText,
    Message,
    Response,
    ResponseItemList,
    ToolChoiceFunction,
)
from reference.core.responses import Status, new_response

SPECS = Path("/work/shared/specs")


def _error(body: Any) -> APIError:
    with pytest.raises(APIError) as info:
        CreateResponseRequest.parse(body)
    assert info.value.status == 400
    assert info.value.type == "invalid_request_error"
    return info.value


# --- accepted requests -------------------------------------------------------------------------


def test_minimal_request_from_bytes() -> None:
    req = CreateResponseRequest.parse(b'{"model": "m", "input": "hi"}')
    assert req.model == "m"
    assert req.input == "hi"


def test_full_request_parses_items_tools_and_formats() -> None:
    req = CreateResponseRequest.parse(
        {
            "model": "m",
            "instructions": "be brief",
            "input": [
                {"role": "developer", "content": "rules"},
                {
                    "type": "message",
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "look"},
                        {"type": "input_image", "image_url": "https://x/y.png", "detail": "low"},
                    ],
                },
                {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "42"},
                {"type": "reasoning", "id": "rs_1", "summary": []},
            ],
            "tools": [
                {"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": True},
                {"type": "file_search", "vector_store_ids": ["vs_1"]},
            ],
            "tool_choice": {"type": "function", "name": "f"},
            "temperature": 0,
            "top_p": 0.5,
            "max_output_tokens": 16,
            "text": {"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}}},
            "metadata": {"k": "v"},
            "store": False,
            "stream": True,
            "stream_options": {"include_obfuscation": False},
            "presence_penalty": 0.1,
            "frequency_penalty": -0.1,
            "service_tier": "auto",
            "include": ["message.output_text.logprobs"],
            "user": "u",
            "safety_identifier": "s",
        }
    )
    assert isinstance(req.input, list)
    assert isinstance(req.input[0], Message) and req.input[0].role == "developer"
    assert isinstance(req.input[1], Message)
    parts = req.input[1].content
    assert isinstance(parts, list)
    assert isinstance(parts[0], InputText) and isinstance(parts[1], InputImage)
    assert isinstance(req.input[2], FunctionCall)
    assert [t.name for t in req.function_tools()] == ["f"]
    assert isinstance(req.tool_choice, ToolChoiceFunction)
    assert req.text is not None and req.text.format is not None and req.text.format.type == "json_schema"


def test_temperature_accepts_integers() -> None:
    assert CreateResponseRequest.parse({"model": "m", "temperature": 2}).temperature == 2


def test_conversation_object_or_string() -> None:
    assert CreateResponseRequest.parse({"model": "m", "conversation": "conv_1"}).conversation_id == "conv_1"
    assert (
        CreateResponseRequest.parse({"model": "m", "conversation": {"id": "conv_2"}}).conversation_id
        == "conv_2"
    )


def test_replayed_output_items_are_accepted() -> None:
    """The SDK idiom `input=previous.output + [...]` sends output items with id/status/annotations."""
    req = CreateResponseRequest.parse(
        {
            "model": "m",
            "input": [
                {
                    "id": "msg_1",
                    "type": "message",
                    "status": "completed",
                    "role": "assistant",
                    "phase": "final_answer",
                    "content": [{"type": "output_text", "text": "hi", "annotations": [], "logprobs": []}],
                },
                {
                    "id": "fc_1",
                    "type": "function_call",
                    "status": "completed",
                    "call_id": "c",
                    "name": "f",
                    "arguments": "{}",
                },
            ],
        }
    )
    assert isinstance(req.input, list) and len(req.input) == 2


# --- rejected requests -------------------------------------------------------------------------


def test_unknown_top_level_parameter() -> None:
    err = _error({"model": "m", "foo": 1})
    assert err.message == "Unknown parameter: 'foo'."
    assert err.param == "foo"
    assert err.code == "unknown_parameter"


def test_missing_model() -> None:
    err = _error({"input": "hi"})
    assert err.param == "model"
    assert err.code == "missing_required_parameter"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": 5}, "model"),
        ({"model": "m", "input": 5}, "input"),
        ({"model": "m", "input": [{"role": "user", "content": 5}]}, "input[0].content"),
        (
            {"model": "m", "input": [{"role": "user", "content": [{"type": "input_text", "text": 1}]}]},
            "input[0].content[0].text",
        ),
        ({"model": "m", "input": ["hi"]}, "input[0]"),
        ({"model": "m", "input": [{"role": "user", "content": [5]}]}, "input[0].content[0]"),
        ({"model": "m", "temperature": "1"}, "temperature"),
        ({"model": "m", "max_output_tokens": "100"}, "max_output_tokens"),
        ({"model": "m", "stream": "true"}, "stream"),
        ({"model": "m", "metadata": {"a": 1}}, "metadata.a"),
        (
            {"model": "m", "tools": [{"type": "function", "name": "f", "parameters": "x"}]},
            "tools[0].parameters",
        ),
    ],
)
def test_wrong_types_name_the_parameter_path(body: dict[str, Any], param: str) -> None:
    err = _error(body)
    assert err.param == param
    assert err.code == "invalid_type"
    assert f"'{param}'" in err.message
    assert "instance of" not in err.message  # no internal class names


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "m", "input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
        ({"model": "m", "input": [{"type": "bogus"}]}, "input[0].type"),
        (
            {"model": "m", "input": [{"role": "user", "content": [{"type": "nope"}]}]},
            "input[0].content[0].type",
        ),
        ({"model": "m", "tool_choice": "sometimes"}, "tool_choice"),
        ({"model": "m", "text": {"format": {"type": "xml"}}}, "text.format.type"),
        ({"model": "m", "truncation": "middle"}, "truncation"),
    ],
)
def test_invalid_values_name_the_parameter_path(body: dict[str, Any], param: str) -> None:
    err = _error(body)
    assert err.param == param
    assert err.code == "invalid_value"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "m", "input": [{"content": "x"}]}, "input[0].role"),
        ({"model": "m", "tools": [{"type": "function"}]}, "tools[0].name"),
        ({"model": "m", "input": [{"type": "function_call_output", "output": "x"}]}, "input[0].call_id"),
        ({"model": "m", "text": {"format": {"type": "json_schema", "name": "x"}}}, "text.format.schema"),
    ],
)
def test_missing_nested_fields(body: dict[str, Any], param: str) -> None:
    err = _error(body)
    assert err.param == param
    assert err.code == "missing_required_parameter"


def test_conversation_with_previous_response_id() -> None:
    err = _error({"model": "m", "conversation": "conv_1", "previous_response_id": "resp_1"})
    assert err.param == "conversation"
    assert "previous_response_id" in err.message


@pytest.mark.parametrize(
    ("field", "bad", "good"),
    [
        ("temperature", 2.01, 2),
        ("temperature", -0.1, 0),
        ("top_p", 1.5, 1),
        ("top_p", -1, 0),
        # Both specs: max_output_tokens `"minimum": 16`.
        ("max_output_tokens", 15, 16),
        ("top_logprobs", 21, 20),
    ],
)
def test_numeric_ranges(field: str, bad: float, good: float) -> None:
    err = _error({"model": "m", field: bad})
    assert err.param == field
    assert err.code is not None and err.code.endswith(("above_max_value", "below_min_value"))
    assert getattr(CreateResponseRequest.parse({"model": "m", field: good}), field) == good


def test_metadata_limits() -> None:
    CreateResponseRequest.parse({"model": "m", "metadata": {f"k{i}": "v" * 512 for i in range(16)}})
    CreateResponseRequest.parse({"model": "m", "metadata": {"k" * 64: "v"}})
    for metadata in ({f"k{i}": "v" for i in range(17)}, {"k" * 65: "v"}, {"k": "v" * 513}):
        err = _error({"model": "m", "metadata": metadata})
        assert err.param == "metadata"


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"text"', "\xff".encode("latin-1")])
def test_body_must_be_a_json_object(body: bytes) -> None:
    err = _error(body)
    assert err.param is None


def test_unknown_parameter_wins_over_other_errors() -> None:
    err = _error({"foo": 1, "temperature": 9})
    assert err.param == "foo"


# --- the response skeleton ---------------------------------------------------------------------


def _skeleton(body: dict[str, Any], status: Status = "in_progress") -> dict[str, Any]:
    return new_response(
        CreateResponseRequest.parse(body), response_id="resp_1", created_at=100, status=status
    )


# the 31 fields Open Responses requires (one list, kept with the harness profiles)
OPENRESPONSES_REQUIRED = list(OPENRESPONSES_RESPONSE_REQUIRED)


def test_skeleton_has_every_required_field_with_defaults() -> None:
    response = _skeleton({"model": "m", "input": "hi"})
    assert len(OPENRESPONSES_REQUIRED) == 31
    assert set(OPENRESPONSES_REQUIRED) <= set(response)
    assert response["object"] == "response"
    assert response["status"] == "in_progress"
    assert response["output"] == [] and response["usage"] is None and response["error"] is None
    assert response["temperature"] == 1.0 and response["top_p"] == 1.0
    assert response["presence_penalty"] == 0.0 and response["frequency_penalty"] == 0.0
    assert response["top_logprobs"] == 0
    assert response["tool_choice"] == "auto" and response["truncation"] == "disabled"
    assert response["parallel_tool_calls"] is True and response["store"] is True
    assert response["background"] is False and response["service_tier"] == "default"
    assert response["text"] == {"format": {"type": "text"}}
    assert response["metadata"] == {}
    assert response["reasoning"] == {"effort": None, "summary": None}
    json.dumps(response)


def test_skeleton_echoes_request_parameters() -> None:
    response = _skeleton(
        {
            "model": "m",
            "instructions": "i",
            "previous_response_id": "resp_0",
            "temperature": 0.2,
            "top_p": 0.3,
            "max_output_tokens": 64,
            "max_tool_calls": 2,
            "tools": [{"type": "function", "name": "f"}],
            "tool_choice": "required",
            "parallel_tool_calls": False,
            "metadata": {"a": "b"},
            "store": False,
            "background": True,
            "text": {"format": {"type": "json_object"}, "verbosity": "low"},
            "prompt_cache_key": "p",
            "safety_identifier": "s",
            "truncation": "auto",
            "top_logprobs": 3,
            "reasoning": {"effort": "low"},
            "user": "u",
        },
        status="queued",
    )
    assert response["status"] == "queued"
    assert response["instructions"] == "i" and response["previous_response_id"] == "resp_0"
    assert response["temperature"] == 0.2 and response["top_p"] == 0.3
    assert response["max_output_tokens"] == 64 and response["max_tool_calls"] == 2
    assert response["tools"] == [
        {"type": "function", "name": "f", "description": None, "parameters": None, "strict": None}
    ]
    assert response["tool_choice"] == "required" and response["parallel_tool_calls"] is False
    assert (
        response["metadata"] == {"a": "b"} and response["store"] is False and response["background"] is True
    )
    assert response["text"] == {"format": {"type": "json_object"}, "verbosity": "low"}
    assert response["prompt_cache_key"] == "p" and response["safety_identifier"] == "s"
    assert response["truncation"] == "auto" and response["top_logprobs"] == 3
    assert response["reasoning"] == {"effort": "low", "summary": None}


def test_skeleton_json_schema_format_uses_wire_name() -> None:
    response = _skeleton(
        {
            "model": "m",
            "text": {
                "format": {"type": "json_schema", "name": "o", "schema": {"type": "object"}, "strict": True}
            },
        }
    )
    assert response["text"]["format"] == {
        "type": "json_schema",
        "name": "o",
        "schema": {"type": "object"},
        "strict": True,
    }


def test_skeleton_validates_as_output_model() -> None:
    Response.model_validate(
        _skeleton(
            {
                "model": "m",
                "tool_choice": {"type": "function", "name": "f"},
                "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
            }
        )
    )


def test_output_models_have_json_schemas() -> None:
    for model in (Response, ResponseItemList, DeletedResponse, ErrorResponse, CreateResponseRequest):
        schema = model.model_json_schema(by_alias=True)
        assert schema["type"] == "object"
    assert "schema" in json.dumps(CreateResponseRequest.model_json_schema(by_alias=True))
    assert FunctionTool.model_json_schema()["required"] == ["type", "name"]


def _openresponses_validator() -> Any:
    spec_path = SPECS / "openresponses-openapi.json"
    if not spec_path.exists():
        pytest.skip("Open Responses spec not available")
    jsonschema = pytest.importorskip("jsonschema")
    spec = json.loads(spec_path.read_text())
    schema = {"$ref": "#/components/schemas/ResponseResource", "components": spec["components"]}
    return jsonschema.Draft202012Validator(schema)


def test_skeleton_validates_against_open_responses_schema() -> None:
    validator = _openresponses_validator()
    for body in (
        {"model": "m"},
        {
            "model": "m",
            "tools": [{"type": "function", "name": "f"}],
            "tool_choice": {"type": "function", "name": "f"},
            "text": {"format": {"type": "json_object"}},
        },
    ):
        errors = sorted(validator.iter_errors(_skeleton(body)), key=str)
        assert errors == [], [e.message for e in errors]


def test_json_schema_format_echo_follows_openai_where_the_profiles_conflict() -> None:
    """Open Responses' JsonSchemaResponseFormat types `schema` as `anyOf: [{type: null}]` (the
    object branch is missing from the generated spec) and requires a nullable `description`,
    which OpenAI types as a non-null string. We echo like OpenAI (the default profile); apart
    from those two keys the object meets Open Responses."""
    validator = _openresponses_validator()
    response = _skeleton(
        {"model": "m", "text": {"format": {"type": "json_schema", "name": "o", "schema": {}}}}
    )
    assert response["text"]["format"] == {"type": "json_schema", "name": "o", "schema": {}, "strict": False}
    response["text"]["format"].update(schema=None, description=None)
    errors = sorted(validator.iter_errors(response), key=str)
    assert errors == [], [e.message for e in errors]


# --- errors.from_validation_error ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        (
            ("input", "list[tagged-union[Message,FunctionCall]]", 0, "Message", "content", "str"),
            "input[0].content",
        ),
        (("tools", 2, "FunctionTool", "name"), "tools[2].name"),
        (("metadata", "key"), "metadata.key"),
        (("text", "format", "FormatJsonSchema", "schema"), "text.format.schema"),
        ((), ""),
    ],
)
def test_param_path_drops_union_labels(loc: tuple[int | str, ...], path: str) -> None:
    assert errors.param_path(loc) == path


def test_from_validation_error_on_a_plain_model() -> None:
    class Probe(BaseModel):
        count: int = Field(le=3)

    with pytest.raises(ValidationError) as info:
        Probe.model_validate({"count": 9})
    err = errors.from_validation_error(info.value)
    assert (err.status, err.param, err.code) == (400, "count", "integer_above_max_value")
    assert err.body() == {
        "error": {
            "message": err.message,
            "type": "invalid_request_error",
            "param": "count",
            "code": "integer_above_max_value",
        }
    }


# --- property: parse never fails with anything but a 400 ---------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 200) | st.floats(-3, 3) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)
_fields = st.sampled_from(
    [
        "model",
        "input",
        "tools",
        "tool_choice",
        "text",
        "metadata",
        "temperature",
        "max_output_tokens",
        "conversation",
        "previous_response_id",
        "stream",
        "reasoning",
        "include",
        "bogus",
    ]
)
_item_like = st.fixed_dictionaries(
    {"type": st.sampled_from(["message", "function_call", "function_call_output", "item_reference", "x"])},
    optional={
        "role": st.sampled_from(["user", "assistant", "robot"]),
        "content": _json,
        "call_id": _json,
        "name": _json,
        "arguments": _json,
        "output": _json,
        "id": _json,
    },
)


@settings(max_examples=80)
@given(st.dictionaries(_fields, _json | st.lists(_item_like, max_size=3), max_size=5), st.booleans())
def test_parse_accepts_or_raises_a_400(body: dict[str, Any], with_model: bool) -> None:
    if with_model:
        body = {**body, "model": "m"}
    try:
        req = CreateResponseRequest.parse(json.dumps(body).encode())
    except APIError as err:
        assert err.status == 400 and err.type == "invalid_request_error"
        assert err.param is None or isinstance(err.param, str)
        return
    # Whatever is accepted must also translate and produce a well-formed skeleton.
    response = new_response(req, response_id="resp_1", created_at=1, status="in_progress")
    assert set(OPENRESPONSES_REQUIRED) <= set(response)
    json.dumps(response)
    json.dumps(translate.input_items(req))
    try:
        chat = translate.to_chat_request(req, [], stream=True)
    except APIError as err:  # an item_reference to nothing
        assert err.status == 400 and err.param is not None and err.param.startswith("input[")
        return
    assert chat["model"] == "m" and isinstance(chat["messages"], list)
    json.dumps(chat)


@pytest.mark.parametrize(
    "body",
    [
        {"model": "m", "input": "x", "tool_choice": "required"},
        {"model": "m", "input": "x", "tool_choice": {"type": "function", "name": "nope"},
         "tools": [{"type": "function", "name": "other", "parameters": {"type": "object"}}]},
    ],
)
def test_tool_choice_must_name_an_offered_tool(body: dict[str, Any]) -> None:
    # Found by errors.params.tool-choice-* conformance cases: OpenAI rejects these with 400.
    with pytest.raises(APIError) as info:
        CreateResponseRequest.parse(body)
    assert info.value.status == 400 and info.value.param == "tool_choice"


def test_tool_choice_naming_a_declared_function_is_accepted() -> None:
    req = CreateResponseRequest.parse(
        {"model": "m", "input": "x", "tool_choice": {"type": "function", "name": "f"},
         "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}]})
    assert req.tool_choice is not None


@pytest.mark.parametrize("kind", ["image_generation", "web_search", "code_interpreter"])
def test_hosted_tools_the_gateway_does_not_run_are_rejected(kind: str) -> None:
    # Fuzz finding: an image_generation tool with a wrongly typed field was accepted (and
    # silently ignored) with 200. Tools the gateway cannot run are now a 400 naming the type.
    with pytest.raises(APIError) as info:
        CreateResponseRequest.parse({"model": "m", "input": "x", "tools": [{"type": kind}]})
    assert (info.value.status, info.value.param) == (400, "tools[0].type")
