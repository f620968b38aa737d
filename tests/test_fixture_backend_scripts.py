"""The sans-IO script engine of fixtures.backend: every directive of ARCHITECTURE.md
("Scripted backend protocol"), as JSON and as SSE."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import struct
from typing import Any

import pytest

from fixtures.backend.scripts import (
    DIRECTIVES,
    REFUSAL_TEXT,
    Directive,
    Plan,
    ScriptEngine,
    embed,
    model_directive,
    parse_directives,
    strip_directives,
    text_pieces,
)
from fixtures.backend.testing import TOOLS, assemble, chat, chunks_of, sse_data


def run(body: dict[str, Any], engine: ScriptEngine | None = None) -> Plan:
    return (engine or ScriptEngine(clock=lambda: 1_700_000_000)).chat(json.dumps(body).encode())


def both(content: str, **extra: Any) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """(JSON choice, message re-assembled from the stream, stream chunks) for one request."""
    plain = run(chat(content, **extra))
    assert plain.status == 200 and not plain.stream
    streamed = run(chat(content, stream=True, **extra))
    assert streamed.status == 200 and streamed.stream
    chunks = chunks_of(b"".join(streamed.frames))
    return plain.json["choices"][0], assemble(chunks), chunks


def agree(choice: dict[str, Any], streamed: dict[str, Any]) -> None:
    """Streamed and non-streamed answers describe the same message."""
    assert streamed["finish_reason"] == choice["finish_reason"]
    message = choice["message"]
    assert streamed["message"]["role"] == "assistant"
    assert streamed["message"]["refusal"] == message["refusal"]
    assert streamed["message"].get("tool_calls") == message.get("tool_calls")
    # the stream's first chunk carries content "" (contract), so an absent text reads as None here
    assert streamed["message"]["content"] == (message["content"] or None)


# --------------------------------------------------------------------------- parsing


def test_directive_table_matches_architecture() -> None:
    assert set(DIRECTIVES) == {
        "text", "messages", "request", "tool", "tools", "length", "refusal", "content_filter",
        "slow", "delay", "error", "malformed", "drop", "probe",
    }  # fmt: skip


def test_parse_directives_in_order_with_args() -> None:
    text = 'hi [[slow:50]] [[text:a b c]] [[tool:f:{"a":[1]}]] [[unknown]] [[error:503:ollama]]'
    assert parse_directives(text) == [
        Directive("slow", "50"),
        Directive("text", "a b c"),
        Directive("tool", 'f:{"a":[1]}'),
        Directive("error", "503:ollama"),
    ]
    assert strip_directives(text) == "hi [[unknown]]"


def test_model_directive() -> None:
    assert model_directive("scripted-refusal") == Directive("refusal")
    assert model_directive("scripted-error:503") == Directive("error", "503")
    assert model_directive("scripted-nonsense") is None
    assert model_directive("gpt-4o") is None


def test_text_pieces_concatenate() -> None:
    assert text_pieces("a b  c ") == ["a ", "b  ", "c "]
    assert text_pieces("  lead") == ["  lead"]
    assert "".join(text_pieces("x\ny z")) == "x\ny z"
    assert text_pieces("") == []


# --------------------------------------------------------------------------- replies


def test_echo_without_directives() -> None:
    choice, streamed, chunks = both("[[slow:1]] hello   there")
    assert choice["message"] == {"role": "assistant", "content": "hello there", "refusal": None}
    assert choice["finish_reason"] == "stop"
    agree(choice, streamed)
    # "text split into word pieces (each word with its following space)"
    assert [c["choices"][0]["delta"] for c in chunks[:3]] == [
        {"role": "assistant", "content": ""},
        {"content": "hello "},
        {"content": "there"},
    ]


def test_echo_ok_when_empty_and_tool_result_after_tool_message() -> None:
    assert run(chat("[[slow:0]]")).json["choices"][0]["message"]["content"] == "ok"
    body = {
        "model": "m",
        "messages": [
            {"role": "user", "content": "[[tool]]"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        ],
    }  # fmt: skip
    assert run(body).json["choices"][0]["message"]["content"] == "tool result: sunny"


def test_text() -> None:
    choice, streamed, _ = both("ignored [[text:exactly  this]]")
    assert choice["message"]["content"] == "exactly  this"
    agree(choice, streamed)


def test_messages_flattens_content() -> None:
    body = {
        "model": "m",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_9", "type": "function", "function": {"name": "f", "arguments": "{\"x\":1}"}}]},
            {"role": "tool", "tool_call_id": "call_9", "content": "42"},
            {"role": "user", "content": [
                {"type": "text", "text": "look [[messages]]"},
                {"type": "image_url", "image_url": {"url": "https://img.test/a.png"}},
                {"type": "file", "file": {"filename": "doc.pdf", "file_data": "AAAA"}},
            ]},
        ],
    }  # fmt: skip
    content = run(body).json["choices"][0]["message"]["content"]
    assert content == json.dumps(
        [
            {"role": "system", "content": "be brief"},
            {"role": "assistant", "content": None, "tool_calls": [{"name": "f", "arguments": '{"x":1}'}]},
            {"role": "tool", "content": "42", "tool_call_id": "call_9"},
            {"role": "user", "content": "look [[messages]]\n<image:https://img.test/a.png>\n<file:doc.pdf>"},
        ],
        sort_keys=True,
        separators=(",", ":"),
    )


def test_request_reports_parameters_except_messages() -> None:
    body = chat(
        "[[request]]",
        temperature=0.5,
        top_p=0.9,
        max_completion_tokens=20,
        tools=TOOLS,
        tool_choice="auto",
        parallel_tool_calls=False,
        response_format={"type": "json_object"},
        metadata={"k": "v"},
    )
    choice, streamed, _ = both("[[request]]", **{k: v for k, v in body.items() if k not in ("messages",)})
    reported = json.loads(choice["message"]["content"])
    assert reported == {
        "model": "test-model",
        "temperature": 0.5,
        "top_p": 0.9,
        "max_completion_tokens": 20,
        "tools": ["get_weather", "get_time"],
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "response_format": {"type": "json_object"},
        "metadata": {"k": "v"},
    }
    assert json.loads(streamed["message"]["content"]) == {**reported, "stream": True}


@pytest.mark.parametrize(
    ("directive", "name", "arguments"),
    [
        ("[[tool]]", "get_weather", "{}"),
        ("[[tool:get_time]]", "get_time", "{}"),
        ('[[tool:lookup:{"city": "Paris", "days": [1, 2]}]]', "lookup", '{"city": "Paris", "days": [1, 2]}'),
    ],
)
def test_tool(directive: str, name: str, arguments: str) -> None:
    choice, streamed, chunks = both(directive, tools=TOOLS)
    assert choice["finish_reason"] == "tool_calls"
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"] == {"name": name, "arguments": arguments}
    agree(choice, streamed)
    # first tool chunk: id, type, name, arguments ""; then pieces of at most 4 characters
    deltas = [
        c["choices"][0]["delta"]["tool_calls"][0]
        for c in chunks
        if c["choices"][0]["delta"].get("tool_calls")
    ]
    assert deltas[0]["function"] == {"name": name, "arguments": ""} and deltas[0]["id"].startswith("call_")
    pieces = [d["function"]["arguments"] for d in deltas[1:]]
    assert all(0 < len(p) <= 4 for p in pieces)
    json.loads("".join(pieces))


def test_tool_without_declared_tools_still_calls_something() -> None:
    (call,) = run(chat("[[tool]]")).json["choices"][0]["message"]["tool_calls"]
    assert call["function"]["name"] and call["function"]["arguments"] == "{}"


def test_parallel_tools() -> None:
    choice, streamed, _ = both("[[tools:3]]", tools=TOOLS)
    calls = choice["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["get_weather", "get_time", "get_weather"]
    assert [json.loads(c["function"]["arguments"]) for c in calls] == [{"index": i} for i in range(3)]
    assert len({c["id"] for c in calls}) == 3
    agree(choice, streamed)
    # streamed argument pieces of every call concatenate to valid JSON
    assert [json.loads(c["function"]["arguments"]) for c in streamed["message"]["tool_calls"]] == [
        {"index": i} for i in range(3)
    ]


def test_length() -> None:
    choice, streamed, _ = both("[[length]]")
    assert choice["finish_reason"] == "length"
    assert choice["message"]["content"] == "partial answer"
    agree(choice, streamed)


def test_refusal() -> None:
    choice, streamed, chunks = both("[[refusal]]")
    assert choice["message"]["refusal"] == REFUSAL_TEXT
    assert choice["message"]["content"] is None
    assert any("refusal" in c["choices"][0]["delta"] for c in chunks)
    agree(choice, streamed)


def test_refusal_by_model_name() -> None:
    body = {"model": "scripted-refusal", "messages": [{"role": "user", "content": "anything"}]}
    assert run(body).json["choices"][0]["message"]["refusal"] == REFUSAL_TEXT


def test_content_filter() -> None:
    choice, streamed, _ = both("[[content_filter]]")
    assert (choice["finish_reason"], choice["message"]["content"]) == ("content_filter", "filtered")
    agree(choice, streamed)


def test_slow_and_delay_timing() -> None:
    plan = run(chat("[[slow:50]] [[delay:120]] x", stream=True))
    assert (plan.spacing_s, plan.delay_s) == (0.05, 0.12)
    assert run(chat("[[slow:30]]")).spacing_s == 0.03


@pytest.mark.parametrize("stream", [False, True])
def test_error_openai_shape(stream: bool) -> None:
    plan = run(chat("[[error:429]]", stream=stream))
    assert plan.status == 429 and not plan.stream
    assert plan.json == {
        "error": {
            "message": "scripted error 429",
            "type": "rate_limit_error",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    plan = run({"model": "scripted-error:503", "messages": [{"role": "user", "content": "x"}]})
    assert plan.status == 503
    assert plan.json["error"]["message"] == "scripted error 503"
    assert plan.json["error"]["type"] == "server_error"


def test_error_ollama_shape() -> None:
    plan = run(chat("[[error:404:ollama]]"))
    assert plan.status == 404 and plan.json == {"error": "scripted error 404"}


def test_malformed() -> None:
    plan = run(chat("[[malformed]]"))
    assert plan.status == 200
    with pytest.raises(ValueError):
        json.loads(plan.body)
    streamed = run(chat("[[malformed]]", stream=True))
    payloads = sse_data(b"".join(streamed.frames))
    bad = [p for p in payloads if p != "[DONE]" and not _is_json(p)]
    assert bad, payloads


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def test_drop_plans() -> None:
    assert run(chat("[[drop]]")).drop
    plan = run(chat("[[drop]]", stream=True))
    assert plan.drop and plan.stream
    payloads = sse_data(b"".join(plan.frames))
    assert "[DONE]" not in payloads
    contents = [json.loads(p)["choices"][0]["delta"].get("content") for p in payloads]
    assert len([c for c in contents if c]) == 2  # "two content chunks"


def test_probe() -> None:
    expected = "fixtures.backend/1 " + hashlib.sha256(b"n0nce").hexdigest()[:16]
    choice, streamed, _ = both("[[probe:n0nce]]")
    assert choice["message"]["content"] == expected
    agree(choice, streamed)


def test_directives_combine() -> None:
    plan = run(chat("[[slow:50]] [[text:a b c]]", stream=True))
    assert plan.spacing_s == 0.05
    assert assemble(chunks_of(b"".join(plan.frames)))["message"]["content"] == "a b c"


# --------------------------------------------------------------------------- envelope, usage


def test_envelope_and_usage_non_streaming() -> None:
    engine = ScriptEngine(clock=lambda: 1_700_000_123.9)
    body = {
        "model": "my-model",
        "messages": [
            {"role": "system", "content": "one two"},
            {"role": "user", "content": "three four five"},
        ],
    }
    first, second = run(body, engine).json, run(body, engine).json
    assert first["object"] == "chat.completion"
    assert first["id"].startswith("chatcmpl-") and first["id"] != second["id"]
    assert (first["created"], first["model"]) == (1_700_000_123, "my-model")
    assert first["usage"] == {
        "prompt_tokens": 5,
        "completion_tokens": 3,
        "total_tokens": 8,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


@pytest.mark.parametrize("include_usage", [True, False, None])
def test_stream_include_usage(include_usage: bool | None) -> None:
    extra = {} if include_usage is None else {"stream_options": {"include_usage": include_usage}}
    plan = run(chat("alpha beta", stream=True, **extra))
    chunks = chunks_of(b"".join(plan.frames))
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[-1 if not include_usage else -2]["choices"][0]["finish_reason"] == "stop"
    if include_usage:
        assert chunks[-1]["choices"] == []
        assert chunks[-1]["usage"]["prompt_tokens"] == 2
        assert chunks[-1]["usage"]["completion_tokens"] == 2
        assert all(c["usage"] is None for c in chunks[:-1])
    else:
        assert all("usage" not in c for c in chunks)


def test_bad_requests() -> None:
    engine = ScriptEngine()
    assert engine.chat(b"{not json").status == 400
    assert engine.chat(b'{"model": "m"}').status == 400
    assert engine.handle("GET", "/nowhere", [], b"").status == 404
    assert engine.handle("GET", "/v1/chat/completions", [], b"").status == 405


# --------------------------------------------------------------------------- embeddings


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_embed_is_normalised_and_similar_for_shared_words() -> None:
    cat = embed("The cat sat on the mat")
    assert len(cat) == 256
    assert math.isclose(math.sqrt(sum(v * v for v in cat)), 1.0)
    assert embed("the CAT sat on the mat!") == cat  # lower-cased word tokens
    near = cosine(cat, embed("a cat on a mat"))
    far = cosine(cat, embed("quantum chromodynamics lectures"))
    assert near > far
    # 3 shared words (cat, on, mat) over norms sqrt(8) and sqrt(7), unless buckets collide
    assert near >= 3 / math.sqrt(56) - 1e-9


def test_embeddings_response_shape() -> None:
    plan = ScriptEngine().embeddings(
        json.dumps({"model": "emb", "input": ["red apple", "green apple pie"]}).encode()
    )
    out = plan.json
    assert out["object"] == "list" and out["model"] == "emb"
    assert [d["index"] for d in out["data"]] == [0, 1]
    assert all(d["object"] == "embedding" and len(d["embedding"]) == 256 for d in out["data"])
    assert out["usage"] == {"prompt_tokens": 5, "total_tokens": 5}
    single = ScriptEngine().embeddings(json.dumps({"model": "emb", "input": "red apple"}).encode()).json
    assert single["data"][0]["embedding"] == out["data"][0]["embedding"]


def test_embeddings_base64_like_the_openai_sdk_asks() -> None:
    out = (
        ScriptEngine()
        .embeddings(json.dumps({"model": "e", "input": "red apple", "encoding_format": "base64"}).encode())
        .json
    )
    raw = base64.b64decode(out["data"][0]["embedding"])
    floats = struct.unpack(f"<{len(raw) // 4}f", raw)
    assert floats == pytest.approx(embed("red apple"))


def test_embeddings_model_directive_error() -> None:
    plan = ScriptEngine().embeddings(json.dumps({"model": "scripted-error:500", "input": "x"}).encode())
    assert plan.status == 500 and plan.json["error"]["message"] == "scripted error 500"
