"""Compaction and input-token counting, sans-IO.

How the reference compacts (`POST /v1/responses/compact`): the window to compact is the
`previous_response_id` chain (or nothing) followed by the request's `input`. The gateway asks the
model once for a summary of that window (`summary_chat_request`: the request's `instructions`,
the window as chat messages, then one user message asking for the summary), and answers the
window's **user messages, unchanged and in order**, followed by **one `compaction` item** whose
`encrypted_content` carries that summary. Everything else (assistant messages, tool calls and
their outputs, reasoning, hosted tool items, earlier compaction items) is what the summary
replaces. With the scripted backend the summary is the backend's deterministic echo, so the
whole answer is deterministic.

`encrypted_content` is opaque to clients by contract but, in the reference, *not encrypted*: it is
`rgw-cmp1.` + base64url(JSON `{"summary": ...}`) so that any instance of the gateway (HTTP or
ext_proc, after a restart) can read it back without a shared key. A compaction item given as input
reaches the model as a system message `Summary of the earlier conversation:\n<summary>`
(`summary_message`); content the gateway cannot read is a 400 naming the item.

Token counting (`POST /v1/responses/input_tokens`): the count of the chat messages the gateway
would send, with the same rule as the scripted backend's `usage.prompt_tokens`
(whitespace-separated words of every message's text; an image part is one word, a file part
`<file:NAME>`). Against the scripted backend it equals the `usage.input_tokens` of the same
request exactly. A real model's BPE tokenizer counts more than words (English prose is about 1.3
tokens per word, plus a few tokens of framing per message, and tool definitions count there but
not here), so against a real model the count is an under-estimate of that order.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from typing import Any

from reference.core import errors
from reference.core.serialization import dump_bytes

CONTENT_PREFIX = "rgw-cmp1."
SUMMARY_HEADER = "Summary of the earlier conversation:"
SUMMARY_PROMPT = (
    "Summarize the conversation above for your own later use: keep every fact, decision, name, "
    "number and open question a continuation needs; leave out pleasantries. Answer with the "
    "summary only."
)


def encode_summary(summary: str) -> str:
    raw = dump_bytes({"summary": summary})
    return CONTENT_PREFIX + base64.urlsafe_b64encode(raw).decode("ascii")


def decode_summary(content: Any) -> str:
    """The summary a compaction item carries; ValueError when it is not the gateway's."""
    if not isinstance(content, str) or not content.startswith(CONTENT_PREFIX):
        raise ValueError("not a compaction produced by this gateway")
    try:
        data = json.loads(base64.urlsafe_b64decode(content[len(CONTENT_PREFIX):].encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise ValueError(f"unreadable compaction content ({exc})") from None
    summary = data.get("summary") if isinstance(data, dict) else None
    if not isinstance(summary, str):
        raise ValueError("compaction content has no summary")
    return summary


def check_compaction_items(items: Iterable[Any]) -> None:
    """400 for a compaction input item whose content the gateway cannot read (it would otherwise
    be dropped silently and the model would lose the compacted context)."""
    for index, item in enumerate(items):
        if isinstance(item, dict) and item.get("type") == "compaction":
            try:
                decode_summary(item.get("encrypted_content"))
            except ValueError as exc:
                raise errors.invalid_request(
                    f"Invalid compaction item: {exc}. Pass the output of POST /v1/responses/compact "
                    "unchanged.", f"input[{index}].encrypted_content", "invalid_encrypted_content",
                ) from None


def summary_message(item: dict[str, Any]) -> dict[str, Any]:
    """The chat message a compaction item becomes."""
    return {"role": "system", "content": f"{SUMMARY_HEADER}\n{decode_summary(item.get('encrypted_content'))}"}


def summary_chat_request(
    model: str, instructions: str | None, window_messages: list[dict[str, Any]]
) -> dict[str, Any]:
    """The one model call that writes the summary."""
    messages: list[dict[str, Any]] = []
    if instructions:
        messages.append({"role": "system", "content": instructions})
    messages.extend(window_messages)
    messages.append({"role": "user", "content": SUMMARY_PROMPT})
    return {"model": model, "messages": messages, "stream": False}


def kept_items(window: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The items a compaction keeps verbatim: every user message of the window, in order."""
    return [
        item for item in window
        if (item.get("type") in (None, "message")) and item.get("role") == "user"
    ]


def compaction_resource(
    *, resource_id: str, item_id: str, created_at: int, window: list[dict[str, Any]], summary: str,
    usage: dict[str, Any],
) -> dict[str, Any]:
    """The `response.compaction` object (both documents' `CompactResource`)."""
    item = {"id": item_id, "type": "compaction", "encrypted_content": encode_summary(summary)}
    return {
        "id": resource_id,
        "object": "response.compaction",
        "created_at": created_at,
        "output": [*kept_items(window), item],
        "usage": usage,
    }


# --- token counting --------------------------------------------------------------------------


def _words(text: str | None) -> int:
    return len(text.split()) if text else 0


def _part_words(part: Any) -> int:
    if isinstance(part, str):
        return _words(part)
    if not isinstance(part, dict):
        return 0
    kind = part.get("type")
    if kind in ("text", "input_text", "output_text", "refusal"):
        return _words(str(part.get("text") or part.get("refusal") or ""))
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        return _words(f"<image:{url}>")
    if kind == "file":
        file = part.get("file") or {}
        return _words(f"<file:{file.get('filename') or file.get('file_id') or ''}>")
    return 0


def count_message_tokens(messages: Iterable[dict[str, Any]]) -> int:
    """Words of every chat message's content (ARCHITECTURE.md, scripted backend usage rule)."""
    total = 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            total += sum(_part_words(part) for part in content)
        elif content is not None:
            total += _words(str(content))
    return total


def input_tokens_resource(count: int) -> dict[str, Any]:
    return {"object": "response.input_tokens", "input_tokens": count}
