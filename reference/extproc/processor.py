"""The ext_proc phase logic for one HTTP request (one gRPC `Process` stream), without the network.

Envoy's ext_proc filter sends one `ProcessingRequest` per phase of the HTTP request and waits
for the matching `ProcessingResponse`. `RequestProcessor.handle()` takes one request message and
returns the replies; `finish()` runs when the stream ends. Tests feed messages directly.

The filter chain (envoy/templates/gateway.yaml) routes `POST /v1/responses` to the model
backend with ext_proc in front of it:

request body (BUFFERED)
    `Engine.prepare` validates the Responses request and builds the Chat Completions request.
    Invalid -> `ImmediateResponse` with the OpenAI error and the direct path's status. Valid ->
    the body is replaced by the chat request, `:path` becomes the backend's chat path and
    `content-length` is set to the new length (a stale one makes Envoy answer an empty 500).
response headers
    2xx `text/event-stream` for a streaming request: switch the response body to STREAMED (or
    FULL_DUPLEX_STREAMED) with `mode_override`, so events go out as chunks arrive. Anything
    else stays BUFFERED.
response body
    JSON: `Engine.complete` + `Engine.finalize` (stored), replaced body with the gateway's ids and
    a correct content-length. SSE: each backend chunk is decoded and rewritten into Responses
    events as it passes; the response is stored when the stream ends. Backend errors become the
    same OpenAI errors the direct path gives (4xx passed on, 5xx -> 502, garbage -> 502; for
    `stream: true` a 200 event stream ending in `response.failed`, exactly like the direct path).

Per-request state lives in this object, owned by the gRPC stream handler: nothing about the
conversation is put in headers sent upstream. Where the exchange is is one `Phase`, changed only
through the transition table of reference/extproc/phases.py; every reply is built by
reference/extproc/replies.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import protos
from reference.auth import ApiKeys, tenant_for
from reference.core import errors, sse, upstream
from reference.core.envoy_contract import IN_GATEWAY_HEADER, LOCAL_REPLY_HEADER
from reference.core.errors import APIError
from reference.core.serialization import dump_bytes
from reference.core.streaming import StreamTranslator
from reference.extproc import replies
from reference.extproc.phases import Event, Phase, PhaseError, advance
from reference.store.tenancy import current_tenant

if TYPE_CHECKING:
    from reference.backend import Backend
    from reference.engine import Engine, Prepared

log = logging.getLogger("reference.extproc")

PM = protos.ProcessingMode

# gRPC metadata key the Envoy config sets (grpc_service.initial_metadata) to choose the streaming
# body mode the servicer switches SSE responses to: "streamed" (default) or "full_duplex".
SSE_MODE_METADATA = "x-gateway-sse-mode"

SseMode = Literal["streamed", "full_duplex"]


def chat_path_for(engine: Engine) -> str:
    """The backend's chat completions path (`/v1/chat/completions` unless the backend URL says
    otherwise), for the `:path` header mutation."""
    backend = getattr(engine, "backend", None)
    url = getattr(backend, "url", None)
    if isinstance(url, str) and url:
        path = urlsplit(url).path
        if path:
            return path
    return "/v1/chat/completions"


def tenant_error_without_headers() -> APIError:
    return APIError(401, "API keys are required, but the processor never saw the request headers "
                    "(the Envoy filter must send them: request_header_mode SEND).",
                    errors.INVALID_REQUEST, None, "invalid_api_key")


def _internal_error() -> APIError:
    return APIError(500, "The gateway failed to process the request.", errors.SERVER_ERROR, None,
                    "internal_error")


def is_create_request(headers: dict[str, str]) -> bool:
    """Whether the request is `POST .../responses` (what this processor translates). A WebSocket
    upgrade of `GET /v1/responses` reaches an ext_proc filter only as these headers (never its
    frames), and `/v1/responses/compact` or `/input_tokens` are not create requests: a deployment
    that routes them through the filter gets them passed through untouched."""
    method = headers.get(":method", "POST").upper()
    path = headers.get(":path", "/v1/responses").split("?", 1)[0].rstrip("/")
    return method == "POST" and path.endswith("/responses") and "upgrade" not in headers


@dataclass
class _Response:
    status: int
    content_type: str
    local_reply: str | None


class RequestProcessor:
    """The state and logic of one ext_proc stream (= one HTTP request through Envoy)."""

    def __init__(
        self,
        engine: Engine,
        *,
        chat_path: str | None = None,
        sse_mode: SseMode = "streamed",
        done_marker: bool = False,
        backend: Backend | None = None,
        message_timeout: float | None = None,
        authorization: str | None = None,
        api_keys: ApiKeys | None = None,
        in_gateway_route: bool = False,
    ) -> None:
        self.engine = engine
        # The Envoy config has a route that sends requests carrying IN_GATEWAY_HEADER to the
        # gateway's own HTTP server (announced with gRPC metadata): a `stream: true` request the
        # gateway runs itself goes there and streams as it happens, instead of leaving this
        # server as one immediate response at the end.
        self.in_gateway_route = in_gateway_route
        # With API keys the client's key is checked on its request headers (401 otherwise) and
        # its tenant scopes every store call of this stream (reference.store.tenancy).
        self.api_keys = api_keys
        self.tenant: str | None = None
        # The gateway's credentials for the model server (the engine backend's, unless given):
        # set on the request Envoy sends upstream in place of whatever the client sent.
        own = getattr(engine, "backend", None)
        self.authorization = authorization or getattr(own, "authorization", None)
        # The client's request headers (request headers SEND), cut down before going upstream.
        self.client_headers: dict[str, str] = {}
        # The hosted tool loop's model calls: through Envoy's egress listener when the config
        # announces one (the server passes that client), else the engine's own backend client.
        self.backend = backend
        # A hosted-tool request keeps Envoy waiting for the reply to its request body while this
        # server runs several model calls: once it knows the request is one, the servicer
        # restarts Envoy's message timer with `override_message_timeout` set to this (seconds).
        # Measured on Envoy 1.40: only the first override per message counts ("not the 1st such
        # message" is ignored) and one above the filter's max_message_timeout is ignored, so
        # this is the whole loop's budget (the server passes backend timeout x MAX_MODEL_CALLS,
        # the template's max_message_timeout).
        self.message_timeout = message_timeout
        # Open Responses ends streams with `data: [DONE]`; OpenAI does not (GatewayConfig.profile).
        self._events = sse.EventStreamEncoder(done_marker=done_marker)
        self.chat_path = chat_path or chat_path_for(engine)
        # What the model backend speaks (reference/core/upstream.py): the body Envoy sends
        # upstream and the answer it brings back are converted at this hop only.
        api = getattr(getattr(engine, "backend", None), "api", "chat")
        self.backend_api: upstream.BackendApi = "responses" if api == "responses" else "chat"
        self.sse_mode: SseMode = sse_mode
        # The response body mode Envoy is in: what the filter config says (protocol_config,
        # sent with the first message) until a mode_override switches it.
        self.response_body_mode: int = PM.BUFFERED
        # The request body mode (protocol_config). FULL_DUPLEX_STREAMED (render(request_mode=
        # "full_duplex")): the reply to the request headers is held until the body is in, because
        # Envoy 1.40 takes a streamed immediate response (a hosted-tool request's live event
        # stream) only in that mode and only while it still waits for that reply.
        self.request_body_mode: int = PM.BUFFERED
        self.phase = Phase.REQUEST
        # What the phases learn: the validated request, the upstream's status line, the stream
        # being translated, and whether the response was stored (a store=false one never is).
        self.prepared: Prepared | None = None
        self.response: _Response | None = None
        self.translator: StreamTranslator | None = None
        self.decoder: sse.ChatStreamDecoder | upstream.ResponsesStreamDecoder | None = None
        self.stored = False
        self._body_pieces = b""

    def _advance(self, event: Event) -> None:
        self.phase = advance(self.phase, event)

    # --- dispatch ------------------------------------------------------------------------------

    async def handle(self, request: Any) -> list[Any]:
        """Replies to one ProcessingRequest (usually exactly one; none for a held full-duplex chunk)."""
        if request.HasField("protocol_config"):
            mode = request.protocol_config.response_body_mode
            if mode != PM.NONE:
                self.response_body_mode = mode
            self.request_body_mode = request.protocol_config.request_body_mode
        message = request.WhichOneof("request")
        if self.phase is Phase.PASS_THROUGH:
            return replies.passed_through(message)
        try:
            if message == "request_headers":
                return self._request_headers(request.request_headers)
            if message == "request_body":
                # Empty for a held full-duplex chunk or a hosted-tool request (`process` runs its
                # loop and sends the answer).
                return await self._request_body(request.request_body)
            if message == "request_trailers":
                return [replies.request_trailers()]
            if message == "response_headers":
                return [await self._response_headers(request.response_headers)]
            if message == "response_body":
                return await self._response_body(request.response_body)
            if message == "response_trailers":
                return [replies.response_trailers()]
        except APIError as err:
            return [await self._fail_reply(err)]
        except PhaseError as exc:
            log.error("%s", exc)
            return [await self._fail_reply(_internal_error())]
        except Exception:
            log.exception("ext_proc message %s failed in phase %s", message, self.phase.value)
            return [await self._fail_reply(_internal_error())]
        log.warning("ignoring ext_proc message without a known phase: %s", message)
        return []

    async def process(self, request: Any) -> AsyncIterator[Any]:
        """Replies to one ProcessingRequest as they become ready: `handle`'s, then, when the
        request body turned out to be one the gateway runs itself (hosted tools, a background
        stream), the replies of that run."""
        for reply in await self.handle(request):
            yield reply
        if self.phase in (Phase.RUN_IN_GATEWAY, Phase.RUN_IN_GATEWAY_HEADERS_HELD):
            async for reply in self._run_in_gateway_replies():
                yield reply

    async def _finalize(self, response: dict[str, Any]) -> str:
        """Store the finished response (Engine.finalize) and note that it is."""
        assert self.prepared is not None
        text = await self.engine.finalize(self.prepared, response)
        self.stored = self.prepared.store
        return text

    async def _fail_reply(self, err: APIError) -> Any:
        """An error answer for whatever phase we are in."""
        if self.phase in (Phase.STREAMING, Phase.STREAM_ENDED):
            # Mid-stream the status line is gone: end the event stream with response.failed.
            assert self.translator is not None
            events = await self._terminate(self.translator.fail(err)) if self.phase is Phase.STREAMING else []
            return replies.response_body_chunk(
                self._events.encode(events), body_mode=self.response_body_mode, end=True)
        self._advance(Event.FAILED)
        if self.prepared is not None and self.prepared.stream and self.response is not None:
            return await self._stream_failure_reply(err)
        return replies.error(err)

    # --- request phases ------------------------------------------------------------------------

    def _request_headers(self, message: Any) -> list[Any]:
        # Request headers SEND (the template's default): the client's headers are cut down to
        # the allow-list and carry the gateway's credentials. With a BUFFERED body Envoy holds
        # the headers until the body reply, so the router connects upstream only after the
        # verdict on the request.
        headers = replies.headers_of(message)
        if self.api_keys is not None:
            self.tenant = tenant_for(headers.get("authorization"), self.api_keys)
            current_tenant.set(self.tenant)
        if not is_create_request(headers):
            # Not ours to translate (a WebSocket upgrade, /v1/responses/compact, ...): every
            # phase of this request passes through unchanged.
            self._advance(Event.FOREIGN_REQUEST)
            return replies.passed_through("request_headers")
        if IN_GATEWAY_HEADER in headers:
            # The header that routes a request to the gateway's HTTP server is the servicer's to
            # set: a client sending it would have Envoy pick that route before any verdict.
            raise APIError(400, f"The request header {IN_GATEWAY_HEADER!r} is reserved for the gateway.",
                           errors.INVALID_REQUEST, None, "reserved_header")
        held = self.request_body_mode == PM.FULL_DUPLEX_STREAMED and not message.end_of_stream
        self._advance(Event.REQUEST_HEADERS_HELD if held else Event.REQUEST_HEADERS)
        self.client_headers = headers
        if held:
            return []
        return [replies.request_headers(self.chat_path, self.client_headers, self.authorization)]

    async def _request_body(self, body: Any) -> list[Any]:
        if self.api_keys is not None and self.tenant is None:
            # Keys are checked on the request headers; a filter config that skips them cannot
            # be allowed to let requests through unauthenticated (answered by `_fail_reply`).
            raise tenant_error_without_headers()
        if not body.end_of_stream:
            # Only BUFFERED request bodies are meaningful; tolerate a processor config that
            # streams the request by holding the pieces (Envoy then needs end_of_stream).
            self._advance(Event.REQUEST_BODY_PIECE)
            self._body_pieces += body.body
            if self.request_body_mode == PM.FULL_DUPLEX_STREAMED:
                return []  # full duplex: replies need not match chunks
            return [replies.request_body_held()]
        data, self._body_pieces = self._body_pieces + body.body, b""
        prepared = await self.engine.prepare(data)
        if prepared.background and not prepared.stream:
            # A background response runs in the gateway (the client does not wait for the
            # backend): answer with the queued response right away.
            self._advance(Event.BACKGROUND_REQUEST)
            self.prepared = prepared
            text = await self.engine.create(prepared)
            return [replies.immediate(200, text.encode(), details="gateway_background")]
        if (prepared.tool_loop or prepared.background) and prepared.stream and self.in_gateway_route \
                and self.phase is Phase.REQUEST:
            # A stream the gateway runs itself (several model calls, or a background stream):
            # Envoy 1.40 takes no streamed immediate response after a BUFFERED request body, so
            # the request goes, unchanged, to the gateway's own HTTP server, which streams it as
            # it happens. Decided here, while Envoy still holds the request headers: the router
            # connects only to that server, after the verdict on the request.
            self._advance(Event.HAND_TO_HTTP_SERVER)
            self.prepared = prepared
            return [replies.request_to_http_server(IN_GATEWAY_HEADER, self.client_headers,
                                                   self.authorization)]
        if prepared.tool_loop or prepared.background:
            # Several model calls, which Envoy's one upstream request cannot carry: the loop
            # runs here (`process` -> `_run_in_gateway_replies`) and answers with an immediate
            # response. A background stream runs in the gateway as well (it must outlive the
            # client's connection and be cancellable), so the servicer answers it the same way.
            self._advance(Event.RUN_IN_GATEWAY)
            self.prepared = prepared
            return []
        headers_held = self.phase is Phase.REQUEST_HEADERS_HELD
        self._advance(Event.CHAT_REQUEST)
        self.prepared = prepared
        chat = dump_bytes(upstream.request_body(self.backend_api, prepared.chat_request))
        if headers_held:
            return replies.request_replaced_full_duplex(chat, self.chat_path, self.client_headers,
                                                        self.authorization)
        return [replies.request_body_replaced(chat, self.chat_path, self.client_headers, self.authorization)]

    # --- response phases -----------------------------------------------------------------------

    async def _response_headers(self, message: Any) -> Any:
        headers = replies.headers_of(message)
        try:
            status = int(headers.get(":status", "0"))
        except ValueError:
            status = 0
        seen = _Response(status, headers.get("content-type", "").lower(), headers.get(LOCAL_REPLY_HEADER))
        if seen.local_reply is not None:
            # Envoy's own reply (backend unreachable or timed out, body too large): already an
            # OpenAI error with the direct path's status. Measured on Envoy 1.40: the filter
            # ignores every change to a router local reply (ImmediateResponse, header and body
            # mutations alike), so it passes as it is, also for `stream: true` requests, which
            # get this JSON error instead of the direct path's 200 stream ending in
            # response.failed.
            self._advance(Event.LOCAL_REPLY)
            self.response = seen
            return replies.response_headers_unchanged()
        if self.phase is Phase.IN_GATEWAY_HTTP:
            # The gateway's HTTP server answered the request handed to it: already the direct
            # path's answer (JSON, error or a live event stream), passed as it comes.
            self._advance(Event.HTTP_SERVER_RESPONSE)
            self.response = seen
            return replies.response_headers_body_not_processed()
        if self.phase in (Phase.REQUEST, Phase.REQUEST_HEADERS_HELD):
            # No request body reached us (an empty POST): the request never was a valid
            # Responses request, whatever the upstream answered.
            self._advance(Event.RESPONSE_WITHOUT_REQUEST)
            self.response = seen
            try:
                await self.engine.prepare(b"")
            except APIError as err:
                return replies.error(err)
            return replies.error(errors.invalid_request("The request body is empty."))
        prepared = self.prepared
        ok = 200 <= status < 300
        if ok and prepared is not None and prepared.stream:
            # Like the direct path's backend client, a 2xx answer to a streaming request is read
            # as an event stream whatever its content-type (garbage then fails it with 502).
            self._advance(Event.STREAM_RESPONSE)
            self.response = seen
            # StreamTranslator deep-copies its skeleton itself: no second copy on the hot path.
            self.translator = StreamTranslator(prepared.response)
            self.decoder = upstream.stream_decoder(self.backend_api)
            reply, self.response_body_mode = replies.response_headers_event_stream(
                self.response_body_mode, self.sse_mode)
            return reply
        self._advance(Event.JSON_RESPONSE if ok else Event.ERROR_RESPONSE)
        self.response = seen
        if self.response_body_mode != PM.BUFFERED:
            # The body must be seen whole before the status can be decided; only the BUFFERED
            # mode lets the body reply still change headers.
            raise APIError(
                500,
                "ext_proc must buffer non-streaming response bodies (response_body_mode BUFFERED).",
                errors.SERVER_ERROR,
                None,
                "gateway_misconfigured",
            )
        return replies.response_headers_unchanged()

    async def _response_body(self, body: Any) -> list[Any]:
        before = self.phase
        self._advance(Event.RESPONSE_BODY)
        if before in (Phase.STREAMING, Phase.STREAM_ENDED):
            return await self._sse_chunk(body.body, body.end_of_stream)
        if before is Phase.DONE:
            return [replies.response_body_unchanged()]
        assert self.prepared is not None and self.response is not None
        if before is Phase.JSON_BODY:
            # Same checks and messages as reference.backend.Backend.chat (direct path parity).
            chat_json = upstream.parse_answer(self.backend_api, body.body)
            try:
                response = self.engine.complete(self.prepared, chat_json)
            except APIError:
                raise
            except (KeyError, TypeError, ValueError, IndexError) as exc:
                raise errors.backend_bad_response(f"unexpected chat completion shape ({exc})") from exc
            return [replies.response_body_json((await self._finalize(response)).encode())]
        # ERROR_BODY, a backend error: the direct path's error.
        err = errors.from_backend_http(self.response.status, body.body)
        if self.prepared.stream:
            return [await self._stream_failure_reply(err)]
        return [replies.error(err)]

    async def _stream_failure_reply(self, err: APIError) -> Any:
        """stream=true and the backend failed before streaming: like the direct path, a 200
        event stream `response.created`, `response.in_progress`, `response.failed` (stored)."""
        assert self.prepared is not None
        translator = StreamTranslator(self.prepared.response)
        events = translator.fail(err)
        await self._finalize(translator.response)
        return replies.immediate(
            200, self._events.encode(events), "text/event-stream", details="gateway_stream_failed")

    # --- streaming -----------------------------------------------------------------------------

    async def _sse_chunk(self, data: bytes, end_of_stream: bool) -> list[Any]:
        translator, decoder = self.translator, self.decoder
        assert translator is not None and decoder is not None
        events: list[dict[str, Any]] = []
        if self.phase is Phase.STREAMING:
            if not translator.started:
                events.extend(translator.start())
            try:
                for item in decoder.feed(data) + (decoder.close() if end_of_stream else []):
                    if item is sse.DONE:
                        events.extend(await self._terminate(translator.finish()))
                        break
                    assert isinstance(item, dict)
                    events.extend(translator.feed(item))
                if end_of_stream and self.phase is Phase.STREAMING:
                    raise errors.backend_bad_response(
                        f"the event stream ended without {upstream.stream_end(self.backend_api)}")
            except APIError as err:
                events.extend(await self._terminate(translator.fail(err)))
        # After the terminal event (STREAM_ENDED) anything the backend still sends is dropped.
        return [replies.response_body_chunk(self._events.encode(events), body_mode=self.response_body_mode,
                                            end=end_of_stream)]

    async def _terminate(self, final_events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # Store before the terminal event goes out: a client that GETs the response as soon as
        # it sees response.completed must find it (same order as Engine.stream).
        assert self.translator is not None
        self._advance(Event.STREAM_TERMINATED)
        await self._finalize(self.translator.response)
        return final_events

    # --- run in the gateway: hosted tool loop, background stream --------------------------------

    def _model_backend(self) -> Backend:
        backend = self.backend if self.backend is not None else self.engine.backend
        if backend is None:
            raise APIError(500, "This gateway has no model backend configured.", errors.SERVER_ERROR)
        return backend

    async def _run_in_gateway_replies(self) -> AsyncIterator[Any]:
        """Run the hosted tool loop (or the background stream) of the request, while Envoy waits
        for the reply to its request body, and yield the replies: the timer extension first, then
        the answer as one ImmediateResponse, or (full-duplex request body, `stream: true`) as a
        streamed immediate response: its headers, then one body chunk per event. (A stream whose
        config announces the in-gateway route never gets here: it is handed to the HTTP server.)

        The loop runs as a task feeding a queue, so replies go out as soon as they are ready. If
        Envoy gives up on the stream (client gone, timeout) this generator is closed and the task
        cancelled.
        """
        # Envoy 1.40 takes a streamed immediate response only while it still waits for the
        # reply to the request headers.
        live = self.phase is Phase.RUN_IN_GATEWAY_HEADERS_HELD
        self._advance(Event.RUN_STARTED)
        timer = replies.message_timeout(self.message_timeout)
        if timer is not None:
            yield timer
        queue: asyncio.Queue[Any] = asyncio.Queue()
        task = asyncio.create_task(self._run_in_gateway(queue.put_nowait, live=live))
        task.add_done_callback(lambda _t: queue.put_nowait(None))
        try:
            while (reply := await queue.get()) is not None:
                yield reply
            await task
        finally:
            if not task.done():
                task.cancel()
                await asyncio.wait([task])

    async def _run_in_gateway(self, send: Callable[[Any], None], *, live: bool) -> None:
        prepared = self.prepared
        assert prepared is not None
        headers_sent = False
        try:
            backend = self._model_backend()
            if not prepared.stream:
                # A model failure raises its APIError and nothing is stored (Engine.create's rule).
                response = await self.engine.run_tool_loop(prepared, backend.chat)
                text = await self._finalize(response)
                send(replies.immediate(200, text.encode(), details="gateway_tool_loop"))
                return

            # Same events in the same order as the direct path; a model failure ends the stream
            # with response.failed (stored before that event). A background stream is the
            # engine's own task: it completes and is stored even if Envoy gives up on us.
            events: AsyncIterator[dict[str, Any]]
            if prepared.background:
                events = self.engine.stream(prepared)
            else:
                events = self.engine.stream_tool_loop(prepared, backend.stream_chat)
            if live:
                # Full-duplex request body: Envoy takes a streamed immediate response, so each
                # event goes out as the loop produces it (the direct path's incremental delivery).
                send(replies.streamed_immediate_headers(200, "text/event-stream"))
                headers_sent = True
                async for event in events:
                    terminal = event["type"] in sse.TERMINAL_EVENTS
                    send(replies.streamed_immediate_body(self._events.encode([event]), end=terminal))
                self.stored = prepared.store
                return
            # BUFFERED request body without the in-gateway route (an Envoy config other than
            # ours): Envoy 1.40 rejects a streamed immediate response there, so the whole event
            # stream goes out as one ImmediateResponse once the loop ended (envoy/README.md).
            collected = [event async for event in events]
            self.stored = prepared.store
            send(replies.immediate(200, self._events.encode(collected), "text/event-stream",
                                   details="gateway_tool_loop"))
        except APIError as err:
            if headers_sent:
                # Cannot happen (the loop's stream ends failed instead of raising); end the body.
                send(replies.streamed_immediate_body(b"", end=True))
            else:
                send(replies.error(err))
        except Exception:
            log.exception("hosted tool loop of %s failed", prepared.id)
            if headers_sent:
                send(replies.streamed_immediate_body(b"", end=True))
            else:
                send(replies.error(_internal_error()))

    # --- end of stream -------------------------------------------------------------------------

    async def finish(self) -> None:
        """The gRPC stream ended. A streaming response cut off before its terminal event (the
        backend dropped the connection: Envoy resets the client's stream and closes ours) is
        stored as failed, so a later GET does not show it in progress forever."""
        if self.phase is not Phase.STREAMING:
            return
        assert self.translator is not None
        self._advance(Event.STREAM_TERMINATED)
        # Envoy closes our stream the same way whether the client went away or the backend
        # connection was reset, so the record says that, blaming neither side.
        self.translator.fail(APIError(
            502, "The stream was cut off before it ended: the client disconnected or the "
            "connection to the model backend was reset.", errors.SERVER_ERROR, None,
            "stream_interrupted"))
        try:
            await self._finalize(self.translator.response)
        except Exception:
            log.exception("storing the failed response %s", self.prepared.id if self.prepared else "?")
