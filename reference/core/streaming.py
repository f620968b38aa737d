"""The streaming state machine: chat completion chunks in, Responses stream events out.

Event grammar (OpenAI "Streaming events"): `response.created`, `response.in_progress`, then per
output item `response.output_item.added` ... `response.output_item.done`; inside a message, per
content part `response.content_part.added`, its deltas (`response.output_text.delta` /
`response.refusal.delta`), their `.done`, `response.content_part.done`; inside a function call,
`response.function_call_arguments.delta` ... `.done`; finally exactly one of
`response.completed`, `response.incomplete` or `response.failed`.

Guarantees the tests check: `sequence_number` starts at 0 and increases by one; item ids and
output/content indexes are consistent; concatenated deltas equal the `.done` text; one terminal
event; the final response equals `translate.apply_chat_completion` of the same content.

Ordering assumptions about the chat stream (what OpenAI-compatible servers do): a choice's text
comes before its tool calls, and tool calls first appear in index order. Text arriving after a
tool call opens a new message item; it is still delivered, only the item layout then differs
from the non-streaming translation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from . import errors, ids
from .serialization import copy_json
from .translate import (
    IdFactory,
    allowed_tool_names,
    call_allowed,
    finish_status,
    function_call_item,
    mark_statuses,
    message_item,
    output_text_part,
    refusal_part,
    usage_from_chat,
)


class _Message:
    def __init__(self, item: dict[str, Any], output_index: int) -> None:
        self.item = item
        self.output_index = output_index
        self.part: dict[str, Any] | None = None  # the open content part
        self.done = False


class _Call:
    def __init__(self, item: dict[str, Any], output_index: int) -> None:
        self.item = item
        self.output_index = output_index
        self.done = False


class StreamTranslator:
    """Feed it chat chunks; it returns the Responses events to send for each."""

    def __init__(
        self,
        response_skeleton: dict[str, Any],
        *,
        id_factory: IdFactory = ids.new_id,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.response: dict[str, Any] = copy_json(response_skeleton)
        self.response["output"] = []
        self._ids = id_factory
        self._clock = clock
        self._seq = 0
        self._started = False
        self.terminated = False
        self._message: _Message | None = None
        self._calls: dict[int, _Call] = {}
        self._allowed = allowed_tool_names(self.response)
        self._suppressed: set[int] = set()  # indexes of tool calls to a tool allowed_tools omits
        self._open: list[_Message | _Call] = []  # items added and not yet done, in output order
        self._usage: dict[str, Any] | None = None
        self._finish_reason: str | None = None

    # --- plumbing ------------------------------------------------------------------------

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return event

    def _snapshot(self) -> dict[str, Any]:
        return copy_json(self.response)

    def _check(self) -> None:
        if self.terminated:
            raise RuntimeError("the stream already ended with a terminal event")
        if not self._started:
            raise RuntimeError("start() must be called first")

    # --- items ---------------------------------------------------------------------------

    def _add_item(self, item: dict[str, Any], out: list[dict[str, Any]]) -> int:
        output_index = len(self.response["output"])
        self.response["output"].append(item)
        out.append(
            self._event("response.output_item.added", output_index=output_index, item=copy_json(item))
        )
        return output_index

    def _open_message(self, out: list[dict[str, Any]]) -> _Message:
        if self._message is not None and not self._message.done:
            return self._message
        item = message_item(self._ids(ids.MESSAGE), [], "in_progress")
        message = _Message(item, self._add_item(item, out))
        self._message = message
        self._open.append(message)
        return message

    def _open_part(self, message: _Message, part: dict[str, Any], out: list[dict[str, Any]]) -> None:
        if message.part is not None and message.part["type"] == part["type"]:
            return
        self._close_part(message, out)
        message.item["content"].append(part)
        message.part = part
        out.append(
            self._event(
                "response.content_part.added",
                item_id=message.item["id"],
                output_index=message.output_index,
                content_index=len(message.item["content"]) - 1,
                part=copy_json(part),
            )
        )

    def _close_part(self, message: _Message, out: list[dict[str, Any]]) -> None:
        part = message.part
        if part is None:
            return
        common = {
            "item_id": message.item["id"],
            "output_index": message.output_index,
            "content_index": len(message.item["content"]) - 1,
        }
        if part["type"] == "output_text":
            out.append(self._event("response.output_text.done", **common, text=part["text"], logprobs=[]))
        else:
            out.append(self._event("response.refusal.done", **common, refusal=part["refusal"]))
        out.append(self._event("response.content_part.done", **common, part=copy_json(part)))
        message.part = None

    def _close_item(self, entry: _Message | _Call, status: str, out: list[dict[str, Any]]) -> None:
        if isinstance(entry, _Message):
            self._close_part(entry, out)
        else:
            out.append(
                self._event(
                    "response.function_call_arguments.done",
                    item_id=entry.item["id"],
                    name=entry.item["name"],
                    output_index=entry.output_index,
                    arguments=entry.item["arguments"],
                )
            )
        entry.item["status"] = status
        entry.done = True
        self._open.remove(entry)
        out.append(
            self._event(
                "response.output_item.done", output_index=entry.output_index, item=copy_json(entry.item)
            )
        )

    # --- the state machine ---------------------------------------------------------------

    @property
    def started(self) -> bool:
        """Whether `response.created` went out (by `start()`, or by `fail()` before it)."""
        return self._started

    def start(self) -> list[dict[str, Any]]:
        if self._started:
            raise RuntimeError("start() was already called")
        self._started = True
        created = self._event("response.created", response=self._snapshot())
        self.response["status"] = "in_progress"
        return [created, self._event("response.in_progress", response=self._snapshot())]

    def feed(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        """Translate one chat completion chunk. A chunk carrying `error` (some servers report
        failures inside the stream) raises `APIError`; the caller then calls `fail()`."""
        self._check()
        out: list[dict[str, Any]] = []
        if not isinstance(chunk, dict):
            raise errors.backend_bad_response("stream chunk is not an object")
        if chunk.get("error") is not None:
            err = chunk["error"]
            message = err.get("message") if isinstance(err, dict) else str(err)
            raise errors.APIError(
                502, f"The model backend failed: {message}", errors.SERVER_ERROR, None, "backend_error"
            )
        if isinstance(chunk.get("usage"), dict):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue  # n > 1 is not a Responses concept: only the first choice counts
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if isinstance(content, str) and content:
                self._text(content, out)
            refusal = delta.get("refusal")
            if isinstance(refusal, str) and refusal:
                self._refusal(refusal, out)
            for call in delta.get("tool_calls") or []:
                self._tool_call(call, out)
            if choice.get("finish_reason"):
                self._finish_reason = choice["finish_reason"]
        return out

    def _text(self, text: str, out: list[dict[str, Any]]) -> None:
        message = self._open_message(out)
        self._open_part(message, output_text_part(""), out)
        assert message.part is not None
        message.part["text"] += text
        out.append(
            self._event(
                "response.output_text.delta",
                item_id=message.item["id"],
                output_index=message.output_index,
                content_index=len(message.item["content"]) - 1,
                delta=text,
                logprobs=[],
            )
        )

    def _refusal(self, text: str, out: list[dict[str, Any]]) -> None:
        message = self._open_message(out)
        self._open_part(message, refusal_part(""), out)
        assert message.part is not None
        message.part["refusal"] += text
        out.append(
            self._event(
                "response.refusal.delta",
                item_id=message.item["id"],
                output_index=message.output_index,
                content_index=len(message.item["content"]) - 1,
                delta=text,
            )
        )

    def _tool_call(self, call: dict[str, Any], out: list[dict[str, Any]]) -> None:
        index = call.get("index", 0)
        function = call.get("function") or {}
        entry = self._calls.get(index)
        if index in self._suppressed:
            return
        if entry is None and function.get("name") and not call_allowed(call, self._allowed):
            # The name comes with a call's first chunk: the whole call is left out (see
            # translate.allowed_tool_names).
            self._suppressed.add(index)
            return
        if entry is None:
            # The message (if any) is over once the model starts calling tools.
            if self._message is not None and not self._message.done:
                self._close_item(self._message, "completed", out)
            item = function_call_item(
                self._ids(ids.FUNCTION_CALL),
                str(call.get("id") or ""),
                str(function.get("name") or ""),
                "",
                "in_progress",
            )
            if not item["call_id"]:
                item["call_id"] = self._ids(ids.CALL)
            entry = _Call(item, self._add_item(item, out))
            self._calls[index] = entry
            self._open.append(entry)
        elif call.get("id") and entry.item["call_id"] != call["id"] and not entry.item["arguments"]:
            entry.item["call_id"] = call["id"]
        if function.get("name") and not entry.item["name"]:
            entry.item["name"] = function["name"]
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments and not entry.done:
            entry.item["arguments"] += arguments
            out.append(
                self._event(
                    "response.function_call_arguments.delta",
                    item_id=entry.item["id"],
                    output_index=entry.output_index,
                    delta=arguments,
                )
            )

    def finish(self) -> list[dict[str, Any]]:
        """The chat stream ended normally: close what is open, emit the terminal event."""
        self._check()
        out: list[dict[str, Any]] = []
        if not self.response["output"]:
            # Like the non-streaming translation: an empty answer is a message with empty text.
            message = self._open_message(out)
            self._open_part(message, output_text_part(""), out)
        status, details = finish_status(self._finish_reason)
        for entry in list(self._open):
            last = entry.output_index == len(self.response["output"]) - 1
            self._close_item(entry, "incomplete" if status == "incomplete" and last else "completed", out)
        mark_statuses(self.response["output"], status)
        self.response["status"] = status
        self.response["incomplete_details"] = details
        self.response["usage"] = usage_from_chat(self._usage)
        self.response["error"] = None
        self.response["completed_at"] = int(self._clock()) if status == "completed" else None
        self.terminated = True
        kind = "response.completed" if status == "completed" else "response.incomplete"
        out.append(self._event(kind, response=self._snapshot()))
        return out

    def fail(self, error: errors.APIError) -> list[dict[str, Any]]:
        """The backend failed: close the open items as `incomplete` (the model stopped emitting
        their tokens, so none is left `in_progress`), then emit `response.failed`. Called before
        `start()`, it emits the start events first so the grammar stays whole."""
        out = [] if self._started else self.start()
        self._check()
        for entry in list(self._open):
            self._close_item(entry, "incomplete", out)
        self.response["status"] = "failed"
        # A code from OpenAI's closed `ResponseErrorCode` list; the detail is in the message.
        self.response["error"] = errors.response_error(error)
        self.response["completed_at"] = None
        self.response["incomplete_details"] = None
        if self._usage is not None:
            self.response["usage"] = usage_from_chat(self._usage)
        self.terminated = True
        out.append(self._event("response.failed", response=self._snapshot()))
        return out
