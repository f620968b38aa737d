"""`GET /health`: liveness for load balancers, Envoy health checks and the launcher."""

from __future__ import annotations

from quart import Blueprint

bp = Blueprint("health", __name__)


@bp.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}
