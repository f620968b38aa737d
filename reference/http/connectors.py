"""`/v1/connectors` routes (registry of MCP servers); design and logic in `reference.connectors`."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, current_app, request

from reference import connectors
from reference.engine import Engine
from reference.service_common import dump

bp = Blueprint("connectors", __name__, url_prefix="/v1")


def _engine() -> Engine:
    engine: Engine = current_app.extensions["responses_engine"]
    return engine


def _json(obj: Any) -> Response:
    return Response(dump(obj), status=200, content_type="application/json")


@bp.post("/connectors")
async def create_connector() -> Response:
    return _json(await connectors.create(_engine(), await request.get_data(cache=False)))


@bp.get("/connectors")
async def list_connectors() -> Response:
    args = {name: request.args.get(name) for name in ("limit", "after", "before", "order")}
    return _json(await connectors.list_connectors(_engine(), **args))


@bp.get("/connectors/<connector_id>")
async def get_connector(connector_id: str) -> Response:
    return _json(await connectors.get(_engine(), connector_id))


@bp.delete("/connectors/<connector_id>")
async def delete_connector(connector_id: str) -> Response:
    return _json(await connectors.delete(_engine(), connector_id))
