"""Conversations: durable item lists a Response can read from and append to.

Shapes follow the OpenAI OpenAPI document:

- `ConversationResource`: `{"id": "conv_...", "object": "conversation", "created_at", "metadata"}`.
- `POST /v1/conversations` (`CreateConversationBody`: `metadata`, `items` - "Initial items to
  include in the conversation context. You may add up to 20 items at a time.").
- `POST /v1/conversations/{id}` (`UpdateConversationBody`: `metadata`, required) replaces the
  metadata.
- `DELETE` -> `DeletedConversationResource` `{"id", "object": "conversation.deleted", "deleted": true}`.
- Items: `POST .../items` (`items`, "You may add up to 20 items at a time", `maxItems: 20`) ->
  `ConversationItemList`; `GET .../items` (limit 1-100 default 20, `order` "Default is `desc`",
  `after`, `include`); `GET .../items/{item_id}` -> the item; `DELETE .../items/{item_id}` ->
  the conversation (`ConversationResource`).

Items are stored with the same shapes as Responses input/output items
(`reference.core.translate.input_items`): typed `message` items with content parts, each with an
id and a status, so what `load_items` hands the engine can be placed before a request's input
like `previous_response_id` history.

Decisions:
- Deleting a conversation removes its items too. The spec notes "Items in the conversation will
  not be deleted" - meaning the items of the *Responses* that used it, which are stored with
  those responses and stay; the conversation's own copies are unreachable once it is gone (every
  route answers 404), so keeping them would only leak storage.
- `item_reference` items are rejected on the items route (400): a conversation stores items,
  not pointers whose target may later disappear.
- Item ids are unique within a conversation: adding an id that is already there is a 400
  (`duplicate_item`) on the HTTP route; `append_items` (the engine, after a Response) skips ids
  already present instead, so replayed output items and retries do not duplicate history.
- `include` is accepted and validated against `IncludeEnum`; this gateway stores no hidden
  fields, so it changes nothing in the output.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from reference.core import errors, ids, pagination, translate
from reference.core.models import CreateResponseRequest, InputItem, validate_metadata
from reference.services.common import StoredService, dump, now, parse_model
from reference.store import Kind, ObjectStore

CONVERSATION = Kind.CONVERSATION
ITEM = Kind.CONVERSATION_ITEM
MAX_ITEMS_PER_CALL = 20

# `IncludeEnum` of the OpenAI OpenAPI document.
INCLUDE_VALUES = frozenset({
    "file_search_call.results", "web_search_call.results", "web_search_call.action.sources",
    "message.input_image.image_url", "computer_call_output.output.image_url",
    "code_interpreter_call.outputs", "reasoning.encrypted_content", "message.output_text.logprobs",
})

# Id prefixes OpenAI uses for item types the request did not give an id.
_ID_PREFIX = {"message": ids.MESSAGE, "function_call": ids.FUNCTION_CALL,
              "function_call_output": translate.FUNCTION_CALL_OUTPUT, "reasoning": "rs",
              "mcp_call": "mcp", "mcp_list_tools": "mcpl", "mcp_approval_request": "mcpr",
              "mcp_approval_response": "mcpa", "file_search_call": "fs"}

_STRICT_FORBID = ConfigDict(strict=True, extra="forbid")


class CreateConversationBody(BaseModel):
    model_config = _STRICT_FORBID
    metadata: dict[str, str] | None = None
    items: list[InputItem] | None = Field(default=None, max_length=MAX_ITEMS_PER_CALL)

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return validate_metadata(value)


class UpdateConversationBody(BaseModel):
    model_config = _STRICT_FORBID
    metadata: dict[str, str]

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, str]) -> dict[str, str]:
        validate_metadata(value)
        return value


class CreateItemsBody(BaseModel):
    model_config = _STRICT_FORBID
    items: list[InputItem] = Field(max_length=MAX_ITEMS_PER_CALL)


# Output shapes, for /openapi.json (the objects themselves are built as dicts).
_OPEN = ConfigDict(extra="allow")


class ConversationResource(BaseModel):
    model_config = _OPEN
    id: str
    object: Literal["conversation"] = "conversation"
    created_at: int
    metadata: dict[str, str]


class ConversationItem(BaseModel):
    """One item; the same shapes as Response input and output items."""

    model_config = _OPEN
    id: str
    type: str


class ConversationItemList(BaseModel):
    model_config = _OPEN
    object: Literal["list"] = "list"
    data: list[ConversationItem]
    first_id: str | None
    last_id: str | None
    has_more: bool


class DeletedConversation(BaseModel):
    model_config = _OPEN
    id: str
    object: Literal["conversation.deleted"] = "conversation.deleted"
    deleted: bool


class ItemsQuery(BaseModel):
    """Query of the items routes: cursor pagination (list only) and `include`."""

    limit: int | None = None
    after: str | None = None
    order: Literal["asc", "desc"] | None = None
    include: list[str] | None = None


# --- item normalisation ------------------------------------------------------------------------


def normalise_items(parsed: Sequence[Any], *, param: str = "items") -> list[dict[str, Any]]:
    """Validated input items -> stored item dicts (ids and statuses filled in), as Responses does."""
    for index, item in enumerate(parsed):
        if getattr(item, "type", None) == "item_reference":
            raise errors.invalid_request(
                f"Invalid value: 'item_reference' for '{param}[{index}].type'. Conversation items must "
                "be items, not references.", f"{param}[{index}].type", "invalid_value")
    # `input_items` reads only `input`: a constructed (unvalidated) request carries the already
    # validated items without inventing a model name.
    request = CreateResponseRequest.model_construct(input=list(parsed))
    items = translate.input_items(request)
    for item in items:
        if not item.get("id"):
            item["id"] = ids.new_id(_ID_PREFIX.get(str(item.get("type")), "item"))
    return items


def _check_unique(existing: Iterable[str], items: Sequence[dict[str, Any]], param: str) -> None:
    seen = set(existing)
    for index, item in enumerate(items):
        item_id = str(item["id"])
        if item_id in seen:
            raise errors.invalid_request(
                f"Duplicate item id '{item_id}': an item with this id is already in the conversation.",
                f"{param}[{index}].id", "duplicate_item")
        seen.add(item_id)


# --- blocking operations (run on the store thread) ------------------------------------


def _require(objects: ObjectStore, conversation_id: str, param: str | None = None) -> dict[str, Any]:
    conv = objects.get(CONVERSATION, conversation_id)
    if conv is None:
        raise errors.not_found("conversation", conversation_id, param)
    return conv


def _put_items(objects: ObjectStore, conversation_id: str, items: Sequence[dict[str, Any]]) -> None:
    if not items:
        return
    # One write, adjacent: concurrent appends (from other replicas too) never interleave.
    objects.put_many(ITEM, [(str(item["id"]), dump(item)) for item in items], parent=conversation_id,
                     created_at=now())


def _create(objects: ObjectStore, conv: dict[str, Any], items: list[dict[str, Any]]) -> str:
    text = objects.put(CONVERSATION, dump(conv), object_id=conv["id"], created_at=conv["created_at"])
    _put_items(objects, conv["id"], items)
    return text


def _update(objects: ObjectStore, conversation_id: str, metadata: dict[str, str]) -> str:
    conv = _require(objects, conversation_id)
    conv["metadata"] = metadata
    return objects.put(CONVERSATION, dump(conv), object_id=conversation_id,
                       created_at=int(conv["created_at"]))


def _add_items(objects: ObjectStore, conversation_id: str, items: list[dict[str, Any]]) -> None:
    _require(objects, conversation_id)
    existing = (str(item["id"]) for item in objects.list(ITEM, parent=conversation_id))
    _check_unique(existing, items, "items")
    _put_items(objects, conversation_id, items)


def load_items_sync(objects: ObjectStore, conversation_id: str, *,
                    param: str | None = "conversation") -> list[dict[str, Any]]:
    """The conversation's items, oldest first; 404 naming `param` when it does not exist."""
    _require(objects, conversation_id, param)
    return objects.list(ITEM, parent=conversation_id)


def append_items_sync(objects: ObjectStore, conversation_id: str,
                      items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Append a Response's input and output items; returns the items actually added.

    `item_reference` entries point at items that already exist and are skipped, as are items
    whose id is already in the conversation (replayed outputs, retries). Items without an id get
    one. 404 when the conversation is gone.
    """
    _require(objects, conversation_id, "conversation")
    seen = {str(item["id"]) for item in objects.list(ITEM, parent=conversation_id)}
    added: list[dict[str, Any]] = []
    for item in items:
        if item.get("type") == "item_reference":
            continue
        item = dict(item)
        if not item.get("id"):
            item["id"] = ids.new_id(_ID_PREFIX.get(str(item.get("type")), "item"))
        if item["id"] in seen:
            continue
        seen.add(str(item["id"]))
        added.append(item)
    _put_items(objects, conversation_id, added)
    return added


# --- the service (HTTP routes and the engine) ---------------------------------------------


def check_include(values: Sequence[str]) -> None:
    for value in values:
        if value not in INCLUDE_VALUES:
            raise errors.invalid_request(
                f"Invalid value: '{value}'. Supported values are: "
                + ", ".join(f"'{v}'" for v in sorted(INCLUDE_VALUES)) + ".", "include", "invalid_value")


class Conversations(StoredService):
    """Conversations and their items (the conversation routes and the engine)."""

    async def create(self, body: bytes | str | dict[str, Any] | None) -> str:
        """`POST /v1/conversations`; returns the conversation's JSON text."""
        req = parse_model(CreateConversationBody, body, allow_empty=True)
        items = normalise_items(req.items or [])
        _check_unique((), items, "items")
        conv = {"id": ids.new_id(ids.CONVERSATION), "object": "conversation", "created_at": now(),
                "metadata": req.metadata or {}}
        return await self._run(_create, self.objects, conv, items)

    async def get_text(self, conversation_id: str) -> str:
        text = await self._run(self.objects.get_text, CONVERSATION, conversation_id)
        if text is None:
            raise errors.not_found("conversation", conversation_id)
        return text

    async def update(self, conversation_id: str, body: bytes | str | dict[str, Any] | None) -> str:
        # Existence first: an unknown conversation is a 404 whatever the body says.
        await self.get_text(conversation_id)
        req = parse_model(UpdateConversationBody, body)
        return await self._run(_update, self.objects, conversation_id, req.metadata)

    async def delete(self, conversation_id: str) -> dict[str, Any]:
        deleted = await self._run(self.objects.delete, CONVERSATION, conversation_id)
        if not deleted:
            raise errors.not_found("conversation", conversation_id)
        return {"id": conversation_id, "object": "conversation.deleted", "deleted": True}

    async def create_items(self, conversation_id: str,
                           body: bytes | str | dict[str, Any] | None) -> dict[str, Any]:
        """`POST .../items` -> `ConversationItemList` of the added items, in the order given."""
        await self.get_text(conversation_id)
        req = parse_model(CreateItemsBody, body)
        items = normalise_items(req.items)
        await self._run(_add_items, self.objects, conversation_id, items)
        return {"object": "list", "data": items,
                "first_id": items[0]["id"] if items else None,
                "last_id": items[-1]["id"] if items else None,
                "has_more": False}

    async def list_items(self, conversation_id: str, *, limit: int | str | None = None,
                         after: str | None = None, before: str | None = None,
                         order: str | None = None) -> dict[str, Any]:
        """`GET .../items`; the spec's default order is `desc` (newest first)."""
        items = await self._run(load_items_sync, self.objects, conversation_id, param=None)
        return pagination.paginate(items, limit=limit, after=after, before=before, order=order or "desc")

    async def get_item_text(self, conversation_id: str, item_id: str) -> str:
        await self.get_text(conversation_id)
        text = await self._run(self.objects.get_text, ITEM, item_id, parent=conversation_id)
        if text is None:
            raise errors.not_found("item", item_id)
        return text

    async def delete_item(self, conversation_id: str, item_id: str) -> str:
        """`DELETE .../items/{item_id}` -> the conversation (`ConversationResource`)."""
        conv_text = await self.get_text(conversation_id)
        if not await self._run(self.objects.delete, ITEM, item_id, parent=conversation_id):
            raise errors.not_found("item", item_id)
        return conv_text

    async def load_items(self, conversation_id: str) -> list[dict[str, Any]]:
        """Items of `conversation_id`, oldest first, for a Response with `conversation`.

        Raises 404 (param `conversation`) when the conversation does not exist.
        """
        return await self._run(load_items_sync, self.objects, conversation_id)

    async def append_items(self, conversation_id: str,
                           items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """After a Response with `conversation`: append its input then output items (see
        `append_items_sync`)."""
        return await self._run(append_items_sync, self.objects, conversation_id, list(items))
