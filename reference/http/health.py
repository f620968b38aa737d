"""`GET /health`: liveness for load balancers, Envoy health checks and the launcher.
`GET /metrics`: the gateway's Prometheus metrics (reference.observability.metrics)."""

from __future__ import annotations

from quart import Blueprint, Response

from reference.http import context
from reference.observability.metrics import CONTENT_TYPE

bp = Blueprint("health", __name__)


@bp.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@bp.get("/metrics")
async def metrics() -> Response:
    return Response(context.metrics().render(), content_type=CONTENT_TYPE)
