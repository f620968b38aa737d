"""`/v1/conversations` routes (OpenAI Conversations API); logic in `reference.conversations`."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, current_app, request

from reference import conversations
from reference.engine import Engine
from reference.service_common import dump

bp = Blueprint("conversations", __name__, url_prefix="/v1")


def _engine() -> Engine:
    engine: Engine = current_app.extensions["responses_engine"]
    return engine


def _json(text: str) -> Response:
    return Response(text, status=200, content_type="application/json")


def _include() -> None:
    # The openai SDK sends arrays as `include[]=a&include[]=b`; curl users write `include=a`.
    conversations.check_include(request.args.getlist("include") + request.args.getlist("include[]"))


async def _body() -> bytes | str:
    return await request.get_data(cache=False)


@bp.post("/conversations")
async def create_conversation() -> Response:
    return _json(await conversations.create(_engine(), await _body()))


@bp.get("/conversations/<conversation_id>")
async def get_conversation(conversation_id: str) -> Response:
    return _json(await conversations.get_text(_engine(), conversation_id))


@bp.post("/conversations/<conversation_id>")
async def update_conversation(conversation_id: str) -> Response:
    return _json(await conversations.update(_engine(), conversation_id, await _body()))


@bp.delete("/conversations/<conversation_id>")
async def delete_conversation(conversation_id: str) -> Response:
    return _json(dump(await conversations.delete(_engine(), conversation_id)))


@bp.post("/conversations/<conversation_id>/items")
async def create_items(conversation_id: str) -> Response:
    _include()
    return _json(dump(await conversations.create_items(_engine(), conversation_id, await _body())))


@bp.get("/conversations/<conversation_id>/items")
async def list_items(conversation_id: str) -> Response:
    _include()
    args: dict[str, Any] = {name: request.args.get(name) for name in ("limit", "after", "before", "order")}
    return _json(dump(await conversations.list_items(_engine(), conversation_id, **args)))


@bp.get("/conversations/<conversation_id>/items/<item_id>")
async def get_item(conversation_id: str, item_id: str) -> Response:
    _include()
    return _json(await conversations.get_item_text(_engine(), conversation_id, item_id))


@bp.delete("/conversations/<conversation_id>/items/<item_id>")
async def delete_item(conversation_id: str, item_id: str) -> Response:
    return _json(await conversations.delete_item(_engine(), conversation_id, item_id))
