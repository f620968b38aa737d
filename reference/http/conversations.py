"""`/v1/conversations` routes (OpenAI Conversations API); logic in `reference.services.conversations`.

Bodies are validated by the service layer (400s naming `param`, as OpenAI sends them); the
quart-schema decorators only document the routes in /openapi.json.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, request
from quart_schema import document_querystring, document_request

from reference.http import context
from reference.http.openapi import documented
from reference.services import conversations
from reference.services.common import dump
from reference.services.conversations import (
    ConversationItem,
    ConversationItemList,
    ConversationResource,
    Conversations,
    CreateConversationBody,
    CreateItemsBody,
    DeletedConversation,
    ItemsQuery,
    UpdateConversationBody,
)

bp = Blueprint("conversations", __name__, url_prefix="/v1")


def _conversations() -> Conversations:
    return context.services().conversations


def _json(text: str) -> Response:
    return Response(text, status=200, content_type="application/json")


def _include() -> None:
    # The openai SDK sends arrays as `include[]=a&include[]=b`; curl users write `include=a`.
    conversations.check_include(request.args.getlist("include") + request.args.getlist("include[]"))


async def _body() -> bytes | str:
    return await request.get_data(cache=False)


@bp.post("/conversations")
@document_request(CreateConversationBody)
@documented(ConversationResource, 400, 413)
async def create_conversation() -> Response:
    return _json(await _conversations().create(await _body()))


@bp.get("/conversations/<conversation_id>")
@documented(ConversationResource, 404)
async def get_conversation(conversation_id: str) -> Response:
    return _json(await _conversations().get_text(conversation_id))


@bp.post("/conversations/<conversation_id>")
@document_request(UpdateConversationBody)
@documented(ConversationResource, 400, 404, 413)
async def update_conversation(conversation_id: str) -> Response:
    return _json(await _conversations().update(conversation_id, await _body()))


@bp.delete("/conversations/<conversation_id>")
@documented(DeletedConversation, 404)
async def delete_conversation(conversation_id: str) -> Response:
    return _json(dump(await _conversations().delete(conversation_id)))


@bp.post("/conversations/<conversation_id>/items")
@document_request(CreateItemsBody)
@documented(ConversationItemList, 400, 404, 413)
async def create_items(conversation_id: str) -> Response:
    _include()
    return _json(dump(await _conversations().create_items(conversation_id, await _body())))


@bp.get("/conversations/<conversation_id>/items")
@document_querystring(ItemsQuery)
@documented(ConversationItemList, 400, 404)
async def list_items(conversation_id: str) -> Response:
    _include()
    args: dict[str, Any] = {name: request.args.get(name) for name in ("limit", "after", "before", "order")}
    return _json(dump(await _conversations().list_items(conversation_id, **args)))


@bp.get("/conversations/<conversation_id>/items/<item_id>")
@documented(ConversationItem, 400, 404)
async def get_item(conversation_id: str, item_id: str) -> Response:
    _include()
    return _json(await _conversations().get_item_text(conversation_id, item_id))


@bp.delete("/conversations/<conversation_id>/items/<item_id>")
@documented(ConversationResource, 404)
async def delete_item(conversation_id: str, item_id: str) -> Response:
    return _json(await _conversations().delete_item(conversation_id, item_id))
