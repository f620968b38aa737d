"""The hosted (server-side) tools of a Responses request: `file_search` and `mcp`.

`resolve_hosted_tools` turns the request's `{"type": "file_search"}` and `{"type": "mcp"}` tools
into :class:`HostedTools`: the chat function tools offered to the model in their place, and for
every function name what it stands for (a :class:`Binding`). It validates everything before the
model runs, so a bad request is one 4xx and nothing is stored:

- file_search: the tool's parameters (`reference.retrieval.parse_file_search_tool`, 400 naming
  `tools[i]...`) and that every vector store exists (404 naming `tools[i].vector_store_ids`).
- mcp: `server_url` / `connector_id` (`reference.mcp_client.server_ref_from_tool`, 400),
  `allowed_tools` / `require_approval` shapes (400), a unique `server_label` (400), and the tool
  list (`MCPToolCache.list_tools`, cached; a server that cannot be reached is the 424
  `MCPClientError.to_api_error`, which is what OpenAI answers: "Error retrieving tool list from
  MCP server").

The guide's rule for the tool list ("As long as the mcp_list_tools item is present in the context
of the response, we will not fetch the list of tools from the MCP server again") is followed:
when the history (previous_response_id chain or conversation) already holds an error-free
`mcp_list_tools` item for a server label, its tools are reused and no new item is emitted.

Also here: `expand_history`, which renders earlier hosted-tool items as the chat tool calls and
tool results the model made and saw (chat has no such items), and `pending_approvals`, which
pairs a request's `mcp_approval_response` items with the `mcp_approval_request` they answer.

Pure apart from the injected :class:`ToolServices`; nothing here knows the engine.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from reference.core import errors
from reference.core.errors import APIError
from reference.logredact import redact_url_credentials
from reference.mcp_client import (
    ApprovalDecision,
    MCPClientError,
    MCPServerRef,
    MCPToolCache,
    ToolInfo,
    filter_allowed,
    mangle_tool_name,
    mcp_list_tools_item,
    needs_approval,
    parse_approval_response,
    server_ref_from_tool,
    to_function_tools,
)
from reference.retrieval import FileSearchTool, Hit, RetrievalError, SearchOptions, parse_file_search_tool

# The chat function name the model sees for the (first) file_search tool; further file_search
# tools of one request are `file_search_2`, `file_search_3`, ... . Documented in
# reference/tools/__init__.py docstring: with the scripted backend a test makes the model search
# with `[[tool:file_search:{"query": "..."}]]`.
FILE_SEARCH_FUNCTION = "file_search"
FILE_SEARCH_CALL_PREFIX = "fs"

FILE_SEARCH_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "query": {"type": "string", "description": "What to search for in the attached files."},
        "queries": {"type": "array", "items": {"type": "string"},
                    "description": "Several queries to search for at once (instead of `query`)."},
    },
}
FILE_SEARCH_DESCRIPTION = (
    "Search the user's uploaded files (vector stores) and return the most relevant passages. "
    "Call it whenever the answer may depend on those files."
)

SearchFn = Callable[[Sequence[str], SearchOptions], Awaitable[list[Hit]]]
"""`(vector_store_ids, options with queries) -> hits`, best first (404 `APIError` for an unknown store)."""
CheckStoreFn = Callable[[str], Awaitable[None]]
"""Raises a 404 `APIError` when the vector store does not exist."""
ConnectorsFn = Callable[[Sequence[Mapping[str, Any]]], Awaitable[dict[str, MCPServerRef]]]
"""The registered connectors the request's mcp tools name (`reference.services.Connectors.connector_refs`)."""


@dataclass
class ToolServices:
    """What the hosted tools need from the gateway, injected so the loop runs anywhere
    (the HTTP engine, or the ext_proc server answering with an immediate response)."""

    mcp: MCPToolCache
    search: SearchFn
    check_vector_store: CheckStoreFn
    connectors: ConnectorsFn


@dataclass(frozen=True)
class FileSearchSpec:
    function_name: str
    tool: FileSearchTool


@dataclass
class MCPServerSpec:
    """One `{"type": "mcp"}` tool of the request, resolved."""

    tool: Mapping[str, Any]
    ref: MCPServerRef
    tools: list[ToolInfo]
    """The tools the model may call (after `allowed_tools`), in the server's order."""
    list_item: dict[str, Any] | None
    """The `mcp_list_tools` item this response emits (None when the history already has one)."""

    @property
    def label(self) -> str:
        return self.ref.label

    def requires_approval(self, tool: ToolInfo) -> bool:
        return needs_approval(self.tool.get("require_approval"), tool.name,
                              read_only_hint=tool.read_only_hint)


@dataclass(frozen=True)
class Binding:
    """What one chat function name offered to the model stands for."""

    kind: Literal["file_search", "mcp"]
    file_search: FileSearchSpec | None = None
    server: MCPServerSpec | None = None
    mcp_tool: ToolInfo | None = None


@dataclass
class HostedTools:
    file_searches: list[FileSearchSpec] = field(default_factory=list)
    servers: list[MCPServerSpec] = field(default_factory=list)
    bindings: dict[str, Binding] = field(default_factory=dict)

    def chat_tools(self) -> list[dict[str, Any]]:
        """The chat function tools standing for the hosted tools, in request order."""
        tools: list[dict[str, Any]] = []
        for spec in self.file_searches:
            tools.append({"type": "function", "function": {
                "name": spec.function_name, "description": FILE_SEARCH_DESCRIPTION,
                "parameters": FILE_SEARCH_PARAMETERS}})
        for server in self.servers:
            tools.extend(to_function_tools(server.label, server.tools))
        return tools

    def binding(self, function_name: str) -> Binding | None:
        return self.bindings.get(function_name)

    def server(self, label: str) -> MCPServerSpec | None:
        return next((s for s in self.servers if s.label == label), None)

    def list_items(self) -> list[dict[str, Any]]:
        return [s.list_item for s in self.servers if s.list_item is not None]


def is_hosted_tool(tool: Mapping[str, Any]) -> bool:
    return tool.get("type") in ("file_search", "mcp")


def redact_tool_echo(tool: Mapping[str, Any]) -> dict[str, Any]:
    """An mcp tool as the response echoes (and stores) it: `headers` values and `authorization`
    are credentials ("Use for authentication"), so they are shown redacted the way registered
    connectors show theirs (`reference.services.connectors`: `****` plus the last four characters of a
    value of at least 16 characters); other tools are unchanged."""
    echo = dict(tool)
    if tool.get("type") != "mcp":
        return echo

    def redact(value: str) -> str:
        return "****" + value[-4:] if len(value) >= 16 else "****"

    headers = tool.get("headers")
    if isinstance(headers, Mapping):
        echo["headers"] = {name: redact(str(value)) for name, value in headers.items()}
    if isinstance(tool.get("authorization"), str):
        echo["authorization"] = redact(tool["authorization"])
    return echo


def _tool_infos(item: Mapping[str, Any]) -> list[ToolInfo]:
    infos = []
    for tool in item.get("tools") or []:
        if isinstance(tool, Mapping) and isinstance(tool.get("name"), str):
            infos.append(ToolInfo(name=tool["name"], input_schema=dict(tool.get("input_schema") or {}),
                                  description=tool.get("description"), annotations=tool.get("annotations")))
    return infos


def _listed_in_history(history: Sequence[Mapping[str, Any]], label: str) -> list[ToolInfo] | None:
    for item in reversed(history):
        if item.get("type") == "mcp_list_tools" and item.get("server_label") == label \
                and not item.get("error"):
            return _tool_infos(item)
    return None


async def resolve_hosted_tools(
    tools: Sequence[Mapping[str, Any]],
    services: ToolServices,
    history: Sequence[Mapping[str, Any]] = (),
    *,
    client_function_names: Iterable[str] = (),
) -> HostedTools | None:
    """The request's hosted tools, validated and listed (see the module docstring); None when
    the request has none. Raises `APIError` (400 / 404 / 424)."""
    hosted = HostedTools()
    taken = set(client_function_names)
    connectors: dict[str, MCPServerRef] | None = None
    for index, tool in enumerate(tools):
        kind = tool.get("type")
        if kind == "file_search":
            try:
                parsed = parse_file_search_tool(tool, f"tools[{index}]")
            except RetrievalError as exc:
                raise exc.as_api_error() from None
            for vs_id in parsed.vector_store_ids:
                try:
                    await services.check_vector_store(vs_id)
                except APIError as exc:
                    if exc.status != 404:
                        raise
                    raise errors.not_found("vector store", vs_id,
                                           f"tools[{index}].vector_store_ids") from None
            n = len(hosted.file_searches) + 1
            name = FILE_SEARCH_FUNCTION if n == 1 else f"{FILE_SEARCH_FUNCTION}_{n}"
            spec = FileSearchSpec(name, parsed)
            hosted.file_searches.append(spec)
            hosted.bindings[name] = Binding("file_search", file_search=spec)
        elif kind == "mcp":
            if connectors is None:
                connectors = await services.connectors(tools)
            ref = server_ref_from_tool(tool, connectors)
            if not services.mcp.allows(ref.url):
                via = "connector_id" if not tool.get("server_url") else "server_url"
                raise errors.invalid_request(
                    f"Tool '{ref.label}' (tools[{index}]) names an MCP server this gateway does not "
                    f"allow ({redact_url_credentials(ref.url)}): only the server URLs on its "
                    "allow-list can be used.", f"tools[{index}].{via}", "mcp_server_not_allowed")
            if hosted.server(ref.label) is not None:
                raise errors.invalid_request(
                    f"Duplicate server_label '{ref.label}': every mcp tool needs its own label.",
                    f"tools[{index}].server_label", "duplicate_server_label")
            try:
                # Shapes are checked before any network traffic (the helpers raise ValueError).
                needs_approval(tool.get("require_approval"), "")
                filter_allowed([], tool.get("allowed_tools"))
            except ValueError as exc:
                raise errors.invalid_request(str(exc), f"tools[{index}]") from None
            from_history = _listed_in_history(history, ref.label)
            if from_history is None:
                try:
                    listed = await services.mcp.list_tools(ref)
                except MCPClientError as exc:
                    raise exc.to_api_error() from None
            else:
                listed = from_history
            allowed = filter_allowed(listed, tool.get("allowed_tools"))
            list_item = mcp_list_tools_item(ref.label, allowed) if from_history is None else None
            server = MCPServerSpec(tool=tool, ref=ref, tools=allowed, list_item=list_item)
            hosted.servers.append(server)
            for info in allowed:
                hosted.bindings[mangle_tool_name(ref.label, info.name)] = Binding(
                    "mcp", server=server, mcp_tool=info)
    if not hosted.file_searches and not hosted.servers:
        return None
    clash = taken & set(hosted.bindings)
    if clash:
        name = sorted(clash)[0]
        raise errors.invalid_request(
            f"Function tool name '{name}' is reserved for a hosted tool of this request.", "tools",
            "duplicate_tool_name")
    return hosted


# --- approvals ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PendingApproval:
    """An `mcp_approval_response` of the request and the `mcp_approval_request` it answers."""

    decision: ApprovalDecision
    request: dict[str, Any]


def pending_approvals(
    input_items: Sequence[Mapping[str, Any]],
    history: Sequence[Mapping[str, Any]],
    hosted: HostedTools | None,
) -> list[PendingApproval]:
    """Pair the request's `mcp_approval_response` items with their requests (400 when one answers
    an unknown request, or a server the request no longer declares as an mcp tool)."""
    known: dict[str, dict[str, Any]] = {}
    answered: set[str] = set()
    for item in [*history, *input_items]:
        if item.get("type") == "mcp_approval_request" and isinstance(item.get("id"), str):
            known[item["id"]] = dict(item)
        elif item.get("type") == "mcp_call" and item.get("approval_request_id"):
            answered.add(str(item["approval_request_id"]))
    pending: list[PendingApproval] = []
    for index, item in enumerate(input_items):
        if item.get("type") != "mcp_approval_response":
            continue
        decision = parse_approval_response(item)
        request = known.get(decision.approval_request_id)
        if request is None:
            raise errors.invalid_request(
                f"No mcp_approval_request with id '{decision.approval_request_id}' found.",
                f"input[{index}].approval_request_id", "approval_request_not_found")
        if decision.approval_request_id in answered:
            continue  # already run (a replayed response): running it twice would repeat side effects
        label = str(request.get("server_label"))
        if hosted is None or hosted.server(label) is None:
            raise errors.invalid_request(
                f"The approval answers a call to MCP server '{label}', which is not among this "
                "request's tools: send the mcp tool again.", "tools", "mcp_server_not_declared")
        pending.append(PendingApproval(decision, request))
    return pending


# --- history -> chat --------------------------------------------------------------------------


DECLINED_TEXT = "The user declined to run this tool call."


def file_search_output_text(item: Mapping[str, Any]) -> str:
    """What the model read after a file_search call, rebuilt from the stored item."""
    from reference.retrieval.search import ChunkMeta, results_as_context

    results = item.get("results")
    if results is None:
        # Results are only stored when the client asked for them (`include`).
        return "The results of this search were not retained."
    hits = [Hit(ChunkMeta(str(r.get("file_id")), str(r.get("filename")), str(r.get("text", "")),
                          r.get("attributes") or {}), float(r.get("score") or 0.0), i)
            for i, r in enumerate(results) if isinstance(r, Mapping)]
    return results_as_context(hits)


def mcp_output_text(item: Mapping[str, Any]) -> str:
    """The tool message the model reads for an `mcp_call` item."""
    if item.get("error"):
        return "Error: " + json.dumps(item["error"], separators=(",", ":"))
    return str(item.get("output") or "")


def _call(call_id: str, name: str, arguments: str, output: str) -> list[dict[str, Any]]:
    return [
        {"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments},
        {"type": "function_call_output", "call_id": call_id, "output": output},
    ]


def has_hosted_items(items: Iterable[Mapping[str, Any]]) -> bool:
    kinds = ("file_search_call", "mcp_call", "mcp_approval_response")
    return any(item.get("type") in kinds for item in items)


def expand_history(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Items with hosted-tool items replaced by the function call + output pairs the model saw.

    Chat backends know tool calls only as assistant `tool_calls` followed by `tool` messages:
    a `file_search_call` becomes a `file_search` call and its results, an `mcp_call` the mangled
    MCP function and its output, and a declined approval the call and a note that it was
    declined (so the model does not simply ask again). Other items are unchanged; the
    translation drops the remaining hosted items (`mcp_list_tools`, `mcp_approval_request`).
    """
    requests = {str(i.get("id")): i for i in items if i.get("type") == "mcp_approval_request"}
    out: list[dict[str, Any]] = []
    for item in items:
        kind = item.get("type")
        if kind == "file_search_call":
            arguments = json.dumps({"queries": list(item.get("queries") or [])}, separators=(",", ":"))
            out += _call(str(item.get("id")), FILE_SEARCH_FUNCTION, arguments, file_search_output_text(item))
        elif kind == "mcp_call":
            name = mangle_tool_name(str(item.get("server_label")), str(item.get("name")))
            call_id = str(item.get("approval_request_id") or item.get("id"))
            out += _call(call_id, name, str(item.get("arguments") or "{}"), mcp_output_text(item))
        elif kind == "mcp_approval_response" and item.get("approve") is False:
            request = requests.get(str(item.get("approval_request_id")))
            if request is not None:
                name = mangle_tool_name(str(request.get("server_label")), str(request.get("name")))
                arguments = str(request.get("arguments") or "{}")
                out += _call(str(request.get("id")), name, arguments, DECLINED_TEXT)
        else:
            out.append(dict(item))
    return out
