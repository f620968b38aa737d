"""The context-window services: `POST /v1/responses/compact` and `POST /v1/responses/input_tokens`.

Both build the window exactly as a create request would (`Engine.prepare`: the
`previous_response_id` chain or the conversation, prompt templates, instructions, the request's
input), so what they compact or count is what the model would receive. The decisions (what a
compaction keeps, the summary call, the token-counting rule and how close it is to a real
tokenizer) are in `reference/core/compaction.py`.

API: `await compact(engine, body) -> dict` (a `response.compaction`: `id`, `created_at`,
`output`, `usage`) and `await count_input_tokens(engine, body) -> {"object":
"response.input_tokens", "input_tokens"}`. Every failure is an `APIError`: 400 for a missing
`model`, nothing to compact or an unknown parameter, 400 `previous_response_not_found`, and the
backend's errors as for create.

A compaction answers the window's user messages verbatim and in order, then one `compaction` item
(`cmp_...`) whose `encrypted_content` is `rgw-cmp1.` + base64url(`{"summary"}`): opaque to
clients, readable by every gateway instance, **not encrypted**. A compaction item in any input
(create, WebSocket, history, conversation) reaches the model as a system message
`Summary of the earlier conversation:\\n<summary>` (`translate.items_to_messages`); content the
gateway cannot read is a 400 naming `input[i].encrypted_content` (`CreateResponseRequest.parse`).
The token count equals the scripted backend's `usage.input_tokens` for the same request.
"""

from __future__ import annotations

import time
from typing import Any

from reference.core import compaction, errors, ids, jsonbody, translate
from reference.core.errors import APIError
from reference.engine import Engine

# Both documents' `CompactResponseMethodPublicBody`.
COMPACT_PARAMS = frozenset({"model", "input", "previous_response_id", "instructions", "prompt_cache_key"})
# OpenAI's `TokenCountsBody` (`personality` has no behaviour in the reference and is not counted).
COUNT_PARAMS = frozenset({
    "model", "input", "previous_response_id", "tools", "text", "reasoning", "truncation",
    "instructions", "conversation", "tool_choice", "parallel_tool_calls", "personality",
})
# The model named for counting when the request names none (the count does not depend on it).
COUNT_MODEL = "input-tokens"


def _body_object(body: bytes | str | dict[str, Any]) -> dict[str, Any]:
    data: Any = body
    if isinstance(body, bytes | str):
        data = jsonbody.loads(body)
    if not isinstance(data, dict):
        raise errors.invalid_request("The request body must be a JSON object.", None, "invalid_type")
    return data


def _reject_unknown(data: dict[str, Any], allowed: frozenset[str]) -> None:
    for key in data:
        if key not in allowed:
            raise errors.invalid_request(f"Unknown parameter: '{key}'.", key, "unknown_parameter")


async def compact(engine: Engine, body: bytes | str | dict[str, Any]) -> dict[str, Any]:
    """Compact the window into the user messages plus one compaction item (one model call)."""
    data = _body_object(body)
    _reject_unknown(data, COMPACT_PARAMS)
    if not data.get("model"):
        raise errors.invalid_request(
            "Missing required parameter: 'model'.", "model", "missing_required_parameter")
    prepared = await engine.prepare({**data, "store": False})
    window = [*prepared.history, *prepared.input_items]
    if not window:
        raise errors.invalid_request(
            "There is nothing to compact: give 'input' or 'previous_response_id'.", "input",
            "missing_required_parameter")
    # chat_request["messages"] already starts with the request's instructions.
    chat_request = compaction.summary_chat_request(
        str(data["model"]), None, prepared.chat_request["messages"])
    if engine.backend is None:
        raise APIError(500, "This gateway has no model backend configured.", errors.SERVER_ERROR)
    chat_json = await engine.backend.chat(chat_request)
    choices = chat_json.get("choices") if isinstance(chat_json, dict) else None
    first = choices[0] if isinstance(choices, list) and choices else None
    message = first.get("message") if isinstance(first, dict) else None
    if not isinstance(message, dict):
        raise errors.backend_bad_response("the model backend answered the summary call without a message")
    summary = message.get("content") or message.get("refusal") or ""
    return compaction.compaction_resource(
        resource_id=ids.new_id(ids.RESPONSE),
        item_id=ids.new_id("cmp"),
        created_at=int(time.time()),
        window=window,
        summary=str(summary),
        usage=translate.usage_from_chat(chat_json.get("usage")),
    )


async def count_input_tokens(engine: Engine, body: bytes | str | dict[str, Any]) -> dict[str, Any]:
    """The input token count of the create request this body describes (nothing is run)."""
    data = _body_object(body)
    _reject_unknown(data, COUNT_PARAMS)
    request = {key: value for key, value in data.items() if key != "personality"}
    if request.get("model") is None:
        request["model"] = COUNT_MODEL
    prepared = await engine.prepare({**request, "store": False})
    count = compaction.count_message_tokens(prepared.chat_request["messages"])
    return compaction.input_tokens_resource(count)
