"""MCP support for the server-side tool loop of `{"type": "mcp"}` tools.

The Responses API lets a request name remote MCP servers as tools (`MCPTool` in the OpenAI
OpenAPI spec: `server_label`, `server_url` or `connector_id`, `headers`, `authorization`,
`allowed_tools`, `require_approval`). The gateway runs the loop itself: it lists the server's
tools (an `mcp_list_tools` output item), offers them to the model as chat function tools, and
when the model calls one it runs `tools/call` (an `mcp_call` item) or, when approval is required,
stops with an `mcp_approval_request` item that a later request answers with an
`mcp_approval_response` input item.

This module is the gateway's MCP side and nothing else (no engine integration):

IO (uses the `mcp` SDK's Streamable HTTP client):
    :class:`MCPServerRef` - where a server is (label, url, headers).
    :class:`MCPToolCache` - ``await cache.list_tools(ref)`` (cached per (url, headers) for
    ``ttl`` seconds, so a tool list is not fetched per request) and
    ``await cache.call_tool(ref, name, arguments)`` -> :class:`CallResult`. Every failure to
    talk to the server (unreachable, timeout, HTTP error status, JSON-RPC/protocol error) raises
    :class:`MCPClientError`, which renders both as an ``mcp_call.error`` object
    (:meth:`MCPClientError.error_object`) and as an OpenAI error (:meth:`MCPClientError.to_api_error`).
    A tool that *runs* and reports failure (`isError: true`) is not an exception: it is a
    :class:`CallResult` with ``is_error=True``.

Pure helpers:
    :func:`server_ref_from_tool`, :func:`filter_allowed`, :func:`needs_approval`,
    :func:`to_function_tools`, :func:`mangle_tool_name` / :func:`demangle_tool_name`, and the item
    builders :func:`mcp_list_tools_item`, :func:`mcp_call_item`, :func:`mcp_call_from_result`,
    :func:`mcp_call_from_error`, :func:`mcp_approval_request_item`,
    :func:`parse_approval_response`.

A sketch of the loop the engine runs with these::

    ref = server_ref_from_tool(tool, connectors)
    tools = filter_allowed(await cache.list_tools(ref), tool.get("allowed_tools"))
    output.append(mcp_list_tools_item(ref.label, tools))
    chat_tools += to_function_tools(ref.label, tools)
    ... the model calls function `fname` with `args` ...
    label, name = demangle_tool_name(fname, offered_pairs)
    if needs_approval(tool.get("require_approval"), name, read_only_hint=info.read_only_hint):
        output.append(mcp_approval_request_item(label, name, args)); stop
    try:
        result = await cache.call_tool(ref, name, json.loads(args))
        output.append(mcp_call_from_result(label, name, args, result))
    except MCPClientError as exc:
        output.append(mcp_call_from_error(label, name, args, exc))
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import anyio
import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

from reference.core.errors import APIError, invalid_request
from reference.core.ids import new_id

# Item id prefixes as the OpenAI API uses them (`mcpl_...`, `mcp_...`, `mcpr_...`).
MCP_LIST_TOOLS_PREFIX = "mcpl"
MCP_CALL_PREFIX = "mcp"
MCP_APPROVAL_REQUEST_PREFIX = "mcpr"

DEFAULT_TTL = 300.0
DEFAULT_TIMEOUT = 30.0
DEFAULT_CONNECT_TIMEOUT = 10.0

# A tools/list that never ends (a server handing out cursors forever) must not hang a request.
_MAX_LIST_PAGES = 50

_T = TypeVar("_T")


# --------------------------------------------------------------------------------------------
# Data


@dataclass(frozen=True)
class MCPServerRef:
    """An MCP server as a request (or a registered connector) names it.

    `headers` go on every HTTP request to the server (MCPTool.headers: "Optional HTTP headers to
    send to the MCP server. Use for authentication or other purposes.").
    """

    label: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)

    def cache_key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        """(url, headers) with header names case-folded: the tool list can depend on credentials."""
        return self.url, tuple(sorted((k.lower(), v) for k, v in self.headers.items()))


@dataclass(frozen=True)
class ToolInfo:
    """One tool of a server's `tools/list`, in the shape of `MCPListToolsTool`."""

    name: str
    input_schema: dict[str, Any]
    description: str | None = None
    annotations: dict[str, Any] | None = None

    @property
    def read_only_hint(self) -> bool:
        """MCP `ToolAnnotations.readOnlyHint` ("Default: false")."""
        return bool((self.annotations or {}).get("readOnlyHint", False))

    def to_item(self) -> dict[str, Any]:
        """`MCPListToolsTool`: `name` and `input_schema` required, `description`/`annotations` nullable."""
        return {
            "name": self.name,
            "description": self.description,
            "input_schema": copy.deepcopy(self.input_schema),
            "annotations": copy.deepcopy(self.annotations),
        }

    @classmethod
    def from_mcp(cls, tool: types.Tool) -> ToolInfo:
        annotations = (
            tool.annotations.model_dump(by_alias=True, exclude_none=True, mode="json")
            if tool.annotations is not None
            else None
        )
        return cls(
            name=tool.name,
            input_schema=dict(tool.input_schema),
            description=tool.description,
            annotations=annotations or None,
        )


@dataclass(frozen=True)
class CallResult:
    """The result of a `tools/call` that reached the tool.

    `output_text` is the text content blocks joined with newlines (other block kinds as their
    JSON; when there is no content, the structured content as JSON). `content` keeps the raw MCP
    content blocks (JSON), which an `mcp_tool_execution_error` carries when `is_error` is true.
    """

    output_text: str
    is_error: bool
    content: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_mcp(cls, result: types.CallToolResult) -> CallResult:
        blocks = [block.model_dump(by_alias=True, exclude_none=True, mode="json") for block in result.content]
        parts = [
            block["text"] if block.get("type") == "text" else json.dumps(block, separators=(",", ":"))
            for block in blocks
        ]
        text = "\n".join(parts)
        if not blocks and result.structured_content is not None:
            text = json.dumps(result.structured_content, separators=(",", ":"))
        return cls(output_text=text, is_error=bool(result.is_error), content=blocks)


ErrorKind = Literal["unreachable", "timeout", "http", "protocol"]


class MCPClientError(Exception):
    """The gateway could not get an answer from an MCP server.

    `kind`: ``unreachable`` (no connection), ``timeout`` (no answer within the timeout),
    ``http`` (an HTTP error status; `code` is the status) or ``protocol`` (a JSON-RPC error or a
    malformed answer; `code` is the JSON-RPC error code).
    """

    def __init__(
        self, kind: ErrorKind, message: str, *, server_label: str, url: str, code: int | None = None
    ) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message
        self.server_label = server_label
        self.url = url
        self.code = code

    def __repr__(self) -> str:
        return (f"MCPClientError({self.kind!r}, {self.message!r}, code={self.code!r}, "
                f"label={self.server_label!r})")

    def error_object(self) -> dict[str, Any]:
        """The `mcp_call.error` object (`MCPToolCallError`: `MCPProtocolError` or `HTTPError`).

        The spec has no variant for "no HTTP response at all", so a connection failure is given
        as the status a proxy would answer in our place: 502 (unreachable) or 504 (timeout).
        """
        if self.kind == "protocol":
            return {"type": "mcp_protocol_error", "code": self.code if self.code is not None else -32603,
                    "message": self.message}
        status = {"unreachable": 502, "timeout": 504}.get(self.kind, self.code or 502)
        return {"type": "http_error", "code": status, "message": self.message}

    def to_api_error(self) -> APIError:
        """The OpenAI error for a failure before the model runs (listing tools).

        OpenAI answers such requests with HTTP 424 (Failed Dependency) and the message "Error
        retrieving tool list from MCP server: '<label>'..." (seen in OpenAI SDK issue reports).
        """
        return APIError(
            424,
            f"Error retrieving tool list from MCP server: '{self.server_label}'. {self.message}",
            "external_connector_error",
            "tools",
            f"mcp_{self.kind}_error",
        )


# --------------------------------------------------------------------------------------------
# Client


class MCPToolCache:
    """Lists and calls MCP tools; tool lists are cached per (url, headers) for `ttl` seconds.

    A cached list is served without any network traffic. Failures are never cached (a server
    that comes back is used at once). Concurrent misses for one key share one fetch. At most
    `max_entries` lists are kept (least recently used evicted). `ttl <= 0` disables caching.

    Each operation opens its own MCP connection (Streamable HTTP; the protocol version is
    negotiated by the SDK, so handshake-era and 2026 servers both work) and closes it: nothing
    outlives a call, so one cache serves every request and task of an event loop (it is not
    thread-safe: use one per event loop). Returned `ToolInfo`s are shared with the cache: treat
    them as read-only (the builders below copy what they put in items). `timeout` bounds
    a whole operation (connect, negotiate, request); `connect_timeout` the TCP connect.
    `mode` is the SDK's negotiation mode: ``"auto"`` (probe `server/discover`, fall back to the
    `initialize` handshake) or ``"legacy"`` (handshake only).
    """

    def __init__(
        self,
        *,
        ttl: float = DEFAULT_TTL,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        max_entries: int = 256,
        clock: Callable[[], float] = time.monotonic,
        mode: str = "auto",
        allowed_urls: Sequence[str] = (),
    ) -> None:
        # The servers requests may name (`serve --mcp-allow-url`); empty: any server.
        self.allowed_urls = tuple(allowed_urls)
        self.ttl = ttl
        self.mode = mode
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[_Key, _Entry] = OrderedDict()
        self._locks: dict[_Key, asyncio.Lock] = {}

    # -- public API -----------------------------------------------------------------------

    def allows(self, url: str) -> bool:
        """Whether a request may have the gateway connect to this MCP server URL."""
        return url_allowed(url, self.allowed_urls)

    async def list_tools(self, ref: MCPServerRef) -> list[ToolInfo]:
        """The server's tools (every page of `tools/list`), from the cache when fresh."""
        key = ref.cache_key()
        hit = self._fresh(key)
        if hit is not None:
            return list(hit.tools)
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                hit = self._fresh(key)  # another task may have fetched it while we waited
                if hit is None:
                    hit = self._store(key, await self._run(ref, _fetch_listing))
                return list(hit.tools)
        finally:
            if not lock.locked() and key not in self._entries:  # failed or uncached: drop the lock
                self._locks.pop(key, None)

    async def call_tool(self, ref: MCPServerRef, name: str, arguments: Mapping[str, Any]) -> CallResult:
        """Run `tools/call`; a tool-reported failure is ``CallResult(is_error=True)``, not an exception.

        The session is given the tool listing first: the SDK validates a result against the
        tool's output schema and, on 2026 connections, mirrors `x-mcp-header` arguments into
        `Mcp-Param-*` headers, both from the session's last listing; without one it would list
        the tools again on every call. A fresh cached listing is handed over without a request
        (through the SDK's private `_absorb_tool_listing`, the same step its own response cache
        takes on a hit; were it gone, the SDK lists by itself and only the saving is lost);
        otherwise the listing is fetched on this connection and cached.
        """
        key = ref.cache_key()

        async def call(client: Client) -> CallResult:
            entry = self._fresh(key)
            absorb = getattr(client.session, "_absorb_tool_listing", None)
            if entry is None:
                self._store(key, await _fetch_listing(client))
            elif callable(absorb):
                listing = types.ListToolsResult(tools=[t.model_copy(deep=True) for t in entry.raw])
                absorb(listing, complete=True)
            result = await client.call_tool(name, dict(arguments))
            return CallResult.from_mcp(result)

        return await self._run(ref, call)

    def invalidate(self, ref: MCPServerRef) -> None:
        """Forget the cached tool list of `ref` (e.g. after a `tools/list_changed`)."""
        self._entries.pop(ref.cache_key(), None)

    def clear(self) -> None:
        self._entries.clear()

    # -- internals ------------------------------------------------------------------------

    def _fresh(self, key: _Key) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._clock() >= entry.expires:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    def _store(self, key: _Key, raw: list[types.Tool]) -> _Entry:
        entry = _Entry(self._clock() + self.ttl, [ToolInfo.from_mcp(t) for t in raw], raw)
        if self.ttl > 0:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                old, _ = self._entries.popitem(last=False)
                self._locks.pop(old, None)
        return entry

    async def _run(self, ref: MCPServerRef, op: Callable[[Client], Awaitable[_T]]) -> _T:
        """Connect, run `op(client)`, close; map every failure to :class:`MCPClientError`."""
        seen: list[tuple[int, bool]] = []

        async def record(response: httpx2.Response) -> None:
            # The SDK turns an HTTP error status into a JSON-RPC error and drops the status.
            # Keep it, and whether the body was the server's own JSON-RPC error (a 2026 server
            # answers e.g. an unknown tool with HTTP 400 and a JSON-RPC error body): that is a
            # protocol error, any other error status an `http_error` with its real code. The
            # body is read here; httpx keeps it, so the SDK's own read still sees it.
            if response.request.method == "DELETE":
                return
            jsonrpc_error = False
            if response.status_code >= 400:
                try:
                    body = json.loads(await response.aread())
                    jsonrpc_error = isinstance(body, dict) and "jsonrpc" in body and "error" in body
                except (ValueError, httpx2.HTTPError):
                    pass
            seen.append((response.status_code, jsonrpc_error))

        http = httpx2.AsyncClient(
            headers=dict(ref.headers),
            timeout=httpx2.Timeout(self.timeout, connect=self.connect_timeout),
            event_hooks={"response": [record]},
        )
        try:
            with anyio.fail_after(self.timeout):
                async with http:
                    transport = streamable_http_client(ref.url, http_client=http)
                    # cache=None: the SDK's response cache lives per Client, and ours is shared.
                    async with Client(
                        transport, read_timeout_seconds=self.timeout, cache=None, mode=self.mode
                    ) as client:
                        return await op(client)
        except Exception as exc:  # every failure of the exchange becomes one error type
            raise _map_error(exc, ref, seen, self.timeout) from exc


_Key = tuple[str, tuple[tuple[str, str], ...]]


@dataclass(frozen=True)
class _Entry:
    expires: float
    tools: list[ToolInfo]
    raw: list[types.Tool]


async def _fetch_listing(client: Client) -> list[types.Tool]:
    tools: list[types.Tool] = []
    cursor: str | None = None
    for _ in range(_MAX_LIST_PAGES):
        page = await client.list_tools(cursor=cursor, cache_mode="bypass")
        tools.extend(page.tools)
        cursor = page.next_cursor
        if cursor is None:
            return tools
    raise MCPError(types.INTERNAL_ERROR, f"tools/list did not end after {_MAX_LIST_PAGES} pages")


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        out: list[BaseException] = []
        for inner in exc.exceptions:
            out.extend(_leaves(inner))
        return out
    return [exc]


def _map_error(
    exc: Exception, ref: MCPServerRef, seen: Sequence[tuple[int, bool]], timeout: float
) -> MCPClientError:
    leaves = _leaves(exc)

    def make(kind: ErrorKind, message: str, code: int | None = None) -> MCPClientError:
        return MCPClientError(kind, message, server_label=ref.label, url=ref.url, code=code)

    for leaf in leaves:
        # The SDK's own per-request read timeout arrives as JSON-RPC REQUEST_TIMEOUT (-32001).
        if isinstance(leaf, TimeoutError | httpx2.TimeoutException) or (
            isinstance(leaf, MCPError) and leaf.code == types.REQUEST_TIMEOUT
        ):
            return make("timeout", f"MCP server did not answer within {timeout:g} s.")
    for leaf in leaves:
        if isinstance(leaf, httpx2.TransportError | OSError):
            return make("unreachable", f"MCP server could not be reached: {leaf}")
    status, jsonrpc_body = seen[-1] if seen else (200, False)
    for leaf in leaves:
        if isinstance(leaf, MCPError):
            if status >= 400 and not jsonrpc_body:
                return make("http", f"MCP server answered HTTP {status}.", status)
            return make("protocol", f"MCP error {leaf.code}: {leaf.message}", leaf.code)
    for leaf in leaves:
        if isinstance(leaf, ValidationError):
            return make("protocol", f"MCP server sent an invalid message: {leaf.error_count()} errors",
                        types.INTERNAL_ERROR)
    first = leaves[0] if leaves else exc
    return make("protocol", f"MCP exchange failed: {type(first).__name__}: {first}", types.INTERNAL_ERROR)


# --------------------------------------------------------------------------------------------
# Request helpers (pure)


def _origin_and_path(url: str) -> tuple[str, str, int, str] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or (443 if scheme == "https" else 80), parts.path or "/"


def url_allowed(url: str, allowed: Sequence[str]) -> bool:
    """Whether `url` is under one of the `allowed` URL prefixes (no prefixes: every URL).

    A prefix names a scheme, host and port exactly and a path prefix on whole segments:
    `https://mcp.example.com/mcp` allows `.../mcp` and `.../mcp/x`, not `.../mcpx`, another port
    or another scheme. Credentials in the URL play no part."""
    if not allowed:
        return True
    target = _origin_and_path(url)
    if target is None:
        return False
    for prefix in allowed:
        rule = _origin_and_path(prefix)
        if rule is None or rule[:3] != target[:3]:
            continue
        base = rule[3].rstrip("/")
        if not base or target[3] == base or target[3].startswith(base + "/"):
            return True
    return False


def server_ref_from_tool(
    tool: Mapping[str, Any], connectors: Mapping[str, MCPServerRef] | None = None
) -> MCPServerRef:
    """The server an `{"type": "mcp"}` request tool names.

    `server_url` or `connector_id` (a connector registered at `/v1/connectors`, looked up in
    `connectors`) must be given. Request `headers` are added to (and override) the connector's;
    `authorization` ("An OAuth access token that can be used with a remote MCP server") becomes
    `Authorization: Bearer <token>`. Raises `APIError` 400 naming the bad parameter.
    """
    label = tool.get("server_label")
    if not isinstance(label, str) or not label:
        raise invalid_request("Missing required parameter: 'tools[].server_label'.", "tools.server_label")
    headers: dict[str, str] = {}
    url = tool.get("server_url")
    connector_id = tool.get("connector_id")
    if url:
        if not isinstance(url, str):
            raise invalid_request("'tools[].server_url' must be a string.", "tools.server_url")
    elif connector_id:
        connector = (connectors or {}).get(connector_id)
        if connector is None:
            raise invalid_request(f"Unknown connector_id '{connector_id}'.", "tools.connector_id")
        url = connector.url
        headers.update(connector.headers)
    else:
        raise invalid_request(
            "One of 'server_url' or 'connector_id' must be provided for an mcp tool.", "tools.server_url"
        )
    extra = tool.get("headers") or {}
    if not isinstance(extra, Mapping) or not all(isinstance(v, str) for v in extra.values()):
        raise invalid_request("'tools[].headers' must map header names to strings.", "tools.headers")
    headers.update(extra)
    token = tool.get("authorization")
    if isinstance(token, str) and token:
        headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        headers["Authorization"] = f"Bearer {token}"
    return MCPServerRef(label=label, url=url, headers=headers)


def tool_matches_filter(tool: ToolInfo, tool_filter: Mapping[str, Any]) -> bool:
    """Whether `tool` matches an `MCPToolFilter` (`tool_names`, `read_only`).

    Every criterion given must hold (a filter with none matches every tool). `read_only`
    compares with the tool's `readOnlyHint` annotation (MCPToolFilter.read_only: "If an MCP
    server is annotated with `readOnlyHint`, it will match this filter"; absent means false).
    """
    names = tool_filter.get("tool_names")
    if names is not None and tool.name not in names:
        return False
    read_only = tool_filter.get("read_only")
    return read_only is None or bool(read_only) == tool.read_only_hint


def filter_allowed(tools: Iterable[ToolInfo], allowed_tools: Any) -> list[ToolInfo]:
    """The tools a request may use (MCPTool.allowed_tools: "List of allowed tool names or a filter
    object"; null or absent allows all). The server's order is kept."""
    tools = list(tools)
    if allowed_tools is None:
        return tools
    if isinstance(allowed_tools, list):
        allowed = set(allowed_tools)
        return [t for t in tools if t.name in allowed]
    if isinstance(allowed_tools, Mapping):
        return [t for t in tools if tool_matches_filter(t, allowed_tools)]
    raise ValueError(f"allowed_tools must be a list, a filter object or null: {allowed_tools!r}")


def needs_approval(require_approval: Any, tool_name: str, *, read_only_hint: bool = False) -> bool:
    """Whether calling `tool_name` must stop for an `mcp_approval_request`.

    MCPTool.require_approval is `"always"`, `"never"`, or `{"always": MCPToolFilter, "never":
    MCPToolFilter}`, with `default: always`, so null/absent and a tool matched by neither filter
    require approval. A tool matched by both filters requires it (the safe reading).
    """
    if require_approval is None or require_approval == "always":
        return True
    if require_approval == "never":
        return False
    if isinstance(require_approval, Mapping):
        tool = ToolInfo(name=tool_name, input_schema={},
                        annotations={"readOnlyHint": read_only_hint})
        always = require_approval.get("always")
        if always is not None and tool_matches_filter(tool, always):
            return True
        never = require_approval.get("never")
        return not (never is not None and tool_matches_filter(tool, never))
    raise ValueError(f"require_approval must be 'always', 'never', a filter or null: {require_approval!r}")


# --------------------------------------------------------------------------------------------
# Function-tool names
#
# Chat Completions function names must match [a-zA-Z0-9_-]{1,64}; MCP tool names and server
# labels may hold other characters and together be longer. Two forms, told apart by prefix:
#
#   direct:  "mcp" + str(len(label)) + "_" + label + "_" + tool
#            when label and tool are non-empty, both only [a-zA-Z0-9_-], and the whole name
#            fits in 64 characters. The length prefix makes the split unambiguous whatever
#            underscores the label holds: ("fixture", "lookup_weather") -> "mcp7_fixture_lookup_weather".
#            It decodes without any context.
#   hashed:  "mcph_" + 12 hex chars of sha256(label NUL tool) + "_" + the tool name with every
#            other character replaced by "_", cut to 64 characters. It is resolved by
#            recomputing it for the (label, tool) pairs that were offered to the model.
#
# A direct name starts with "mcp<digit>", a hashed one with "mcph_", so the forms never collide
# with each other; direct names are injective by construction, hashed ones up to a 48-bit hash.

_NAME_OK = re.compile(r"[A-Za-z0-9_-]+")
_DIRECT = re.compile(r"mcp([0-9]+)_(.*)", re.DOTALL)
MAX_FUNCTION_NAME = 64


def mangle_tool_name(label: str, tool_name: str) -> str:
    """The chat function name for MCP tool `tool_name` of server `label` (see the scheme above)."""
    if label and tool_name and _NAME_OK.fullmatch(label) and _NAME_OK.fullmatch(tool_name):
        direct = f"mcp{len(label)}_{label}_{tool_name}"
        if len(direct) <= MAX_FUNCTION_NAME:
            return direct
    digest = hashlib.sha256(f"{label}\0{tool_name}".encode()).hexdigest()[:12]
    readable = re.sub(r"[^A-Za-z0-9_-]", "_", tool_name)
    return f"mcph_{digest}_{readable}"[:MAX_FUNCTION_NAME]


def demangle_tool_name(name: str, offered: Iterable[tuple[str, str]] = ()) -> tuple[str, str] | None:
    """`(label, tool_name)` for a function name made by :func:`mangle_tool_name`, else None.

    Direct names decode on their own; hashed names are matched against `offered`, the
    (label, tool) pairs the request offered.
    """
    match = _DIRECT.fullmatch(name)
    if match is not None:
        size = int(match.group(1))
        rest = match.group(2)
        if match.group(1) == str(size) and len(rest) > size + 1 and rest[size] == "_":
            label, tool_name = rest[:size], rest[size + 1 :]
            if mangle_tool_name(label, tool_name) == name:
                return label, tool_name
        return None
    if name.startswith("mcph_"):
        for label, tool_name in offered:
            if mangle_tool_name(label, tool_name) == name:
                return label, tool_name
    return None


def to_function_tools(label: str, tools: Iterable[ToolInfo]) -> list[dict[str, Any]]:
    """Chat Completions function tools for `tools`, named with :func:`mangle_tool_name`."""
    out: list[dict[str, Any]] = []
    for tool in tools:
        function: dict[str, Any] = {
            "name": mangle_tool_name(label, tool.name),
            "parameters": copy.deepcopy(tool.input_schema),
        }
        if tool.description:
            function["description"] = tool.description
        out.append({"type": "function", "function": function})
    return out


# --------------------------------------------------------------------------------------------
# Output items (shapes of MCPListTools, MCPToolCall, MCPApprovalRequest)


def _arguments_text(arguments: str | Mapping[str, Any]) -> str:
    # MCPToolCall.arguments / MCPApprovalRequest.arguments: "A JSON string of the arguments".
    return arguments if isinstance(arguments, str) else json.dumps(dict(arguments), separators=(",", ":"))


def mcp_list_tools_item(
    label: str, tools: Iterable[ToolInfo], *, error: str | None = None, item_id: str | None = None
) -> dict[str, Any]:
    """`{"type": "mcp_list_tools", "id": "mcpl_...", "server_label", "tools": [...]}` (+ `error`)."""
    item: dict[str, Any] = {
        "type": "mcp_list_tools",
        "id": item_id or new_id(MCP_LIST_TOOLS_PREFIX),
        "server_label": label,
        "tools": [t.to_item() for t in tools],
    }
    if error is not None:
        item["error"] = error
    return item


def mcp_call_item(
    label: str,
    name: str,
    arguments: str | Mapping[str, Any],
    *,
    output: str | None = None,
    error: dict[str, Any] | None = None,
    status: Literal["in_progress", "completed", "incomplete", "calling", "failed"] = "completed",
    approval_request_id: str | None = None,
    item_id: str | None = None,
) -> dict[str, Any]:
    """`{"type": "mcp_call", "id": "mcp_...", "server_label", "name", "arguments", "output",
    "error", "status", "approval_request_id"}`; `error` is an `MCPToolCallError` object."""
    return {
        "type": "mcp_call",
        "id": item_id or new_id(MCP_CALL_PREFIX),
        "server_label": label,
        "name": name,
        "arguments": _arguments_text(arguments),
        "output": output,
        "error": error,
        "status": status,
        "approval_request_id": approval_request_id,
    }


def mcp_call_from_result(
    label: str,
    name: str,
    arguments: str | Mapping[str, Any],
    result: CallResult,
    *,
    approval_request_id: str | None = None,
    item_id: str | None = None,
) -> dict[str, Any]:
    """The `mcp_call` item for a tool that ran: its text as `output`, or, when the tool reported
    an error, an `mcp_tool_execution_error` carrying the tool's content and status `failed`."""
    if result.is_error:
        return mcp_call_item(
            label, name, arguments,
            error={"type": "mcp_tool_execution_error", "content": result.content},
            status="failed", approval_request_id=approval_request_id, item_id=item_id,
        )
    return mcp_call_item(label, name, arguments, output=result.output_text, status="completed",
                         approval_request_id=approval_request_id, item_id=item_id)


def mcp_call_from_error(
    label: str,
    name: str,
    arguments: str | Mapping[str, Any],
    exc: MCPClientError,
    *,
    approval_request_id: str | None = None,
    item_id: str | None = None,
) -> dict[str, Any]:
    """The `mcp_call` item for a call that never got a tool result (status `failed`)."""
    return mcp_call_item(label, name, arguments, error=exc.error_object(), status="failed",
                         approval_request_id=approval_request_id, item_id=item_id)


def mcp_approval_request_item(
    label: str, name: str, arguments: str | Mapping[str, Any], *, item_id: str | None = None
) -> dict[str, Any]:
    """`{"type": "mcp_approval_request", "id": "mcpr_...", "server_label", "name", "arguments"}`."""
    return {
        "type": "mcp_approval_request",
        "id": item_id or new_id(MCP_APPROVAL_REQUEST_PREFIX),
        "server_label": label,
        "name": name,
        "arguments": _arguments_text(arguments),
    }


@dataclass(frozen=True)
class ApprovalDecision:
    approval_request_id: str
    approve: bool
    reason: str | None = None


def parse_approval_response(item: Mapping[str, Any]) -> ApprovalDecision:
    """Read an `mcp_approval_response` input item (`approval_request_id`, `approve`, `reason`?).

    Raises `APIError` 400 when the item is malformed.
    """
    if item.get("type") != "mcp_approval_response":
        raise invalid_request("Expected an item of type 'mcp_approval_response'.", "input")
    request_id = item.get("approval_request_id")
    if not isinstance(request_id, str) or not request_id:
        raise invalid_request("Missing required parameter: 'input[].approval_request_id'.",
                              "input.approval_request_id")
    approve = item.get("approve")
    if not isinstance(approve, bool):
        raise invalid_request("'input[].approve' must be a boolean.", "input.approve")
    reason = item.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise invalid_request("'input[].reason' must be a string or null.", "input.reason")
    return ApprovalDecision(request_id, approve, reason)


__all__ = [
    "DEFAULT_TIMEOUT",
    "DEFAULT_TTL",
    "ApprovalDecision",
    "CallResult",
    "MCPClientError",
    "MCPServerRef",
    "MCPToolCache",
    "ToolInfo",
    "demangle_tool_name",
    "filter_allowed",
    "mangle_tool_name",
    "mcp_approval_request_item",
    "mcp_call_from_error",
    "mcp_call_from_result",
    "mcp_call_item",
    "mcp_list_tools_item",
    "needs_approval",
    "parse_approval_response",
    "server_ref_from_tool",
    "to_function_tools",
    "tool_matches_filter",
]
