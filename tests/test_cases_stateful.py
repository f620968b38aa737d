"""Every stateful-API case (files, vector stores, conversations, prompts, connectors, hosted tool
flows) PASSes on the reference and is caught on a broken gateway.

The broken gateways are the reference (with the scripted backend and ``fixtures.mcp_server``,
started like ``--target reference``) behind ``StatefulProxy``, a ``MutatingProxy``
(tests/test_cases_mutproxy.py) with its own mutation table: each mutation imitates one plausible
gateway bug (an ignored parameter, a no-op delete, a dropped field, a wrong status). Each case
names the mutation that must make it FAIL (MUST) or NON_STRICT (SHOULD/INFO)."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from quart import Response, request
from test_cases_mutproxy import Exchange, MutatingProxy, Mutation, RunningProxy

import conformance.cases
from conformance.context import RunConfig
from conformance.model import REGISTRY, Level, Verdict
from conformance.profiles import PROFILES
from conformance.runner import run_cases
from conformance.sse import SSEParser
from conformance.targets import builtin_target

JSON = dict[str, Any]
MODULES = {
    m.__name__
    for m in (
        conformance.cases.files,
        conformance.cases.vector_stores,
        conformance.cases.conversations,
        conformance.cases.prompts,
        conformance.cases.connectors,
        conformance.cases.tool_flows,
    )
}


@dataclass
class SMutation(Mutation):
    raw: Callable[[Exchange, int, bytes, dict[str, str]], tuple[int, bytes, dict[str, str]]] | None = None


SMUT: dict[str, SMutation] = {}


def mutation(name: str, **hooks: Any) -> None:
    assert name not in SMUT, name
    SMUT[name] = SMutation(**hooks)


# --------------------------------------------------------------------------- hook builders


def rx(pattern: str) -> re.Pattern[str]:
    return re.compile("^/v1" + pattern + "$")


LISTS = rx(r"/(files|vector_stores|vector_stores/[^/]+/files|conversations/[^/]+/items|connectors)")


def answer(
    method: str,
    path: re.Pattern[str],
    fn: Callable[[Exchange, int, Any], Any],
    statuses: tuple[int, ...] = (200,),
) -> Callable[[Exchange, int, Any], Awaitable[tuple[int, Any]]]:
    """Rewrite the JSON answer of ``method path`` when its status is in ``statuses``."""

    async def hook(ex: Exchange, status: int, body: Any) -> tuple[int, Any]:
        if getattr(ex, "orig_method", ex.method) == method and path.match(ex.path) and status in statuses:
            got = fn(ex, status, body)
            if isinstance(got, tuple):  # (status, body); anything else: ``body`` was edited in place
                return got
        return status, body

    return hook


def set_key(key: str, value: Any) -> Callable[[Exchange, int, Any], None]:
    def fn(ex: Exchange, status: int, body: Any) -> None:
        if isinstance(body, dict):
            body[key] = copy.deepcopy(value)

    return fn


def status_to(new: int, body: Any = None) -> Callable[[Exchange, int, Any], tuple[int, Any]]:
    return lambda ex, status, old: (new, copy.deepcopy(body) if body is not None else old)


def on_req(
    method: str, path: re.Pattern[str], fn: Callable[[Exchange], object]
) -> Callable[[Exchange], None]:
    def hook(ex: Exchange) -> None:
        if ex.method == method and path.match(ex.path):
            fn(ex)

    return hook


def drop_body_key(*keys: str) -> Callable[[Exchange], None]:
    def fn(ex: Exchange) -> None:
        if isinstance(ex.body, dict):
            for k in keys:
                ex.body.pop(k, None)

    return fn


def noop(method: str, path: re.Pattern[str], fake: Callable[[Exchange, Any], Any] | None = None) -> JSON:
    """A request that the gateway answers without doing it (sent upstream as a GET)."""

    def req(ex: Exchange) -> None:
        if ex.method == method and path.match(ex.path):
            ex.method = "GET"
            ex.body = None

    async def resp(ex: Exchange, status: int, body: Any) -> tuple[int, Any]:
        if getattr(ex, "orig_method", "") == method and path.match(ex.path) and fake is not None:
            return 200, fake(ex, body)
        return status, body

    return {"request": req, "response": resp}


def deleted(obj: str) -> Callable[[Exchange, Any], Any]:
    return lambda ex, body: {"id": ex.parts[-1], "object": obj, "deleted": True}


def each_item(kind: str, fn: Callable[[JSON], object]) -> Callable[[Exchange, int, Any], None]:
    """Apply ``fn`` to every output item of type ``kind`` of a Response answer (create or GET)."""

    def hook(ex: Exchange, status: int, body: Any) -> None:
        if isinstance(body, dict) and body.get("object") == "response":
            for item in body.get("output") or []:
                if isinstance(item, dict) and item.get("type") == kind:
                    fn(item)

    return hook


def any_response(
    fn: Callable[[Exchange, int, Any], object],
) -> Callable[[Exchange, int, Any], Awaitable[tuple[int, Any]]]:
    async def hook(ex: Exchange, status: int, body: Any) -> tuple[int, Any]:
        if status == 200:
            fn(ex, status, body)
        return status, body

    return hook


def events(fn: Callable[[list[JSON]], list[JSON]]) -> Callable[[Exchange, list[JSON]], list[JSON]]:
    return lambda ex, evs: fn(evs)


def ev_items(kind: str, fn: Callable[[JSON], object]) -> Callable[[Exchange, list[JSON]], list[JSON]]:
    def hook(ex: Exchange, evs: list[JSON]) -> list[JSON]:
        for ev in evs:
            item = ev.get("item")
            if isinstance(item, dict) and item.get("type") == kind:
                fn(item)
            resp = ev.get("response")
            if isinstance(resp, dict):
                for it in resp.get("output") or []:
                    if isinstance(it, dict) and it.get("type") == kind:
                        fn(it)
        return evs

    return hook


def both(
    *hooks: Callable[[Exchange, int, Any], Awaitable[tuple[int, Any]]],
) -> Callable[[Exchange, int, Any], Awaitable[tuple[int, Any]]]:
    async def hook(ex: Exchange, status: int, body: Any) -> tuple[int, Any]:
        for h in hooks:
            status, body = await h(ex, status, body)
        return status, body

    return hook


def put(obj: Any, key: Any, value: Any) -> bool:
    """``obj[key] = value`` usable inside a lambda."""
    obj[key] = value
    return True


FILE = rx(r"/files/[^/]+")
VS = rx(r"/vector_stores/[^/]+")
VSF = rx(r"/vector_stores/[^/]+/files/[^/]+")
CONV = rx(r"/conversations/[^/]+")
ITEM = rx(r"/conversations/[^/]+/items/[^/]+")
RESP = rx(r"/responses")
RESP_ANY = rx(r"/responses(/[^/]+)?")

# --------------------------------------------------------------------------- lists (all five)

mutation(
    "list-no-first-last",
    response=answer(
        "GET", LISTS, lambda ex, s, b: (s, {k: v for k, v in b.items() if k not in ("first_id", "last_id")})
    ),
)
mutation("list-has-more-false", response=answer("GET", LISTS, set_key("has_more", False)))
mutation("list-has-more-true", response=answer("GET", LISTS, set_key("has_more", True)))
mutation(
    "list-first-last-swapped",
    response=answer(
        "GET", LISTS, lambda ex, s, b: (s, {**b, "first_id": b.get("last_id"), "last_id": b.get("first_id")})
    ),
)
mutation("list-default-asc", request=on_req("GET", LISTS, lambda ex: ex.query.setdefault("order", "asc")))
mutation("list-ignore-after", request=on_req("GET", LISTS, lambda ex: ex.query.pop("after", None)))
mutation(
    "list-limit-clamped",
    request=on_req(
        "GET", LISTS, lambda ex: ex.query.update(limit="1") if ex.query.get("limit") == "0" else None
    ),
)

# --------------------------------------------------------------------------- files

mutation("file-object-name", response=answer("POST", rx("/files"), set_key("object", "files")))
mutation(
    "file-id-prefix", response=answer("POST", rx("/files"), lambda ex, s, b: put(b, "id", "f" + b["id"][4:]))
)
mutation(
    "file-bytes-off", response=answer("POST", rx("/files"), lambda ex, s, b: put(b, "bytes", b["bytes"] + 1))
)
mutation("file-purpose-default", response=answer("POST", rx("/files"), set_key("purpose", "assistants")))
mutation(
    "upload-400-as-200",
    response=answer("POST", rx("/files"), status_to(200, {"id": "file-x", "object": "file"}), (400,)),
)
mutation(
    "filename-mangled",
    response=answer(
        "POST", rx("/files"), lambda ex, s, b: put(b, "filename", b["filename"].replace(" ", "_"))
    ),
)
mutation(
    "filename-path-kept",
    response=answer("POST", rx("/files"), lambda ex, s, b: put(b, "filename", "../../etc/" + b["filename"])),
)
mutation("file-get-bytes-zero", response=answer("GET", FILE, set_key("bytes", 0)))
mutation("file-unknown-400", response=answer("GET", rx(r"/files/[^/]+(/content)?"), status_to(400), (404,)))
mutation(
    "content-newlines",
    raw=lambda ex, s, data, h: (
        (s, data.replace(b"\n", b"\r\n"), h) if ex.path.endswith("/content") else (s, data, h)
    ),
)
mutation(
    "content-json-ctype",
    raw=lambda ex, s, data, h: (
        (s, data, {**h, "content-type": "application/json"}) if ex.path.endswith("/content") else (s, data, h)
    ),
)
mutation("file-delete-object", response=answer("DELETE", FILE, set_key("object", "file.deleted")))
mutation("file-delete-noop", **noop("DELETE", FILE, deleted("file")))
mutation(
    "files-purpose-ignored", request=on_req("GET", rx("/files"), lambda ex: ex.query.pop("purpose", None))
)

# --------------------------------------------------------------------------- vector stores


def _vs_objects(fn: Callable[[JSON], object]) -> Callable[[Exchange, int, Any], Awaitable[tuple[int, Any]]]:
    def each(ex: Exchange, status: int, body: Any) -> None:
        if isinstance(body, dict) and body.get("object") == "vector_store":
            fn(body)

    return any_response(each)


def _failed_as_completed(vs: JSON) -> None:
    c = vs.get("file_counts") or {}
    c["completed"] = c.get("completed", 0) + c.get("failed", 0)
    c["failed"] = 0


mutation("vs-object-name", response=answer("POST", rx("/vector_stores"), set_key("object", "vectorstore")))
mutation(
    "vs-id-prefix",
    response=answer("POST", rx("/vector_stores"), lambda ex, s, b: put(b, "id", "v" + b["id"][2:])),
)
mutation("vs-file-ids-dropped", request=on_req("POST", rx("/vector_stores"), drop_body_key("file_ids")))
mutation("vs-get-metadata-dropped", response=answer("GET", VS, set_key("metadata", {})))
mutation("vs-update-noop", **noop("POST", VS, lambda ex, b: b))
mutation("vs-unknown-400", response=answer("GET", VS, status_to(400), (404,)))
mutation("vs-delete-object", response=answer("DELETE", VS, set_key("object", "vector_store.delete")))
mutation("vs-delete-noop", **noop("DELETE", VS, deleted("vector_store.deleted")))
mutation(
    "vsfile-no-store-id",
    response=answer(
        "POST", rx("/vector_stores/[^/]+/files"), lambda ex, s, b: b.pop("vector_store_id", None)
    ),
)
mutation(
    "vsfile-last-error-always",
    response=answer("GET", VSF, set_key("last_error", {"code": "server_error", "message": "x"})),
)
mutation(
    "vs-counts-total-off",
    response=_vs_objects(lambda vs: put(vs["file_counts"], "total", vs["file_counts"]["total"] + 1)),
)
mutation("vs-usage-zero", response=_vs_objects(lambda vs: put(vs, "usage_bytes", 0)))
mutation(
    "attach-4xx-as-200",
    response=answer(
        "POST",
        rx("/vector_stores/[^/]+/files"),
        lambda ex, s, b: (
            200,
            {
                "id": (ex.body or {}).get("file_id"),
                "object": "vector_store.file",
                "status": "completed",
                "last_error": None,
            },
        ),
        (400, 404),
    ),
)
mutation(
    "vsfile-last-error-null",
    response=answer(
        "GET", VSF, lambda ex, s, b: put(b, "last_error", None) if b.get("status") == "failed" else None
    ),
)
mutation("vs-failed-as-completed", response=_vs_objects(_failed_as_completed))
mutation(
    "vsfile-attributes-dropped",
    request=on_req("POST", rx("/vector_stores/[^/]+/files"), drop_body_key("attributes")),
)
mutation("vsfile-update-noop", **noop("POST", VSF, lambda ex, b: b))
mutation(
    "vsfile-delete-object", response=answer("DELETE", VSF, set_key("object", "vector_store.file.delete"))
)
mutation("vsfile-delete-noop", **noop("DELETE", VSF, deleted("vector_store.file.deleted")))
mutation(
    "vsfile-content-empty",
    response=answer("GET", rx("/vector_stores/[^/]+/files/[^/]+/content"), set_key("data", [])),
)
BATCH = rx("/vector_stores/[^/]+/file_batches(/[^/]+(/cancel)?)?")
mutation(
    "batch-object-name",
    response=answer("POST", rx("/vector_stores/[^/]+/file_batches"), set_key("object", "batch")),
)
mutation(
    "batch-completed-zero",
    response=answer("GET", BATCH, lambda ex, s, b: put(b["file_counts"], "completed", 0)),
)
mutation(
    "batch-files-drop-one",
    response=answer(
        "GET",
        rx("/vector_stores/[^/]+/file_batches/[^/]+/files"),
        lambda ex, s, b: put(b, "data", b["data"][:-1]),
    ),
)
mutation(
    "batch-cancel-noop",
    **noop(
        "POST",
        rx("/vector_stores/[^/]+/file_batches/[^/]+/cancel"),
        lambda ex, b: {**b, "status": "in_progress"},
    ),
)
mutation("batch-unknown-400", response=answer("GET", BATCH, status_to(400), (404,)))
SEARCH = rx("/vector_stores/[^/]+/search")
mutation("search-object-name", response=answer("POST", SEARCH, set_key("object", "list")))
mutation(
    "search-score-scaled",
    response=answer(
        "POST", SEARCH, lambda ex, s, b: [put(d, "score", d["score"] * 10 + 1) for d in b["data"]] and None
    ),
)
mutation("search-reversed", response=answer("POST", SEARCH, lambda ex, s, b: put(b, "data", b["data"][::-1])))
mutation("search-max-ignored", request=on_req("POST", SEARCH, drop_body_key("max_num_results")))
mutation(
    "search-max-clamped",
    request=on_req(
        "POST",
        SEARCH,
        lambda ex: (
            put(ex.body, "max_num_results", min(50, max(1, ex.body["max_num_results"])))
            if "max_num_results" in (ex.body or {})
            else None
        ),
    ),
)
mutation("search-threshold-ignored", request=on_req("POST", SEARCH, drop_body_key("ranking_options")))
mutation(
    "search-400-as-200",
    response=answer(
        "POST",
        SEARCH,
        status_to(
            200,
            {
                "object": "vector_store.search_results.page",
                "search_query": [],
                "data": [],
                "has_more": False,
                "next_page": None,
            },
        ),
        (400,),
    ),
)
mutation("search-filters-dropped", request=on_req("POST", SEARCH, drop_body_key("filters")))

# --------------------------------------------------------------------------- conversations


async def _append_on_failure(ex: Exchange, status: int, body: Any) -> tuple[int, Any]:
    orig = ex.original if isinstance(ex.original, dict) else {}
    if ex.is_create and status >= 400 and isinstance(orig.get("conversation"), str):
        await ex.proxy.upstream_json(
            "POST",
            f"/v1/conversations/{orig['conversation']}/items",
            {"items": [{"type": "message", "role": "user", "content": str(orig.get("input"))}]},
        )
    return status, body


def _drop_ids(ex: Exchange, status: int, body: Any) -> None:
    for d in body.get("data") or []:
        d.pop("id", None)


def _upper_text(ex: Exchange, status: int, body: Any) -> None:
    for p in body.get("content") or []:
        if isinstance(p, dict) and "text" in p:
            p["text"] = str(p["text"]).upper()


def _conv_item_delete_noop(ex: Exchange) -> None:
    if ex.method == "DELETE" and ITEM.match(ex.path):
        ex.method = "GET"
        ex.path = "/".join(ex.path.split("/")[:4])  # /v1/conversations/{id}


mutation("conv-object-name", response=answer("POST", rx("/conversations"), set_key("object", "thread")))
mutation(
    "conv-id-prefix",
    response=answer("POST", rx("/conversations"), lambda ex, s, b: put(b, "id", "c" + b["id"][4:])),
)
mutation("conv-items-dropped", request=on_req("POST", rx("/conversations"), drop_body_key("items")))
mutation("conv-get-metadata-dropped", response=answer("GET", CONV, set_key("metadata", {})))
mutation("conv-update-noop", **noop("POST", CONV, lambda ex, b: b))
mutation("conv-unknown-400", response=answer("GET", CONV, status_to(400), (404,)))
mutation("conv-delete-object", response=answer("DELETE", CONV, set_key("object", "conversation.delete")))
mutation("conv-delete-noop", **noop("DELETE", CONV, deleted("conversation.deleted")))
mutation(
    "conv-add-reversed",
    request=on_req(
        "POST", rx("/conversations/[^/]+/items"), lambda ex: put(ex.body, "items", ex.body["items"][::-1])
    ),
)
mutation("conv-add-answer-no-ids", response=answer("POST", rx("/conversations/[^/]+/items"), _drop_ids))
mutation(
    "conv-item-id-prefix",
    response=answer(
        "GET",
        rx("/conversations/[^/]+/items"),
        lambda ex, s, b: [put(d, "id", "m" + d["id"][3:]) for d in b["data"]] and None,
    ),
)
mutation("conv-item-text-upper", response=answer("GET", ITEM, _upper_text))
mutation("conv-item-unknown-400", response=answer("GET", ITEM, status_to(400), (404,)))
mutation("conv-item-delete-noop", request=_conv_item_delete_noop)
mutation("conv-dropped-on-create", request=on_req("POST", RESP, drop_body_key("conversation")))
mutation("conv-failed-appended", response=_append_on_failure)
mutation(
    "conv-exclusive-dropped",
    request=on_req(
        "POST",
        RESP,
        lambda ex: ex.body.pop("previous_response_id", None) if "conversation" in ex.body else None,
    ),
)
mutation(
    "error-param-null",
    response=answer("POST", RESP, lambda ex, s, b: put(b["error"], "param", None), (400, 404)),
)
mutation(
    "conv-echo-dropped",
    response=any_response(
        lambda ex, s, b: (
            put(b, "conversation", None) if isinstance(b, dict) and b.get("object") == "response" else None
        )
    ),
)
mutation(
    "responses-4xx-as-200",
    response=answer("POST", RESP, status_to(200, {"object": "response", "output": []}), (400, 404)),
)
mutation("responses-404-as-400", response=answer("POST", RESP, status_to(400), (404,)))

# --------------------------------------------------------------------------- hosted tools


def _drop_items(kind: str) -> Callable[[Exchange, int, Any], None]:
    def fn(ex: Exchange, status: int, body: Any) -> None:
        if isinstance(body, dict) and body.get("object") == "response":
            body["output"] = [i for i in body.get("output") or [] if i.get("type") != kind]

    return fn


def _no_annotations(ex: Exchange, status: int, body: Any) -> None:
    each_item("message", lambda m: [put(p, "annotations", []) for p in m.get("content") or []])(
        ex, status, body
    )


def _fs_answer_blind(ex: Exchange, status: int, body: Any) -> None:
    if not any(isinstance(i, dict) and i.get("type") == "file_search_call" for i in body.get("output") or []):
        return
    each_item(
        "message", lambda m: [put(p, "text", "tool result: no results") for p in m.get("content") or []]
    )(ex, status, body)


def _mcp_tools(fn: Callable[[JSON], object]) -> Callable[[Exchange], None]:
    def hook(ex: Exchange) -> None:
        if ex.is_create and isinstance(ex.body, dict):
            for t in ex.body.get("tools") or []:
                if isinstance(t, dict) and t.get("type") == "mcp":
                    fn(t)

    return hook


def _force_approve(ex: Exchange) -> None:
    if ex.is_create and isinstance(ex.body, dict) and isinstance(ex.body.get("input"), list):
        for item in ex.body["input"]:
            if isinstance(item, dict) and item.get("type") == "mcp_approval_response":
                item["approve"] = True


def _fs_event_item_id(evs: list[JSON]) -> list[JSON]:
    for ev in evs:
        if str(ev.get("type")).startswith("response.file_search_call."):
            ev["item_id"] = "fs_other"
    return evs


def _fs_done_stale(evs: list[JSON]) -> list[JSON]:
    for ev in evs:
        if (
            ev.get("type") == "response.output_item.done"
            and (ev.get("item") or {}).get("type") == "file_search_call"
        ):
            ev["item"]["status"] = "in_progress"
    return evs


mutation(
    "fs-status-searching",
    response=any_response(each_item("file_search_call", lambda i: put(i, "status", "searching"))),
)
mutation(
    "fs-results-dropped",
    response=any_response(each_item("file_search_call", lambda i: put(i, "results", None))),
)
mutation(
    "fs-results-always",
    response=any_response(
        each_item(
            "file_search_call",
            lambda i: put(i, "results", [{"file_id": "file-x", "filename": "x", "score": 0.5, "text": "x"}]),
        )
    ),
)
mutation("fs-answer-blind", response=any_response(_fs_answer_blind))
mutation(
    "fs-annotations-dropped",
    response=any_response(_no_annotations),
    events=events(lambda evs: [e for e in evs if e.get("type") != "response.output_text.annotation.added"]),
)
mutation(
    "fs-get-output-dropped", response=answer("GET", rx("/responses/[^/]+"), _drop_items("file_search_call"))
)
mutation(
    "fs-ev-searching-dropped",
    events=events(lambda evs: [e for e in evs if e.get("type") != "response.file_search_call.searching"]),
)
mutation("fs-ev-item-id", events=events(_fs_event_item_id))
mutation("fs-ev-done-stale", events=events(_fs_done_stale))
mutation("mcp-list-tools-dropped", response=any_response(_drop_items("mcp_list_tools")))
mutation("mcp-allowed-ignored", request=_mcp_tools(lambda t: t.pop("allowed_tools", None)))
mutation(
    "mcp-call-output-dropped", response=any_response(each_item("mcp_call", lambda i: put(i, "output", None)))
)
mutation(
    "mcp-ev-completed-dropped",
    events=events(lambda evs: [e for e in evs if e.get("type") != "response.mcp_call.completed"]),
)
mutation("mcp-error-dropped", response=any_response(each_item("mcp_call", lambda i: put(i, "error", None))))
mutation("mcp-approval-never", request=_mcp_tools(lambda t: put(t, "require_approval", "never")))
mutation(
    "mcp-approval-id-dropped",
    response=any_response(each_item("mcp_call", lambda i: put(i, "approval_request_id", None))),
)
mutation("mcp-approve-forced", request=_force_approve)
mutation("previous-dropped", request=on_req("POST", RESP, drop_body_key("previous_response_id")))
mutation("responses-424-as-500", response=answer("POST", RESP, status_to(500), (424,)))

# --------------------------------------------------------------------------- prompts, connectors

mutation("prompt-object-name", response=answer("POST", rx("/prompts"), set_key("object", "template")))
mutation("prompt-latest-stale", response=answer("GET", rx("/prompts/[^/]+"), set_key("latest_version", "1")))
mutation(
    "prompt-409-as-200", response=answer("POST", rx("/prompts/[^/]+(/versions)?"), status_to(200, {}), (409,))
)
mutation("prompt-delete-object", response=answer("DELETE", rx("/prompts/[^/]+"), set_key("object", "prompt")))
mutation(
    "prompt-variables-dropped",
    request=on_req("POST", RESP, lambda ex: (ex.body.get("prompt") or {}).pop("variables", None)),
)
mutation(
    "prompt-version-dropped",
    request=on_req("POST", RESP, lambda ex: (ex.body.get("prompt") or {}).pop("version", None)),
)
mutation(
    "prompt-echo-dropped",
    response=any_response(
        lambda ex, s, b: (
            put(b, "prompt", None) if isinstance(b, dict) and b.get("object") == "response" else None
        )
    ),
)
mutation("connector-object-name", response=answer("POST", rx("/connectors"), set_key("object", "mcp_server")))
mutation(
    "connector-headers-leak",
    response=answer(
        "POST",
        rx("/connectors"),
        lambda ex, s, b: put(b, "headers", (ex.original or {}).get("headers") or {}),
    ),
)
mutation(
    "connector-400-as-200",
    response=answer("POST", rx("/connectors"), status_to(200, {"object": "connector"}), (400,)),
)
mutation("connector-delete-noop", **noop("DELETE", rx("/connectors/[^/]+"), deleted("connector.deleted")))

# case id -> the mutation that must catch it; list invariants are added below for every list
BREAKS: dict[str, str] = {
    "files.upload.shape": "file-object-name",
    "files.upload.id-prefix": "file-id-prefix",
    "files.upload.bytes": "file-bytes-off",
    "files.upload.purpose-echo": "file-purpose-default",
    "files.upload.purpose-invalid-400": "upload-400-as-200",
    "files.upload.purpose-missing-400": "upload-400-as-200",
    "files.upload.file-missing-400": "upload-400-as-200",
    "files.upload.filename-echo": "filename-mangled",
    "files.upload.filename-not-a-path": "filename-path-kept",
    "files.retrieve.equals-upload": "file-get-bytes-zero",
    "files.retrieve.unknown-404": "file-unknown-400",
    "files.content.round-trip-binary": "content-newlines",
    "files.content.round-trip-text": "content-newlines",
    "files.content.content-type": "content-json-ctype",
    "files.content.unknown-404": "file-unknown-400",
    "files.delete.shape": "file-delete-object",
    "files.delete.get-404": "file-delete-noop",
    "files.delete.content-404": "file-delete-noop",
    "files.delete.twice-404": "file-delete-noop",
    "files.delete.not-listed": "file-delete-noop",
    "files.delete.removed-from-vector-store": "file-delete-noop",
    "files.list.purpose-filter": "files-purpose-ignored",
    "files.list.limit-400": "list-limit-clamped",
    "vector_stores.create.shape": "vs-object-name",
    "vector_stores.create.id-prefix": "vs-id-prefix",
    "vector_stores.create.with-file-ids": "vs-file-ids-dropped",
    "vector_stores.retrieve.equals-create": "vs-get-metadata-dropped",
    "vector_stores.update.name-metadata": "vs-update-noop",
    "vector_stores.retrieve.unknown-404": "vs-unknown-400",
    "vector_stores.delete.shape": "vs-delete-object",
    "vector_stores.delete.use-after-delete-404": "vs-delete-noop",
    "vector_stores.delete.not-listed": "vs-delete-noop",
    "vector_stores.files.attach-shape": "vsfile-no-store-id",
    "vector_stores.files.ingest-completes": "vsfile-last-error-always",
    "vector_stores.files.counts-add-up": "vs-counts-total-off",
    "vector_stores.files.usage-bytes": "vs-usage-zero",
    "vector_stores.files.unsupported-refused-or-failed": "attach-4xx-as-200",
    "vector_stores.files.failed-has-last-error": "vsfile-last-error-null",
    "vector_stores.files.failed-counted": "vs-failed-as-completed",
    "vector_stores.files.attributes-echo": "vsfile-attributes-dropped",
    "vector_stores.files.update-attributes": "vsfile-update-noop",
    "vector_stores.files.unknown-file-4xx": "attach-4xx-as-200",
    "vector_stores.files.detach-shape": "vsfile-delete-object",
    "vector_stores.files.detach-use-after-delete": "vsfile-delete-noop",
    "vector_stores.files.content": "vsfile-content-empty",
    "vector_stores.batches.create-shape": "batch-object-name",
    "vector_stores.batches.completes": "batch-completed-zero",
    "vector_stores.batches.list-files": "batch-files-drop-one",
    "vector_stores.batches.cancel": "batch-cancel-noop",
    "vector_stores.batches.unknown-404": "batch-unknown-400",
    "vector_stores.search.page-shape": "search-object-name",
    "vector_stores.search.result-shape": "search-score-scaled",
    "vector_stores.search.retrieval-first": "search-reversed",
    "vector_stores.search.scores-descending": "search-reversed",
    "vector_stores.search.max-num-results": "search-max-ignored",
    "vector_stores.search.max-num-results-range-400": "search-max-clamped",
    "vector_stores.search.score-threshold": "search-threshold-ignored",
    "vector_stores.search.query-required-400": "search-400-as-200",
    "vector_stores.search.bad-filter-400": "search-400-as-200",
    **{
        f"vector_stores.search.filter-{s}": "search-filters-dropped"
        for s in ("eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "bool-eq", "and", "or", "nested")
    },
    "conversations.create.shape": "conv-object-name",
    "conversations.create.id-prefix": "conv-id-prefix",
    "conversations.create.with-items": "conv-items-dropped",
    "conversations.retrieve.equals-create": "conv-get-metadata-dropped",
    "conversations.update.metadata": "conv-update-noop",
    "conversations.retrieve.unknown-404": "conv-unknown-400",
    "conversations.delete.shape": "conv-delete-object",
    "conversations.delete.use-after-delete-404": "conv-delete-noop",
    "conversations.delete.response-rejected": "responses-4xx-as-200",
    "conversations.items.add-appends": "conv-add-reversed",
    "conversations.items.add-answer": "conv-add-answer-no-ids",
    "conversations.items.message-id-prefix": "conv-item-id-prefix",
    "conversations.items.get-one": "conv-item-text-upper",
    "conversations.items.unknown-item-404": "conv-item-unknown-400",
    "conversations.items.delete-one": "conv-item-delete-noop",
    "conversations.items.order-desc-default": "list-default-asc",
    "conversations.responses.appends-input-then-output": "conv-dropped-on-create",
    "conversations.responses.two-turns-in-order": "conv-dropped-on-create",
    "conversations.responses.stream-appends": "conv-dropped-on-create",
    "conversations.responses.conversation-echo": "conv-echo-dropped",
    "conversations.responses.history-reaches-model": "conv-dropped-on-create",
    "conversations.responses.unknown-conversation-rejected": "error-param-null",
    "conversations.responses.failed-not-appended": "conv-failed-appended",
    "conversations.responses.with-previous-response-400": "conv-exclusive-dropped",
    "tool_flows.file_search.output-items": "fs-status-searching",
    "tool_flows.file_search.results-included": "fs-results-dropped",
    "tool_flows.file_search.results-omitted-by-default": "fs-results-always",
    "tool_flows.file_search.results-reach-model": "fs-answer-blind",
    "tool_flows.file_search.citation": "fs-annotations-dropped",
    "tool_flows.file_search.stored": "fs-get-output-dropped",
    "tool_flows.file_search.unknown-vector-store-4xx": "responses-4xx-as-200",
    "tool_flows.file_search.stream-event-order": "fs-ev-searching-dropped",
    "tool_flows.file_search.stream-event-ids": "fs-ev-item-id",
    "tool_flows.file_search.stream-done-equals-final": "fs-ev-done-stale",
    "tool_flows.file_search.stream-annotation-event": "fs-annotations-dropped",
    "tool_flows.mcp.list-tools-item": "mcp-list-tools-dropped",
    "tool_flows.mcp.allowed-tools-filter": "mcp-allowed-ignored",
    "tool_flows.mcp.call-item": "mcp-call-output-dropped",
    "tool_flows.mcp.item-order": "mcp-list-tools-dropped",
    "tool_flows.mcp.stream-event-order": "mcp-ev-completed-dropped",
    "tool_flows.mcp.tool-error": "mcp-error-dropped",
    "tool_flows.mcp.approval-request": "mcp-approval-never",
    "tool_flows.mcp.approval-approved-runs": "mcp-approval-id-dropped",
    "tool_flows.mcp.approval-denied-not-run": "mcp-approve-forced",
    "tool_flows.mcp.list-tools-reused": "previous-dropped",
    "tool_flows.mcp.unreachable-server-424": "responses-424-as-500",
    "prompts.create.shape": "prompt-object-name",
    "prompts.versions.create-increments": "prompt-latest-stale",
    "prompts.versions.stale-base-409": "prompt-409-as-200",
    "prompts.default.stale-previous-409": "prompt-409-as-200",
    "prompts.delete.then-404": "prompt-delete-object",
    "prompts.render.instructions-substituted": "prompt-variables-dropped",
    "prompts.render.version-pinned": "prompt-version-dropped",
    "prompts.render.input-prepended": "prompt-variables-dropped",
    "prompts.render.prompt-echo": "prompt-echo-dropped",
    "prompts.render.missing-variable-400": "responses-4xx-as-200",
    "prompts.render.unknown-prompt-404": "responses-404-as-400",
    "prompts.render.unknown-version-404": "responses-404-as-400",
    "connectors.create.shape": "connector-object-name",
    "connectors.create.headers-redacted": "connector-headers-leak",
    "connectors.create.bad-url-400": "connector-400-as-200",
    "connectors.delete.use-after-delete": "connector-delete-noop",
    "connectors.use.mcp-by-connector-id": "mcp-call-output-dropped",
    "connectors.use.deleted-connector-rejected": "responses-4xx-as-200",
}
LIST_BREAKS = {
    "shape": "list-no-first-last",
    "limit-has-more": "list-has-more-false",
    "first-last-id": "list-first-last-swapped",
    "default-order": "list-default-asc",
    "walk-desc": "list-ignore-after",
    "walk-asc": "list-ignore-after",
    "last-page-no-more": "list-has-more-true",
}
for _area in ("files", "vector_stores", "vector_stores.files", "conversations.items", "connectors"):
    BREAKS.update({f"{_area}.list.{k}": v for k, v in LIST_BREAKS.items()})


# --------------------------------------------------------------------------- the proxy


class StatefulProxy(MutatingProxy):
    """``MutatingProxy`` with this file's mutation table, method/path rewrites and raw answers."""

    def _mutations(self) -> list[Mutation]:
        return [SMUT[name] for name in sorted(self.active)]

    async def handle(self, path: str) -> Response:
        raw = await request.get_data()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        ex = Exchange(self, request.method, path, dict(request.args), body, copy.deepcopy(body))
        ex.orig_method = request.method  # type: ignore[attr-defined]
        mutations = self._mutations()
        for m in mutations:
            if m.request is not None:
                m.request(ex)
        content = json.dumps(ex.body).encode() if ex.body is not None else (raw if body is None else b"")
        headers = {"content-type": request.headers.get("content-type", "application/json")}
        assert self.client is not None
        upstream = await self.client.request(
            ex.method,
            self.upstream_root + ex.path,
            params=ex.query,
            content=content if ex.method != "GET" else None,
            headers=headers,
        )
        ctype = upstream.headers.get("content-type", "")
        if ctype.startswith("text/event-stream"):
            return self._stream(ex, upstream.content, mutations)
        try:
            answer = upstream.json()
        except ValueError:
            status, data, hdrs = upstream.status_code, upstream.content, {"content-type": ctype}
            for m in mutations:
                if isinstance(m, SMutation) and m.raw is not None:
                    status, data, hdrs = m.raw(ex, status, data, hdrs)
            return Response(data, status=status, headers=hdrs)
        status = upstream.status_code
        for m in mutations:
            if m.response is not None:
                status, answer = await m.response(ex, status, answer)
        return Response(json.dumps(answer), status=status, content_type="application/json")


@dataclass
class Proxied:
    running: RunningProxy
    mcp_server_url: str | None

    @property
    def proxy(self) -> MutatingProxy:
        return self.running.proxy

    def config(self) -> RunConfig:
        return RunConfig(
            base_url=self.running.base_url,
            profile=PROFILES["openai"],
            model="scripted",
            timeout=30,
            mcp_server_url=self.mcp_server_url,
        )


@pytest.fixture(scope="module")
def stateful_reference() -> Iterator[Proxied]:
    with builtin_target("reference") as target:
        root = target.base_url.rstrip("/").removesuffix("/v1")
        running = RunningProxy(StatefulProxy(root)).start()
        try:
            yield Proxied(running, target.mcp_server_url)
        finally:
            running.stop()


@pytest.fixture
def sp(stateful_reference: Proxied) -> Iterator[Proxied]:
    stateful_reference.proxy.active = set()
    yield stateful_reference
    stateful_reference.proxy.active = set()


def test_every_case_has_a_break() -> None:
    own = {c.id for c in REGISTRY.all() if c.func.__module__ in MODULES}
    assert own == set(BREAKS), (sorted(own - set(BREAKS)), sorted(set(BREAKS) - own))
    assert len(own) >= 120
    assert set(BREAKS.values()) == set(SMUT), sorted(set(SMUT) ^ set(BREAKS.values()))


def test_the_sse_parser_is_the_harness_one() -> None:
    # the proxy re-frames streams with the harness's parser; a sanity check of that round trip
    frames = list(SSEParser().feed(b'event: x\ndata: {"a": 1}\n\n'))
    assert [f.data for f in frames] == ['{"a": 1}']


def test_mcp_server_is_started_with_the_reference_target(stateful_reference: Proxied) -> None:
    assert stateful_reference.mcp_server_url and stateful_reference.mcp_server_url.endswith("/mcp")


@pytest.mark.parametrize("case_id", sorted(BREAKS))
async def test_case_passes_on_reference_and_is_caught_when_broken(sp: Proxied, case_id: str) -> None:
    case = REGISTRY.get(case_id)
    good = (await run_cases([case], sp.config())).results[0]
    assert good.verdict is Verdict.PASS, (good.message, good.expected, good.actual, good.traceback)

    sp.proxy.active = {BREAKS[case_id]}
    bad = (await run_cases([case], sp.config())).results[0]
    expected = Verdict.FAIL if case.level is Level.MUST else Verdict.NON_STRICT
    assert bad.verdict is expected, (bad.verdict, bad.message, bad.expected, bad.actual, bad.traceback)
    assert bad.message
    assert bad.transcript


async def test_without_mcp_server_the_mcp_cases_are_unimplemented(sp: Proxied) -> None:
    config = sp.config()
    config.mcp_server_url = None
    cases = [REGISTRY.get("tool_flows.mcp.call-item"), REGISTRY.get("connectors.use.mcp-by-connector-id")]
    results = (await run_cases(cases, config)).results
    assert [r.verdict for r in results] == [Verdict.UNIMPLEMENTED] * 2
    assert all("--mcp-server-url" in r.message for r in results)


# --------------------------------------------------------------------------- gateways without these APIs

_STATEFUL_ROUTES = rx(r"/(files|vector_stores|conversations|prompts|connectors)(/.*)?")


async def _no_stateful_apis(ex: Exchange, status: int, body: Any) -> tuple[int, Any]:
    """A gateway that serves only /responses: every other route is an unknown route."""
    if _STATEFUL_ROUTES.match(ex.path):
        return 404, {
            "error": {
                "message": f"Unknown route {ex.path}",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        }
    return status, body


# not a case's break: kept out of SMUT's one-to-one check above
NO_APIS = "no-stateful-apis"


async def test_a_gateway_without_these_apis_is_unimplemented_never_fail(sp: Proxied) -> None:
    SMUT[NO_APIS] = SMutation(response=_no_stateful_apis)
    try:
        sp.proxy.active = {NO_APIS}
        cases = [c for c in REGISTRY.all() if c.func.__module__ in MODULES]
        results = (await run_cases(cases, sp.config())).results
    finally:
        del SMUT[NO_APIS]
    verdicts = {r.case_id: r.verdict for r in results}
    ok = (Verdict.UNIMPLEMENTED, Verdict.PASS)
    bad = {r.case_id: (r.verdict, r.message) for r in results if r.verdict not in ok}
    assert not bad
    resource_cases = [k for k in verdicts if not k.startswith("tool_flows.")]
    assert all(verdicts[k] is Verdict.UNIMPLEMENTED for k in resource_cases), [
        k for k in resource_cases if verdicts[k] is not Verdict.UNIMPLEMENTED
    ]
    # the hosted-tool cases that need a vector store cannot run either
    assert verdicts["tool_flows.file_search.output-items"] is Verdict.UNIMPLEMENTED


def test_cli_takes_an_mcp_server_url() -> None:
    from conformance.cli import build_parser

    args = build_parser().parse_args(
        ["run", "--base-url", "http://127.0.0.1:1/v1", "--mcp-server-url", "http://127.0.0.1:2/mcp"]
    )
    assert args.mcp_server_url == "http://127.0.0.1:2/mcp"
    assert build_parser().parse_args(["run", "--target", "reference"]).mcp_server_url is None
