"""WebSocket mode: `GET /v1/responses` upgraded (reference/core/websocket.py has the rules).

Each `response.create` message runs like a `stream: true` create (`Engine.prepare` +
`Engine.stream`: same events, order and `sequence_number` as SSE, hosted tools included), one at a
time: the next message is read only after the previous response's terminal event went out, so
responses on one connection never interleave. Errors are `error` envelopes with `status` and
`error.code`; the connection stays open after them. The connection ends with
`websocket_connection_limit_reached` after `app.config["WEBSOCKET_MAX_SECONDS"]` (60 minutes).

The contract (Open Responses "WebSocket Transport"; OpenAI `ResponsesClientEvent` /
`ResponsesServerEvent` / `ResponseWsError`):
- `GET /v1/responses` with `Upgrade: websocket`. Each message must be `{"type":
  "response.create", ...create body}` (optional `stream_id`, echoed on every event of that
  response); `stream`, `stream_options` and `background` are 400s. The response is stored unless
  `store: false`.
- One response at a time: messages sent while a response runs wait in order; lanes are not run
  concurrently.
- Connection-local state: the latest completed/incomplete response of the socket (its whole chain
  of items), so a `store: false` response can be continued with `previous_response_id` on the same
  socket (`Engine.prepare(body, history=...)`); other ids come from the store. A continuation that
  fails (an error event or `response.failed`) evicts the id it continued from.
- Failures: `{"type": "error", "status", "error": {"message", "type", "param", "code"}}` (+
  `stream_id`); the socket stays open. After `app.config["WEBSOCKET_MAX_SECONDS"]` (3600) the
  gateway sends `websocket_connection_limit_reached` (status 400) and closes with 1000.
- An upgrade of any other path is answered with the route's honest HTTP error (404/405 JSON),
  never a 500. Through Envoy the upgrade has its own route to the HTTP server (ext_proc never sees
  frames, `envoy/README.md`), and the ext_proc server passes it through untouched
  (`reference.extproc.processor.is_create_request`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from quart import Blueprint, current_app, websocket

from reference.core import errors
from reference.core import websocket as ws
from reference.core.errors import APIError
from reference.engine import Engine

log = logging.getLogger("reference.http.websocket")

bp = Blueprint("responses_websocket", __name__, url_prefix="/v1")


async def _send(event: dict[str, Any]) -> None:
    await websocket.send(json.dumps(event, ensure_ascii=False, separators=(",", ":")))


async def _run_create(engine: Engine, state: ws.ConnectionState, data: str | bytes) -> None:
    stream_id: str | None = None
    previous: str | None = None
    try:
        create = ws.parse_client_message(data)
        stream_id = create.stream_id
        previous = create.body.get("previous_response_id")
        if not isinstance(previous, str):
            previous = None
        prepared = await engine.prepare(create.body, history=state.history_for(previous))
    except APIError as err:
        state.evict(previous)
        await _send(ws.error_event(err, stream_id))
        return
    final: dict[str, Any] | None = None
    async for event in engine.stream(prepared):
        if stream_id is not None:
            event = {**event, "stream_id": stream_id}
        if event.get("type") in ws.TERMINAL:
            final = event.get("response")
        await _send(event)
    if isinstance(final, dict) and final.get("status") in ("completed", "incomplete"):
        state.remember(prepared.id, [*prepared.history, *prepared.input_items, *(final.get("output") or [])])
    else:
        state.evict(previous)


@bp.websocket("/responses")
async def responses_socket() -> None:
    engine: Engine = current_app.extensions["responses_engine"]
    limit = float(current_app.config.get("WEBSOCKET_MAX_SECONDS") or ws.MAX_CONNECTION_SECONDS)
    deadline = time.monotonic() + limit
    state = ws.ConnectionState()
    await websocket.accept()
    while True:
        remaining = deadline - time.monotonic()
        try:
            if remaining <= 0:
                raise TimeoutError
            data = await asyncio.wait_for(websocket.receive(), timeout=remaining)
        except TimeoutError:
            await _send(ws.error_event(ws.connection_limit_error()))
            await websocket.close(1000, "connection time limit reached")
            return
        try:
            await _run_create(engine, state, data)
        except asyncio.CancelledError:
            raise
        except Exception:  # the socket stays usable: the client gets an error, the log the details
            log.exception("WebSocket response.create failed")
            await _send(ws.error_event(APIError(
                500, "The server had an error while processing your request.", errors.SERVER_ERROR,
                None, "internal_error")))
