"""What the gateway's Envoy configuration (`gateway_envoy.launcher`) and its code agree on.

Defined once here and imported by both sides, so the config Envoy runs and the code that relies
on it cannot drift apart.
"""

from __future__ import annotations

# The marker header Envoy's local reply mappers add to the replies Envoy generates itself
# (upstream unreachable 502, timeout 504, body too large 413): their body is already an OpenAI
# error, so the ext_proc servicer passes them untouched (the filter ignores changes to a router
# local reply anyway, measured on Envoy 1.40).
LOCAL_REPLY_HEADER = "x-gateway-local-reply"

# A hosted-tool request (file_search, mcp) makes at most this many model calls
# (`reference.tools.ToolLoop`). Envoy waits for the ext_proc reply to the request body meanwhile,
# so the filter's max_message_timeout is the backend timeout times this, and the servicer asks
# for that much with `override_message_timeout`.
MAX_MODEL_CALLS = 8
