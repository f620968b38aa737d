"""The harness's WebSocket client for Responses WebSocket mode (`GET /responses` upgraded), built
on the `websockets` library.

Every frame, sent or received, is recorded in the case transcript with the milliseconds since the
connection was requested (`Exchange.ws_frames`), like SSE frames. A handshake the gateway refuses
is recorded with its HTTP status and body and raised as `UpgradeRefused`.

Rate limits are handled as on HTTP (never a verdict): an upgrade answered 429 is retried after
its `Retry-After`, a turn answered with a 429 `error` envelope is sent again on the same
connection; a server that closes with 1013 (Try Again Later) ends the case ERROR, since a new
connection would lose the connection-local state a case may rely on."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from conformance.context import Exchange, RateLimited, _clip

if TYPE_CHECKING:
    from conformance.context import CaseContext

TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})

#: The close code of a server that is overloaded and asks the client to come back later (IANA
#: WebSocket Close Code Number Registry, 1013 "Try Again Later").
TRY_AGAIN_LATER = 1013


def is_rate_limit_error(event: dict[str, Any]) -> bool:
    """A WebSocket `error` envelope with status 429: "WebSocket failures MUST be sent as a JSON
    `error` envelope with a `status` code" and `too_many_requests` is the 429 error type (Open
    Responses, WebSocket Errors; Error Types)."""
    return event.get("type") == "error" and event.get("status") == 429


class UpgradeRefused(Exception):
    """The gateway answered the upgrade request with an HTTP status instead of 101."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body


class TurnRateLimited(RateLimited):
    """A turn answered with a 429 `error` envelope: the connection is still open."""


class ConnectionEnded(Exception):
    """The server closed the connection (or sent nothing) before the frame the case waited for."""


def ws_url(http_url: str) -> str:
    if http_url.startswith("https://"):
        return "wss://" + http_url[len("https://"):]
    if http_url.startswith("http://"):
        return "ws://" + http_url[len("http://"):]
    return http_url


class WebSocketSession:
    """One open connection; `send`, `recv`, and `turn` (one response.create and its events)."""

    def __init__(self, ctx: CaseContext, conn: ClientConnection, exchange: Exchange, start: float) -> None:
        self.ctx = ctx
        self.conn = conn
        self.exchange = exchange
        self.start = start
        self.frames: list[dict[str, Any]] = exchange.ws_frames if exchange.ws_frames is not None else []

    def _record(self, direction: str, data: str) -> None:
        self.frames.append({"t_ms": round((time.perf_counter() - self.start) * 1000, 1),
                            "direction": direction, "data": _clip(data)})

    async def send(self, message: dict[str, Any] | str) -> None:
        text = message if isinstance(message, str) else json.dumps(message)
        self._record("sent", text)
        await self.conn.send(text)

    async def send_create(self, **body: Any) -> None:
        """Send `response.create` with the run's model (overridable)."""
        await self.send({"type": "response.create", "model": self.ctx.model, **body})

    async def recv(self, timeout: float | None = None) -> dict[str, Any]:
        """The next message as a JSON object; a frame that is not one fails the case."""
        try:
            raw = await asyncio.wait_for(self.conn.recv(), timeout or self.ctx.config.timeout)
        except ConnectionClosed as exc:
            self._record("closed", f"code={exc.rcvd.code if exc.rcvd else None} "
                                   f"reason={exc.rcvd.reason if exc.rcvd else ''}")
            if exc.rcvd is not None and exc.rcvd.code == TRY_AGAIN_LATER:
                # a new connection would lose the connection-local state the case built up, so
                # the close is the target's rate limit reported as such (ERROR), not retried
                raise RateLimited(f"rate limited: the server closed the WebSocket with {TRY_AGAIN_LATER} "
                                  "(Try Again Later; the target's rate limit, not this case's requirement)"
                                  ) from None
            raise ConnectionEnded(f"the server closed the connection ({exc})") from None
        except TimeoutError:
            raise ConnectionEnded("no frame within the timeout") from None
        text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
        self._record("received", text)
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        self.ctx.check(isinstance(value, dict), "every WebSocket message is a JSON object",
                       expected="JSON object", actual=text[:300])
        assert isinstance(value, dict)
        return value

    async def read_turn(self) -> list[dict[str, Any]]:
        """Events up to and including a terminal response event or an `error` envelope; an
        `error` envelope with status 429 raises `RateLimited` (the target's rate limit, never a
        verdict: `turn` retries it)."""
        events: list[dict[str, Any]] = []
        while True:
            event = await self.recv()
            events.append(event)
            if is_rate_limit_error(event):
                raise TurnRateLimited(f"rate limited: a WebSocket turn was answered with a 429 error "
                                      f"envelope ({json.dumps(event)[:200]}; the target's rate limit, not "
                                      "this case's requirement)")
            if event.get("type") in TERMINAL or event.get("type") == "error":
                return events

    async def turn(self, **body: Any) -> list[dict[str, Any]]:
        """Send `response.create` and read its events. A turn answered with a 429 error envelope
        is sent again on the same connection like an HTTP 429 (``RunConfig.rate_limit_retries``,
        doubling backoff: the envelope has no `Retry-After`)."""
        attempt = 0
        while True:
            await self.send_create(**body)
            try:
                return await self.read_turn()
            except TurnRateLimited:
                await self.ctx._rate_limited(httpx.Headers(), attempt, "a WebSocket response.create")
                attempt += 1


@asynccontextmanager
async def open_socket(ctx: CaseContext, path: str = "/responses") -> AsyncIterator[WebSocketSession]:
    """Open a WebSocket to the gateway (recorded in the transcript); `UpgradeRefused` when the
    gateway answers the upgrade with an HTTP status."""
    url = ws_url(ctx.url(path))
    headers = {k: v for k, v in ctx._headers(None, has_json=False).items()}
    exchange = Exchange(method="GET (WebSocket upgrade)", url=url, request_headers=ctx._redacted(headers),
                        request_body=None, curl=f"websocat {url}   # then send one JSON message per line",
                        ws_frames=[])
    ctx.transcript.append(exchange)
    start = time.perf_counter()
    attempt = 0
    while True:
        try:
            conn = await connect(url, additional_headers=headers, open_timeout=ctx.config.timeout,
                                 max_size=None, proxy=None)
            break
        except InvalidStatus as exc:
            status = exc.response.status_code
            response_headers = list(exc.response.headers.raw_items())
            body = exc.response.body.decode("utf-8", "replace") if exc.response.body else ""
        except (OSError, TimeoutError) as exc:
            exchange.error = f"{type(exc).__name__}: {exc}"
            raise
        exchange.status = status
        exchange.response_headers = dict(response_headers)
        exchange.response_body = _clip(body)
        exchange.elapsed_ms = round((time.perf_counter() - start) * 1000, 1)
        if status != 429:
            raise UpgradeRefused(status, body)
        # an upgrade answered 429 is the target's rate limit: retried like any HTTP 429,
        # honouring Retry-After (RateLimited, an ERROR, once the retries are spent)
        await ctx._rate_limited(httpx.Headers(response_headers), attempt, f"GET {path} (WebSocket upgrade)")
        attempt += 1
    exchange.status = 101
    if conn.response is not None:
        exchange.response_headers = dict(conn.response.headers.raw_items())
    session = WebSocketSession(ctx, conn, exchange, start)
    try:
        yield session
    finally:
        await conn.close()
        exchange.elapsed_ms = round((time.perf_counter() - start) * 1000, 1)


# Upgrade answers that mean "no WebSocket mode here" (RFC 6455 4.2.2: a server that does not
# accept the connection "MUST return an appropriate HTTP error code").
NOT_OFFERED = (400, 403, 404, 405, 426, 501)


@asynccontextmanager
async def responses_socket(ctx: CaseContext) -> AsyncIterator[WebSocketSession]:
    """`open_socket` for cases: a gateway without WebSocket mode makes the case UNIMPLEMENTED;
    any other refusal fails it."""
    try:
        async with open_socket(ctx) as session:
            yield session
    except UpgradeRefused as refused:
        if refused.status in NOT_OFFERED:
            ctx.unimplemented(f"the gateway does not offer WebSocket mode (the upgrade of GET /responses "
                              f"was answered HTTP {refused.status})")
        ctx.check(False, "the upgrade of GET /responses is accepted or refused with a 4xx",
                  expected="101 Switching Protocols", actual=f"HTTP {refused.status}: {refused.body[:200]}")
    except ConnectionEnded as ended:
        ctx.check(False, "the connection stays open until the case is done", expected="more frames",
                  actual=str(ended))
