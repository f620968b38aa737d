"""The core's objects and stream events validate against both profiles' published schemas.

The validators are built from the specs in /work/shared/specs (read at test time, never copied
into the repository; the tests skip when the specs are absent). Other core tests import
`schema_errors` from here.
"""

from __future__ import annotations

import functools
import itertools
from typing import Any

import pytest

from reference.core import errors, translate
from reference.core.models import CreateResponseRequest
from reference.core.responses import new_response
from reference.core.streaming import StreamTranslator
from tests.support.schemas import _components, _validator, schema_errors

PROFILES = ["openai", "openresponses"]






@functools.cache
def _event_schemas(profile: str) -> dict[str, str]:
    """Stream event type -> the schema that defines it (its `type` property is that one value)."""
    found: dict[str, str] = {}
    for name, schema in _components(profile)["schemas"].items():
        if not isinstance(schema, dict) or "Beta" in name:
            continue
        kind = (schema.get("properties") or {}).get("type") or {}
        values = kind.get("enum") or ([kind["const"]] if "const" in kind else [])
        if len(values) == 1 and str(values[0]).startswith("response.") and name.endswith("Event"):
            found.setdefault(values[0], name)
    return found




def event_errors(event: dict[str, Any], profile: str) -> list[str]:
    schema_name = _event_schemas(profile).get(event["type"])
    assert schema_name is not None, f"{profile} defines no event {event['type']}"
    validator = _validator(profile, schema_name)
    found = []
    for error in validator.iter_errors(event):
        path = list(error.absolute_path)
        # OpenAI's Response schema types `usage` as a non-null object, yet the API itself sends
        # `"usage": null` until the response is done; Open Responses requires the key (nullable).
        if profile == "openai" and path == ["response", "usage"] and error.instance is None:
            continue
        found.append(f"{event['type']} {path}: {error.message[:200]}")
    return found


# --- the tests -----------------------------------------------------------------------------------


def _ids() -> translate.IdFactory:
    counter = itertools.count()
    return lambda prefix: f"{prefix}_{next(counter)}"


def _skeleton() -> dict[str, Any]:
    req = CreateResponseRequest.parse(
        {
            "model": "m",
            "input": "hi",
            "stream": True,
            "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
            "metadata": {"k": "v"},
        }
    )
    return new_response(req, response_id="resp_1", created_at=1, status="in_progress")


def _delta(**delta: Any) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]}


STREAM = [
    _delta(role="assistant", content=""),
    _delta(content="Hel"),
    _delta(content="lo"),
    _delta(refusal="no"),
    _delta(
        tool_calls=[
            {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}
        ]
    ),
    _delta(tool_calls=[{"index": 0, "function": {"arguments": "{}"}}]),
    {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}},
]


# response.error.code is mapped onto OpenAI's closed ResponseErrorCode list (errors.response_error).
FAILED_OPENAI = ("openai", "failed")


@pytest.mark.parametrize(
    ("profile", "ending"),
    [
        *[(p, e) for p in PROFILES for e in ("completed", "incomplete")],
        ("openresponses", "failed"),
        FAILED_OPENAI,
    ],
)
def test_stream_events_match_the_event_schemas(profile: str, ending: str) -> None:
    translator = StreamTranslator(_skeleton(), id_factory=_ids(), clock=lambda: 2)
    events = translator.start()
    for chunk in STREAM[:-2]:
        events += translator.feed(chunk)
    if ending == "failed":
        events += translator.fail(errors.backend_timeout(3))
    else:
        events += translator.feed(
            {"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}
            if ending == "incomplete"
            else STREAM[-2]
        )
        events += translator.feed(STREAM[-1])
        events += translator.finish()
    assert events[-1]["type"] == f"response.{ending}"
    kinds = {event["type"] for event in events}
    assert {"response.refusal.delta", "response.function_call_arguments.delta"} <= kinds
    problems = [problem for event in events for problem in event_errors(event, profile)]
    assert problems == []


@pytest.mark.parametrize("profile", PROFILES)
def test_non_streaming_response_matches_the_response_schema(profile: str) -> None:
    chat = {
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "hi", "refusal": "no"},
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    assert schema_errors(translate.apply_chat_completion(_skeleton(), chat), profile) == []
