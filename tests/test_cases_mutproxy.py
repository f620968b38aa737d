"""A mutating proxy in front of the reference gateway, to prove the issue-4 conformance cases.

``MutatingProxy`` forwards every request to a real gateway (the reference with the scripted
backend behind it, started as subprocesses like ``--target reference``) and, for each name in
``active``, breaks one rule on the way in (the request), on the way out (JSON answers) or in
the event stream. With nothing active it is transparent, so a case that PASSes through it
passes on the reference; with one mutation active the same case must FAIL (or be NON_STRICT).
Each mutation imitates a plausible gateway bug (an ignored parameter, a dropped field, a wrong
status), not an arbitrary corruption.
"""

from __future__ import annotations

import asyncio
import copy
import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart, Response, request

from conformance.sse import SSEParser
from conformance.targets import builtin_target

JSON = dict[str, Any]


@dataclass
class Exchange:
    """The request as the proxy will forward it; hooks may rewrite it."""

    proxy: MutatingProxy
    method: str
    path: str  # e.g. /v1/responses/resp_1/input_items
    query: dict[str, str]
    body: Any  # parsed JSON, or None
    original: Any = None  # the body as the client sent it

    @property
    def is_create(self) -> bool:
        return self.method == "POST" and self.path.rstrip("/") == "/v1/responses"

    @property
    def parts(self) -> list[str]:
        return [p for p in self.path.split("/") if p]


RequestHook = Callable[[Exchange], Awaitable[None] | None]
ResponseHook = Callable[[Exchange, int, Any], Awaitable[tuple[int, Any]]]
EventsHook = Callable[[Exchange, list[JSON]], list[JSON]]


@dataclass
class Mutation:
    request: RequestHook | None = None
    response: ResponseHook | None = None
    events: EventsHook | None = None
    error_ctype: str | None = None


MUTATIONS: dict[str, Mutation] = {}


def mutation(name: str, **hooks: Any) -> None:
    assert name not in MUTATIONS, name
    MUTATIONS[name] = Mutation(**hooks)


# --------------------------------------------------------------------------- hook builders


def put(obj: Any, key: Any, value: Any) -> bool:
    """``obj[key] = value`` usable inside a lambda."""
    obj[key] = value
    return True


def on_request(fn: Callable[[Exchange], None]) -> RequestHook:
    return fn


def create_body(fn: Callable[[Exchange, JSON], object]) -> RequestHook:
    """Rewrite the body of POST /responses before it is forwarded."""

    def hook(ex: Exchange) -> None:
        if ex.is_create and isinstance(ex.body, dict):
            fn(ex, ex.body)

    return hook


def drop_request_key(key: str) -> RequestHook:
    return create_body(lambda ex, b: b.pop(key, None))


def create_answer(fn: Callable[[Exchange, JSON], object]) -> ResponseHook:
    """Rewrite a 200 answer of POST /responses (non-streaming)."""

    async def hook(ex: Exchange, status: int, body: Any) -> tuple[int, Any]:
        if ex.is_create and status == 200 and isinstance(body, dict):
            fn(ex, body)
        return status, body

    return hook


def response_objects(fn: Callable[[Exchange, JSON], object]) -> ResponseHook:
    """Rewrite every Response object answered with 200 (create, GET, cancel)."""

    async def hook(ex: Exchange, status: int, body: Any) -> tuple[int, Any]:
        if status == 200 and isinstance(body, dict) and body.get("object") == "response":
            fn(ex, body)
        return status, body

    return hook


def items_answer(fn: Callable[[Exchange, JSON], object]) -> ResponseHook:
    async def hook(ex: Exchange, status: int, body: Any) -> tuple[int, Any]:
        if ex.path.endswith("/input_items") and status == 200 and isinstance(body, dict):
            fn(ex, body)
        return status, body

    return hook


def items_query(fn: Callable[[dict[str, str]], object]) -> RequestHook:
    def hook(ex: Exchange) -> None:
        if ex.path.endswith("/input_items"):
            fn(ex.query)

    return hook


def errors_answer(fn: Callable[[Exchange, int, JSON], int]) -> ResponseHook:
    """Rewrite error answers ({"error": {...}}); ``fn`` returns the new status."""

    async def hook(ex: Exchange, status: int, body: Any) -> tuple[int, Any]:
        if status >= 400 and isinstance(body, dict) and isinstance(body.get("error"), dict):
            status = fn(ex, status, body["error"])
        return status, body

    return hook


def output_items(body: JSON, item_type: str) -> list[JSON]:
    return [i for i in body.get("output") or [] if isinstance(i, dict) and i.get("type") == item_type]


def message_parts(body: JSON) -> list[JSON]:
    return [p for m in output_items(body, "message") for p in m.get("content") or [] if isinstance(p, dict)]


def each_event(types: tuple[str, ...], fn: Callable[[JSON], object]) -> EventsHook:
    def hook(ex: Exchange, events: list[JSON]) -> list[JSON]:
        for ev in events:
            if ev.get("type") in types:
                fn(ev)
        return events

    return hook


def drop_events(*types: str) -> EventsHook:
    return lambda ex, events: [e for e in events if e.get("type") not in types]


TERMINALS = ("response.completed", "response.failed", "response.incomplete")


# --------------------------------------------------------------------------- params


def _set(key: str, value: Any) -> Callable[[Exchange, JSON], object]:
    def fn(ex: Exchange, body: JSON) -> None:
        body[key] = copy.deepcopy(value)

    return fn


mutation("echo-temperature", response=create_answer(_set("temperature", 1.0)))
mutation("echo-top-p", response=create_answer(_set("top_p", 1.0)))
mutation("echo-max-output-tokens", response=create_answer(_set("max_output_tokens", None)))


def _wrong_tool_choice(ex: Exchange, body: JSON) -> None:
    sent = (ex.original or {}).get("tool_choice")
    body["tool_choice"] = "auto" if sent not in (None, "auto") else "none"


mutation("echo-tool-choice", response=create_answer(_wrong_tool_choice))
mutation("echo-tools-reversed", response=create_answer(lambda ex, b: put(b, "tools", b["tools"][::-1])))
mutation(
    "echo-tool-parameters",
    response=create_answer(lambda ex, b: [put(t, "parameters", {}) for t in b.get("tools") or []]),
)
mutation("echo-metadata", response=create_answer(_set("metadata", {})))
mutation("echo-parallel-tool-calls", response=create_answer(_set("parallel_tool_calls", True)))


def _wrong_format(ex: Exchange, body: JSON) -> None:
    sent = ((ex.original or {}).get("text") or {}).get("format") or {"type": "text"}
    body["text"] = {"format": {"type": "json_object"} if sent.get("type") == "text" else {"type": "text"}}


mutation("echo-text-format", response=create_answer(_wrong_format))
mutation("echo-instructions", response=create_answer(_set("instructions", None)))
mutation("echo-store", response=create_answer(_set("store", True)))
mutation("echo-background", response=create_answer(lambda ex, b: b.pop("background", None)))


def _wrong_previous(ex: Exchange, body: JSON) -> None:
    body["previous_response_id"] = "resp_wrong" if body.get("previous_response_id") is None else None


mutation("echo-previous-response-id", response=create_answer(_wrong_previous))
for _key in ("temperature", "max_output_tokens", "text", "parallel_tool_calls", "instructions", "store"):
    mutation(f"req-drop-{_key}", request=drop_request_key(_key))
mutation("req-tool-choice-auto", request=create_body(lambda ex, b: put(b, "tool_choice", "auto")))
mutation(
    "req-tools-reversed",
    request=create_body(lambda ex, b: put(b, "tools", (b.get("tools") or [])[::-1])),
)
mutation("req-drop-previous", request=drop_request_key("previous_response_id"))


# --------------------------------------------------------------------------- input


def _input_list(fn: Callable[[list[Any]], list[Any]]) -> RequestHook:
    return create_body(
        lambda ex, b: put(b, "input", fn(b["input"])) if isinstance(b.get("input"), list) else None
    )


mutation(
    "req-string-prefixed",
    request=create_body(
        lambda ex, b: put(b, "input", "X " + b["input"]) if isinstance(b.get("input"), str) else None
    ),
)
mutation("req-input-drop-first", request=_input_list(lambda items: items[1:]))


def _assistant_to_user(items: list[Any]) -> list[Any]:
    for item in items:
        if isinstance(item, dict) and item.get("role") == "assistant":
            item["role"] = "user"
            if isinstance(item.get("content"), list):
                item["content"] = [{"type": "input_text", "text": p.get("text", "")} for p in item["content"]]
    return items


mutation("req-assistant-as-user", request=_input_list(_assistant_to_user))


def _first_part_only(items: list[Any]) -> list[Any]:
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("content"), list):
            item["content"] = item["content"][:1]
    return items


mutation("req-first-part-only", request=_input_list(_first_part_only))


def _instructions_after_first(ex: Exchange, body: JSON) -> None:
    text = body.pop("instructions", None)
    if text is not None and isinstance(body.get("input"), list):
        body["input"].insert(1, {"role": "system", "content": text})


mutation("req-instructions-late", request=create_body(_instructions_after_first))


# --------------------------------------------------------------------------- output


def _usage(fn: Callable[[JSON], object]) -> ResponseHook:
    return create_answer(lambda ex, b: fn(b["usage"]) if isinstance(b.get("usage"), dict) else None)


mutation(
    "usage-no-details",
    response=_usage(lambda u: [u.pop("input_tokens_details", None), u.pop("output_tokens_details", None)]),
)


def _cached_too_big(u: JSON) -> None:
    u["input_tokens_details"]["cached_tokens"] = u["input_tokens"] + 5


mutation("usage-cached-too-big", response=_usage(_cached_too_big))


def _usage_off_by_one(u: JSON) -> None:
    u["output_tokens"] += 1
    u["total_tokens"] += 1


mutation("usage-off-by-one", response=_usage(_usage_off_by_one))
mutation(
    "msg-id-prefix",
    response=create_answer(
        lambda ex, b: [put(m, "id", "item_" + m["id"][4:]) for m in output_items(b, "message")]
    ),
)
mutation(
    "msg-status",
    response=create_answer(
        lambda ex, b: [put(m, "status", "in_progress") for m in output_items(b, "message")]
    ),
)
mutation(
    "item-ids-same",
    response=create_answer(lambda ex, b: [put(i, "id", "fc_same") for i in b.get("output") or []]),
)
mutation("created-old", response=create_answer(lambda ex, b: put(b, "created_at", b["created_at"] - 3600)))
mutation(
    "completed-before-created",
    response=create_answer(lambda ex, b: put(b, "completed_at", b["created_at"] - 10)),
)
mutation(
    "completed-at-always",
    response=create_answer(lambda ex, b: put(b, "completed_at", b["created_at"])),
)
mutation(
    "error-on-success",
    response=create_answer(lambda ex, b: put(b, "error", {"code": "x", "message": "y"})),
)


def _incomplete_as_completed(ex: Exchange, body: JSON) -> None:
    if body.get("status") == "incomplete":
        body["status"], body["incomplete_details"] = "completed", None


mutation("incomplete-as-completed", response=create_answer(_incomplete_as_completed))


def _swap_reason(ex: Exchange, body: JSON) -> None:
    details = body.get("incomplete_details")
    if isinstance(details, dict):
        details["reason"] = (
            "content_filter" if details.get("reason") == "max_output_tokens" else "max_output_tokens"
        )


mutation("incomplete-reason-swapped", response=create_answer(_swap_reason))
mutation(
    "incomplete-output-dropped",
    response=create_answer(lambda ex, b: put(b, "output", []) if b.get("status") == "incomplete" else None),
)


def _refusal_as_text(ex: Exchange, body: JSON) -> None:
    for part in message_parts(body):
        if part.get("type") == "refusal":
            part.clear()
            part.update({"type": "output_text", "text": "I can't help with that.", "annotations": []})


mutation("refusal-as-text", response=create_answer(_refusal_as_text))

# --------------------------------------------------------------------------- tools


def _calls(fn: Callable[[JSON], object]) -> ResponseHook:
    return create_answer(lambda ex, b: [fn(c) for c in output_items(b, "function_call")])


mutation("fc-no-call-id", response=_calls(lambda c: c.pop("call_id", None)))
mutation("fc-args-object", response=_calls(lambda c: put(c, "arguments", json.loads(c["arguments"]))))
mutation("fc-status", response=_calls(lambda c: put(c, "status", "in_progress")))
mutation("fc-name-first", response=_calls(lambda c: put(c, "name", "get_weather")))
mutation(
    "fc-only-first",
    response=create_answer(
        lambda ex, b: put(
            b,
            "output",
            [i for n, i in enumerate(b.get("output") or []) if i.get("type") != "function_call" or n == 0],
        )
    ),
)
mutation("fc-same-call-id", response=_calls(lambda c: put(c, "call_id", "call_same")))


def _fc_outputs(fn: Callable[[JSON], object]) -> RequestHook:
    def each(items: list[Any]) -> list[Any]:
        for item in items:
            if isinstance(item, dict) and item.get("type") == "function_call_output":
                fn(item)
        return items

    return _input_list(each)


mutation("req-fc-output-mangled", request=_fc_outputs(lambda i: put(i, "output", "mangled")))
mutation("req-fc-call-id-mangled", request=_fc_outputs(lambda i: put(i, "call_id", "call_mangled")))


# --------------------------------------------------------------------------- state


async def _remember_instructions(ex: Exchange) -> None:
    if ex.is_create and isinstance(ex.body, dict):
        prev = ex.body.get("previous_response_id")
        if prev and "instructions" not in ex.body and prev in ex.proxy.instructions:
            ex.body["instructions"] = ex.proxy.instructions[prev]


mutation("req-inherit-instructions", request=_remember_instructions)


async def _ignore_unknown_previous(ex: Exchange, status: int, body: Any) -> tuple[int, Any]:
    err = body.get("error") if isinstance(body, dict) else None
    if (
        ex.is_create
        and status in (400, 404)
        and isinstance(err, dict)
        and "previous" in str(err.get("message")).lower()
    ):
        retry = {k: v for k, v in (ex.body or {}).items() if k != "previous_response_id"}
        return await ex.proxy.upstream_json("POST", "/v1/responses", retry)
    return status, body


mutation("unknown-previous-ignored", response=_ignore_unknown_previous)


def _param_null(ex: Exchange, status: int, err: JSON) -> int:
    err["param"] = None
    return status


mutation("error-param-null", response=errors_answer(_param_null))


async def _get_drops_metadata(ex: Exchange, status: int, body: Any) -> tuple[int, Any]:
    if ex.method == "GET" and status == 200 and isinstance(body, dict) and body.get("object") == "response":
        body["metadata"] = {}
    return status, body


mutation("get-drops-metadata", response=_get_drops_metadata)


async def _delete_shape(ex: Exchange, status: int, body: Any) -> tuple[int, Any]:
    if ex.method == "DELETE" and status == 200 and isinstance(body, dict):
        body["deleted"] = False
    return status, body


mutation("delete-shape", response=_delete_shape)

# --------------------------------------------------------------------------- input items

mutation(
    "items-no-first-last",
    response=items_answer(lambda ex, b: [b.pop("first_id", None), b.pop("last_id", None)]),
)
mutation(
    "items-drop-one",
    response=items_answer(lambda ex, b: b["data"].pop(len(b["data"]) // 2) if b["data"] else None),
)
mutation("items-default-asc", request=items_query(lambda q: q.setdefault("order", "asc")))
mutation("items-ignore-order", request=items_query(lambda q: q.pop("order", None)))
mutation("items-has-more-false", response=items_answer(lambda ex, b: put(b, "has_more", False)))
mutation("items-has-more-true", response=items_answer(lambda ex, b: put(b, "has_more", True)))
mutation(
    "items-first-last-swapped",
    response=items_answer(lambda ex, b: b.update(first_id=b.get("last_id"), last_id=b.get("first_id"))),
)
mutation("items-ignore-after", request=items_query(lambda q: q.pop("after", None)))


def _clamp_limit(q: dict[str, str]) -> None:
    if "limit" in q:
        q["limit"] = str(min(100, max(1, int(q["limit"]))))


mutation("items-clamp-limit", request=items_query(_clamp_limit))


async def _items_unknown_empty(ex: Exchange, status: int, body: Any) -> tuple[int, Any]:
    if ex.path.endswith("/input_items") and status == 404:
        return 200, {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}
    return status, body


mutation("items-unknown-empty", response=_items_unknown_empty)


def _string_content(ex: Exchange, body: JSON) -> None:
    for item in body.get("data") or []:
        if isinstance(item.get("content"), list):
            item["content"] = "".join(p.get("text", "") for p in item["content"])


mutation("items-string-content", response=items_answer(_string_content))

# --------------------------------------------------------------------------- background


async def _background_sync(ex: Exchange, status: int, body: Any) -> tuple[int, Any]:
    """A gateway that runs background requests synchronously: answers the finished response."""
    if ex.is_create and status == 200 and isinstance(body, dict) and body.get("background"):
        for _ in range(100):
            status, got = await ex.proxy.upstream_json("GET", f"/v1/responses/{body['id']}", None)
            if got.get("status") not in ("queued", "in_progress"):
                return status, got
            await asyncio.sleep(0.05)
    return status, body


mutation("bg-sync", response=_background_sync)
mutation(
    "bg-echo-false",
    response=create_answer(lambda ex, b: put(b, "background", False) if b.get("background") else None),
)


async def _get_output_dropped(ex: Exchange, status: int, body: Any) -> tuple[int, Any]:
    if ex.method == "GET" and status == 200 and isinstance(body, dict) and body.get("background"):
        body["output"] = []
    return status, body


mutation("bg-get-output-dropped", response=_get_output_dropped)


def _is_cancel(ex: Exchange) -> bool:
    return ex.method == "POST" and ex.path.endswith("/cancel")


async def _cancel_noop(ex: Exchange) -> None:
    """Cancel does nothing: it answers the response as it is (a GET)."""
    if _is_cancel(ex):
        ex.method, ex.path = "GET", ex.path[: -len("/cancel")]


mutation("cancel-noop", request=_cancel_noop)


async def _cancel_always_200(ex: Exchange, status: int, body: Any) -> tuple[int, Any]:
    if _is_cancel(ex) and status == 400:
        return await ex.proxy.upstream_json("GET", ex.path[: -len("/cancel")], None)
    return status, body


mutation("cancel-always-200", response=_cancel_always_200)


async def _cancel_unknown_400(ex: Exchange, status: int, body: Any) -> tuple[int, Any]:
    return (400 if _is_cancel(ex) and status == 404 else status), body


mutation("cancel-unknown-400", response=_cancel_unknown_400)


def _background_store_false(ex: Exchange, body: JSON) -> None:
    if body.get("background") and body.get("store") is False:
        body.pop("background")


mutation("bg-store-false-accepted", request=create_body(_background_store_false))

# --------------------------------------------------------------------------- streams


def _move(events: list[JSON], pick: Callable[[JSON], bool], before: Callable[[JSON], bool]) -> list[JSON]:
    moved = [e for e in events if pick(e)]
    rest = [e for e in events if not pick(e)]
    out: list[JSON] = []
    for e in rest:
        if before(e):
            out += [m for m in moved if m.get("output_index") == e.get("output_index")]
            moved = [m for m in moved if m.get("output_index") != e.get("output_index")]
        out.append(e)
    return out + moved


mutation(
    "ev-added-late",
    events=lambda ex, evs: _move(
        evs,
        lambda e: e.get("type") == "response.output_item.added",
        lambda e: e.get("type") == "response.output_item.done",
    ),
)


def _done_early(ex: Exchange, events: list[JSON]) -> list[JSON]:
    done = [e for e in events if e.get("type") == "response.output_item.done"]
    out: list[JSON] = []
    for e in events:
        if e.get("type") == "response.output_item.done":
            continue
        out.append(e)
        if e.get("type") == "response.output_item.added":
            out += [d for d in done if d.get("output_index") == e.get("output_index")]
    return out


mutation("ev-done-early", events=_done_early)
mutation("ev-no-part-added", events=drop_events("response.content_part.added"))
mutation(
    "ev-delta-item-id",
    events=each_event(("response.output_text.delta",), lambda e: put(e, "item_id", "msg_other")),
)


def _done_item_stale(ex: Exchange, events: list[JSON]) -> list[JSON]:
    added = {
        e.get("output_index"): e.get("item") for e in events if e.get("type") == "response.output_item.added"
    }
    for e in events:
        if e.get("type") == "response.output_item.done":
            e["item"] = copy.deepcopy(added.get(e.get("output_index")))
    return events


mutation("ev-done-item-stale", events=_done_item_stale)
mutation(
    "ev-part-done-empty",
    events=each_event(("response.content_part.done",), lambda e: put(e["part"], "text", "")),
)
mutation("ev-no-in-progress", events=drop_events("response.in_progress"))
mutation(
    "ev-terminal-other-id",
    events=each_event(TERMINALS, lambda e: put(e["response"], "id", "resp_other")),
)
mutation("ev-completed-no-usage", events=each_event(TERMINALS, lambda e: put(e["response"], "usage", None)))


def _drop_last_args_delta(ex: Exchange, events: list[JSON]) -> list[JSON]:
    idx = [i for i, e in enumerate(events) if e.get("type") == "response.function_call_arguments.delta"]
    return [e for i, e in enumerate(events) if not idx or i != idx[-1]]


mutation("ev-args-delta-dropped", events=_drop_last_args_delta)
mutation(
    "ev-args-item-id",
    events=each_event(
        ("response.function_call_arguments.delta", "response.function_call_arguments.done"),
        lambda e: put(e, "item_id", "fc_other"),
    ),
)
mutation(
    "ev-args-done-no-name",
    events=each_event(("response.function_call_arguments.done",), lambda e: e.pop("name", None)),
)
mutation(
    "ev-output-index-zero",
    events=each_event(
        ("response.output_item.added", "response.output_item.done"),
        lambda e: put(e, "output_index", 0),
    ),
)


def _incomplete_as_completed_event(e: JSON) -> None:
    e["type"] = "response.completed"
    e["response"]["status"] = "completed"
    e["response"]["incomplete_details"] = None


mutation(
    "ev-incomplete-as-completed", events=each_event(("response.incomplete",), _incomplete_as_completed_event)
)
mutation(
    "ev-terminal-status-completed",
    events=each_event(TERMINALS, lambda e: put(e["response"], "status", "completed")),
)
mutation("ev-refusal-delta-dropped", events=drop_events("response.refusal.delta"))


def _final_refusal_as_text(e: JSON) -> None:
    for part in message_parts(e["response"]):
        if part.get("type") == "refusal":
            part.clear()
            part.update({"type": "output_text", "text": "I can't help with that.", "annotations": []})


mutation("ev-refusal-final-as-text", events=each_event(("response.completed",), _final_refusal_as_text))


def _failed_as_completed(e: JSON) -> None:
    e["type"] = "response.completed"
    e["response"]["status"] = "completed"
    e["response"]["error"] = None


mutation("ev-failed-as-completed", events=each_event(("response.failed",), _failed_as_completed))

# --------------------------------------------------------------------------- errors


def _status_map(old: int, new: int) -> ResponseHook:
    async def hook(ex: Exchange, status: int, body: Any) -> tuple[int, Any]:
        return (new if status == old else status), body

    return hook


mutation("502-as-503", response=_status_map(502, 503))
mutation("502-as-400", response=_status_map(502, 400))


def _type_invalid(ex: Exchange, status: int, err: JSON) -> int:
    err["type"] = "invalid_request_error" if status >= 500 else "server_error"
    return status


mutation("error-type-swapped", response=errors_answer(_type_invalid))


def _generic_message(ex: Exchange, status: int, err: JSON) -> int:
    err["message"] = "Bad request."
    return status


mutation("error-message-generic", response=errors_answer(_generic_message))


async def _failed_leaves_completed(ex: Exchange, status: int, body: Any) -> tuple[int, Any]:
    """A gateway that stores a completed (empty) response for a failed backend call."""
    if ex.is_create and status >= 500 and isinstance(body, dict):
        _, stored = await ex.proxy.upstream_json("POST", "/v1/responses", {"model": "scripted", "input": "x"})
        body["id"] = stored.get("id")
    return status, body


mutation("failed-leaves-completed", response=_failed_leaves_completed)


def _coerce(key: str, bad: Callable[[Any], bool], fix: Callable[[Any], Any]) -> RequestHook:
    def fn(ex: Exchange, body: JSON) -> None:
        if key in body and bad(body[key]):
            value = fix(body[key])
            if value is None:
                body.pop(key)
            else:
                body[key] = value

    return create_body(fn)


mutation(
    "temperature-coerced",
    request=_coerce(
        "temperature", lambda v: not isinstance(v, (int, float)) or not 0 <= v <= 2, lambda v: None
    ),
)
mutation("input-coerced", request=_coerce("input", lambda v: not isinstance(v, (str, list)), str))
mutation("tools-coerced", request=_coerce("tools", lambda v: not isinstance(v, list), lambda v: None))
mutation(
    "metadata-coerced",
    request=_coerce(
        "metadata", lambda v: isinstance(v, dict), lambda v: {str(k): str(x) for k, x in list(v.items())[:16]}
    ),
)
mutation(
    "max-output-tokens-coerced",
    request=_coerce("max_output_tokens", lambda v: isinstance(v, int) and v < 16, lambda v: None),
)
_KNOWN = {
    "model",
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "temperature",
    "top_p",
    "metadata",
    "store",
    "stream",
    "background",
    "previous_response_id",
    "conversation",
    "max_output_tokens",
    "text",
    "parallel_tool_calls",
    "truncation",
    "reasoning",
    "include",
    "user",
    "max_tool_calls",
}
mutation(
    "unknown-params-stripped",
    request=create_body(lambda ex, b: [b.pop(k) for k in list(b) if k not in _KNOWN]),
)


def _exclusive_dropped(ex: Exchange, body: JSON) -> None:
    if "conversation" in body and "previous_response_id" in body:
        body.pop("conversation")
        body.pop("previous_response_id")


mutation("exclusive-params-dropped", request=create_body(_exclusive_dropped))
mutation("error-ctype-text", error_ctype="text/plain")


async def _unknown_route_200(ex: Exchange, status: int, body: Any) -> tuple[int, Any]:
    if status == 404 and not ex.path.startswith("/v1/responses"):
        return 200, {}
    return status, body


mutation("unknown-route-200", response=_unknown_route_200)
mutation("405-as-404", response=_status_map(405, 404))


# --------------------------------------------------------------------------- added later


def _replace_invalid_items(items: list[Any]) -> list[Any]:
    """A gateway that turns input items it does not understand into plain user text."""
    roles = ("user", "assistant", "system", "developer")
    known = ("message", "function_call", "function_call_output")
    return [
        i
        if isinstance(i, dict) and (i.get("type") in known or ("type" not in i and i.get("role") in roles))
        else {"role": "user", "content": "x"}
        for i in items
    ]


mutation("input-invalid-items-replaced", request=_input_list(_replace_invalid_items))


def _default_tool_names(ex: Exchange, body: JSON) -> None:
    for n, tool in enumerate(body.get("tools") or []):
        if isinstance(tool, dict) and tool.get("type") == "function":
            tool.setdefault("name", f"tool_{n}")


mutation("tools-name-defaulted", request=create_body(_default_tool_names))


def _default_schema_name(ex: Exchange, body: JSON) -> None:
    fmt = (body.get("text") or {}).get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        fmt.setdefault("name", "answer")


mutation("json-schema-name-defaulted", request=create_body(_default_schema_name))


def _tool_choice_problem(body: JSON) -> str | None:
    choice = body.get("tool_choice")
    names = [t.get("name") for t in body.get("tools") or [] if isinstance(t, dict)]
    if choice == "required" and not names:
        return "Tool choice 'required' must be specified with 'tools' parameter."
    if isinstance(choice, dict) and choice.get("type") == "function" and choice.get("name") not in names:
        return f"Tool choice 'function' not found in 'tools' parameter: {choice.get('name')!r}."
    return None


async def _validate_tool_choice(ex: Exchange, status: int, body: Any) -> tuple[int, Any]:
    """The *fix* for a reference bug: reject a tool_choice that cannot be honoured (as OpenAI does)."""
    if ex.is_create and isinstance(ex.original, dict):
        problem = _tool_choice_problem(ex.original)
        if problem:
            error = {
                "message": problem,
                "type": "invalid_request_error",
                "param": "tool_choice",
                "code": None,
            }
            return 400, {"error": error}
    return status, body


mutation("fix-tool-choice-validation", response=_validate_tool_choice)
mutation(
    "tool-choice-invalid-dropped",
    request=create_body(lambda ex, b: b.pop("tool_choice") if _tool_choice_problem(b) else None),
)


def _part_done_first(ex: Exchange, events: list[JSON]) -> list[JSON]:
    parts = [e for e in events if e.get("type") == "response.content_part.done"]
    out: list[JSON] = []
    for e in events:
        if e.get("type") == "response.content_part.done":
            continue
        if e.get("type") == "response.output_text.done":
            out += [p for p in parts if p.get("item_id") == e.get("item_id")]
        out.append(e)
    return out


mutation("ev-part-done-first", events=_part_done_first)
mutation(
    "ev-added-item-completed",
    events=each_event(("response.output_item.added",), lambda e: put(e["item"], "status", "completed")),
)


def _empty_message_added(ex: Exchange, body: JSON) -> None:
    if output_items(body, "function_call") and not output_items(body, "message"):
        empty = {
            "id": "msg_empty",
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [],
        }
        body["output"].insert(0, empty)


mutation("empty-message-added", response=create_answer(_empty_message_added))


# --------------------------------------------------------------------------- the proxy


class MutatingProxy:
    def __init__(self, upstream_root: str) -> None:
        self.upstream_root = upstream_root.rstrip("/")  # http://HOST:PORT (no /v1)
        self.active: set[str] = set()
        self.instructions: dict[str, Any] = {}  # response id -> instructions it was created with
        self.client: httpx.AsyncClient | None = None
        self.app = self._build()

    def _mutations(self) -> list[Mutation]:
        return [MUTATIONS[name] for name in sorted(self.active)]

    async def upstream_json(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        assert self.client is not None
        resp = await self.client.request(method, self.upstream_root + path, json=body)
        return resp.status_code, resp.json()

    def _build(self) -> Quart:
        app = Quart("mutating-proxy")
        proxy = self

        @app.before_serving
        async def open_client() -> None:
            proxy.client = httpx.AsyncClient(timeout=60)

        @app.after_serving
        async def close_client() -> None:
            if proxy.client is not None:
                await proxy.client.aclose()

        @app.route("/<path:path>", methods=["GET", "POST", "DELETE", "PUT", "PATCH"])
        async def forward(path: str) -> Response:
            return await proxy.handle("/" + path)

        return app

    async def handle(self, path: str) -> Response:
        raw = await request.get_data()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        ex = Exchange(self, request.method, path, dict(request.args), body, copy.deepcopy(body))
        mutations = self._mutations()
        for m in mutations:
            if m.request is not None:
                result = m.request(ex)
                if asyncio.iscoroutine(result):
                    await result
        content = json.dumps(ex.body).encode() if body is not None else raw
        headers = {"content-type": request.headers.get("content-type", "application/json")}
        assert self.client is not None
        upstream = await self.client.request(
            ex.method, self.upstream_root + ex.path, params=ex.query, content=content, headers=headers
        )
        ctype = upstream.headers.get("content-type", "")
        if ctype.startswith("text/event-stream"):
            return self._stream(ex, upstream.content, mutations)
        try:
            answer = upstream.json()
        except ValueError:
            return Response(upstream.content, status=upstream.status_code, content_type=ctype)
        status = upstream.status_code
        if ex.is_create and status == 200 and isinstance(answer, dict) and isinstance(ex.body, dict):
            self.instructions[str(answer.get("id"))] = ex.body.get("instructions")
        for m in mutations:
            if m.response is not None:
                status, answer = await m.response(ex, status, answer)
        if status >= 400:
            ctype = next((m.error_ctype for m in mutations if m.error_ctype), ctype)
        return Response(json.dumps(answer), status=status, content_type=ctype)

    def _stream(self, ex: Exchange, raw: bytes, mutations: list[Mutation]) -> Response:
        parser = SSEParser()
        events: list[JSON] = []
        done = False
        for frame in parser.feed(raw):
            if frame.data == "[DONE]":
                done = True
                continue
            events.append(json.loads(frame.data))
        for m in mutations:
            if m.events is not None:
                events = m.events(ex, events)
        frames = []
        for n, ev in enumerate(events):
            if "sequence_number" in ev:
                ev["sequence_number"] = n  # mutations break one rule, not the numbering
            frames.append(f"event: {ev.get('type')}\ndata: {json.dumps(ev)}\n\n")
        if done:
            frames.append("data: [DONE]\n\n")
        return Response("".join(frames), content_type="text/event-stream")


class RunningProxy:
    """The proxy served by Hypercorn in a thread, on a pre-bound port-0 socket."""

    def __init__(self, proxy: MutatingProxy) -> None:
        self.proxy = proxy
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.base_url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._stop = asyncio.Event()
        config = Config()
        config.bind = [f"fd://{self.sock.detach()}"]
        config.accesslog = None
        config.errorlog = None
        config.graceful_timeout = 1.0
        self._loop.run_until_complete(serve(self.proxy.app, config, shutdown_trigger=self._stop.wait))  # type: ignore[arg-type]

    def start(self) -> RunningProxy:
        self._thread.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                httpx.get(self.base_url + "/responses/resp_x", timeout=2)
                return self
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError("mutating proxy did not start")

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


@dataclass
class ProxiedReference:
    running: RunningProxy
    upstream: str
    notes: list[str] = field(default_factory=list)

    @property
    def proxy(self) -> MutatingProxy:
        return self.running.proxy

    @property
    def base_url(self) -> str:
        return self.running.base_url


@pytest.fixture(scope="module")
def proxied_reference() -> Iterator[ProxiedReference]:
    """The reference gateway + scripted backend (subprocesses) behind a mutating proxy."""
    with builtin_target("reference") as target:
        root = target.base_url.rstrip("/").removesuffix("/v1")
        running = RunningProxy(MutatingProxy(root)).start()
        try:
            yield ProxiedReference(running, target.base_url)
        finally:
            running.stop()


@pytest.fixture
def mp(proxied_reference: ProxiedReference) -> Iterator[ProxiedReference]:
    proxied_reference.proxy.active = set()
    yield proxied_reference
    proxied_reference.proxy.active = set()


# ---------------------------------------------------------------------- the proxy itself


def test_proxy_is_transparent(mp: ProxiedReference) -> None:
    via = httpx.post(
        mp.base_url + "/responses", json={"model": "scripted", "input": "[[text:same]]"}, timeout=30
    )
    direct = httpx.post(
        mp.upstream + "/responses", json={"model": "scripted", "input": "[[text:same]]"}, timeout=30
    )
    assert via.status_code == direct.status_code == 200
    strip = ("id", "created_at", "completed_at", "output")
    assert {k: v for k, v in via.json().items() if k not in strip} == {
        k: v for k, v in direct.json().items() if k not in strip
    }
    with httpx.stream(
        "POST",
        mp.base_url + "/responses",
        json={"model": "scripted", "input": "hi", "stream": True},
        timeout=30,
    ) as r:
        text = r.read().decode()
    assert r.headers["content-type"].startswith("text/event-stream")
    assert "response.completed" in text


def test_a_mutation_changes_the_answer(mp: ProxiedReference) -> None:
    mp.proxy.active = {"echo-temperature"}
    got = httpx.post(
        mp.base_url + "/responses", json={"model": "scripted", "input": "x", "temperature": 0.2}, timeout=30
    )
    assert got.json()["temperature"] == 1.0
