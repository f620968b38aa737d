"""WebSocket mode, sans-IO: client messages, the error envelope and connection-local state.

Open Responses 2026-04-24, "WebSocket Transport"; OpenAI `ResponsesClientEvent`,
`ResponsesServerEvent`, `ResponseWsError`. The adapter (`reference/http/websocket.py`) runs one
`response.create` at a time on a connection and sends the same event objects as SSE.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from reference.core import errors, jsonbody
from reference.core.errors import APIError

CREATE = "response.create"
# "HTTP/SSE transport-specific fields such as `stream`, `stream_options`, and `background` MUST
# NOT be sent on WebSocket requests."
TRANSPORT_FIELDS = ("stream", "stream_options", "background")
# OpenAI `ResponsesClientEventResponseCreate.stream_id`: 1-256 characters of [A-Za-z0-9_.-].
STREAM_ID = re.compile(r"^[A-Za-z0-9_.-]{1,256}$")
# "WebSocket connections are limited to 60 minutes."
MAX_CONNECTION_SECONDS = 60 * 60
TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})


@dataclass
class ClientCreate:
    """One `response.create` message: the create body (stream forced on) and its lane."""

    body: dict[str, Any]
    stream_id: str | None = None


def parse_client_message(data: str | bytes) -> ClientCreate:
    """Validate one client message; every failure is an `APIError` 400 (sent as an error event)."""
    message = jsonbody.loads(data)  # the same 400s as an HTTP body (depth, surrogates, NaN)
    if not isinstance(message, dict):
        raise errors.invalid_request("A WebSocket message must be a JSON object.", None, "invalid_type")
    kind = message.get("type")
    if kind != CREATE:
        raise errors.invalid_request(
            f"Unsupported client event type {kind!r}: this server accepts only '{CREATE}'.", "type",
            "unsupported_event_type")
    stream_id = message.get("stream_id")
    if stream_id is not None and not (isinstance(stream_id, str) and STREAM_ID.match(stream_id)):
        raise errors.invalid_request(
            "stream_id must be 1 to 256 characters of letters, digits, '_', '.' and '-'.", "stream_id",
            "invalid_value")
    for name in TRANSPORT_FIELDS:
        if name in message:
            raise errors.invalid_request(
                f"'{name}' is an HTTP transport parameter and must not be sent over WebSocket "
                "(responses stream implicitly; background mode is not supported).", name,
                "unsupported_parameter")
    body = {key: value for key, value in message.items() if key not in ("type", "stream_id")}
    body["stream"] = True
    return ClientCreate(body, stream_id)


def error_event(err: APIError, stream_id: str | None = None) -> dict[str, Any]:
    """"WebSocket failures MUST be sent as a JSON `error` envelope with a `status` code and an
    `error.code`." """
    event: dict[str, Any] = {"type": "error", "status": err.status, "error": err.body()["error"]}
    if event["error"].get("code") is None:
        event["error"]["code"] = err.type
    if stream_id is not None:
        event["stream_id"] = stream_id
    return event


def connection_limit_error() -> APIError:
    return APIError(400, "This WebSocket connection has reached its 60 minute limit; open a new one.",
                    errors.INVALID_REQUEST, None, "websocket_connection_limit_reached")


@dataclass
class ConnectionState:
    """The most recent response of the connection, for continuation without the store.

    "Servers SHOULD keep the most recent previous-response state in connection-local memory ...
    allows `store=false` ... to continue on the same socket." Only the latest response is kept;
    older ids fall back to the store (`store: true`) or fail with `previous_response_not_found`.
    """

    response_id: str | None = None
    items: list[dict[str, Any]] = field(default_factory=list)

    def history_for(self, previous_response_id: str | None) -> list[dict[str, Any]] | None:
        if previous_response_id is not None and previous_response_id == self.response_id:
            return list(self.items)
        return None

    def remember(self, response_id: str, items: list[dict[str, Any]]) -> None:
        self.response_id = response_id
        self.items = list(items)

    def evict(self, response_id: str | None) -> None:
        """"If a continuation turn fails with a 4xx or 5xx error, the server MUST evict the
        referenced previous_response_id from the connection-local cache." """
        if response_id is not None and response_id == self.response_id:
            self.response_id = None
            self.items = []
