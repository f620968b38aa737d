"""Responses <-> Chat Completions translation.

Requests: `to_chat_request` turns a validated `CreateResponseRequest` plus the stored history
(Responses items) into a Chat Completions body. Responses: `apply_chat_completion` turns a chat
completion into the response's `output`, `usage` and `status`. The builders for output items,
usage and the final status are shared with `streaming.StreamTranslator`, so a streamed response
ends equal to the non-streaming translation of the same content.

Mapping choices (documented here because the two APIs do not line up one to one):

- `instructions` -> a leading `system` message; `developer` messages -> `system` (most chat
  backends - Ollama, vLLM, llama.cpp - know no `developer` role).
- Text-only content becomes a plain string (parts joined with a newline): every chat backend
  accepts string content, not all accept arrays for system/assistant messages. Content with
  images or files stays an array of chat parts.
- `input_image` -> `{"type": "image_url", "image_url": {"url", "detail"?}}`; with `file_id`
  instead of `image_url` the url is the file id (the engine may resolve it to a data URL first).
- `input_file` -> Chat Completions' file part `{"type": "file", "file": {"file_data"?,
  "file_id"?, "filename"?}}`; a `file_url` (which chat has no field for) becomes a text part
  `[file: URL]`.
- `function_call` items -> an assistant message with `tool_calls` (consecutive calls merged into
  one message, and merged into an immediately preceding assistant text message, which is the
  inverse of how one chat message with content and tool calls becomes several output items);
  `function_call_output` -> a `tool` message with `tool_call_id`.
- `max_output_tokens` -> `max_tokens`: the field every OpenAI-compatible server honours
  (Ollama's compatibility layer ignores `max_completion_tokens`).
- Items chat has no equivalent for (reasoning, hosted tool calls) are not sent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from . import compaction, errors, ids
from .models import (
    CreateResponseRequest,
    FormatJsonObject,
    FormatJsonSchema,
    FunctionCall,
    FunctionCallOutput,
    InputFile,
    InputImage,
    InputText,
    ItemReference,
    Message,
    OtherItem,
    OutputText,
    Refusal,
    ToolChoiceAllowed,
    ToolChoiceFunction,
)

IdFactory = Callable[[str], str]
FUNCTION_CALL_OUTPUT = "fco"

# --- request input -> stored items -----------------------------------------------------------


def _part_dict(part: Any) -> dict[str, Any]:
    if isinstance(part, InputText):
        return {"type": "input_text", "text": part.text}
    if isinstance(part, OutputText):
        return {
            "type": "output_text",
            "text": part.text,
            "annotations": list(part.annotations),
            "logprobs": list(part.logprobs),
        }
    if isinstance(part, Refusal):
        return {"type": "refusal", "refusal": part.refusal}
    if isinstance(part, InputImage | InputFile):
        data: dict[str, Any] = part.model_dump(mode="json", exclude_none=True)
        if isinstance(part, InputImage):
            data.setdefault("detail", "auto")
        return data
    raise TypeError(f"unexpected content part {part!r}")


def _message_content(content: str | Sequence[Any], role: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        # An assistant turn's text is model output: store it as `output_text` like OpenAI does.
        if role == "assistant":
            return [{"type": "output_text", "text": content, "annotations": [], "logprobs": []}]
        return [{"type": "input_text", "text": content}]
    return [_part_dict(part) for part in content]


def input_items(req: CreateResponseRequest, *, id_factory: IdFactory = ids.new_id) -> list[dict[str, Any]]:
    """The request's input as stored items: each with an id (the client's, or a new one) and a
    status; messages typed `message` with content parts (`input_text`, ...)."""
    if req.input is None:
        return []
    if isinstance(req.input, str):
        return [
            {
                "id": id_factory(ids.MESSAGE),
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": req.input}],
                "status": "completed",
            }
        ]
    items: list[dict[str, Any]] = []
    for item in req.input:
        if isinstance(item, Message):
            items.append(
                {
                    "id": item.id or id_factory(ids.MESSAGE),
                    "type": "message",
                    "role": item.role,
                    "content": _message_content(item.content, item.role),
                    "status": item.status or "completed",
                }
            )
        elif isinstance(item, FunctionCall):
            items.append(
                {
                    "id": item.id or id_factory(ids.FUNCTION_CALL),
                    "type": "function_call",
                    "call_id": item.call_id,
                    "name": item.name,
                    "arguments": item.arguments,
                    "status": item.status or "completed",
                }
            )
        elif isinstance(item, FunctionCallOutput):
            output: Any = (
                item.output if isinstance(item.output, str) else [_part_dict(part) for part in item.output]
            )
            items.append(
                {
                    "id": item.id or id_factory(FUNCTION_CALL_OUTPUT),
                    "type": "function_call_output",
                    "call_id": item.call_id,
                    "output": output,
                    "status": item.status or "completed",
                }
            )
        elif isinstance(item, ItemReference):
            items.append({"type": "item_reference", "id": item.id})
        elif isinstance(item, OtherItem):
            items.append(item.model_dump(mode="json", exclude_none=True))
    return items


# --- items -> chat messages ------------------------------------------------------------------


def _chat_part(part: dict[str, Any]) -> dict[str, Any] | None:
    kind = part.get("type")
    if kind in ("input_text", "output_text", "text"):
        return {"type": "text", "text": part.get("text", "")}
    if kind == "input_image":
        url = part.get("image_url") or part.get("file_id") or ""
        image: dict[str, Any] = {"url": url}
        if part.get("detail") in ("low", "high", "auto"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_file":
        if part.get("file_data") is None and part.get("file_id") is None and part.get("file_url"):
            return {"type": "text", "text": f"[file: {part['file_url']}]"}
        file = {key: part[key] for key in ("file_data", "file_id", "filename") if part.get(key) is not None}
        return {"type": "file", "file": file}
    return None  # refusal parts are handled by the caller


def _chat_content(content: Any) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    parts = [p for p in (_chat_part(part) for part in content or []) if p is not None]
    if all(p["type"] == "text" for p in parts):
        return "\n".join(p["text"] for p in parts)
    return parts


def _refusal_text(content: Any) -> str | None:
    if isinstance(content, str):
        return None
    texts = [part.get("refusal", "") for part in content or [] if part.get("type") == "refusal"]
    return "".join(texts) if texts else None


def items_to_messages(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Responses items (stored dicts) -> chat messages, preserving order and call ids."""
    messages: list[dict[str, Any]] = []
    seen: dict[str, dict[str, Any]] = {}
    for item in items:
        if item.get("type") == "item_reference":
            # Stored inputs keep their references; resolve them against earlier items.
            target = seen.get(str(item.get("id")))
            if target is None:
                continue
            item = target
        elif isinstance(item.get("id"), str):
            seen[item["id"]] = item
        kind = item.get("type")
        if kind is None and "role" in item:
            kind = "message"
        if kind == "message":
            role = item.get("role", "user")
            if role == "developer":
                role = "system"
            content = item.get("content", "")
            message: dict[str, Any] = {"role": role, "content": _chat_content(content)}
            if role == "assistant":
                refusal = _refusal_text(content)
                if refusal is not None:
                    message["refusal"] = refusal
                    if message["content"] == "":
                        message["content"] = None
            messages.append(message)
        elif kind == "function_call":
            call = {
                "id": item["call_id"],
                "type": "function",
                "function": {"name": item["name"], "arguments": item.get("arguments", "")},
            }
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant" and "refusal" not in last:
                last.setdefault("tool_calls", []).append(call)
                if last["content"] == "":
                    last["content"] = None
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output", "")
            text = output if isinstance(output, str) else _chat_content(output)
            messages.append({"role": "tool", "tool_call_id": item["call_id"], "content": text})
        elif kind == "compaction":
            # The summary a compaction item carries stands in for the items it replaced
            # (core/compaction.py); unreadable content was rejected when the request was parsed.
            try:
                messages.append(compaction.summary_message(item))
            except ValueError:
                continue
        # Other item types have no chat equivalent and are not sent.
    return messages


def _resolve_references(
    items: list[dict[str, Any]], history: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Replace `item_reference` items by the earlier item with that id (OpenAI: "An internal
    identifier for an item to reference")."""
    known = {item["id"]: item for item in history if isinstance(item.get("id"), str)}
    resolved: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        if item.get("type") == "item_reference":
            target = known.get(item["id"])
            if target is None:
                raise errors.invalid_request(
                    f"Item with id '{item['id']}' not found.", f"input[{index}].id", "item_not_found"
                )
            resolved.append(target)
        else:
            resolved.append(item)
            if isinstance(item.get("id"), str):
                known[item["id"]] = item
    return resolved


def _chat_tools(req: CreateResponseRequest) -> tuple[list[dict[str, Any]], Any]:
    tools = req.function_tools()
    choice = req.tool_choice
    chat_choice: Any = None
    if isinstance(choice, ToolChoiceAllowed):
        allowed = {t.get("name") for t in choice.tools if t.get("type") == "function"}
        tools = [t for t in tools if t.name in allowed]
        chat_choice = choice.mode
    elif isinstance(choice, ToolChoiceFunction):
        chat_choice = {"type": "function", "function": {"name": choice.name}}
    elif isinstance(choice, str):
        chat_choice = choice
    # A hosted-tool choice (file_search, ...) leaves the backend free to call functions.
    chat_tools = []
    for tool in tools:
        function: dict[str, Any] = {"name": tool.name}
        if tool.description is not None:
            function["description"] = tool.description
        function["parameters"] = (
            tool.parameters if tool.parameters is not None else {"type": "object", "properties": {}}
        )
        if tool.strict is not None:
            function["strict"] = tool.strict
        chat_tools.append({"type": "function", "function": function})
    return chat_tools, chat_choice


def to_chat_request(
    req: CreateResponseRequest, history_items: Sequence[dict[str, Any]], *, stream: bool,
    own_items: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The Chat Completions body for a Responses request.

    `history_items` are the earlier conversation's items (inputs and outputs, oldest first);
    only this request's `instructions` are sent (OpenAI: "When using along with
    previous_response_id, the instructions from a previous response will not be carried over").
    `own_items` are `input_items(req)` when the caller has them already (not modified here):
    building them again would hold a second copy of a large input.
    """
    messages: list[dict[str, Any]] = []
    if req.instructions:
        messages.append({"role": "system", "content": req.instructions})
    own = _resolve_references(input_items(req) if own_items is None else own_items, history_items)
    messages.extend(items_to_messages([*history_items, *own]))
    body: dict[str, Any] = {"model": req.model, "messages": messages, "stream": stream}
    if stream:
        # Usage arrives only in a final chunk, and only when asked for.
        body["stream_options"] = {"include_usage": True}
    if req.max_output_tokens is not None:
        body["max_tokens"] = req.max_output_tokens
    for name in ("temperature", "top_p", "presence_penalty", "frequency_penalty"):
        value = getattr(req, name)
        if value is not None:
            body[name] = value
    tools, choice = _chat_tools(req)
    if tools:
        body["tools"] = tools
        if choice is not None:
            body["tool_choice"] = choice
        if req.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = req.parallel_tool_calls
    elif choice == "none":
        body["tool_choice"] = "none"
    fmt = req.text.format if req.text is not None else None
    if isinstance(fmt, FormatJsonObject):
        body["response_format"] = {"type": "json_object"}
    elif isinstance(fmt, FormatJsonSchema):
        # Responses' flat `{type, name, schema, description, strict}` -> chat's nested
        # `{type: "json_schema", json_schema: {name, schema, description, strict}}`.
        schema: dict[str, Any] = {"name": fmt.name, "schema": fmt.json_schema}
        if fmt.description is not None:
            schema["description"] = fmt.description
        if fmt.strict is not None:
            schema["strict"] = fmt.strict
        body["response_format"] = {"type": "json_schema", "json_schema": schema}
    if req.metadata:
        body["metadata"] = dict(req.metadata)
    return body


# --- chat completion -> output items (shared with streaming) ---------------------------------


def output_text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def refusal_part(text: str) -> dict[str, Any]:
    return {"type": "refusal", "refusal": text}


def message_item(item_id: str, content: list[dict[str, Any]], status: str) -> dict[str, Any]:
    return {"id": item_id, "type": "message", "status": status, "role": "assistant", "content": content}


def function_call_item(item_id: str, call_id: str, name: str, arguments: str, status: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "arguments": arguments,
        "call_id": call_id,
        "name": name,
    }


def usage_from_chat(usage: dict[str, Any] | None) -> dict[str, Any]:
    """Chat `usage` -> Responses `usage`; counts a backend leaves out are 0."""
    usage = usage or {}

    def count(value: Any) -> int:
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    input_tokens = count(usage.get("prompt_tokens"))
    output_tokens = count(usage.get("completion_tokens"))
    total = usage.get("total_tokens")
    return {
        "input_tokens": input_tokens,
        # OpenAI's ResponseUsage requires cache_write_tokens too; chat usage has no such count.
        "input_tokens_details": {
            "cached_tokens": count(prompt_details.get("cached_tokens")),
            "cache_write_tokens": count(prompt_details.get("cache_write_tokens")),
        },
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": count(completion_details.get("reasoning_tokens"))},
        "total_tokens": count(total) if isinstance(total, int) else input_tokens + output_tokens,
    }


# finish_reason -> Responses `incomplete_details.reason` ("The reason why the response is
# incomplete": max_output_tokens or content_filter).
INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}


def finish_status(finish_reason: str | None) -> tuple[str, dict[str, Any] | None]:
    reason = INCOMPLETE_REASONS.get(finish_reason or "")
    if reason is None:
        return "completed", None
    return "incomplete", {"reason": reason}


def mark_statuses(output: list[dict[str, Any]], status: str) -> None:
    """Items are completed, except that in an incomplete response the last item (the one the
    model was cut off in) is incomplete."""
    for item in output:
        item["status"] = "completed"
    if status == "incomplete" and output:
        output[-1]["status"] = "incomplete"


def finalize(
    response: dict[str, Any],
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None,
    finish_reason: str | None,
    *,
    now: int,
) -> dict[str, Any]:
    status, details = finish_status(finish_reason)
    mark_statuses(output, status)
    response["output"] = output
    response["usage"] = usage_from_chat(usage)
    response["status"] = status
    response["incomplete_details"] = details
    response["error"] = None
    # `completed_at`: "when the response was completed, if it was completed".
    response["completed_at"] = now if status == "completed" else None
    return response


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # some servers send content parts back
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def allowed_tool_names(response: dict[str, Any]) -> frozenset[str] | None:
    """The function names a response's `tool_choice` allows, None when it restricts nothing.

    Open Responses: "Servers MUST enforce `allowed_tools` as a hard constraint: ... any tool call
    to a tool not listed MUST be rejected or suppressed by the server". The backend is sent only
    the allowed tools, but a model may still name another one; such calls are suppressed.
    """
    choice = response.get("tool_choice")
    if not isinstance(choice, dict) or choice.get("type") != "allowed_tools":
        return None
    listed = choice.get("tools") or []
    return frozenset(
        t["name"]
        for t in listed
        if isinstance(t, dict) and t.get("type") == "function" and isinstance(t.get("name"), str)
    )


def call_allowed(call: Any, allowed: frozenset[str] | None) -> bool:
    """Whether a chat `tool_calls` entry names a tool the request allows."""
    if allowed is None:
        return True
    function = call.get("function") if isinstance(call, dict) else None
    return isinstance(function, dict) and function.get("name") in allowed


def output_from_message(
    message: dict[str, Any], *, id_factory: IdFactory, allowed: frozenset[str] | None = None
) -> list[dict[str, Any]]:
    text = _text_of(message.get("content"))
    refusal = message.get("refusal") if isinstance(message.get("refusal"), str) else None
    tool_calls = [c for c in message.get("tool_calls") or [] if call_allowed(c, allowed)]
    output: list[dict[str, Any]] = []
    # A message item exists when there is text or a refusal, or when there is nothing else.
    if text or refusal or not tool_calls:
        content = []
        if text or not refusal:
            content.append(output_text_part(text))
        if refusal:
            content.append(refusal_part(refusal))
        output.append(message_item(id_factory(ids.MESSAGE), content, "completed"))
    for call in tool_calls:
        function = call.get("function") or {}
        output.append(
            function_call_item(
                id_factory(ids.FUNCTION_CALL),
                str(call.get("id") or id_factory(ids.CALL)),
                str(function.get("name") or ""),
                str(function.get("arguments") or ""),
                "completed",
            )
        )
    return output


def parse_backend_object(body: bytes | str, list_field: str, what: str) -> dict[str, Any]:
    """A backend's non-streaming answer as a JSON object carrying the list ``list_field``, or the
    502 the direct path and ext_proc both give for anything else (not JSON; not such an object)."""
    try:
        data = json.loads(body)
    except ValueError as exc:  # UnicodeDecodeError included
        raise errors.backend_bad_response("the body is not JSON") from exc
    if not isinstance(data, dict) or not isinstance(data.get(list_field), list):
        raise errors.backend_bad_response(f"not {what}")
    return data


def parse_chat_completion(body: bytes | str) -> dict[str, Any]:
    """A backend's non-streaming answer as a chat completion object (a `choices` list), or 502."""
    return parse_backend_object(body, "choices", "a chat completion object")


def apply_chat_completion(
    response: dict[str, Any],
    chat_json: dict[str, Any],
    *,
    id_factory: IdFactory = ids.new_id,
    now: int | None = None,
) -> dict[str, Any]:
    """Fill `output`, `usage`, `status`, `incomplete_details`, `completed_at` from a chat
    completion. Returns a new dict; `response` is not modified."""
    choices = chat_json.get("choices") if isinstance(chat_json, dict) else None
    if (
        not isinstance(choices, list)
        or not choices
        or not isinstance(choices[0], dict)
        or not isinstance(choices[0].get("message"), dict)
    ):
        raise errors.backend_bad_response("chat completion without choices[0].message")
    choice = choices[0]
    output = output_from_message(
        choice["message"], id_factory=id_factory, allowed=allowed_tool_names(response)
    )
    result = dict(response)
    return finalize(
        result,
        output,
        chat_json.get("usage"),
        choice.get("finish_reason"),
        now=int(time.time()) if now is None else now,
    )
