"""The gateway's Prometheus metrics, one registry per gateway (tests build many gateways in one
process; a global registry would refuse the second).

Cost per request matters (the hot path is a few milliseconds of CPU): labelled children are
resolved once and cached in dicts keyed by the label values, so a request pays a dict lookup
and an `inc` / `observe` per series, never prometheus_client's label validation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

# The `_created` series (a timestamp per labelled child) double the exposition and no dashboard
# reads them.
disable_created_metrics()

PREFIX = "responses_gateway"

# Seconds. Gateway work spans ~1 ms (a stored GET) to minutes (a long generation).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                   60.0, 120.0)
# Store calls are sub-millisecond to tens of milliseconds.
STORE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class GatewayMetrics:
    """Every series the gateway exports; `render()` is the body of `GET /metrics`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        r = self.registry
        self.http_requests = Counter(
            f"{PREFIX}_http_requests", "HTTP requests answered by the gateway's HTTP server, by route "
            "template, method and status", ("route", "method", "status"), registry=r)
        self.http_duration = Histogram(
            f"{PREFIX}_http_request_duration_seconds", "Time from the request's arrival to the last "
            "byte of its answer (a stream's whole duration), by route template", ("route",),
            buckets=LATENCY_BUCKETS, registry=r)
        self.extproc_requests = Counter(
            f"{PREFIX}_extproc_requests", "HTTP requests seen through Envoy's ext_proc filter (one "
            "gRPC Process stream each), by the status the client got", ("status",), registry=r)
        self.extproc_duration = Histogram(
            f"{PREFIX}_extproc_request_duration_seconds", "Duration of one ext_proc Process stream "
            "(the request's whole life in Envoy)", buckets=LATENCY_BUCKETS, registry=r)
        self.extproc_messages = Counter(
            f"{PREFIX}_extproc_messages", "ext_proc ProcessingRequest messages received, by phase "
            "(request_headers, request_body, response_headers, response_body, trailers)",
            ("phase",), registry=r)
        self.backend_duration = Histogram(
            f"{PREFIX}_backend_request_duration_seconds", "Model backend calls: time to the whole "
            "answer, by operation (chat, chat_stream, embeddings, models) and path (direct: the "
            "gateway's own client; envoy: the request Envoy sent upstream)", ("operation", "path"),
            buckets=LATENCY_BUCKETS, registry=r)
        self.backend_ttfb = Histogram(
            f"{PREFIX}_backend_time_to_first_byte_seconds", "Streamed model backend answers: time "
            "to the first chunk (direct) or to the response headers (envoy)", ("operation", "path"),
            buckets=LATENCY_BUCKETS, registry=r)
        self.tokens = Counter(
            f"{PREFIX}_tokens", "Tokens of finished responses as the backend counted them (usage), "
            "by direction (in: input_tokens, out: output_tokens)", ("direction",), registry=r)
        self.active_streams = Gauge(
            f"{PREFIX}_active_streams", "Event streams being sent right now, by path (http, "
            "extproc)", ("path",), registry=r)
        self.store_duration = Histogram(
            f"{PREFIX}_store_operation_duration_seconds", "Store calls on the store thread, queueing "
            "included, by operation", ("operation",), buckets=STORE_BUCKETS, registry=r)
        self._children: dict[tuple[Any, ...], Any] = {}
        self._tokens_in = self.tokens.labels("in")
        self._tokens_out = self.tokens.labels("out")

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    # --- recording -----------------------------------------------------------------------------

    def http_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self._child(self.http_requests, route, method, str(status)).inc()
        self._child(self.http_duration, route).observe(seconds)

    def extproc_request(self, status: int, seconds: float) -> None:
        self._child(self.extproc_requests, str(status)).inc()
        self.extproc_duration.observe(seconds)

    def extproc_message(self, phase: str) -> None:
        self._child(self.extproc_messages, phase).inc()

    def backend_call(self, operation: str, path: str, ttfb: float | None, seconds: float) -> None:
        if ttfb is not None:
            self._child(self.backend_ttfb, operation, path).observe(ttfb)
        self._child(self.backend_duration, operation, path).observe(seconds)

    def stream_opened(self, path: str) -> None:
        self._child(self.active_streams, path).inc()

    def stream_closed(self, path: str) -> None:
        self._child(self.active_streams, path).dec()

    def usage(self, usage: Mapping[str, Any] | None) -> None:
        """Count a finished response's `usage` (absent or malformed usage counts nothing)."""
        if not isinstance(usage, Mapping):
            return
        tokens_in, tokens_out = usage.get("input_tokens"), usage.get("output_tokens")
        if isinstance(tokens_in, int) and tokens_in > 0:
            self._tokens_in.inc(tokens_in)
        if isinstance(tokens_out, int) and tokens_out > 0:
            self._tokens_out.inc(tokens_out)

    def store_call(self, operation: str, seconds: float) -> None:
        self._child(self.store_duration, operation).observe(seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition of every series (`CONTENT_TYPE`)."""
        return generate_latest(self.registry)
