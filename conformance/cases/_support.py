"""Helpers shared by the Responses case modules (not a case module itself).

They only wrap ``CaseContext`` calls and the scripted-backend protocol (ARCHITECTURE.md,
"Scripted backend protocol"); every verdict still comes from ``ctx.check``."""

from __future__ import annotations

import json
from typing import Any, TypeGuard

import httpx

from conformance.context import CaseContext

OAI = "openai-openapi.yaml"
ORS = "openresponses-openapi.json"
UNKNOWN_RESPONSE = "resp_conformance_does_not_exist_0000"
# what a gateway answers on an optional endpoint it does not offer
NOT_OFFERED = (404, 405, 501)

# Two function tools, declared in this order: the scripted backend's `[[tool]]` picks the first
# and `[[tools:N]]` cycles through them.
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather of a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
TIME = {
    "type": "function",
    "name": "get_time",
    "description": "Current time of a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
TOOLS: list[dict[str, Any]] = [WEATHER, TIME]


def is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def items_of(resp: dict[str, Any], item_type: str) -> list[dict[str, Any]]:
    return [i for i in resp.get("output") or [] if isinstance(i, dict) and i.get("type") == item_type]


def parse_json_text(ctx: CaseContext, text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        ctx.check(False, f"{what} is JSON", expected="JSON text", actual=text[:300])
    return None


async def backend_messages(ctx: CaseContext, input: Any, **extra: Any) -> list[dict[str, Any]]:
    """Create a response whose last user/tool text carries ``[[messages]]`` and return the chat
    messages the scripted backend received (its reply is their JSON)."""
    resp = await ctx.create_ok(input, **extra)
    got = parse_json_text(ctx, ctx.output_text(resp), "the scripted [[messages]] reply")
    ctx.check(
        isinstance(got, list) and all(isinstance(m, dict) for m in got),
        "the backend received a list of chat messages",
        expected="list of messages",
        actual=got,
    )
    return got  # type: ignore[no-any-return]


async def backend_request(ctx: CaseContext, **extra: Any) -> dict[str, Any]:
    """The Chat Completions parameters (all but messages) the backend received (``[[request]]``)."""
    resp = await ctx.create_ok("[[request]]", **extra)
    got = parse_json_text(ctx, ctx.output_text(resp), "the scripted [[request]] reply")
    ctx.check(isinstance(got, dict), "the backend reports its parameters", expected="object", actual=got)
    return got  # type: ignore[no-any-return]


def roles_and_texts(messages: list[dict[str, Any]]) -> list[tuple[Any, Any]]:
    return [(m.get("role"), m.get("content")) for m in messages]


async def one_function_call(
    ctx: CaseContext, directive: str = '[[tool:get_weather:{"city":"Paris"}]]', **extra: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Create a response in which the scripted model calls one tool; return (response, call item)."""
    resp = await ctx.create_ok(directive, tools=TOOLS, **extra)
    calls = items_of(resp, "function_call")
    ctx.check(
        len(calls) == 1,
        "the response holds one function_call item",
        expected=1,
        actual=[i.get("type") for i in resp.get("output") or [] if isinstance(i, dict)],
    )
    return resp, calls[0]


async def post_offered(ctx: CaseContext, path: str, body: dict[str, Any]) -> httpx.Response:
    """POST to an optional endpoint: UNIMPLEMENTED when the gateway does not offer it."""
    resp = await ctx.post(path, json=body)
    if resp.status_code in NOT_OFFERED:
        ctx.unimplemented(f"the gateway does not offer POST {path} (HTTP {resp.status_code})")
    return resp


def item_text(item: Any) -> str:
    """The text of a message item (string content, or its parts' text joined)."""
    if not isinstance(item, dict):
        return repr(item)
    content = item.get("content")
    if isinstance(content, str):
        return content
    return "".join(str(p.get("text", "")) for p in content or [] if isinstance(p, dict))


def messages_reply(ctx: CaseContext, resp: dict[str, Any]) -> list[Any]:
    """The chat messages a scripted ``[[messages]]`` reply reports (its output text is their JSON)."""
    try:
        msgs = json.loads(ctx.output_text(resp))
    except ValueError:
        msgs = None
    ctx.check(
        isinstance(msgs, list),
        "the scripted [[messages]] reply is a JSON list",
        expected="list",
        actual=ctx.output_text(resp)[:200],
    )
    assert isinstance(msgs, list)
    return msgs
