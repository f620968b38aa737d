"""Server-sent events: encoding Responses events, decoding a backend's chat stream.

The decoder follows the WHATWG "event stream interpretation" rules that matter for chat
streams: lines end in LF, CRLF or CR; lines starting with ":" are comments; `data:` lines of one
event are joined with LF; an empty line dispatches the event; one leading space after the colon
is dropped. OpenAI-compatible servers end the stream with `data: [DONE]`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Final

from . import errors
from .serialization import dump

# The events that end a Responses stream ("finally exactly one of" them, core/streaming.py).
TERMINAL_EVENTS: Final = frozenset({"response.completed", "response.incomplete", "response.failed"})


class _Done:
    """The `data: [DONE]` sentinel."""

    _instance: _Done | None = None

    def __new__(cls) -> _Done:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "DONE"


DONE: Final = _Done()


def encode_event(event: dict[str, Any]) -> bytes:
    """`event: <type>\\ndata: <compact json>\\n\\n` (compact JSON has no newlines to split)."""
    return f"event: {event['type']}\ndata: {dump(event)}\n\n".encode()


def encode_done() -> bytes:
    return b"data: [DONE]\n\n"


class EventStreamEncoder:
    """The wire form of one Responses event stream, with the profile's `[DONE]` policy.

    Open Responses: "The terminal event MUST be the literal string `[DONE]`"; OpenAI's Responses
    streams end with their terminal Responses event and no marker. With `done_marker` the marker
    follows the terminal event in the same bytes (an ext_proc reply carrying the terminal event
    may be the last one Envoy takes), or, for a stream that ended without one (a cancelled
    background stream), comes from `close()`.
    """

    def __init__(self, *, done_marker: bool) -> None:
        self.done_marker = done_marker
        self._closed = False

    def encode(self, events: Iterable[dict[str, Any]]) -> bytes:
        wire = b""
        for event in events:
            wire += encode_event(event)
            if self.done_marker and not self._closed and event.get("type") in TERMINAL_EVENTS:
                self._closed = True
                wire += encode_done()
        return wire

    def close(self) -> bytes:
        """The end of the stream: the marker if it is due and not sent yet, else nothing."""
        if not self.done_marker or self._closed:
            return b""
        self._closed = True
        return encode_done()


class ChatStreamDecoder:
    """Incremental decoder: feed it bytes as they arrive, get the complete events' payloads.

    Chunk boundaries may fall anywhere, including inside a multi-byte UTF-8 character or between
    the CR and LF of a CRLF.
    """

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[str] = []
        self._skip_lf = False
        self.done = False

    def feed(self, chunk: bytes) -> list[dict[str, Any] | _Done]:
        out: list[dict[str, Any] | _Done] = []
        self._buffer += chunk
        while True:
            if self._skip_lf and self._buffer:
                if self._buffer[:1] == b"\n":
                    self._buffer = self._buffer[1:]
                self._skip_lf = False
            cr = self._buffer.find(b"\r")
            lf = self._buffer.find(b"\n")
            ends = [i for i in (cr, lf) if i >= 0]
            if not ends:
                break
            end = min(ends)
            raw = self._buffer[:end]
            self._buffer = self._buffer[end + 1 :]
            if end == cr:
                # A CR may be the first half of a CRLF whose LF has not arrived yet.
                self._skip_lf = True
            self._line(raw, out)
        return out

    def close(self) -> list[dict[str, Any] | _Done]:
        """End of input: an unterminated last event is dispatched (as browsers do not; servers
        that omit the final blank line are common enough to be lenient)."""
        out: list[dict[str, Any] | _Done] = []
        if self._buffer:
            self._line(self._buffer, out)
            self._buffer = b""
        self._dispatch(out)
        return out

    def _line(self, raw: bytes, out: list[dict[str, Any] | _Done]) -> None:
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise errors.backend_bad_response("stream line is not UTF-8") from None
        if line == "":
            self._dispatch(out)
            return
        if line.startswith(":"):
            return
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        # `event`, `id`, `retry` and unknown fields carry nothing a chat stream needs.

    def _dispatch(self, out: list[dict[str, Any] | _Done]) -> None:
        if not self._data:
            return
        data = "\n".join(self._data)
        self._data = []
        if data.strip() == "[DONE]":
            self.done = True
            out.append(DONE)
            return
        try:
            payload = json.loads(data)
        except ValueError:
            raise errors.backend_bad_response(f"stream data is not JSON: {data[:200]!r}") from None
        if not isinstance(payload, dict):
            raise errors.backend_bad_response("stream data is not a JSON object")
        out.append(payload)
