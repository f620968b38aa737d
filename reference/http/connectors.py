"""`/v1/connectors` routes (registry of MCP servers); design and logic in `reference.services.connectors`.

Bodies are validated by the service layer (400s naming `param`); the quart-schema decorators
only document the routes in /openapi.json.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, request
from quart_schema import document_querystring, document_request

from reference.http import context
from reference.http.openapi import documented
from reference.services.common import ListQuery, dump
from reference.services.connectors import (
    ConnectorList,
    ConnectorObject,
    Connectors,
    CreateConnectorBody,
    DeletedConnector,
)

bp = Blueprint("connectors", __name__, url_prefix="/v1")


def _connectors() -> Connectors:
    return context.services().connectors


def _json(obj: Any) -> Response:
    return Response(dump(obj), status=200, content_type="application/json")


@bp.post("/connectors")
@document_request(CreateConnectorBody)
@documented(ConnectorObject, 400, 413)
async def create_connector() -> Response:
    return _json(await _connectors().create(await request.get_data(cache=False)))


@bp.get("/connectors")
@document_querystring(ListQuery)
@documented(ConnectorList, 400)
async def list_connectors() -> Response:
    args = {name: request.args.get(name) for name in ("limit", "after", "before", "order")}
    return _json(await _connectors().list_connectors(**args))


@bp.get("/connectors/<connector_id>")
@documented(ConnectorObject, 404)
async def get_connector(connector_id: str) -> Response:
    return _json(await _connectors().get(connector_id))


@bp.delete("/connectors/<connector_id>")
@documented(DeletedConnector, 404)
async def delete_connector(connector_id: str) -> Response:
    return _json(await _connectors().delete(connector_id))
