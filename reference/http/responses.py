"""`/v1/responses` routes: create (JSON or SSE), get, delete, cancel, input_items, list."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel
from quart import Blueprint, Response, current_app, request
from quart_schema import document_querystring, document_request, document_response

from reference.core import sse
from reference.core.models import CreateResponseRequest, DeletedResponse, ErrorResponse, ResponseItemList
from reference.core.models import Response as ResponseModel
from reference.engine import Engine, dump
from reference.http import context

bp = Blueprint("responses", __name__, url_prefix="/v1")

_ERRORS = {400: ErrorResponse, 404: ErrorResponse, 502: ErrorResponse, 504: ErrorResponse}


class ListQuery(BaseModel):
    """Cursor pagination (OpenAI list endpoints)."""

    limit: int | None = None
    after: str | None = None
    before: str | None = None
    order: str | None = None


def _engine() -> Engine:
    return context.engine()


def _json(text: str, status: int = 200) -> Response:
    return Response(text, status=status, content_type="application/json")


def _page_args() -> dict[str, Any]:
    # Raw strings: `core.pagination.paginate` validates them (400 naming the param).
    args = request.args
    return {name: args.get(name) for name in ("limit", "after", "before", "order")}


def _documented(*status_models: tuple[int, type[BaseModel]]) -> Any:
    def decorate(func: Any) -> Any:
        for status, model in (*status_models, *_ERRORS.items()):
            func = document_response(model, status)(func)
        return func
    return decorate


@bp.post("/responses")
@document_request(CreateResponseRequest)
@_documented((200, ResponseModel))
async def create_response() -> Response:
    # Validation happens in the core (`CreateResponseRequest.parse`), not in quart-schema, so
    # every 400 is an OpenAI error object naming the offending param. The model is only
    # *documented* here, for /openapi.json.
    engine = _engine()
    # The body goes straight to `prepare`, which drops it once parsed: no frame here keeps the
    # raw bytes alive while the response is made.
    prepared = await engine.prepare(await request.get_data(cache=False))
    if not prepared.stream:
        return _json(await engine.create(prepared))

    encoder = sse.EventStreamEncoder(done_marker=bool(current_app.config.get("STREAM_DONE_MARKER")))

    async def events() -> AsyncIterator[bytes]:
        async for event in engine.stream(prepared):
            yield encoder.encode([event])
        if tail := encoder.close():
            yield tail

    return Response(
        events(),
        content_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )


@bp.get("/responses")
@document_querystring(ListQuery)
@_documented((200, ResponseItemList))
async def list_responses() -> Response:
    return _json(dump(await _engine().list(**_page_args())))


@bp.get("/responses/<response_id>")
@_documented((200, ResponseModel))
async def get_response(response_id: str) -> Response:
    return _json(await _engine().get_text(response_id))


@bp.delete("/responses/<response_id>")
@_documented((200, DeletedResponse))
async def delete_response(response_id: str) -> Response:
    return _json(dump(await _engine().delete(response_id)))


@bp.post("/responses/<response_id>/cancel")
@_documented((200, ResponseModel))
async def cancel_response(response_id: str) -> Response:
    return _json(await _engine().cancel(response_id))


@bp.get("/responses/<response_id>/input_items")
@document_querystring(ListQuery)
@_documented((200, ResponseItemList))
async def list_input_items(response_id: str) -> Response:
    return _json(dump(await _engine().input_items(response_id, **_page_args())))
