"""Pure MCP helpers of the reference gateway (reference.mcp_client): allowed_tools filtering,
require_approval, function-name mangling, request tool -> server ref, and the output item
builders checked against the OpenAI OpenAPI schemas (read from /work/shared/specs at test time)."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference.core.errors import APIError
from reference.mcp_client import (
    CallResult,
    MCPClientError,
    MCPServerRef,
    ToolInfo,
    demangle_tool_name,
    filter_allowed,
    mangle_tool_name,
    mcp_approval_request_item,
    mcp_call_from_error,
    mcp_call_from_result,
    mcp_call_item,
    mcp_list_tools_item,
    needs_approval,
    parse_approval_response,
    server_ref_from_tool,
    to_function_tools,
)

SPEC = Path("/work/shared/specs/openai-openapi.yaml")
CHAT_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")

OBJ = {"type": "object", "properties": {}}
TOOLS = [
    ToolInfo("add", OBJ, "Add.", {"readOnlyHint": True}),
    ToolInfo("echo", OBJ, "Echo.", {"readOnlyHint": True}),
    ToolInfo("delete_all", OBJ, "Delete.", {"destructiveHint": True}),
    ToolInfo("plain", OBJ, None, None),
]


def names(tools: list[ToolInfo]) -> list[str]:
    return [t.name for t in tools]


# ---------------------------------------------------------------- allowed_tools


@pytest.mark.parametrize(
    ("allowed", "expected"),
    [
        (None, ["add", "echo", "delete_all", "plain"]),
        (["echo", "add"], ["add", "echo"]),  # the server's order is kept
        (["nope"], []),
        ([], []),
        ({"tool_names": ["plain", "add"]}, ["add", "plain"]),
        ({"tool_names": []}, []),
        ({"read_only": True}, ["add", "echo"]),
        ({"read_only": False}, ["delete_all", "plain"]),  # absent readOnlyHint means false
        ({"tool_names": ["add", "delete_all"], "read_only": True}, ["add"]),
        ({}, ["add", "echo", "delete_all", "plain"]),
    ],
)
def test_filter_allowed(allowed: Any, expected: list[str]) -> None:
    assert names(filter_allowed(TOOLS, allowed)) == expected


def test_filter_allowed_rejects_other_shapes() -> None:
    with pytest.raises(ValueError):
        filter_allowed(TOOLS, "add")


# ---------------------------------------------------------------- require_approval


@pytest.mark.parametrize(
    ("policy", "tool", "read_only", "expected"),
    [
        (None, "add", False, True),  # spec default: always
        ("always", "add", True, True),
        ("never", "delete_all", False, False),
        ({"never": {"tool_names": ["add"]}}, "add", False, False),
        ({"never": {"tool_names": ["add"]}}, "echo", False, True),  # not matched -> default always
        ({"always": {"tool_names": ["delete_all"]}}, "delete_all", False, True),
        ({"always": {"tool_names": ["delete_all"]}}, "add", False, True),
        ({"always": {"tool_names": ["delete_all"]}, "never": {"tool_names": ["add"]}}, "add", False, False),
        ({"always": {"tool_names": ["x"]}, "never": {"tool_names": ["x"]}}, "x", False, True),  # both: safe
        ({"never": {"read_only": True}}, "add", True, False),
        ({"never": {"read_only": True}}, "delete_all", False, True),
        ({"always": {"read_only": False}, "never": {"read_only": True}}, "echo", True, False),
        ({"always": {"read_only": False}, "never": {"read_only": True}}, "delete_all", False, True),
        ({}, "add", False, True),
    ],
)
def test_needs_approval(policy: Any, tool: str, read_only: bool, expected: bool) -> None:
    assert needs_approval(policy, tool, read_only_hint=read_only) is expected


@pytest.mark.parametrize("policy", ["sometimes", 1, ["add"]])
def test_needs_approval_rejects_unknown_policies(policy: Any) -> None:
    with pytest.raises(ValueError):
        needs_approval(policy, "add")


# ---------------------------------------------------------------- name mangling


def test_mangle_direct_form_is_readable() -> None:
    assert mangle_tool_name("fixture", "lookup_weather") == "mcp7_fixture_lookup_weather"
    assert demangle_tool_name("mcp7_fixture_lookup_weather") == ("fixture", "lookup_weather")
    # Underscores in the label cannot shift the split: the length prefix fixes it.
    assert mangle_tool_name("a_b", "c") == "mcp3_a_b_c"
    assert mangle_tool_name("a", "b_c") == "mcp1_a_b_c"
    assert demangle_tool_name("mcp3_a_b_c") == ("a_b", "c")
    assert demangle_tool_name("mcp1_a_b_c") == ("a", "b_c")


def test_mangle_hashed_form_for_odd_or_long_names() -> None:
    dotted = mangle_tool_name("srv", "files.read")
    assert dotted.startswith("mcph_") and dotted.endswith("_files_read") and CHAT_NAME.fullmatch(dotted)
    assert demangle_tool_name(dotted) is None  # needs the offered pairs
    assert demangle_tool_name(dotted, [("srv", "files_read"), ("srv", "files.read")]) == ("srv", "files.read")
    long = mangle_tool_name("label", "t" * 70)
    assert len(long) == 64 and long.startswith("mcph_")
    assert demangle_tool_name(long, [("label", "t" * 70)]) == ("label", "t" * 70)


@pytest.mark.parametrize(
    "name",
    [
        "add",
        "mcp",
        "mcp7_",
        "mcp7_fixture",
        "mcp07_fixture_x",
        "mcp9_fixture_x",
        "mcp2_fixture_x",
        "mcph_0123",
        "mcp1__",
    ],
)
def test_demangle_foreign_names(name: str) -> None:
    assert demangle_tool_name(name, [("fixture", "x")]) is None


_chars = st.sampled_from("abcXYZ019_-.:/ é")
labels = st.text(_chars, min_size=1, max_size=40) | st.from_regex(r"[a-z_]{1,12}", fullmatch=True)
tool_names = st.text(_chars, min_size=1, max_size=80) | st.from_regex(r"[a-z_]{1,30}", fullmatch=True)


@settings(max_examples=100)
@given(labels, tool_names)
def test_mangle_round_trip(label: str, tool: str) -> None:
    name = mangle_tool_name(label, tool)
    assert CHAT_NAME.fullmatch(name), name
    assert demangle_tool_name(name, [(label, tool)]) == (label, tool)
    if not name.startswith("mcph_"):  # direct names decode with no context at all
        assert demangle_tool_name(name) == (label, tool)


@settings(max_examples=100)
@given(labels, tool_names, labels, tool_names)
def test_mangle_is_injective(label1: str, tool1: str, label2: str, tool2: str) -> None:
    if (label1, tool1) != (label2, tool2):
        name1 = mangle_tool_name(label1, tool1)
        assert name1 != mangle_tool_name(label2, tool2)
        # Resolving against both pairs still finds the right one.
        assert demangle_tool_name(name1, [(label2, tool2), (label1, tool1)]) == (label1, tool1)


def test_to_function_tools() -> None:
    out = to_function_tools("fx", TOOLS[:1] + TOOLS[3:])
    assert out == [
        {"type": "function", "function": {"name": "mcp2_fx_add", "parameters": OBJ, "description": "Add."}},
        {"type": "function", "function": {"name": "mcp2_fx_plain", "parameters": OBJ}},
    ]
    for tool in out:
        assert demangle_tool_name(tool["function"]["name"]) is not None


# ---------------------------------------------------------------- server refs


def test_server_ref_from_url_tool() -> None:
    ref = server_ref_from_tool(
        {
            "type": "mcp",
            "server_label": "fx",
            "server_url": "http://127.0.0.1:1/mcp",
            "headers": {"X-Key": "k"},
            "authorization": "tok",
        }
    )
    assert ref == MCPServerRef("fx", "http://127.0.0.1:1/mcp", {"X-Key": "k", "Authorization": "Bearer tok"})


def test_server_ref_from_connector() -> None:
    connectors = {
        "conn_1": MCPServerRef(
            "registered", "http://127.0.0.1:2/mcp", {"authorization": "Bearer old", "X-A": "1"}
        )
    }
    ref = server_ref_from_tool(
        {
            "type": "mcp",
            "server_label": "mine",
            "connector_id": "conn_1",
            "headers": {"X-B": "2"},
            "authorization": "new",
        },
        connectors,
    )
    assert ref.label == "mine" and ref.url == "http://127.0.0.1:2/mcp"
    assert ref.headers == {"X-A": "1", "X-B": "2", "Authorization": "Bearer new"}


@pytest.mark.parametrize(
    ("tool", "param"),
    [
        ({"type": "mcp", "server_url": "http://x"}, "tools.server_label"),
        ({"type": "mcp", "server_label": "fx"}, "tools.server_url"),
        ({"type": "mcp", "server_label": "fx", "connector_id": "conn_missing"}, "tools.connector_id"),
        (
            {"type": "mcp", "server_label": "fx", "server_url": "http://x", "headers": {"a": 1}},
            "tools.headers",
        ),
    ],
)
def test_server_ref_errors(tool: dict[str, Any], param: str) -> None:
    with pytest.raises(APIError) as info:
        server_ref_from_tool(tool, {})
    assert info.value.status == 400 and info.value.param == param


def test_cache_key_folds_header_case() -> None:
    assert (
        MCPServerRef("a", "u", {"X-K": "v"}).cache_key() == MCPServerRef("b", "u", {"x-k": "v"}).cache_key()
    )
    assert (
        MCPServerRef("a", "u", {"X-K": "v"}).cache_key() != MCPServerRef("a", "u", {"X-K": "w"}).cache_key()
    )


# ---------------------------------------------------------------- items vs the OpenAI spec


@functools.cache
def _validator(name: str) -> Any:
    jsonschema = pytest.importorskip("jsonschema")
    pytest.importorskip("yaml")
    if not SPEC.exists():
        pytest.skip("OpenAI spec not available")
    components = _components()
    return jsonschema.Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": components})


@functools.cache
def _components() -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(SPEC.read_text(), Loader=loader)["components"]


def assert_valid(item: dict[str, Any], schema: str) -> None:
    errors = sorted(
        f"{list(e.absolute_path)}: {e.message[:200]}" for e in _validator(schema).iter_errors(item)
    )
    assert errors == [], errors
    # Every item is also a valid member of the response output union.
    errors = sorted(
        f"{list(e.absolute_path)}: {e.message[:200]}" for e in _validator("OutputItem").iter_errors(item)
    )
    assert errors == [], errors


def test_list_tools_item() -> None:
    item = mcp_list_tools_item("fx", TOOLS)
    assert (
        item["type"] == "mcp_list_tools" and item["id"].startswith("mcpl_") and item["server_label"] == "fx"
    )
    assert item["tools"][0] == {
        "name": "add",
        "description": "Add.",
        "input_schema": OBJ,
        "annotations": {"readOnlyHint": True},
    }
    assert item["tools"][3] == {
        "name": "plain",
        "description": None,
        "input_schema": OBJ,
        "annotations": None,
    }
    assert "error" not in item
    assert_valid(item, "MCPListTools")
    failed = mcp_list_tools_item("fx", [], error="unreachable", item_id="mcpl_x")
    assert failed["error"] == "unreachable" and failed["id"] == "mcpl_x"
    assert_valid(failed, "MCPListTools")


def test_call_item_success() -> None:
    item = mcp_call_from_result(
        "fx", "add", {"a": 1, "b": 2}, CallResult("3", False, [{"type": "text", "text": "3"}])
    )
    assert item["id"].startswith("mcp_") and not item["id"].startswith("mcpl_")
    assert item | {"id": "x"} == {
        "type": "mcp_call",
        "id": "x",
        "server_label": "fx",
        "name": "add",
        "arguments": '{"a":1,"b":2}',
        "output": "3",
        "error": None,
        "status": "completed",
        "approval_request_id": None,
    }
    assert_valid(item, "MCPToolCall")


def test_call_item_tool_error() -> None:
    content = [{"type": "text", "text": "fixture failure"}]
    item = mcp_call_from_result(
        "fx", "fail", "{}", CallResult("fixture failure", True, content), approval_request_id="mcpr_1"
    )
    assert item["output"] is None and item["status"] == "failed" and item["approval_request_id"] == "mcpr_1"
    assert item["error"] == {"type": "mcp_tool_execution_error", "content": content}
    assert_valid(item, "MCPToolCall")


@pytest.mark.parametrize(
    ("kind", "code", "expected"),
    [
        ("protocol", -32602, {"type": "mcp_protocol_error", "code": -32602}),
        ("http", 401, {"type": "http_error", "code": 401}),
        ("unreachable", None, {"type": "http_error", "code": 502}),
        ("timeout", None, {"type": "http_error", "code": 504}),
    ],
)
def test_call_item_transport_errors(kind: Any, code: int | None, expected: dict[str, Any]) -> None:
    exc = MCPClientError(kind, "went wrong", server_label="fx", url="http://127.0.0.1:1/mcp", code=code)
    item = mcp_call_from_error("fx", "add", '{"a":1}', exc)
    assert item["status"] == "failed" and item["output"] is None and item["arguments"] == '{"a":1}'
    assert item["error"] == expected | {"message": "went wrong"}
    assert_valid(item, "MCPToolCall")
    api = exc.to_api_error()
    assert api.status == 424 and api.param == "tools" and "'fx'" in api.message


def test_call_item_in_progress() -> None:
    item = mcp_call_item("fx", "echo", {"text": "é"}, status="in_progress", item_id="mcp_1")
    assert item["arguments"] == '{"text":"\\u00e9"}' and item["id"] == "mcp_1"
    assert_valid(item, "MCPToolCall")


def test_approval_request_item() -> None:
    item = mcp_approval_request_item("fx", "lookup_weather", '{"city":"Paris"}')
    assert item["id"].startswith("mcpr_")
    assert item | {"id": "x"} == {
        "type": "mcp_approval_request",
        "id": "x",
        "server_label": "fx",
        "name": "lookup_weather",
        "arguments": '{"city":"Paris"}',
    }
    assert_valid(item, "MCPApprovalRequest")


def test_parse_approval_response() -> None:
    decision = parse_approval_response(
        {"type": "mcp_approval_response", "approval_request_id": "mcpr_1", "approve": False, "reason": "no"}
    )
    assert (decision.approval_request_id, decision.approve, decision.reason) == ("mcpr_1", False, "no")
    assert (
        parse_approval_response(
            {"type": "mcp_approval_response", "approval_request_id": "mcpr_2", "approve": True}
        ).approve
        is True
    )


@pytest.mark.parametrize(
    ("item", "param"),
    [
        ({"type": "message"}, "input"),
        ({"type": "mcp_approval_response", "approve": True}, "input.approval_request_id"),
        ({"type": "mcp_approval_response", "approval_request_id": "r", "approve": "yes"}, "input.approve"),
        (
            {"type": "mcp_approval_response", "approval_request_id": "r", "approve": True, "reason": 1},
            "input.reason",
        ),
    ],
)
def test_parse_approval_response_errors(item: dict[str, Any], param: str) -> None:
    with pytest.raises(APIError) as info:
        parse_approval_response(item)
    assert info.value.status == 400 and info.value.param == param


def test_builders_copy_schemas() -> None:
    """ToolInfo objects are shared with the cache: what the engine gets in items must be copies."""
    tool = ToolInfo("t", {"type": "object", "properties": {"x": {"type": "string"}}})
    to_function_tools("fx", [tool])[0]["function"]["parameters"]["properties"].clear()
    mcp_list_tools_item("fx", [tool])["tools"][0]["input_schema"]["properties"].clear()
    assert tool.input_schema == {"type": "object", "properties": {"x": {"type": "string"}}}
