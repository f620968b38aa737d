# ruff: noqa: RUF001  (the sentences are quoted verbatim, typographic apostrophes and dashes included)
"""The normative sentences of the Open Responses specification text, quoted verbatim.

Under ``--profile openresponses`` a case is judged at the level the Open Responses sentence it
enforces gives it (``levels={"openresponses": SENTENCE.level()}`` on the case), not at the level
of the OpenAI sentence it cites for the OpenAI profile. ``SENTENCES`` lists every sentence of the
specification text that holds an RFC 2119 keyword (the text of release 2026-04-24, the one the
harness's Open Responses schemas come from); ``scripts/levels_audit.py`` writes from it and from
the registry the audit table ``docs/levels-audit.md`` (per sentence, the cases that cite it and
their level under each profile), and ``tests/conformance/test_levels_audit.py`` checks that the
table is complete and that each sentence is quoted verbatim.

A sentence that binds only clients, or that the harness does not check, says why in its ``note``.
Areas the specification does not cover (files, vector stores, conversations, prompts,
connectors, ext_proc) keep their OpenAI (or project) level under both profiles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from conformance.model import Level, ProfileLevel

SPEC_FILE = "openresponses-spec-2026-04-24.md"

Requires = Literal["MUST", "SHOULD", "MAY"]


@dataclass(frozen=True)
class Sentence:
    section: str  # the heading it is under
    text: str  # verbatim (whitespace joined)
    # what it asks of a server: MUST (MUST, MUST NOT, REQUIRED), SHOULD (SHOULD, SHOULD NOT,
    # RECOMMENDED) or MAY (a permission: a case may only check that either choice is accepted)
    requires: Requires
    client: bool = False  # it binds clients (the harness obeys it), not the server under test
    note: str = ""  # why no case checks it, or how the cases relate to it
    # cases that check what the sentence permits or classifies, each at its own level (a MAY
    # sentence cannot set a level: it only says that either choice is conforming)
    related: tuple[str, ...] = ()

    @property
    def source(self) -> str:
        return f"{SPEC_FILE}, {self.section}"

    def level(self) -> ProfileLevel:
        """The case's level under the openresponses profile, citing this sentence."""
        return ProfileLevel(LEVEL_OF[self.requires], self.text, self.source)


LEVEL_OF: dict[Requires, Level] = {"MUST": Level.MUST, "SHOULD": Level.SHOULD, "MAY": Level.INFO}


def cite(*sentences: Sentence) -> ProfileLevel:
    """The level under openresponses of a case that enforces several sentences: the strongest
    of them, quoting them all."""
    level = min((LEVEL_OF[s.requires] for s in sentences), key=[Level.MUST, Level.SHOULD, Level.INFO].index)
    sources = list(dict.fromkeys(s.source.removeprefix(f"{SPEC_FILE}, ") for s in sentences))
    return ProfileLevel(level, " ".join(s.text for s in sentences), f"{SPEC_FILE}, {'; '.join(sources)}")


_HTTP_REQ = "HTTP Requests"
_HTTP = "HTTP Responses"
_WS = "WebSocket Transport"
_WS_CONT = "WebSocket Continuation"
_ITEMS_EXT = "Extending Items"
_EVENTS_EXT = "Extending streaming events"
_SCHEMAS_EXT = "Extending existing schemas"

_NOT_CHECKED = "no case checks it yet"
_DOCUMENTATION = "asks for documentation: nothing on the wire to check"
_EXTENSIONS = (
    "about the implementer's own extensions: the harness sends only standard requests, so a "
    "conforming gateway never has to show one"
)

HTTP_PROTOCOL = Sentence(
    _HTTP_REQ,
    "All messages MUST follow the HTTP protocol.",
    "MUST",
    note="every case speaks HTTP; a target that does not cannot be tested (pre-flight)",
)
CLIENT_JSON = Sentence(
    _HTTP_REQ,
    "Clients MUST send request bodies encoded as `application/json`",
    "MUST",
    client=True,
    note="the harness sends JSON bodies (multipart only for file uploads, which Open Responses does not "
    "cover)",
)
NON_STREAMING_JSON = Sentence(
    _HTTP, "When not streaming, servers MUST return data only as `application/json`.", "MUST"
)
STREAMING_CONTENT_TYPE = Sentence(
    _HTTP,
    "When streaming, servers MUST return header `Content-Type: text/event-stream` , with individual `data` "
    "objects returned as JSON-encoded strings.",
    "MUST",
)
DONE_TERMINATOR = Sentence(_HTTP, "The terminal event MUST be the literal string `[DONE]`.", "MUST")
EVENT_MATCHES_TYPE = Sentence(_HTTP, "The `event` field MUST match the `type` in the event body.", "MUST")
NO_EVENT_ID = Sentence(_HTTP, "Servers SHOULD NOT use `id`.", "SHOULD")
WS_MAY_EXPOSE = Sentence(
    _WS,
    "Servers MAY expose the Responses API over a persistent WebSocket connection at the same "
    "`/v1/responses` resource.",
    "MAY",
    note="the WebSocket cases are UNIMPLEMENTED when the upgrade is refused; the refusal must still be a 4xx",
    related=("responses.websocket.upgrade-answered",),
)
WS_CLIENT_CREATE = Sentence(
    _WS,
    'Clients MUST start each turn by sending a JSON object with `type: "response.create"`.',
    "MUST",
    client=True,
    note="the harness starts every WebSocket turn with response.create",
)
WS_CLIENT_NO_STREAM_FIELDS = Sentence(
    _WS,
    "The remaining fields follow the standard response creation request body, except HTTP/SSE "
    "transport-specific fields such as `stream`, `stream_options`, and `background` MUST NOT be sent on "
    "WebSocket requests.",
    "MUST",
    client=True,
    note="the harness never sends them on a WebSocket",
)
WS_CREATE_IS_REQUEST = Sentence(
    _WS,
    "Servers MUST treat a WebSocket `response.create` message as a request to create a response on the "
    "active connection.",
    "MUST",
)
WS_SAME_EVENTS = Sentence(
    _WS,
    "Servers MUST send response progress over the WebSocket using the same streaming event objects defined "
    "for streaming HTTP responses.",
    "MUST",
)
WS_ONE_IN_FLIGHT = Sentence(
    _WS, "A single WebSocket connection MUST process at most one in-flight response at a time.", "MUST"
)
WS_SEQUENTIAL = Sentence(
    _WS,
    "Servers MAY accept multiple `response.create` messages over one connection, but they MUST process "
    "those messages sequentially.",
    "MUST",
)
WS_NO_MULTIPLEX = Sentence(
    _WS,
    "Servers MUST NOT multiplex multiple in-flight responses over one connection; clients that need "
    "parallel runs SHOULD use multiple WebSocket connections.",
    "MUST",
)
WS_CLIENT_ONLY_NEW_ITEMS = Sentence(
    _WS_CONT,
    "A follow-up `response.create` message SHOULD include only new input items, such as tool outputs and "
    "the next user message, plus the `previous_response_id` of the prior response.",
    "SHOULD",
    client=True,
    note="the harness's continuation turns send only the new items",
)
WS_CONNECTION_LOCAL_STATE = Sentence(
    _WS_CONT,
    "Servers SHOULD keep the most recent previous-response state in connection-local memory for the active "
    "WebSocket.",
    "SHOULD",
)
WS_MAY_HYDRATE = Sentence(
    _WS_CONT,
    "With `store=true`, servers MAY hydrate older response IDs from persisted state when available.",
    "MAY",
    note="a permission",
)
WS_STORE_FALSE_NOT_FOUND = Sentence(
    _WS_CONT,
    "With `store=false`, there is no persisted fallback; if the referenced response is not available from "
    "connection-local state, the server MUST fail the turn with an error whose code is "
    "`previous_response_not_found`.",
    "MUST",
)
WS_EVICT = Sentence(
    _WS_CONT,
    "If a continuation turn fails with a `4xx` or `5xx` error, the server MUST evict the referenced "
    "`previous_response_id` from the connection-local cache.",
    "MUST",
    note="responses.websocket.failed-continuation-evicts: a store=false continuation that fails with a 4xx "
    "(temperature 5), then the same continuation again",
)
WS_EVICTED_NOT_FOUND = Sentence(
    _WS_CONT,
    "A later attempt to continue from that evicted `store=false` response ID on the same connection MUST "
    "fail with `previous_response_not_found`.",
    "MUST",
    note="responses.websocket.failed-continuation-evicts",
)
WS_COMPACTION_CLIENT = Sentence(
    "WebSocket Compaction",
    "After standalone compaction, clients MUST start a new response on the WebSocket by omitting "
    "`previous_response_id` or setting it to `null`, passing the compacted output as the base `input`, and "
    "appending the latest user or tool items.",
    "MUST",
    client=True,
    note="a client rule; the case that cites it checks that the server accepts the compacted output as input",
)
WS_LIMIT_REACHED = Sentence(
    "WebSocket Reconnects",
    "When the limit is reached, servers MUST return an error whose code is "
    "`websocket_connection_limit_reached` and clients SHOULD open a new WebSocket connection.",
    "MUST",
    note="the limit is 60 minutes of connection: longer than a run",
)
WS_CLIENT_RECOVER = Sentence(
    "WebSocket Reconnects",
    "When a connection closes or hits the 60-minute limit, clients SHOULD recover with one of these "
    "patterns:",
    "SHOULD",
    client=True,
)
WS_ERROR_ENVELOPE = Sentence(
    "WebSocket Errors",
    "WebSocket failures MUST be sent as a JSON `error` envelope with a `status` code and an `error.code`.",
    "MUST",
)
WS_CLIENT_HANDLE_ERRORS = Sentence(
    "WebSocket Errors",
    "Clients SHOULD handle at least `previous_response_not_found` and `websocket_connection_limit_reached`.",
    "SHOULD",
    client=True,
)
INCOMPLETE_LAST = Sentence(
    "Items are state machines",
    "If an item ends in a terminal state, it MUST be the last item emitted, and the containing response also "
    "MUST be in an `incomplete` state.",
    "MUST",
)
ITEM_ADDED_FIRST = Sentence(
    "Items are streamable", "The first event MUST always be `response.output_item.added`.", "MUST"
)
NON_NULLABLE_HAVE_VALUE = Sentence(
    "Items are streamable", "All fields not marked nullable MUST have a value.", "MUST"
)
CONTENT_PART_BACKED = Sentence(
    "Items are streamable", "Such content MUST be backed by a content part.", "MUST"
)
CONTENT_PART_ADDED_FIRST = Sentence(
    "Items are streamable",
    "The first event in such cases MUST be `response.content_part.added` , followed by events representing "
    "the delta to the content part, eg `response.<content_type>.delta` .",
    "MUST",
)
DELTAS_MAY_REPEAT = Sentence(
    "Items are streamable",
    "The delta events MAY be repeated many times, and end with `response.<content_type>.done`.",
    "MAY",
    related=("responses.stream.deltas-concatenate", "responses.stream.items.text-done-order"),
)
MULTIPLE_PARTS = Sentence(
    "Items are streamable",
    "Items with `content` MAY emit multiple content parts, following the pattern above.",
    "MAY",
    note="a permission: the stream cases pair each part's events by content_index",
)
PROVIDER_ITEMS_PREFIXED = Sentence(
    "Items are extensible",
    "These items MUST be prefixed with the canonical provider slug, eg",
    "MUST",
    note=_EXTENSIONS,
)
REASONING_CONTENT = Sentence(
    "Reasoning",
    "- **`content` (raw reasoning content):** Providers MAY surface the model’s raw reasoning trace directly "
    "through the `content` field on `reasoning` items.",
    "MAY",
    note="a permission; the profile carries the reasoning event names (response.reasoning.*)",
)
REASONING_ENCRYPTED = Sentence(
    "Reasoning",
    "- **`encrypted_content` (protected reasoning content):** Providers MAY choose to never expose raw "
    "reasoning to the client.",
    "MAY",
    note="a permission",
)
REASONING_SUMMARY = Sentence(
    "Reasoning",
    "- **`summary` (reasoning summaries):** Providers MAY implement a summarized view of the reasoning trace "
    "(for example, a short natural-language explanation of the key steps the model took) and expose it via "
    "the `summary` field.",
    "MAY",
    note="a permission",
)
EVENT_KINDS = Sentence(
    "Streaming",
    "Open Responses defines two major types of streaming events into which all events MUST fall.",
    "MUST",
    note="a classification of the events the specification defines; the schema cases validate every event "
    "against its published schema",
    related=(
        "schemas.stream.text-events",
        "schemas.stream.function-call-events",
        "schemas.stream.failed-events",
    ),
)
PREVIOUS_LOADED = Sentence(
    "`previous_response_id`",
    "When `previous_response_id` is provided, the server MUST load both the input and output associated "
    "with that prior response and treat them as part of the new request’s context.",
    "MUST",
)
PREVIOUS_ORDER = Sentence(
    "`previous_response_id`",
    "Providers MAY apply truncation or compaction as needed (subject to their truncation policies) but MUST "
    "preserve the semantic order of:",
    "MUST",
)
TOOL_CHOICE_REQUIRED = Sentence(
    "`tool_choice`",
    '- `"required"`: The model MUST call at least one tool and should not respond directly without doing so.',
    "MUST",
)
TOOL_CHOICE_NONE = Sentence("`tool_choice`", '- `"none"`: The model MUST NOT call any tools.', "MUST")
ALLOWED_TOOLS_MODEL = Sentence(
    "`allowed_tools`",
    "All tools are still surfaced to the model in context (preserving cacheability of the shared system "
    "prompt and tool schema), but the model MUST restrict its tool calls to the subset named in "
    "`allowed_tools`.",
    "MUST",
    note="responses.tools.scripted-allowed-tools-enforced: the scripted model calls a declared tool "
    "tool_choice.allowed_tools omits (the MCP tool's own allowed_tools filter is another field)",
)
ALLOWED_TOOLS_ENFORCED = Sentence(
    "`allowed_tools`", "Servers MUST enforce `allowed_tools` as a hard constraint:", "MUST",
    note="responses.tools.scripted-allowed-tools-enforced",
)
ALLOWED_TOOLS_REJECTED = Sentence(
    "`allowed_tools`",
    "- If `allowed_tools` is present, any tool call to a tool not listed MUST be rejected or suppressed by "
    "the server (e.g., by treating it as a model error, translating it into a direct reply, or applying "
    "provider-specific fallback behavior).",
    "MUST",
    note="responses.tools.scripted-allowed-tools-enforced: an error or a response without that call pass",
)
ALLOWED_TOOLS_HINT = Sentence(
    "`allowed_tools`",
    "- Providers MAY also use `allowed_tools` as a training or routing hint, but this MUST NOT weaken the "
    "enforcement guarantee.",
    "MUST",
    note=_NOT_CHECKED,
)
TRUNCATION_AUTO = Sentence(
    "`truncation`",
    '- `"auto"`: The server MAY truncate earlier parts of the context (for example, older messages or '
    "low-priority sections) in order to fit within the model’s context window.",
    "MAY",
    note="a permission",
)
TRUNCATION_HEURISTICS = Sentence(
    "`truncation`",
    "Providers SHOULD apply sensible heuristics when doing so (e.g., preserving system messages and recent "
    "turns) and MAY expose provider-specific policies for how truncation is performed.",
    "SHOULD",
    note="a matter of judgement; no case",
)
TRUNCATION_DISABLED = Sentence(
    "`truncation`",
    '- `"disabled"`: The server MUST NOT truncate any input.',
    "MUST",
    note="responses.params.scripted-truncation-disabled-fails: the scripted model's context window "
    "(`[[context_window:N]]`) is shorter than the input",
)
TRUNCATION_DISABLED_FAILS = Sentence(
    "`truncation`",
    "If the combined context exceeds the model’s maximum context window, the request MUST fail with an "
    "error instead of silently dropping content.",
    "MUST",
    note="responses.params.scripted-truncation-disabled-fails: an HTTP error or a failed response passes",
)
SERVICE_TIERS = Sentence(
    "`service_tier`",
    "Servers MAY expose multiple tiers (for example, `standard`, `priority`, or `batch`) and map them to "
    "different internal queues, SLAs, or pricing.",
    "MAY",
    note="a permission",
)
SERVICE_TIERS_DOCUMENTED = Sentence(
    "`service_tier`",
    "Implementations SHOULD document which tiers they support, what behavior each tier implies (e.g., "
    "typical latency, throughput, or reliability characteristics), and any constraints or quotas tied to "
    "those tiers.",
    "SHOULD",
    note=_DOCUMENTATION,
)
EXTEND_ITEMS = Sentence(
    _ITEMS_EXT,
    "Implementors MAY extend the `Item` union with new, non-standard item types to represent "
    "implementation-specific behaviors or data.",
    "MAY",
    note=_EXTENSIONS,
)
EXTENDED_ITEMS_NOT_PORTABLE = Sentence(
    _ITEMS_EXT,
    "However, any such extended item type—and any trajectory that contains it—SHOULD be treated as specific "
    "to that implementation and not assumed to be portable or interoperable across other Open Responses "
    "servers.",
    "SHOULD",
    client=True,
)
EXTENDED_ITEMS_PREFIXED = Sentence(
    _ITEMS_EXT,
    "New item types that are not part of this specification MUST be prefixed with the implementor slug (for "
    "example, `acme:search_result`), as outlined above.",
    "MUST",
    note=_EXTENSIONS,
)
EXTENDED_ITEMS_DOCUMENTED = Sentence(
    _ITEMS_EXT,
    "When emitting or consuming extended item types, implementors SHOULD document their schemas and expected "
    "behaviors, and clients SHOULD be prepared to encounter unknown item types (for example, by ignoring "
    "them gracefully or treating them as opaque records) when interacting with multiple implementations.",
    "SHOULD",
    note=_DOCUMENTATION,
)
ITEM_REQUIRED_FIELDS = Sentence(
    _ITEMS_EXT,
    "Every `Item` in an Open Responses trajectory MUST include the following top-level fields, regardless of "
    "its specific `type`:",
    "MUST",
)
ITEM_ID_UNIQUE = Sentence(
    _ITEMS_EXT,
    "Servers MAY choose any stable identifier format, but it MUST be unique enough for clients to reference "
    "the item unambiguously (for example, via `ItemReference` objects or logs).",
    "MUST",
)
EXTENSION_TYPES_PREFIXED = Sentence(
    _ITEMS_EXT,
    "Standard item types are defined by this specification (for example, `input_text`, `output_text`, or "
    "`tool_call`), while extension types MUST be prefixed with an implementor slug (for example, "
    "`acme:search_result`).",
    "MUST",
    note=_EXTENSIONS,
)
ITEM_STATUSES = Sentence(
    _ITEMS_EXT,
    "Implementors MAY define additional statuses, but they SHOULD document their semantics and treat unknown "
    "status values conservatively on the client side.",
    "SHOULD",
    note=_DOCUMENTATION,
)
EXTEND_EVENTS = Sentence(
    _EVENTS_EXT,
    "Implementors MAY introduce new, non-standard streaming event types to surface implementation-specific "
    "metadata or behaviors during a response stream.",
    "MAY",
    note=_EXTENSIONS,
)
EXTENDED_EVENTS_KEEP_SEMANTICS = Sentence(
    _EVENTS_EXT,
    "These events can be useful for observability, debugging, UI adaptation, or coordinating external "
    "workflows, but they MUST NOT change the normative semantics of the core Open Responses stream (for "
    "example, token order or item lifecycle).",
    "MUST",
    note="the stream cases judge the core events whatever else a stream carries",
)
EXTENDED_EVENTS_PREFIXED = Sentence(
    _EVENTS_EXT,
    "As with custom item types, all extended streaming events MUST be prefixed with the implementor slug "
    "(for example, `acme:trace_event`) to avoid collisions and to make ownership and semantics explicit.",
    "MUST",
    note=_EXTENSIONS,
)
CLIENTS_IGNORE_EVENTS = Sentence(
    _EVENTS_EXT,
    "Clients that do not understand a given extended event type MUST be able to ignore it safely without "
    "losing the ability to reconstruct the canonical response.",
    "MUST",
    client=True,
    note="the harness ignores event types it does not know",
)
EXTENDED_EVENTS_STRUCTURE = Sentence(
    _EVENTS_EXT,
    "Extended streaming events SHOULD follow a consistent structure to make them easy to consume across "
    "implementations.",
    "SHOULD",
    note=_EXTENSIONS,
)
EVENT_MINIMUM_FIELDS = Sentence(_EVENTS_EXT, "At minimum, each event MUST include:", "MUST")
NON_STANDARD_EVENTS_PREFIXED = Sentence(
    _EVENTS_EXT,
    "Non-standard types MUST be prefixed with the implementor slug (for example, `acme:trace_event`).",
    "MUST",
    note=_EXTENSIONS,
)
EXTENDED_EVENT_FIELDS = Sentence(
    _EVENTS_EXT,
    "Implementors MAY add additional fields specific to their use case (for example, timing metrics, cache "
    "information, or tool-invocation traces), but SHOULD document these fields and their semantics so that "
    "clients can make informed use of them.",
    "SHOULD",
    note=_DOCUMENTATION,
)
EXTEND_SCHEMAS = Sentence(
    _SCHEMAS_EXT,
    "In addition to defining entirely new item or event types, implementors MAY extend existing schemas with "
    "additional, implementation-specific fields.",
    "MAY",
    note="a permission: the schema validation accepts additional fields",
)
SCHEMA_EXTENSION_GUIDELINES = Sentence(
    _SCHEMAS_EXT,
    "To mitigate this, extensions to existing schemas SHOULD follow these guidelines:",
    "SHOULD",
    note=_EXTENSIONS,
)
EXTENSIONS_KEEP_CORE = Sentence(
    _SCHEMAS_EXT,
    "- Keep all standard fields intact and unchanged in meaning; extensions MUST NOT alter required core "
    "behavior.",
    "MUST",
    note="every case judges the standard fields; an extension that alters them fails those",
)
EXTENSIONS_VENDOR_SPECIFIC = Sentence(
    _SCHEMAS_EXT,
    "In practice, this means that extending existing schemas is an acceptable way to evolve an "
    "implementation, but implementors SHOULD treat those extensions as vendor-specific and avoid assuming "
    "that other Open Responses-compatible APIs will recognize or honor them.",
    "SHOULD",
    client=True,
)

#: every sentence of the specification text with an RFC 2119 keyword, in document order
SENTENCES: tuple[Sentence, ...] = tuple(v for v in list(globals().values()) if isinstance(v, Sentence))
