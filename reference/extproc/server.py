"""The Envoy External Processor gRPC server (grpc.aio) and its gRPC health service.

    handle = await serve_extproc(engine, "127.0.0.1", 10000)   # port 0: a free port
    ...
    await handle.stop(grace=2.0)

One `Process` stream is one HTTP request through Envoy; its state lives in a
`RequestProcessor` owned by the stream handler (reference/extproc/processor.py has the phase
logic). The health service answers for "" and `envoy.service.ext_proc.v3.ExternalProcessor`;
`stop()` flips both to NOT_SERVING before the server stops accepting, so health-checking load
balancers drain it first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc

import protos
from reference.auth import ApiKeys
from reference.backend import Backend
from reference.core.envoy_contract import IN_GATEWAY_ROUTE_METADATA, MAX_MODEL_CALLS
from reference.extproc.phases import Phase
from reference.extproc.processor import SSE_MODE_METADATA, RequestProcessor, SseMode
from reference.observability import logs
from reference.observability.metrics import GatewayMetrics

if TYPE_CHECKING:
    from reference.engine import Engine

log = logging.getLogger("reference.extproc")

# gRPC metadata key the Envoy config sets (grpc_service.initial_metadata) to the URL of its
# egress listener: a listener without the ext_proc filter that proxies to the model backend
# cluster. The hosted tool loop sends its model calls there, so they stay observable in Envoy
# (stats, access log, the same cluster and timeouts) and cannot loop back into this server.
BACKEND_EGRESS_METADATA = "x-gateway-backend-egress"

MAX_MESSAGE_BYTES = 256 * 1024 * 1024


class ExternalProcessor(protos.ext_proc_pb2_grpc.ExternalProcessorServicer):  # type: ignore[misc]
    def __init__(
        self,
        engine: Engine,
        *,
        chat_path: str | None = None,
        sse_mode: SseMode = "streamed",
        done_marker: bool = False,
        api_keys: ApiKeys | None = None,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self.api_keys = api_keys
        self.metrics = metrics if metrics is not None else GatewayMetrics()
        self.done_marker = done_marker
        self.engine = engine
        self.chat_path = chat_path
        self.sse_mode: SseMode = sse_mode
        # Model clients for Envoy egress listeners, by URL (one per Envoy config seen).
        self._egress: dict[str, Backend] = {}

    async def aclose(self) -> None:
        for backend in self._egress.values():
            await backend.aclose()
        self._egress.clear()

    def _egress_backend(self, url: str) -> Backend:
        backend = self._egress.get(url)
        if backend is None:
            own = self.engine.backend
            # Same API key and timeout as the engine's own client: only the address changes.
            auth = (own.authorization or "") if own is not None else ""
            backend = Backend(url, api_key=auth.removeprefix("Bearer ") or None,
                              timeout=own.timeout if own is not None else 60.0, metrics=self.metrics,
                              api=own.api if own is not None else "chat")
            self._egress[url] = backend
        return backend

    def _tool_loop_options(self, context: Any) -> tuple[Backend | None, float | None]:
        """The model client of hosted tool loops (the egress listener the Envoy config
        announces, else None: the engine's own) and the per-call timeout it uses."""
        backend: Backend | None = None
        for key, value in context.invocation_metadata() or ():
            if key == BACKEND_EGRESS_METADATA and isinstance(value, str) and value.startswith("http"):
                backend = self._egress_backend(value)
        used = backend if backend is not None else self.engine.backend
        # The loop's budget while Envoy waits: each model call may take the backend timeout (the
        # template's max_message_timeout is backend_timeout x the same MAX_MODEL_CALLS).
        return backend, (used.timeout * MAX_MODEL_CALLS if used is not None else None)

    def _sse_mode(self, context: Any) -> SseMode:
        # The Envoy config may name the streaming mode it allows (grpc_service initial_metadata);
        # otherwise the server's default.
        for key, value in context.invocation_metadata() or ():
            if key == SSE_MODE_METADATA and value in ("streamed", "full_duplex"):
                return value  # type: ignore[no-any-return]
        return self.sse_mode

    @staticmethod
    def _in_gateway_route(context: Any) -> bool:
        # The Envoy config announces its route to the gateway's HTTP server for the streams the
        # gateway runs itself (envoy_contract.IN_GATEWAY_HEADER).
        return any(key == IN_GATEWAY_ROUTE_METADATA and value == "1"
                   for key, value in context.invocation_metadata() or ())

    async def Process(self, request_iterator: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
        backend, message_timeout = self._tool_loop_options(context)
        processor = RequestProcessor(
            self.engine,
            chat_path=self.chat_path,
            sse_mode=self._sse_mode(context),
            done_marker=self.done_marker,
            backend=backend,
            message_timeout=message_timeout,
            api_keys=self.api_keys,
            in_gateway_route=self._in_gateway_route(context),
        )
        seen = _Observed(self.metrics)
        try:
            async for request in request_iterator:
                seen.received(request, processor)
                async for reply in processor.process(request):
                    seen.replied(reply, processor)
                    yield reply
        finally:
            # Shielded: when Envoy resets the stream the handler is cancelled, and the cut-off
            # response must still be recorded.
            await asyncio.shield(processor.finish())
            seen.finished(processor)


class _Observed:
    """What one Process stream records: the request id (from the request headers Envoy sends,
    into `logs.REQUEST_ID` for every log line and backend call of the stream: grpc.aio runs
    each stream in a task of its own), the messages by phase, the upstream hop Envoy makes
    (time to its response headers and to the end of its body), the active-stream gauge, and
    at the end the access-log line and the request counters."""

    __slots__ = (
        "method",
        "metrics",
        "path",
        "request_id",
        "started",
        "status",
        "streaming",
        "upstream_sent",
        "upstream_ttfb",
    )

    def __init__(self, metrics: GatewayMetrics) -> None:
        self.metrics = metrics
        self.started = time.perf_counter()
        self.method = "-"
        self.path = "-"
        self.status = 0
        self.request_id: str | None = None
        self.upstream_sent: float | None = None
        self.upstream_ttfb: float | None = None
        self.streaming = False

    def received(self, request: Any, processor: RequestProcessor) -> None:
        message = request.WhichOneof("request")
        self.metrics.extproc_message(message or "unknown")
        if message == "request_headers":
            given = None
            for header in request.request_headers.headers.headers:
                key = header.key
                if key in (":method", ":path", logs.HEADER):
                    value = header.raw_value.decode("latin-1") if header.raw_value else header.value
                    if key == ":method":
                        self.method = value
                    elif key == ":path":
                        self.path = value
                    else:
                        given = value
            self.request_id = logs.request_id_for(given)
            logs.REQUEST_ID.set(self.request_id)
        elif message == "response_headers":
            for header in request.response_headers.headers.headers:
                if header.key == ":status":
                    value = header.raw_value.decode("latin-1") if header.raw_value else header.value
                    self.status = int(value) if value.isdigit() else self.status
                    break
            if self.upstream_sent is not None:
                self.upstream_ttfb = time.perf_counter() - self.upstream_sent
        elif message == "response_body" and request.response_body.end_of_stream:
            self._upstream_done(processor)

    def replied(self, reply: Any, processor: RequestProcessor) -> None:
        kind = reply.WhichOneof("response")
        if kind == "immediate_response":
            self.status = reply.immediate_response.status.code or self.status
        elif kind == "request_body" and processor.phase is Phase.UPSTREAM and self.upstream_sent is None:
            # The rewritten chat request is on its way to the model server.
            self.upstream_sent = time.perf_counter()
        if not self.streaming and processor.prepared is not None and processor.prepared.stream:
            self.streaming = True
            self.metrics.stream_opened("extproc")

    def _upstream_done(self, processor: RequestProcessor) -> None:
        if self.upstream_sent is None:
            return
        stream = processor.prepared is not None and processor.prepared.stream
        self.metrics.backend_call("chat_stream" if stream else "chat", "envoy", self.upstream_ttfb,
                                  time.perf_counter() - self.upstream_sent)
        self.upstream_sent = None

    def finished(self, processor: RequestProcessor) -> None:
        if self.streaming:
            self.metrics.stream_closed("extproc")
        self._upstream_done(processor)
        if self.status == 0 and processor.phase in (Phase.RUN_IN_GATEWAY, Phase.DONE):
            # A streamed immediate response (hosted tools, full-duplex) always starts with 200.
            self.status = 200
        seconds = time.perf_counter() - self.started
        self.metrics.extproc_request(self.status, seconds)
        logs.log_access(self.method, self.path, self.status, seconds, self.request_id or "-", via="extproc")


@dataclass
class ExtProcHandle:
    server: grpc.aio.Server
    health: Any
    host: str
    port: int
    servicer: ExternalProcessor | None = None

    async def stop(self, grace: float | None = 2.0) -> None:
        """Health NOT_SERVING first, then stop accepting and let running streams end."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        if self.servicer is not None:
            await self.servicer.aclose()


async def serve_extproc(
    engine: Engine,
    host: str,
    port: int,
    *,
    chat_path: str | None = None,
    sse_mode: SseMode = "streamed",
    done_marker: bool = False,
    api_keys: ApiKeys | None = None,
    metrics: GatewayMetrics | None = None,
) -> ExtProcHandle:
    """Start the ext_proc server (plus gRPC health) on host:port; port 0 picks a free one."""
    # gRPC's default 4 MiB message cap is below Envoy's body buffer limit (8 MiB by default):
    # a large request body arrives as one message, so lift the cap well above it.
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            # gRPC sets SO_REUSEPORT by default: a second gateway on this port would then share
            # it, each getting some of Envoy's streams. A port in use must fail to bind instead.
            ("grpc.so_reuseport", 0),
        ]
    )
    servicer = ExternalProcessor(engine, chat_path=chat_path, sse_mode=sse_mode, done_marker=done_marker,
                                 api_keys=api_keys, metrics=metrics)
    protos.ext_proc_pb2_grpc.add_ExternalProcessorServicer_to_server(servicer, server)
    health = protos.HealthServicer()
    protos.health_pb2_grpc.add_HealthServicer_to_server(health, server)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as exc:  # grpcio's "Failed to bind to address ..."
        raise OSError(f"ext_proc: cannot listen on {address}: is the port in use?") from exc
    if bound == 0:
        raise OSError(f"ext_proc: cannot listen on {address}")
    await server.start()
    for service in ("", protos.EXT_PROC_SERVICE):
        await health.set(service, protos.health_pb2.HealthCheckResponse.SERVING)
    log.info("ext_proc gRPC listening on %s:%d", host, bound)
    return ExtProcHandle(server=server, health=health, host=host, port=bound, servicer=servicer)
