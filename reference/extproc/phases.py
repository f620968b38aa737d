"""The phases of one ext_proc stream and the only transitions between them.

Envoy's ext_proc filter walks one HTTP request through its phases in order, one
`ProcessingRequest` at a time ("the server must send back a HeaderResponse message or close the
stream", external_processor.proto), so what the server may do next depends only on where the
exchange is. `TRANSITIONS` lists every (phase, event) pair that can happen and the phase it
leads to; `advance` is the one way to change phase. A pair missing from the table is a message
Envoy does not send in that phase (or a bug here): `advance` raises `PhaseError`, which the
processor answers like any internal failure (an OpenAI `server_error`), never by crashing the
stream or by passing an untranslated body through.

    REQUEST -> REQUEST_HEADERS_HELD      request headers held (FULL_DUPLEX_STREAMED body)
    REQUEST -> PASS_THROUGH              not a create request: every phase passes unchanged
    REQUEST(_HEADERS_HELD) -> UPSTREAM   the body is a chat request, forwarded
                           -> RUN_IN_GATEWAY(_HEADERS_HELD) -> DONE   hosted tools, background stream
                           -> DONE       background request, empty POST, Envoy's local reply, failure
    REQUEST -> IN_GATEWAY_HTTP -> DONE   a stream the gateway runs, handed to its HTTP server
    UPSTREAM -> STREAMING -> STREAM_ENDED   2xx answer to `stream: true`
             -> JSON_BODY -> DONE           2xx answer
             -> ERROR_BODY -> DONE          backend error status
             -> DONE                        Envoy's local reply (unreachable, timeout)

Trailers are answered in every phase and change nothing, so they are not events; neither is
any message of a PASS_THROUGH request (each is answered "unchanged").
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class Phase(enum.Enum):
    # Waiting for the request body (request headers, when sent, answered already).
    REQUEST = "request"
    # FULL_DUPLEX_STREAMED request body: the reply to the request headers is owed until the body
    # is in, because only then may the answer be a streamed immediate response.
    REQUEST_HEADERS_HELD = "request_headers_held"
    # Not a create request (a WebSocket upgrade, /v1/responses/compact, ...): every phase of it
    # passes through unchanged.
    PASS_THROUGH = "pass_through"
    # A request the servicer runs itself, nothing going upstream: a hosted-tool request (several
    # model calls, which Envoy's one upstream request cannot carry) or a background stream (it
    # must outlive the client's connection). Answered with an immediate response; the
    # HEADERS_HELD variant may stream it (a streamed immediate response).
    RUN_IN_GATEWAY = "run_in_gateway"
    RUN_IN_GATEWAY_HEADERS_HELD = "run_in_gateway_headers_held"
    # Such a request with `stream: true`, sent by Envoy to the gateway's own HTTP server (a route
    # the config announces), which streams it as it happens; its answer passes unchanged.
    IN_GATEWAY_HTTP = "in_gateway_http"
    # The chat request went to the backend; its response headers are awaited.
    UPSTREAM = "upstream"
    # A 2xx answer to a non-streaming request: its BUFFERED body becomes the Responses object.
    JSON_BODY = "json_body"
    # A backend error status: its BUFFERED body becomes the direct path's OpenAI error.
    ERROR_BODY = "error_body"
    # A 2xx answer to a streaming request: chunks are rewritten into Responses events.
    STREAMING = "streaming"
    # The terminal event went out; whatever the backend still sends is dropped.
    STREAM_ENDED = "stream_ended"
    # Answered (or Envoy's own reply passes): the rest of the exchange passes unchanged.
    DONE = "done"


class Event(enum.Enum):
    REQUEST_HEADERS = "request_headers"  # answered at once
    REQUEST_HEADERS_HELD = "request_headers_held"  # answered with the body
    FOREIGN_REQUEST = "foreign_request"  # request headers of a request not translated here
    REQUEST_BODY_PIECE = "request_body_piece"  # not the end of the body: kept
    BACKGROUND_REQUEST = "background_request"  # answered with the queued response
    RUN_IN_GATEWAY = "run_in_gateway"  # hosted tools or a background stream: run here
    CHAT_REQUEST = "chat_request"  # forwarded to the backend
    RUN_STARTED = "run_started"
    HAND_TO_HTTP_SERVER = "hand_to_http_server"  # rerouted to the gateway's HTTP server
    HTTP_SERVER_RESPONSE = "http_server_response"  # response headers of the HTTP server's answer
    LOCAL_REPLY = "local_reply"  # response headers of Envoy's own reply
    RESPONSE_WITHOUT_REQUEST = "response_without_request"
    STREAM_RESPONSE = "stream_response"
    JSON_RESPONSE = "json_response"
    ERROR_RESPONSE = "error_response"
    RESPONSE_BODY = "response_body"
    STREAM_TERMINATED = "stream_terminated"  # terminal event produced (or the stream cut off)
    FAILED = "failed"  # answered with an error


_BEFORE_REQUEST = (Phase.REQUEST, Phase.REQUEST_HEADERS_HELD)
# A failure mid-stream terminates the stream (STREAM_TERMINATED) instead; a passed-through
# request has nothing that can fail.
_CAN_FAIL = tuple(p for p in Phase if p not in (Phase.STREAMING, Phase.STREAM_ENDED, Phase.PASS_THROUGH))

TRANSITIONS: Mapping[tuple[Phase, Event], Phase] = {
    (Phase.REQUEST, Event.REQUEST_HEADERS): Phase.REQUEST,
    (Phase.REQUEST, Event.REQUEST_HEADERS_HELD): Phase.REQUEST_HEADERS_HELD,
    (Phase.REQUEST, Event.FOREIGN_REQUEST): Phase.PASS_THROUGH,
    **{(p, Event.REQUEST_BODY_PIECE): p for p in _BEFORE_REQUEST},
    **{(p, Event.BACKGROUND_REQUEST): Phase.DONE for p in _BEFORE_REQUEST},
    (Phase.REQUEST, Event.RUN_IN_GATEWAY): Phase.RUN_IN_GATEWAY,
    (Phase.REQUEST_HEADERS_HELD, Event.RUN_IN_GATEWAY): Phase.RUN_IN_GATEWAY_HEADERS_HELD,
    **{(p, Event.CHAT_REQUEST): Phase.UPSTREAM for p in _BEFORE_REQUEST},
    (Phase.RUN_IN_GATEWAY, Event.RUN_STARTED): Phase.DONE,
    (Phase.REQUEST, Event.HAND_TO_HTTP_SERVER): Phase.IN_GATEWAY_HTTP,
    (Phase.IN_GATEWAY_HTTP, Event.HTTP_SERVER_RESPONSE): Phase.DONE,
    (Phase.RUN_IN_GATEWAY_HEADERS_HELD, Event.RUN_STARTED): Phase.DONE,
    # Envoy answers by itself before the body reaches us (413, body too large) or instead of
    # the upstream (502 unreachable, 504 timeout).
    **{(p, Event.LOCAL_REPLY): Phase.DONE for p in (*_BEFORE_REQUEST, Phase.UPSTREAM, Phase.IN_GATEWAY_HTTP)},
    # An empty POST: Envoy sends no body message, so the response is the first we hear of it.
    **{(p, Event.RESPONSE_WITHOUT_REQUEST): Phase.DONE for p in _BEFORE_REQUEST},
    (Phase.UPSTREAM, Event.STREAM_RESPONSE): Phase.STREAMING,
    (Phase.UPSTREAM, Event.JSON_RESPONSE): Phase.JSON_BODY,
    (Phase.UPSTREAM, Event.ERROR_RESPONSE): Phase.ERROR_BODY,
    (Phase.JSON_BODY, Event.RESPONSE_BODY): Phase.DONE,
    (Phase.ERROR_BODY, Event.RESPONSE_BODY): Phase.DONE,
    (Phase.STREAMING, Event.RESPONSE_BODY): Phase.STREAMING,
    (Phase.STREAM_ENDED, Event.RESPONSE_BODY): Phase.STREAM_ENDED,
    (Phase.DONE, Event.RESPONSE_BODY): Phase.DONE,
    (Phase.STREAMING, Event.STREAM_TERMINATED): Phase.STREAM_ENDED,
    **{(p, Event.FAILED): Phase.DONE for p in _CAN_FAIL},
}


class PhaseError(RuntimeError):
    """An event that cannot happen in the current phase: a message out of Envoy's order, or a
    bug in the processor. Internal: the processor answers it with a `server_error`."""

    def __init__(self, phase: Phase, event: Event) -> None:
        super().__init__(f"ext_proc event {event.value!r} cannot happen in phase {phase.value!r}")
        self.phase = phase
        self.event = event


def advance(phase: Phase, event: Event) -> Phase:
    """The phase after `event` in `phase`; `PhaseError` when the table has no such transition."""
    try:
        return TRANSITIONS[(phase, event)]
    except KeyError:
        raise PhaseError(phase, event) from None
