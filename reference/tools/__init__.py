"""Server-side tools of the Responses API: the hosted tool loop (`file_search`, `mcp`).

`hosted` resolves a request's hosted tools (validation, MCP tool lists, the chat functions that
stand for them) and renders earlier hosted items for the model; `loop` runs the loop itself
with an injected "call the model once" callable, so the HTTP engine and the ext_proc server
share it.
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
