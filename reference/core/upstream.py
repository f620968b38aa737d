"""The model backend's API: Chat Completions (default) or a stateless Responses upstream.

The gateway's model hop is written in Chat Completions terms: the engine builds one chat request
per model call (the whole history expanded, the hosted tools already turned into function tools
by the tool loop) and reads one chat completion or chunk stream back. With `backend_api
"responses"` the model server serves `POST /v1/responses` instead (vLLM, OpenAI), and this module
is the hop's codec, so nothing above it changes: state (store, `previous_response_id`,
`conversation`), background and hosted tools stay the gateway's, and the upstream only ever sees
one self-contained request.

- `responses_request(chat)`: the chat request as a Responses body: `store: false`, no
  `previous_response_id` / `conversation` ever (the history is in `input`); messages become
  input items (system/developer/user messages with their text, image and file parts, assistant
  messages as their text (a refusal as its text: input messages have no refusal part), assistant
  `tool_calls` -> `function_call` items, `tool` messages -> `function_call_output`),
  `max_tokens` -> `max_output_tokens`, `response_format` -> `text.format` (flat json_schema),
  function tools flattened (`{type: function, name, ...}`), `tool_choice` naming a function ->
  `{type: function, name}`. `presence_penalty`, `frequency_penalty` and `stream_options` have no
  Responses counterpart and are not sent (Responses streams always end with usage).
- `completion_from_response(body)`: a Response object as the chat completion the engine reads:
  `output_text` parts -> content, `refusal` parts -> refusal, `function_call` items ->
  `tool_calls` (their `call_id` as the call id), `status: incomplete` with reason
  `max_output_tokens` / `content_filter` -> finish_reason `length` / `content_filter`, usage
  renamed. `status: failed` is a backend failure (502 with its message). Reasoning and other
  items have no chat equivalent and are dropped (as the chat path drops them from requests).
- `ResponsesStreamDecoder`: the Responses event stream as chat chunks, with the interface of
  `sse.ChatStreamDecoder` (`feed(bytes)` / `close()` -> `list[dict | DONE]`): a role chunk first,
  `output_text.delta` / `refusal.delta` -> content / refusal deltas, a `function_call` item's
  `output_item.added` and `function_call_arguments.delta` -> tool call deltas,
  `response.completed` / `response.incomplete` -> the finish chunk, the usage chunk and `DONE`;
  `response.failed` or an `error` event -> `APIError` 502. Events after the terminal one are
  ignored.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from . import errors
from .sse import DONE, ChatStreamDecoder, _Done
from .translate import parse_backend_object, parse_chat_completion

BackendApi = Literal["chat", "responses"]
BACKEND_APIS: tuple[BackendApi, ...] = ("chat", "responses")

#: What the incomplete reasons of a Response mean as chat finish reasons.
FINISH_OF_INCOMPLETE = {"max_output_tokens": "length", "content_filter": "content_filter"}


# --- chat request -> Responses request -------------------------------------------------------


def _input_part(part: Any) -> dict[str, Any] | None:
    if not isinstance(part, dict):
        return None
    kind = part.get("type")
    if kind == "text":
        return {"type": "input_text", "text": part.get("text", "")}
    if kind == "image_url":
        image = part.get("image_url") or {}
        out: dict[str, Any] = {"type": "input_image", "image_url": image.get("url", "")}
        out["detail"] = image.get("detail") or "auto"
        return out
    if kind == "file":
        file = part.get("file") or {}
        return {
            "type": "input_file",
            **{k: file[k] for k in ("file_data", "file_id", "filename") if k in file},
        }
    return None


def _content(content: Any) -> str | list[dict[str, Any]]:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return [p for p in (_input_part(part) for part in content) if p is not None]


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def input_items(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chat messages as Responses input items (order and call ids kept)."""
    items: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role == "tool":
            items.append(
                {
                    "type": "function_call_output",
                    "call_id": message.get("tool_call_id"),
                    "output": _text_of(message.get("content")),
                }
            )
            continue
        if role == "assistant":
            # Plain text, as an input message carries it (its parts are input types, so a
            # refusal in the history goes as its text).
            text = message.get("refusal") or _text_of(message.get("content"))
            if text:
                items.append({"type": "message", "role": "assistant", "content": text})
            for call in message.get("tool_calls") or []:
                function = call.get("function") or {}
                items.append(
                    {
                        "type": "function_call",
                        "call_id": call.get("id"),
                        "name": function.get("name"),
                        "arguments": function.get("arguments", ""),
                    }
                )
            continue
        items.append(
            {"type": "message", "role": role, "content": _content(message.get("content"))}
        )
    return items


def _text_format(response_format: Any) -> dict[str, Any] | None:
    if not isinstance(response_format, dict):
        return None
    if response_format.get("type") == "json_schema":
        inner = response_format.get("json_schema") or {}
        return {"type": "json_schema", **inner}
    return {"type": response_format.get("type")}


def responses_request(chat: dict[str, Any]) -> dict[str, Any]:
    """The stateless Responses body for one model call written as a chat request."""
    body: dict[str, Any] = {
        "model": chat.get("model"),
        "input": input_items(chat.get("messages") or []),
        "store": False,
        "stream": chat.get("stream") is True,
    }
    limit = chat.get("max_completion_tokens", chat.get("max_tokens"))
    if limit is not None:
        body["max_output_tokens"] = limit
    for name in ("temperature", "top_p", "parallel_tool_calls", "metadata"):
        if chat.get(name) is not None:
            body[name] = chat[name]
    if chat.get("tools"):
        body["tools"] = [{"type": "function", **(tool.get("function") or {})} for tool in chat["tools"]]
    choice = chat.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "function":
        body["tool_choice"] = {"type": "function", "name": (choice.get("function") or {}).get("name")}
    elif choice is not None:
        body["tool_choice"] = choice
    text_format = _text_format(chat.get("response_format"))
    if text_format is not None:
        body["text"] = {"format": text_format}
    return body


# --- Response -> chat completion -------------------------------------------------------------


def chat_usage(usage: Any) -> dict[str, Any] | None:
    if not isinstance(usage, dict):
        return None
    details_in = usage.get("input_tokens_details") or {}
    details_out = usage.get("output_tokens_details") or {}
    return {
        "prompt_tokens": usage.get("input_tokens", 0),
        "completion_tokens": usage.get("output_tokens", 0),
        "total_tokens": usage.get("total_tokens", 0),
        "prompt_tokens_details": {"cached_tokens": details_in.get("cached_tokens", 0)},
        "completion_tokens_details": {"reasoning_tokens": details_out.get("reasoning_tokens", 0)},
    }


def failure(response: Any) -> errors.APIError:
    """The 502 of a Response that failed upstream (its error message when it has one)."""
    err = response.get("error") if isinstance(response, dict) else None
    return errors.from_backend_http(
        502, json.dumps({"error": err}).encode() if isinstance(err, dict) else b""
    )


def _finish_reason(response: dict[str, Any], has_calls: bool) -> str:
    if response.get("status") == "incomplete":
        reason = (response.get("incomplete_details") or {}).get("reason")
        return FINISH_OF_INCOMPLETE.get(str(reason), "length")
    return "tool_calls" if has_calls else "stop"


def completion_from_response(body: bytes | str) -> dict[str, Any]:
    """A Responses upstream's non-streaming answer as a chat completion (502 for anything that
    is not a Response object, or a failed one)."""
    data = parse_backend_object(body, "output", "a Response object")
    if data.get("status") == "failed":
        raise failure(data)
    texts: list[str] = []
    refusals: list[str] = []
    calls: list[dict[str, Any]] = []
    for item in data["output"]:
        if not isinstance(item, dict):
            raise errors.backend_bad_response("an output item is not an object")
        if item.get("type") == "message":
            for part in item.get("content") or []:
                if isinstance(part, dict) and part.get("type") == "output_text":
                    texts.append(str(part.get("text", "")))
                elif isinstance(part, dict) and part.get("type") == "refusal":
                    refusals.append(str(part.get("refusal", "")))
        elif item.get("type") == "function_call":
            calls.append(
                {
                    "id": item.get("call_id"),
                    "type": "function",
                    "function": {"name": item.get("name"), "arguments": item.get("arguments", "")},
                }
            )
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not (refusals or calls) else None,
        "refusal": "".join(refusals) if refusals else None,
    }
    if calls:
        message["tool_calls"] = calls
    completion: dict[str, Any] = {
        "id": data.get("id"),
        "object": "chat.completion",
        "model": data.get("model"),
        "choices": [{"index": 0, "message": message, "finish_reason": _finish_reason(data, bool(calls))}],
    }
    usage = chat_usage(data.get("usage"))
    if usage is not None:
        completion["usage"] = usage
    return completion


# --- Responses event stream -> chat chunks ---------------------------------------------------


class ResponsesStreamDecoder:
    """Incremental: Responses SSE bytes in, chat chunk dicts (then `DONE`) out."""

    def __init__(self) -> None:
        self._sse = ChatStreamDecoder()
        self._calls: dict[Any, int] = {}  # output_index -> chat tool call index
        self._started = False
        self.done = False

    def feed(self, data: bytes) -> list[dict[str, Any] | _Done]:
        return self._translate(self._sse.feed(data))

    def close(self) -> list[dict[str, Any] | _Done]:
        return self._translate(self._sse.close())

    def _translate(self, payloads: list[dict[str, Any] | _Done]) -> list[dict[str, Any] | _Done]:
        out: list[dict[str, Any] | _Done] = []
        for payload in payloads:
            if self.done or payload is DONE:
                continue  # after the terminal event; Open Responses servers add `[DONE]`
            assert isinstance(payload, dict)
            out.extend(self._event(payload))
        return out

    @staticmethod
    def _chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }

    def _event(self, event: dict[str, Any]) -> list[dict[str, Any] | _Done]:
        kind = event.get("type")
        out: list[dict[str, Any] | _Done] = []
        if not self._started:
            self._started = True
            out.append(self._chunk({"role": "assistant", "content": ""}))
        if kind == "error":
            raise errors.from_backend_http(502, json.dumps({"error": event}).encode())
        if kind == "response.failed":
            raise failure(event.get("response"))
        if kind == "response.output_text.delta":
            out.append(self._chunk({"content": str(event.get("delta", ""))}))
        elif kind == "response.refusal.delta":
            out.append(self._chunk({"refusal": str(event.get("delta", ""))}))
        elif kind == "response.output_item.added":
            item = event.get("item") or {}
            if item.get("type") == "function_call":
                index = self._calls[event.get("output_index")] = len(self._calls)
                function = {"name": item.get("name"), "arguments": item.get("arguments") or ""}
                out.append(
                    self._chunk(
                        {
                            "tool_calls": [
                                {
                                    "index": index,
                                    "id": item.get("call_id"),
                                    "type": "function",
                                    "function": function,
                                }
                            ]
                        }
                    )
                )
        elif kind == "response.function_call_arguments.delta":
            known = self._calls.get(event.get("output_index"))
            if known is None:
                raise errors.backend_bad_response("function call arguments for an item never announced")
            out.append(
                self._chunk(
                    {"tool_calls": [{"index": known, "function": {"arguments": str(event.get("delta", ""))}}]}
                )
            )
        elif kind in ("response.completed", "response.incomplete"):
            response = event.get("response")
            if not isinstance(response, dict):
                raise errors.backend_bad_response(f"{kind} without its response")
            self.done = True
            out.append(self._chunk({}, _finish_reason(response, bool(self._calls))))
            usage = chat_usage(response.get("usage"))
            if usage is not None:
                out.append({"object": "chat.completion.chunk", "choices": [], "usage": usage})
            out.append(DONE)
        return out


def upstream_path(api: BackendApi) -> str:
    """The model call's path under the API root."""
    return "/responses" if api == "responses" else "/chat/completions"


def request_body(api: BackendApi, chat: dict[str, Any]) -> dict[str, Any]:
    """What goes upstream for the chat request `chat`."""
    return responses_request(chat) if api == "responses" else chat


def stream_decoder(api: BackendApi) -> ChatStreamDecoder | ResponsesStreamDecoder:
    return ResponsesStreamDecoder() if api == "responses" else ChatStreamDecoder()


def stream_end(api: BackendApi) -> str:
    """How a stream must end, for the error when it does not."""
    return "its terminal event" if api == "responses" else "[DONE]"


def parse_answer(api: BackendApi, body: bytes | str) -> dict[str, Any]:
    """A non-streaming answer as the chat completion the engine reads (502 for garbage)."""
    return completion_from_response(body) if api == "responses" else parse_chat_completion(body)
