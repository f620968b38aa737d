"""What each profile requires, written as constants from the specifications' facts.

The harness carries its own schema knowledge: it must not learn the rules from the gateway it
is judging (nor from the reference). ``--openapi PATH`` adds full JSON-schema validation on top.
"""

from __future__ import annotations

from dataclasses import dataclass

# From openai-openapi.yaml (openai/openai-openapi f85dbe2, info.version 2.3.0):
# components.schemas.Response is an allOf of ModelResponseProperties, ResponseProperties and an
# inline object; the union of the three `required` lists is these 14 fields.
OPENAI_RESPONSE_REQUIRED: tuple[str, ...] = (
    "id",
    "object",
    "created_at",
    "error",
    "incomplete_details",
    "instructions",
    "model",
    "tools",
    "output",
    "parallel_tool_calls",
    "metadata",
    "tool_choice",
    "temperature",
    "top_p",
)

# From openresponses-openapi.json (release 2026-04-24): components.schemas.ResponseResource
# `required`, 31 fields.
OPENRESPONSES_RESPONSE_REQUIRED: tuple[str, ...] = (
    "id",
    "object",
    "created_at",
    "completed_at",
    "status",
    "incomplete_details",
    "model",
    "previous_response_id",
    "instructions",
    "output",
    "error",
    "tools",
    "tool_choice",
    "truncation",
    "parallel_tool_calls",
    "text",
    "top_p",
    "presence_penalty",
    "frequency_penalty",
    "top_logprobs",
    "temperature",
    "reasoning",
    "usage",
    "max_output_tokens",
    "max_tool_calls",
    "store",
    "background",
    "service_tier",
    "metadata",
    "safety_identifier",
    "prompt_cache_key",
)

# Response.status enum, identical in both documents.
RESPONSE_STATUSES = ("completed", "failed", "in_progress", "cancelled", "queued", "incomplete")

TERMINAL_EVENTS = ("response.completed", "response.failed", "response.incomplete")


@dataclass(frozen=True)
class Profile:
    name: str
    response_required: tuple[str, ...]
    # reasoning content events: OpenAI `response.reasoning_text.delta|done`,
    # Open Responses `response.reasoning.delta|done`
    reasoning_event_prefix: str
    # `error` stream event: OpenAI ResponseErrorEvent is flat
    # ({type, code, message, param, sequence_number}); Open Responses ErrorStreamingEvent nests
    # the payload ({type, sequence_number, error: {...}}).
    error_event_nested: bool
    # OpenAI's Responses stream has no `data: [DONE]`; Open Responses requires it as the final
    # frame.
    done_marker_required: bool
    error_event_required: tuple[str, ...]
    # the Response object's schema name in the profile's own document (for --openapi)
    response_schema: str = "Response"


OPENAI = Profile(
    name="openai",
    response_required=OPENAI_RESPONSE_REQUIRED,
    reasoning_event_prefix="response.reasoning_text.",
    error_event_nested=False,
    done_marker_required=False,
    error_event_required=("type", "code", "message", "param", "sequence_number"),
)

OPENRESPONSES = Profile(
    name="openresponses",
    response_required=OPENRESPONSES_RESPONSE_REQUIRED,
    reasoning_event_prefix="response.reasoning.",
    error_event_nested=True,
    done_marker_required=True,
    error_event_required=("type", "sequence_number", "error"),
    response_schema="ResponseResource",
)

PROFILES: dict[str, Profile] = {p.name: p for p in (OPENAI, OPENRESPONSES)}
