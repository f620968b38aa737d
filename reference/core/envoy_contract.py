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

# A `stream: true` request the gateway runs itself (hosted tools, a background stream) is handed
# to the gateway's own HTTP server, which streams it as it happens: the servicer sets this header
# on the request and clears Envoy's route cache in its reply to the request body (before the
# router connects anywhere), and the create route for requests carrying it leads to the HTTP
# server's cluster. The servicer does so only when the Envoy config announces that route with
# the gRPC metadata IN_GATEWAY_ROUTE_METADATA (a config without it gets the answer as one
# immediate response). The header is reserved: the servicer answers a client that sends it
# with a 400 `reserved_header` in its reply to the request headers, before anything goes
# upstream (that request was routed to the HTTP server's route, which keeps ext_proc on).
IN_GATEWAY_HEADER = "x-gateway-run-in-gateway"
IN_GATEWAY_ROUTE_METADATA = "x-gateway-in-gateway-route"
