"""An incremental parser for ``text/event-stream`` written to the WHATWG HTML rules.

The harness judges other people's streams, so it carries its own parser rather than trusting
any client library (or the reference gateway) to agree with the standard. It follows
https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation:

* the stream is decoded as UTF-8 with replacement; one leading U+FEFF BOM is dropped;
* lines end with CRLF, a lone LF or a lone CR -- also when the CR and the LF of one CRLF
  arrive in different network chunks;
* a line starting with ``:`` is a comment; ``field: value`` drops one space after the colon;
  a line without a colon is a field name with an empty value;
* ``data`` lines are joined with LF; ``event`` sets the type (default ``message``); ``id``
  sets the last event id unless it contains NULL; ``retry`` is honoured only when it is all
  ASCII digits; other fields are ignored;
* a blank line dispatches the event, unless the data buffer is empty (then the type resets
  and nothing is dispatched).

End of stream: "If the file ends in the middle of an event, before the final empty line, the
incomplete event is not dispatched." We follow the standard and discard it, but we do not hide
it: :meth:`SSEParser.close` records the discarded text in :attr:`SSEParser.discarded_tail`, so
a case can report a stream whose last event was never terminated by a blank line.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class SSEEvent:
    """One dispatched event: ``event`` is the type (``message`` when no ``event:`` field)."""

    event: str
    data: str
    id: str = ""
    retry: int | None = None

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"event": self.event, "data": self.data}
        if self.id:
            out["id"] = self.id
        if self.retry is not None:
            out["retry"] = self.retry
        return out


@dataclass
class SSEParser:
    """Feed bytes (or text) in any chunking; get the events completed so far."""

    comments: list[str] = field(default_factory=list)
    last_event_id: str = ""
    retry: int | None = None
    discarded_tail: str | None = None
    closed: bool = False
    _decoder: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
    )
    _line: str = ""
    _pending_cr: bool = False
    _data: list[str] = field(default_factory=list)
    _event_type: str = ""
    _saw_field: bool = False
    _started: bool = False

    def feed(self, chunk: bytes | str) -> list[SSEEvent]:
        if self.closed:
            raise ValueError("feed() after close()")
        if isinstance(chunk, bytes):
            text = self._decoder.decode(chunk)
        else:
            text = chunk
            if not self._started and text.startswith("\ufeff"):
                text = text[1:]
        if text:
            self._started = True
        return self._consume(text)

    def close(self) -> list[SSEEvent]:
        """Signal end of stream. Always returns ``[]``: an unterminated event is discarded."""
        if self.closed:
            return []
        self.closed = True
        events = self._consume(self._decoder.decode(b"", final=True))
        tail_parts: list[str] = []
        if self._saw_field or self._data:
            tail_parts.append("(fields of an event not followed by a blank line)")
        if self._line:
            tail_parts.append(self._line)
        if tail_parts:
            self.discarded_tail = " ".join(tail_parts)
        self._line = ""
        self._data = []
        self._event_type = ""
        self._saw_field = False
        return events

    def _consume(self, text: str) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        if self._pending_cr and text:
            # A CR ended the previous chunk: an LF opening this one is the second half of that
            # CRLF, not a line of its own. Either way the pending CR is settled by this chunk.
            if text.startswith("\n"):
                text = text[1:]
            self._pending_cr = False
        pos = 0
        for match in _LINE_END.finditer(text):
            line = self._line + text[pos : match.start()]
            self._line = ""
            pos = match.end()
            if match.group() == "\r" and pos == len(text):
                self._pending_cr = True
            event = self._process_line(line)
            if event is not None:
                events.append(event)
        self._line += text[pos:]
        return events

    def _process_line(self, line: str) -> SSEEvent | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            self.comments.append(line[1:])
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        self._saw_field = True
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event_type = value
        elif name == "id" and "\x00" not in value:
            self.last_event_id = value
        elif name == "retry" and value and all("0" <= c <= "9" for c in value):
            self.retry = int(value)
        return None

    def _dispatch(self) -> SSEEvent | None:
        self._saw_field = False
        if not self._data:
            self._event_type = ""
            return None
        event = SSEEvent(
            event=self._event_type or "message",
            data="\n".join(self._data),
            id=self.last_event_id,
            retry=self.retry,
        )
        self._data = []
        self._event_type = ""
        return event


def parse_all(payload: bytes | str) -> tuple[list[SSEEvent], SSEParser]:
    """Parse a complete stream at once; returns the events and the closed parser."""
    parser = SSEParser()
    events = parser.feed(payload)
    events += parser.close()
    return events, parser


def json_objects(events: Iterable[SSEEvent]) -> list[dict[str, Any]]:
    """The JSON object of every event whose data is one (``[DONE]`` and garbage left out)."""
    out: list[dict[str, Any]] = []
    for e in events:
        try:
            value = json.loads(e.data)
        except ValueError:
            continue
        if isinstance(value, dict):
            out.append(value)
    return out
