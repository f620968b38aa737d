"""The HTTP server's request ids, access log and metrics: an ASGI middleware around the app.

It sits outside Quart so it sees what Quart's hooks cannot: the last byte of a streamed answer
(a stream's duration and the active-streams gauge), and every answer, including the ones Quart
builds itself (404, 405, 413). Per request: the id is taken from `x-request-id` (Envoy sets one
on everything it forwards) or made, put in `REQUEST_ID` before Quart spawns the request's task
(which inherits it) and on the answer's headers; when the answer is complete, one access-log
line and the route's counters. The route label is the matched rule (`/v1/responses/<id>`, never
the raw path: ids would make unbounded series), which a `before_request` hook leaves in the
ASGI scope; `unmatched` for paths no route serves.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from quart import Quart, request, websocket

from reference.observability import logs
from reference.observability.metrics import GatewayMetrics

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ROUTE_KEY = "responses_gateway.route"
_HEADER = logs.HEADER.encode()
_EVENT_STREAM = b"text/event-stream"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key == name:
            return bytes(value).decode("latin-1")
    return None


class ObservedApp:
    """`app.asgi_app = ObservedApp(app.asgi_app, metrics)`."""

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = logs.request_id_for(_header(scope, _HEADER))
        token = logs.REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 0
        streaming = False
        id_header = (_HEADER, request_id.encode())
        metrics = self.metrics

        async def observed_send(message: Message) -> None:
            nonlocal status, streaming
            event = message["type"]
            if event == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers") or ())
                headers.append(id_header)
                message["headers"] = headers
                if any(k.lower() == b"content-type" and bytes(v).startswith(_EVENT_STREAM)
                       for k, v in headers):
                    streaming = True
                    metrics.stream_opened("http")
            elif event == "http.response.body":
                if streaming and not message.get("more_body", False):
                    streaming = False
                    metrics.stream_closed("http")
            elif event == "websocket.accept":
                status = 101
                message["headers"] = [*(message.get("headers") or ()), id_header]
            elif event == "websocket.close" and status == 0:
                status = 403  # closed before the handshake completed: a refused upgrade
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            if streaming:  # the client went away mid-stream
                metrics.stream_closed("http")
            seconds = time.perf_counter() - started
            route = scope.get(ROUTE_KEY) or "unmatched"
            method = "WEBSOCKET" if kind == "websocket" else scope.get("method", "")
            metrics.http_request(route, method, status, seconds)
            logs.log_access(method, scope.get("path", ""), status, seconds, request_id, via="http")
            logs.REQUEST_ID.reset(token)


def attach(app: Quart, metrics: GatewayMetrics) -> None:
    """Wrap `app` in the middleware and record each request's route rule for it."""

    async def remember_route() -> None:
        if request.url_rule is not None:
            scope: Scope = request.scope  # type: ignore[assignment]
            scope[ROUTE_KEY] = request.url_rule.rule

    async def remember_websocket_route() -> None:
        if websocket.url_rule is not None:
            scope: Scope = websocket.scope  # type: ignore[assignment]
            scope[ROUTE_KEY] = websocket.url_rule.rule

    # First in line: an authentication failure later in before_request is still labelled.
    app.before_request_funcs.setdefault(None, []).insert(0, remember_route)
    app.before_websocket_funcs.setdefault(None, []).insert(0, remember_websocket_route)
    app.asgi_app = ObservedApp(app.asgi_app, metrics)  # type: ignore[method-assign, assignment, arg-type]
