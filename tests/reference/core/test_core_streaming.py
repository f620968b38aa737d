"""The streaming state machine (reference.core.streaming.StreamTranslator)."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference.core import errors, translate
from reference.core.models import CreateResponseRequest
from reference.core.responses import new_response
from reference.core.streaming import StreamTranslator

TERMINAL = {"response.completed", "response.incomplete", "response.failed"}


def _ids() -> translate.IdFactory:
    counter = itertools.count()
    return lambda prefix: f"{prefix}_{next(counter)}"


def _skeleton() -> dict[str, Any]:
    req = CreateResponseRequest.parse({"model": "m", "input": "hi", "stream": True})
    return new_response(req, response_id="resp_1", created_at=100, status="in_progress")


def _translator() -> StreamTranslator:
    return StreamTranslator(_skeleton(), id_factory=_ids(), clock=lambda: 200.0)


def _delta(**delta: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
    }


def _finish(reason: str | None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}


def _usage_chunk(prompt: int = 5, completion: int = 2) -> dict[str, Any]:
    return {
        "choices": [],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


def _tool(index: int, call_id: str | None = None, name: str | None = None, args: str = "") -> dict[str, Any]:
    call: dict[str, Any] = {"index": index, "function": {"arguments": args}}
    if call_id is not None:
        call.update(id=call_id, type="function")
        call["function"]["name"] = name
    return call


def run(chunks: list[dict[str, Any]]) -> tuple[StreamTranslator, list[dict[str, Any]]]:
    translator = _translator()
    events = translator.start()
    for chunk in chunks:
        events += translator.feed(chunk)
    events += translator.finish()
    return translator, events


def check_grammar(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Assert the Responses event grammar; return the terminal event's response."""
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert [e["type"] for e in events[:2]] == ["response.created", "response.in_progress"]
    terminals = [e for e in events if e["type"] in TERMINAL]
    assert len(terminals) == 1 and terminals[0] is events[-1]
    final = events[-1]["response"]
    items: list[dict[str, Any]] = []  # as announced by output_item.added, then updated
    done: set[int] = set()
    parts: dict[int, list[dict[str, Any]]] = {}
    open_part: dict[int, int | None] = {}
    texts: dict[tuple[int, int], str] = {}
    arguments: dict[int, str] = {}
    for event in events[2:-1]:
        kind = event["type"]
        if kind == "response.output_item.added":
            assert event["output_index"] == len(items)
            item = event["item"]
            assert item["id"] not in {i["id"] for i in items}
            assert item["status"] == "in_progress"
            items.append(item)
            parts[event["output_index"]] = []
            open_part[event["output_index"]] = None
            arguments[event["output_index"]] = ""
            continue
        index = event["output_index"]
        assert index < len(items) and index not in done, event
        item = items[index]
        if "item_id" in event:
            assert event["item_id"] == item["id"]
        if kind == "response.content_part.added":
            assert item["type"] == "message" and open_part[index] is None
            assert event["content_index"] == len(parts[index])
            assert event["part"].get("text", event["part"].get("refusal")) == ""
            parts[index].append(event["part"])
            open_part[index] = event["content_index"]
            texts[(index, event["content_index"])] = ""
        elif kind in ("response.output_text.delta", "response.refusal.delta"):
            assert event["content_index"] == open_part[index]
            expected = "output_text" if kind == "response.output_text.delta" else "refusal"
            assert parts[index][event["content_index"]]["type"] == expected
            assert event["delta"]
            if expected == "output_text":
                assert event["logprobs"] == []
            texts[(index, event["content_index"])] += event["delta"]
        elif kind == "response.output_text.done":
            assert event["content_index"] == open_part[index]
            assert event["text"] == texts[(index, event["content_index"])]
        elif kind == "response.refusal.done":
            assert event["content_index"] == open_part[index]
            assert event["refusal"] == texts[(index, event["content_index"])]
        elif kind == "response.content_part.done":
            assert event["content_index"] == open_part[index]
            part = event["part"]
            assert part.get("text", part.get("refusal")) == texts[(index, event["content_index"])]
            parts[index][event["content_index"]] = part
            open_part[index] = None
        elif kind == "response.function_call_arguments.delta":
            assert item["type"] == "function_call"
            arguments[index] += event["delta"]
        elif kind == "response.function_call_arguments.done":
            assert event["arguments"] == arguments[index]
            assert event["name"] == item["name"]
        elif kind == "response.output_item.done":
            assert open_part[index] is None
            finished = event["item"]
            assert finished["id"] == item["id"] and finished["status"] in ("completed", "incomplete")
            if finished["type"] == "message":
                assert finished["content"] == parts[index]
            else:
                assert finished["arguments"] == arguments[index]
            assert final["status"] == "failed" or final["output"][index] == finished
            done.add(index)
        else:
            raise AssertionError(f"unexpected event {kind}")
    if final["status"] != "failed":
        assert done == set(range(len(items)))
        assert len(final["output"]) == len(items)
    return final


# --- unit tests ----------------------------------------------------------------------------------


def test_start_events() -> None:
    translator = _translator()
    created, in_progress = translator.start()
    assert created["type"] == "response.created" and created["sequence_number"] == 0
    assert in_progress["type"] == "response.in_progress" and in_progress["sequence_number"] == 1
    assert created["response"]["status"] == "in_progress" and created["response"]["output"] == []
    assert in_progress["response"]["status"] == "in_progress"


def test_text_stream_event_sequence() -> None:
    translator, events = run(
        [
            _delta(role="assistant", content=""),
            _delta(content="Hel"),
            _delta(content="lo"),
            _finish("stop"),
            _usage_chunk(),
        ]
    )
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    check_grammar(events)
    delta = events[4]
    assert delta == {
        "type": "response.output_text.delta",
        "sequence_number": 4,
        "item_id": "msg_0",
        "output_index": 0,
        "content_index": 0,
        "delta": "Hel",
        "logprobs": [],
    }
    final = events[-1]["response"]
    assert final == translator.response
    assert final["status"] == "completed" and final["completed_at"] == 200
    assert final["output"][0]["content"][0]["text"] == "Hello"
    assert final["usage"]["input_tokens"] == 5 and final["usage"]["total_tokens"] == 7


def test_events_are_snapshots() -> None:
    _, events = run([_delta(content="a"), _delta(content="b"), _finish("stop")])
    added = next(e for e in events if e["type"] == "response.output_item.added")
    assert added["item"]["content"] == [] and added["item"]["status"] == "in_progress"
    assert events[0]["response"]["output"] == []


def test_parallel_tool_calls_interleaved() -> None:
    chunks = [
        _delta(role="assistant", content=None, tool_calls=[_tool(0, "call_a", "f")]),
        _delta(tool_calls=[_tool(1, "call_b", "g")]),
        _delta(tool_calls=[_tool(0, args='{"a"')]),
        _delta(tool_calls=[_tool(1, args='{"b"'), _tool(0, args=":1}")]),
        _delta(tool_calls=[_tool(1, args=":2}")]),
        _finish("tool_calls"),
    ]
    _, events = run(chunks)
    final = check_grammar(events)
    assert [(i["call_id"], i["name"], i["arguments"]) for i in final["output"]] == [
        ("call_a", "f", '{"a":1}'),
        ("call_b", "g", '{"b":2}'),
    ]
    dones = [e for e in events if e["type"] == "response.function_call_arguments.done"]
    assert [(d["output_index"], d["name"], d["arguments"]) for d in dones] == [
        (0, "f", '{"a":1}'),
        (1, "g", '{"b":2}'),
    ]


def test_calls_to_tools_allowed_tools_omits_are_suppressed() -> None:
    # Open Responses: a tool call to a tool allowed_tools does not list "MUST be rejected or
    # suppressed by the server"; the streamed and the non-streaming translation agree.
    req = CreateResponseRequest.parse({
        "model": "m", "input": "hi", "stream": True,
        "tools": [{"type": "function", "name": "f"}, {"type": "function", "name": "g"}],
        "tool_choice": {
            "type": "allowed_tools", "mode": "auto", "tools": [{"type": "function", "name": "g"}]
        },
    })
    skeleton = new_response(req, response_id="resp_1", created_at=100, status="in_progress")
    translator = StreamTranslator(skeleton, id_factory=_ids(), clock=lambda: 200.0)
    chunks = [
        _delta(role="assistant", content=None, tool_calls=[_tool(0, "call_a", "f")]),
        _delta(tool_calls=[_tool(1, "call_b", "g")]),
        _delta(tool_calls=[_tool(0, args='{"a":1}'), _tool(1, args='{"b":2}')]),
        _finish("tool_calls"),
    ]
    events = translator.start()
    for chunk in chunks:
        events += translator.feed(chunk)
    events += translator.finish()
    final = check_grammar(events)
    streamed = [(i["call_id"], i["name"], i["arguments"]) for i in final["output"]]
    assert streamed == [("call_b", "g", '{"b":2}')]
    message = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_a", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}},
        {"id": "call_b", "type": "function", "function": {"name": "g", "arguments": '{"b":2}'}},
    ]}
    whole = translate.apply_chat_completion(
        skeleton, {"choices": [{"message": message, "finish_reason": "tool_calls"}]},
        id_factory=_ids(), now=200,
    )
    assert [(i["call_id"], i["name"]) for i in whole["output"]] == [("call_b", "g")]


def test_text_then_tool_call_closes_the_message_first() -> None:
    _, events = run(
        [
            _delta(content="checking"),
            _delta(tool_calls=[_tool(0, "call_a", "f", "{}")]),
            _finish("tool_calls"),
        ]
    )
    types = [e["type"] for e in events]
    assert types.index("response.output_item.done") < types.index("response.function_call_arguments.delta")
    check_grammar(events)


def test_refusal_stream() -> None:
    _, events = run(
        [
            _delta(role="assistant", content=""),
            _delta(refusal="I can't "),
            _delta(refusal="help."),
            _finish("stop"),
        ]
    )
    final = check_grammar(events)
    assert "response.refusal.delta" in [e["type"] for e in events]
    done = next(e for e in events if e["type"] == "response.refusal.done")
    assert done["refusal"] == "I can't help."
    assert final["output"][0]["content"] == [{"type": "refusal", "refusal": "I can't help."}]


@pytest.mark.parametrize(
    ("reason", "detail"), [("length", "max_output_tokens"), ("content_filter", "content_filter")]
)
def test_incomplete_stream(reason: str, detail: str) -> None:
    _, events = run([_delta(content="partial"), _finish(reason)])
    assert events[-1]["type"] == "response.incomplete"
    final = check_grammar(events)
    assert final["status"] == "incomplete" and final["incomplete_details"] == {"reason": detail}
    assert final["completed_at"] is None
    item_done = next(e for e in events if e["type"] == "response.output_item.done")
    assert item_done["item"]["status"] == "incomplete"


def test_empty_stream_gives_an_empty_message() -> None:
    _, events = run([_delta(role="assistant", content=""), _finish("stop")])
    final = check_grammar(events)
    assert final["output"][0]["content"] == [translate.output_text_part("")]


def test_usage_in_the_finish_chunk() -> None:
    chunk = _finish("stop")
    chunk["usage"] = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    translator, _ = run([_delta(content="x"), chunk])
    assert translator.response["usage"]["total_tokens"] == 2


def test_other_choices_are_ignored() -> None:
    _, events = run(
        [{"choices": [{"index": 1, "delta": {"content": "other"}}]}, _delta(content="mine"), _finish("stop")]
    )
    assert check_grammar(events)["output"][0]["content"][0]["text"] == "mine"


def test_fail_mid_stream() -> None:
    translator = _translator()
    events = translator.start() + translator.feed(_delta(content="partial"))
    failed = translator.fail(errors.backend_bad_response("the stream broke off"))
    # the open message is closed as incomplete before the terminal event: nothing stays in_progress
    assert [e["type"] for e in failed] == [
        "response.output_text.done", "response.content_part.done",
        "response.output_item.done", "response.failed",
    ]
    assert failed[2]["item"]["status"] == "incomplete"
    events += failed
    final = check_grammar(events)
    assert final["status"] == "failed"
    assert [item["status"] for item in final["output"]] == ["incomplete"]
    # OpenAI's ResponseErrorCode is a closed list: the gateway's own code stays out of it.
    assert final["error"] == {
        "code": "server_error",
        "message": "The model backend returned an invalid response: the stream broke off",
    }
    assert final["completed_at"] is None and translator.terminated


def test_fail_before_start_emits_the_start_events() -> None:
    translator = _translator()
    events = translator.fail(errors.APIError(500, "boom", errors.SERVER_ERROR))
    assert [e["type"] for e in events] == ["response.created", "response.in_progress", "response.failed"]
    assert events[-1]["response"]["error"] == {"code": "server_error", "message": "boom"}


def test_error_chunk_raises_api_error() -> None:
    translator = _translator()
    translator.start()
    with pytest.raises(errors.APIError) as info:
        translator.feed({"error": {"message": "model crashed"}})
    assert info.value.status == 502 and "model crashed" in info.value.message


@pytest.mark.parametrize("terminal", ["finish", "fail"])
def test_every_call_after_the_terminal_event_raises(terminal: str) -> None:
    translator = _translator()
    translator.start()
    if terminal == "finish":
        translator.finish()
    else:
        translator.fail(errors.backend_timeout(5))
    with pytest.raises(RuntimeError):
        translator.feed(_delta(content="late"))
    with pytest.raises(RuntimeError):
        translator.finish()
    with pytest.raises(RuntimeError):
        translator.fail(errors.backend_timeout(5))
    with pytest.raises(RuntimeError):
        translator.start()


def test_feed_before_start_raises() -> None:
    with pytest.raises(RuntimeError):
        _translator().feed(_delta(content="x"))


def test_events_are_json_serialisable() -> None:
    _, events = run(
        [_delta(content="x"), _delta(tool_calls=[_tool(0, "call_a", "f", "{}")]), _finish("stop")]
    )
    for event in events:
        json.dumps(event)


# --- property: any legal chunk sequence ------------------------------------------------------------

_piece = st.text(alphabet='ab c\u00e9{}":1', min_size=1, max_size=5)


@st.composite
def chat_stream(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A legal chat chunk sequence and the equivalent non-streaming chat completion."""
    text = draw(st.lists(_piece, max_size=4))
    refusal = draw(st.lists(_piece, max_size=3))
    n_calls = draw(st.integers(0, 3))
    calls = [
        (f"call_{i}", draw(st.sampled_from(["f", "g", "lookup"])), draw(st.lists(_piece, max_size=3)))
        for i in range(n_calls)
    ]
    finish = draw(st.sampled_from(["stop", "length", "tool_calls", "content_filter", None]))
    chunks: list[dict[str, Any]] = [_delta(role="assistant", content="")]
    chunks += [_delta(content=piece) for piece in text]
    chunks += [_delta(refusal=piece) for piece in refusal]
    # Interleave the calls' deltas; each call's header comes first and headers come in index order.
    pending = [
        [_tool(i, cid, name)] + [_tool(i, args=a) for a in args] for i, (cid, name, args) in enumerate(calls)
    ]
    started = 0
    while any(pending):
        candidates = [i for i in range(started) if pending[i]]
        if started < len(pending):
            candidates.append(started)
        index = draw(st.sampled_from(candidates))
        if index == started:
            started += 1
        call = pending[index].pop(0)
        previous = chunks[-1]["choices"][0]["delta"] if chunks[-1]["choices"] else {}
        if "tool_calls" in previous and previous["tool_calls"][-1]["index"] != index and draw(st.booleans()):
            previous["tool_calls"].append(call)  # several calls' deltas in one chunk
        else:
            chunks.append(_delta(tool_calls=[call]))
        if draw(st.integers(0, 5)) == 0:
            chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": None}]})
    chunks.append(_finish(finish))
    usage = None
    if draw(st.booleans()):
        usage = {"prompt_tokens": draw(st.integers(0, 50)), "completion_tokens": draw(st.integers(0, 50))}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        chunks.append({"choices": [], "usage": usage})
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) if text else None}
    if refusal:
        message["refusal"] = "".join(refusal)
    if calls:
        message["tool_calls"] = [
            {"id": cid, "type": "function", "function": {"name": name, "arguments": "".join(args)}}
            for cid, name, args in calls
        ]
    completion: dict[str, Any] = {"choices": [{"index": 0, "message": message, "finish_reason": finish}]}
    if usage is not None:
        completion["usage"] = usage
    return chunks, completion


@settings(max_examples=80)
@given(chat_stream())
def test_any_legal_stream_is_grammatical_and_equals_the_non_streaming_translation(
    case: tuple[list[dict[str, Any]], dict[str, Any]],
) -> None:
    chunks, completion = case
    translator, events = run(chunks)
    final = check_grammar(events)
    assert final == translator.response
    expected = translate.apply_chat_completion(_skeleton(), completion, id_factory=_ids(), now=200)
    assert final == expected


@settings(max_examples=40)
@given(chat_stream(), st.integers(0, 30))
def test_failing_at_any_point_ends_with_one_failed_event(
    case: tuple[list[dict[str, Any]], dict[str, Any]],
    cut: int,
) -> None:
    chunks, _ = case
    translator = _translator()
    events = translator.start()
    for chunk in chunks[:cut]:
        events += translator.feed(chunk)
    events += translator.fail(errors.backend_bad_response("dropped"))
    final = check_grammar(events)
    assert final["status"] == "failed" and final["error"]["code"] == "server_error"
    assert final["error"]["message"].endswith("dropped")


@pytest.mark.parametrize(
    ("status", "code"), [(429, "rate_limit_exceeded"), (400, "invalid_prompt"), (502, "server_error"),
                         (504, "server_error")],
)
def test_response_error_codes_come_from_openais_closed_list(status: int, code: str) -> None:
    err = errors.APIError(status, "detail kept")
    assert errors.response_error(err) == {"code": code, "message": "detail kept"}
