"""Responses <-> Chat Completions translation (reference.core.translate)."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference.core import translate
from reference.core.errors import APIError
from reference.core.models import CreateResponseRequest
from reference.core.responses import new_response
from tests.support.schemas import schema_errors


def _req(**body: Any) -> CreateResponseRequest:
    return CreateResponseRequest.parse({"model": "m", **body})


def _chat(history: list[dict[str, Any]] | None = None, stream: bool = False, **body: Any) -> dict[str, Any]:
    return translate.to_chat_request(_req(**body), history or [], stream=stream)


def _counter_ids() -> translate.IdFactory:
    counter = itertools.count()
    return lambda prefix: f"{prefix}_{next(counter)}"


# --- request: messages ---------------------------------------------------------------------------


def test_instructions_become_the_first_system_message() -> None:
    chat = _chat(instructions="be brief", input="hi")
    assert chat["messages"] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    assert chat["model"] == "m" and chat["stream"] is False and "stream_options" not in chat


def test_every_role_and_developer_becomes_system() -> None:
    chat = _chat(
        input=[
            {"role": "system", "content": "s"},
            {"role": "developer", "content": "d"},
            {"role": "user", "content": "u"},
            {"role": "assistant", "content": "a"},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "typed"}]},
        ]
    )
    assert chat["messages"] == [
        {"role": "system", "content": "s"},
        {"role": "system", "content": "d"},
        {"role": "user", "content": "u"},
        {"role": "assistant", "content": "a"},
        {"role": "user", "content": "typed"},
    ]


def test_text_parts_join_into_a_string() -> None:
    chat = _chat(
        input=[
            {
                "role": "user",
                "content": [{"type": "input_text", "text": "a"}, {"type": "input_text", "text": "b"}],
            }
        ]
    )
    assert chat["messages"] == [{"role": "user", "content": "a\nb"}]


def test_images_become_image_url_parts() -> None:
    chat = _chat(
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "what is this"},
                    {"type": "input_image", "image_url": "https://x/y.png", "detail": "high"},
                    {"type": "input_image", "file_id": "file_1"},
                ],
            }
        ]
    )
    assert chat["messages"][0]["content"] == [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "file_1", "detail": "auto"}},
    ]


def test_files_become_file_parts() -> None:
    chat = _chat(
        input=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "input_file",
                        "file_data": "data:application/pdf;base64,AAAA",
                        "filename": "a.pdf",
                    },
                    {"type": "input_file", "file_id": "file_2"},
                    {"type": "input_file", "file_url": "https://x/doc.pdf"},
                ],
            }
        ]
    )
    assert chat["messages"][0]["content"] == [
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,AAAA", "filename": "a.pdf"}},
        {"type": "file", "file": {"file_id": "file_2"}},
        {"type": "text", "text": "[file: https://x/doc.pdf]"},
    ]


def test_function_calls_merge_and_outputs_become_tool_messages() -> None:
    chat = _chat(
        input=[
            {"role": "user", "content": "weather?"},
            {"type": "function_call", "call_id": "c1", "name": "w", "arguments": '{"city":"a"}'},
            {"type": "function_call", "call_id": "c2", "name": "w", "arguments": '{"city":"b"}'},
            {"type": "function_call_output", "call_id": "c1", "output": "sun"},
            {
                "type": "function_call_output",
                "call_id": "c2",
                "output": [{"type": "input_text", "text": "rain"}],
            },
        ]
    )
    assert chat["messages"] == [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "w", "arguments": '{"city":"a"}'}},
                {"id": "c2", "type": "function", "function": {"name": "w", "arguments": '{"city":"b"}'}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sun"},
        {"role": "tool", "tool_call_id": "c2", "content": "rain"},
    ]


def test_function_call_after_assistant_text_joins_that_message() -> None:
    """The inverse of one chat message with content + tool_calls becoming [message, function_call]."""
    chat = _chat(
        input=[
            {"role": "assistant", "content": "let me check"},
            {"type": "function_call", "call_id": "c1", "name": "w", "arguments": "{}"},
        ]
    )
    assert chat["messages"] == [
        {
            "role": "assistant",
            "content": "let me check",
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}],
        }
    ]


def test_history_goes_first_and_output_messages_become_assistant_messages() -> None:
    history: list[dict[str, Any]] = [
        {
            "id": "msg_1",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_text", "text": "first"}],
        },
        {
            "id": "msg_2",
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "answer", "annotations": [], "logprobs": []}],
        },
        {
            "id": "msg_3",
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "refusal", "refusal": "no"}],
        },
        {"id": "rs_1", "type": "reasoning", "summary": []},
    ]
    chat = _chat(history, instructions="new rules", input="second")
    assert chat["messages"] == [
        {"role": "system", "content": "new rules"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "answer"},
        {"role": "assistant", "content": None, "refusal": "no"},
        {"role": "user", "content": "second"},
    ]


def test_instructions_are_not_inherited() -> None:
    history = [
        {"id": "msg_1", "type": "message", "role": "user", "content": [{"type": "input_text", "text": "a"}]}
    ]
    chat = _chat(history, input="b")
    assert [m["role"] for m in chat["messages"]] == ["user", "user"]


def test_item_references_resolve_against_history() -> None:
    history = [
        {"id": "msg_1", "type": "message", "role": "user", "content": [{"type": "input_text", "text": "a"}]}
    ]
    chat = _chat(history, input=[{"type": "item_reference", "id": "msg_1"}])
    assert chat["messages"] == [{"role": "user", "content": "a"}, {"role": "user", "content": "a"}]
    # Open Responses' ItemReferenceParam makes `type` optional.
    chat = _chat(history, input=[{"id": "msg_1"}])
    assert chat["messages"] == [{"role": "user", "content": "a"}, {"role": "user", "content": "a"}]
    with pytest.raises(APIError) as info:
        _chat(history, input=[{"type": "item_reference", "id": "msg_404"}])
    assert info.value.status == 400 and info.value.param == "input[0].id"


# --- request: parameters --------------------------------------------------------------------------


def test_sampling_and_limits() -> None:
    chat = _chat(
        input="x",
        max_output_tokens=64,
        temperature=0.5,
        top_p=0.9,
        presence_penalty=1,
        frequency_penalty=-1,
        metadata={"k": "v"},
    )
    assert chat["max_tokens"] == 64 and "max_completion_tokens" not in chat
    assert chat["temperature"] == 0.5 and chat["top_p"] == 0.9
    assert chat["presence_penalty"] == 1 and chat["frequency_penalty"] == -1
    assert chat["metadata"] == {"k": "v"}
    plain = _chat(input="x")
    for key in ("max_tokens", "temperature", "top_p", "tools", "tool_choice", "response_format", "metadata"):
        assert key not in plain


def test_streaming_asks_for_usage() -> None:
    chat = _chat(input="x", stream=True)
    assert chat["stream"] is True and chat["stream_options"] == {"include_usage": True}


TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    "strict": True,
}


def test_function_tools_are_nested() -> None:
    chat = _chat(
        input="x",
        tools=[
            TOOL,
            {"type": "function", "name": "bare"},
            {"type": "file_search", "vector_store_ids": ["vs_1"]},
        ],
        parallel_tool_calls=False,
    )
    assert chat["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "weather",
                "parameters": TOOL["parameters"],
                "strict": True,
            },
        },
        {
            "type": "function",
            "function": {"name": "bare", "parameters": {"type": "object", "properties": {}}},
        },
    ]
    assert chat["parallel_tool_calls"] is False


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("none", "none"),
        ("auto", "auto"),
        ("required", "required"),
        (
            {"type": "function", "name": "get_weather"},
            {"type": "function", "function": {"name": "get_weather"}},
        ),
        (
            {
                "type": "allowed_tools",
                "mode": "required",
                "tools": [{"type": "function", "name": "get_weather"}],
            },
            "required",
        ),
    ],
)
def test_tool_choice_forms(choice: Any, expected: Any) -> None:
    chat = _chat(input="x", tools=[TOOL], tool_choice=choice)
    assert chat["tool_choice"] == expected


def test_allowed_tools_filters_the_tool_list() -> None:
    chat = _chat(
        input="x",
        tools=[TOOL, {"type": "function", "name": "other"}],
        tool_choice={
            "type": "allowed_tools",
            "mode": "auto",
            "tools": [{"type": "function", "name": "other"}],
        },
    )
    assert [t["function"]["name"] for t in chat["tools"]] == ["other"]
    assert chat["tool_choice"] == "auto"


def test_tool_choice_without_function_tools() -> None:
    # Only hosted tools: the chat request carries no function to require.
    hosted = [{"type": "file_search", "vector_store_ids": ["vs_1"]}]
    assert "tool_choice" not in _chat(input="x", tool_choice="required", tools=hosted)
    assert _chat(input="x", tool_choice="none")["tool_choice"] == "none"


def test_text_formats_become_response_format() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    chat = _chat(
        input="x",
        text={
            "format": {
                "type": "json_schema",
                "name": "out",
                "schema": schema,
                "strict": True,
                "description": "d",
            }
        },
    )
    assert chat["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "out", "schema": schema, "description": "d", "strict": True},
    }
    assert _chat(input="x", text={"format": {"type": "json_object"}})["response_format"] == {
        "type": "json_object"
    }
    assert "response_format" not in _chat(input="x", text={"format": {"type": "text"}})


# --- input_items -----------------------------------------------------------------------------------


def test_input_items_from_a_string() -> None:
    items = translate.input_items(_req(input="hello"))
    assert len(items) == 1
    item = items[0]
    assert item["id"].startswith("msg_")
    assert item == {
        "id": item["id"],
        "type": "message",
        "role": "user",
        "status": "completed",
        "content": [{"type": "input_text", "text": "hello"}],
    }


def test_input_items_normalise_and_keep_client_ids() -> None:
    items = translate.input_items(
        _req(
            input=[
                {"role": "user", "content": "a"},
                {
                    "id": "msg_client",
                    "type": "message",
                    "role": "system",
                    "content": [{"type": "text", "text": "b"}],
                },
                {"role": "assistant", "content": "c"},
                {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c1", "output": "ok"},
                {"role": "user", "content": [{"type": "input_image", "image_url": "https://x"}]},
            ]
        ),
        id_factory=_counter_ids(),
    )
    assert items == [
        {
            "id": "msg_0",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_text", "text": "a"}],
        },
        {
            "id": "msg_client",
            "type": "message",
            "role": "system",
            "status": "completed",
            "content": [{"type": "input_text", "text": "b"}],
        },
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "c", "annotations": [], "logprobs": []}],
        },
        {
            "id": "fc_2",
            "type": "function_call",
            "call_id": "c1",
            "name": "f",
            "arguments": "{}",
            "status": "completed",
        },
        {
            "id": "fco_3",
            "type": "function_call_output",
            "call_id": "c1",
            "output": "ok",
            "status": "completed",
        },
        {
            "id": "msg_4",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_image", "image_url": "https://x", "detail": "auto"}],
        },
    ]


def test_stored_input_items_translate_like_the_request() -> None:
    """The engine replays stored input items as history: they must give the same messages."""
    items: list[dict[str, Any]] = [
        {"role": "developer", "content": "d"},
        {"role": "user", "content": "u"},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "ok"},
    ]
    direct = _chat(input=items)["messages"]
    replayed = _chat(translate.input_items(_req(input=items)))["messages"]
    assert replayed == direct


# --- response: chat completion -> output -----------------------------------------------------------


def _skeleton(**body: Any) -> dict[str, Any]:
    return new_response(_req(**body), response_id="resp_1", created_at=100, status="in_progress")


def _completion(message: dict[str, Any], finish_reason: str = "stop", usage: Any = None) -> dict[str, Any]:
    chat: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [
            {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish_reason}
        ],
    }
    if usage is not None:
        chat["usage"] = usage
    return chat


USAGE = {
    "prompt_tokens": 7,
    "completion_tokens": 3,
    "total_tokens": 10,
    "prompt_tokens_details": {"cached_tokens": 2},
    "completion_tokens_details": {"reasoning_tokens": 1},
}


def test_text_answer() -> None:
    skeleton = _skeleton(input="hi")
    before = copy.deepcopy(skeleton)
    response = translate.apply_chat_completion(
        skeleton, _completion({"content": "Hello!"}, usage=USAGE), id_factory=_counter_ids(), now=123
    )
    assert skeleton == before
    assert response["status"] == "completed" and response["completed_at"] == 123
    assert response["incomplete_details"] is None and response["error"] is None
    assert response["output"] == [
        {
            "id": "msg_0",
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Hello!", "annotations": [], "logprobs": []}],
        }
    ]
    assert response["usage"] == {
        "input_tokens": 7,
        "input_tokens_details": {"cached_tokens": 2, "cache_write_tokens": 0},
        "output_tokens": 3,
        "output_tokens_details": {"reasoning_tokens": 1},
        "total_tokens": 10,
    }


def test_missing_usage_counts_are_zero() -> None:
    response = translate.apply_chat_completion(_skeleton(), _completion({"content": "x"}))
    assert response["usage"] == {
        "input_tokens": 0,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": 0,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 0,
    }
    partial = translate.apply_chat_completion(
        _skeleton(), _completion({"content": "x"}, usage={"prompt_tokens": 4, "completion_tokens": 1})
    )
    assert partial["usage"]["total_tokens"] == 5


def test_tool_calls_become_function_call_items() -> None:
    response = translate.apply_chat_completion(
        _skeleton(),
        _completion(
            {
                "content": None,
                "tool_calls": [
                    {"id": "call_a", "type": "function", "function": {"name": "f", "arguments": '{"x":1}'}},
                    {"id": "call_b", "type": "function", "function": {"name": "g", "arguments": "{}"}},
                ],
            },
            finish_reason="tool_calls",
        ),
        id_factory=_counter_ids(),
        now=1,
    )
    assert response["status"] == "completed"
    assert response["output"] == [
        {
            "id": "fc_0",
            "type": "function_call",
            "status": "completed",
            "arguments": '{"x":1}',
            "call_id": "call_a",
            "name": "f",
        },
        {
            "id": "fc_1",
            "type": "function_call",
            "status": "completed",
            "arguments": "{}",
            "call_id": "call_b",
            "name": "g",
        },
    ]


def test_text_and_tool_call() -> None:
    response = translate.apply_chat_completion(
        _skeleton(),
        _completion(
            {
                "content": "checking",
                "tool_calls": [
                    {"id": "call_a", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            }
        ),
    )
    assert [item["type"] for item in response["output"]] == ["message", "function_call"]


@pytest.mark.parametrize(
    ("finish", "reason"), [("length", "max_output_tokens"), ("content_filter", "content_filter")]
)
def test_incomplete_answers(finish: str, reason: str) -> None:
    response = translate.apply_chat_completion(
        _skeleton(), _completion({"content": "partial"}, finish), now=5
    )
    assert response["status"] == "incomplete"
    assert response["incomplete_details"] == {"reason": reason}
    assert response["completed_at"] is None
    assert response["output"][0]["status"] == "incomplete"
    assert response["output"][0]["content"][0]["text"] == "partial"


def test_refusal() -> None:
    response = translate.apply_chat_completion(
        _skeleton(), _completion({"content": None, "refusal": "I can't help with that."})
    )
    assert response["output"][0]["content"] == [{"type": "refusal", "refusal": "I can't help with that."}]


def test_empty_answer_is_an_empty_message() -> None:
    response = translate.apply_chat_completion(_skeleton(), _completion({"content": None}))
    assert response["output"][0]["content"] == [
        {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    ]


@pytest.mark.parametrize("chat", [{}, {"choices": []}, {"choices": [{"index": 0}]}, {"choices": "x"}])
def test_malformed_completion_is_a_502(chat: dict[str, Any]) -> None:
    with pytest.raises(APIError) as info:
        translate.apply_chat_completion(_skeleton(), chat)
    assert info.value.status == 502 and info.value.code == "backend_bad_response"


@pytest.mark.parametrize("profile", ["openai", "openresponses"])
@pytest.mark.parametrize(
    ("message", "finish"),
    [
        ({"content": "Hello"}, "stop"),
        (
            {
                "content": "a",
                "refusal": "no",
                "tool_calls": [
                    {"id": "call_a", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            "tool_calls",
        ),
        ({"content": "cut"}, "length"),
    ],
)
def test_translated_responses_match_both_specs(profile: str, message: dict[str, Any], finish: str) -> None:
    skeleton = _skeleton(
        input="x",
        tools=[TOOL],
        tool_choice={"type": "function", "name": "get_weather"},
        metadata={"a": "b"},
        user="u",
    )
    response = translate.apply_chat_completion(skeleton, _completion(message, finish, usage=USAGE))
    assert schema_errors(response, profile) == []


# --- property: the conversation survives translation ------------------------------------------------

_text = st.text(alphabet="abc xyz", min_size=1, max_size=8)
_message = st.builds(
    lambda role, text: {"role": role, "content": text},
    st.sampled_from(["user", "assistant", "system", "developer"]),
    _text,
)
_call_group = st.lists(
    st.tuples(st.from_regex(r"call_[a-z0-9]{4}", fullmatch=True), _text),
    min_size=1,
    max_size=3,
    unique_by=lambda t: t[0],
)


@st.composite
def _conversation(draw: st.DrawFn) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, 6))):
        if draw(st.booleans()):
            items.append(draw(_message))
        else:
            calls = draw(_call_group)
            items.extend(
                {"type": "function_call", "call_id": cid, "name": "f", "arguments": "{}"} for cid, _ in calls
            )
            items.extend(
                {"type": "function_call_output", "call_id": cid, "output": out} for cid, out in calls
            )
    return items


@settings(max_examples=40)
@given(_conversation(), st.integers(0, 6))
def test_translation_preserves_the_conversation(items: list[dict[str, Any]], split: int) -> None:
    """Roles (developer -> system), texts, order and tool call ids survive, whether an item comes
    from the stored history or from the request's input."""
    split = min(split, len(items))
    history = translate.input_items(_req(input=items[:split]))
    messages = (
        _chat(history, input=items[split:])["messages"] if items[split:] else _chat(history)["messages"]
    )
    expected: list[tuple[str, str]] = []
    for item in items:
        if "role" in item:
            expected.append(("system" if item["role"] == "developer" else item["role"], item["content"]))
        elif item["type"] == "function_call":
            expected.append(("call", item["call_id"]))
        else:
            expected.append(("tool", f"{item['call_id']}:{item['output']}"))
    flat: list[tuple[str, str]] = []
    for message in messages:
        if message["role"] == "tool":
            flat.append(("tool", f"{message['tool_call_id']}:{message['content']}"))
            continue
        if message["content"] is not None:
            flat.append((message["role"], message["content"]))
        for call in message.get("tool_calls", []):
            assert message["role"] == "assistant"
            flat.append(("call", call["id"]))
    assert flat == expected
    # A tool message always follows the assistant message that made the call.
    open_calls: set[str] = set()
    for message in messages:
        open_calls |= {call["id"] for call in message.get("tool_calls", [])}
        if message["role"] == "tool":
            assert message["tool_call_id"] in open_calls


@pytest.mark.parametrize(("body", "reason"), [
    (b"not json", "the body is not JSON"),
    (b"\xff\xfe", "the body is not JSON"),
    (b"[]", "not a chat completion object"),
    (b'{"choices": {}}', "not a chat completion object"),
])
def test_parse_chat_completion_rejects_what_is_not_one(body: bytes, reason: str) -> None:
    with pytest.raises(APIError) as info:
        translate.parse_chat_completion(body)
    assert info.value.status == 502 and reason in info.value.message


def test_parse_chat_completion_returns_the_object() -> None:
    assert translate.parse_chat_completion(b'{"choices": []}') == {"choices": []}
