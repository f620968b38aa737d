"""Server-side tools of the Responses API: the hosted tool loop (`file_search`, `mcp`).

`hosted` resolves a request's hosted tools (validation, MCP tool lists, the chat functions that
stand for them) and renders earlier hosted items for the model; `loop` runs the loop itself
with an injected "call the model once" callable, so the HTTP engine and the ext_proc server
share it.

The contract of the loop:
- Function names the model sees: `file_search` (further file_search tools of one request:
  `file_search_2`, ...; parameters `{"query": str}` or `{"queries": [str]}`), MCP tools as
  `mcp_client.mangle_tool_name(server_label, tool)` (`mcp7_fixture_add` for the fixture server's
  `add`). A client function tool with one of these names is a 400. With the scripted backend:
  `[[tool:file_search:{"query":"..."}]]`, `[[tool:mcp7_fixture_add:{"a":1,"b":2}]]`.
- Output and events (the non-streaming output is the final streamed response): `mcp_list_tools`
  items first (only for servers without one in the history: the tool list in the context is
  reused), then the approved calls of the request, then per model turn its text/function items
  with each hosted call in place of its function_call: `file_search_call` (`fs_...`, results only
  with `include: ["file_search_call.results"]`), `mcp_call` or `mcp_approval_request` (which ends
  the response). The events per item are listed in `loop.py`'s docstring
  (`response.file_search_call.in_progress/.searching/.completed`,
  `response.mcp_list_tools.in_progress/.completed`, `response.mcp_call.in_progress`,
  `response.mcp_call_arguments.delta/.done`, `response.mcp_call.completed/.failed`,
  `response.output_text.annotation.added`); one `sequence_number` run, `output_index` over the
  whole response. The final answer's output_text gets one `file_citation` per cited file at
  `index` = its text length.
- Earlier hosted items (history, conversation, replayed input) reach the model as the tool calls
  and results it saw (`expand_history`); a file_search without stored results says so.
- Limits: `max_tool_calls` hosted calls (the rest end `incomplete`, not run); at most
  `MAX_MODEL_CALLS` (8) model calls, the last without hosted tools. A tool or search failure is a
  failed item the model is told about; a model failure fails the response.
- `ToolServices(mcp, search, check_vector_store, connectors)` injects the gateway services, so the
  loop runs unchanged inside the ext_proc server.
"""

from reference.tools.hosted import (
    FILE_SEARCH_FUNCTION,
    Binding,
    HostedTools,
    PendingApproval,
    ToolServices,
    expand_history,
    has_hosted_items,
    is_hosted_tool,
    pending_approvals,
    redact_tool_echo,
    resolve_hosted_tools,
)
from reference.tools.loop import MAX_MODEL_CALLS, CallModel, StreamModel, ToolLoop, add_usage

__all__ = [
    "FILE_SEARCH_FUNCTION",
    "MAX_MODEL_CALLS",
    "Binding",
    "CallModel",
    "HostedTools",
    "PendingApproval",
    "StreamModel",
    "ToolLoop",
    "ToolServices",
    "add_usage",
    "expand_history",
    "has_hosted_items",
    "is_hosted_tool",
    "pending_approvals",
    "redact_tool_echo",
    "resolve_hosted_tools",
]
