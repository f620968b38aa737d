"""/conversations and their items, and Responses that name a conversation.

`/conversations` and their items, and Responses that name a `conversation`.

Lifecycle (create, retrieve, update, delete, use after delete), items (create with items, add,
get, delete, list order and pagination), and the Responses contract: "Items from this
conversation are prepended to `input_items` for this response request. Input items and output
items from this response are automatically added to this conversation after this response
completes." (``ConversationParam``)."""

from __future__ import annotations

from typing import Any

from conformance.cases._stateful import (
    OAI,
    Deleted,
    Gone,
    Listing,
    Resource,
    Retrieve,
    Unknown,
    list_cases,
    probe,
    require_support,
    resource_cases,
)
from conformance.cases._support import item_text, messages_reply
from conformance.context import CaseContext
from conformance.model import Level, Row, Tier, case

SRC = f"{OAI} paths./conversations"
ITEM = f"{OAI} paths./conversations/{{conversation_id}}"
ITEMS = f"{OAI} paths./conversations/{{conversation_id}}/items"
ONE = f"{OAI} paths./conversations/{{conversation_id}}/items/{{item_id}}"
RESOURCE = f"{OAI} components.schemas.ConversationResource"
PARAM = f"{OAI} components.schemas.ConversationParam"
_PARAM = (
    "conversation: The conversation that this response belongs to. Items from this conversation are "
    "prepended to `input_items` for this response request. Input items and output items from this response "
    "are automatically added to this conversation after this response completes."
)
_ITEMS_ORDER = (
    "order: The order to return the input items in. Default is `desc`. - `asc`: Return the input items in "
    "ascending order. - `desc`: Return the input items in descending order."
)


def _msg(text: str, role: str = "user") -> dict[str, Any]:
    return {"type": "message", "role": role, "content": text}


async def _create(ctx: CaseContext, **body: Any) -> dict[str, Any]:
    resp = await ctx.post("/conversations", json=body)
    require_support(ctx, resp, "POST /conversations")
    return ctx.json_ok(resp, "POST /conversations")


async def _items(ctx: CaseContext, cid: str, **params: Any) -> list[dict[str, Any]]:
    got = ctx.json_ok(
        await ctx.get(f"/conversations/{cid}/items", params={k: str(v) for k, v in params.items()}),
        "GET /conversations/{id}/items",
    )
    data = got.get("data")
    ctx.check(isinstance(data, list), "data is an array", expected="array", actual=data)
    assert isinstance(data, list)
    return data


async def _all_texts(ctx: CaseContext, cid: str) -> list[tuple[Any, Any, str]]:
    return [
        (i.get("type"), i.get("role"), item_text(i)) for i in await _items(ctx, cid, order="asc", limit=100)
    ]


# --------------------------------------------------------------------------- lifecycle


@case(
    "conversations.probe.create",
    Level.MUST,
    source=f"{SRC}.post",
    gates=("conversations", "schemas.objects.conversations"),
    hint="creating a conversation must work (the gateway needs its conversation store configured) "
    "for the conversations cases to run",
)
async def probe_create(ctx: CaseContext) -> None:
    """POST /conversations creates a conversation (the conversations area's probe)

    Create a conversation. (responses: 200 with the Conversation object)
    """
    await probe(ctx, await ctx.post("/conversations", json={}), "POST /conversations")


@case("conversations.create.shape", Level.MUST, source=RESOURCE)
async def create_shape(ctx: CaseContext) -> None:
    """POST /conversations answers a conversation object (id, object, created_at, metadata)

    ConversationResource required: id, object, metadata, created_at. object: The object type, which is always
    `conversation`.
    """
    conv = await _create(ctx, metadata={"topic": "conformance"})
    ctx.check_eq(
        [
            conv.get("object"),
            isinstance(conv.get("id"), str),
            isinstance(conv.get("created_at"), int),
            conv.get("metadata"),
        ],
        ["conversation", True, True, {"topic": "conformance"}],
        "[object, id is a string, created_at is an integer, metadata]",
    )


@case("conversations.create.id-prefix", Level.SHOULD, source=RESOURCE)
async def create_id_prefix(ctx: CaseContext) -> None:
    """Conversation ids start with conv_

    id: The unique ID of the conversation. (OpenAI: conv_...)
    """
    conv = await _create(ctx)
    ctx.check(
        str(conv.get("id")).startswith("conv_"), "id prefix", expected="conv_...", actual=conv.get("id")
    )


@case(
    "conversations.create.with-items",
    Level.MUST,
    source=f"{OAI} components.schemas.CreateConversationBody",
)
async def create_with_items(ctx: CaseContext) -> None:
    """items given at creation are listed, in order

    items: Initial items to include in the conversation context.
    """
    conv = await _create(ctx, items=[_msg("first"), _msg("second", "assistant"), _msg("third")])
    got = await _all_texts(ctx, str(conv.get("id")))
    ctx.check_eq(
        got,
        [("message", "user", "first"), ("message", "assistant", "second"), ("message", "user", "third")],
        "items (asc): (type, role, text)",
    )


@case("conversations.update.metadata", Level.MUST, source=ITEM)
async def update(ctx: CaseContext) -> None:
    """POST /conversations/{id} replaces metadata

    POST /conversations/{conversation_id}: Update a conversation. metadata: Set of 16 key-value pairs that can
    be attached to an object.
    """
    conv = await _create(ctx, metadata={"a": "1"})
    cid = conv.get("id")
    got = ctx.json_ok(
        await ctx.post(f"/conversations/{cid}", json={"metadata": {"b": "2"}}), "POST /conversations/{id}"
    )
    again = ctx.json_ok(await ctx.get(f"/conversations/{cid}"), "GET /conversations/{id}")
    ctx.check_eq(
        [got.get("metadata"), again.get("metadata")], [{"b": "2"}, {"b": "2"}], "metadata (answer, GET)"
    )


@case("conversations.delete.response-rejected", Level.MUST, spec=_PARAM, source=PARAM)
async def deleted_in_response(ctx: CaseContext) -> None:
    """A Response naming a deleted conversation is rejected (4xx) and creates nothing"""
    conv = await _create(ctx)
    cid = conv.get("id")
    ctx.check_eq((await ctx.delete(f"/conversations/{cid}")).status_code, 200, "status of DELETE")
    resp = await ctx.create("hello", conversation=cid)
    ctx.check(
        resp.status_code in (400, 404),
        "status of POST /responses with a deleted conversation",
        expected="400 or 404",
        actual=resp.status_code,
    )


# --------------------------------------------------------------------------- items


@case("conversations.items.add-appends", Level.MUST, source=ITEMS)
async def add_appends(ctx: CaseContext) -> None:
    """POST /conversations/{id}/items appends the items after the existing ones, in order

    POST /conversations/{conversation_id}/items: Create items in a conversation with the given ID.
    """
    conv = await _create(ctx, items=[_msg("one")])
    cid = str(conv.get("id"))
    resp = await ctx.post(
        f"/conversations/{cid}/items", json={"items": [_msg("two"), _msg("three", "assistant")]}
    )
    ctx.json_ok(resp, "POST /conversations/{id}/items")
    got = [t for _, _, t in await _all_texts(ctx, cid)]
    ctx.check_eq(got, ["one", "two", "three"], "item texts (asc)")


@case("conversations.items.add-answer", Level.MUST, source=ITEMS)
async def add_answer(ctx: CaseContext) -> None:
    """POST /conversations/{id}/items answers a list of the added items, each with an id

    POST /conversations/{conversation_id}/items -> ConversationItemList: A list of Conversation items.
    """
    conv = await _create(ctx)
    resp = await ctx.post(f"/conversations/{conv.get('id')}/items", json={"items": [_msg("a"), _msg("b")]})
    got = ctx.json_ok(resp, "POST /conversations/{id}/items")
    data = got.get("data") or []
    ctx.check_eq(got.get("object"), "list", "object")
    ctx.check_eq(
        [(item_text(d), isinstance(d.get("id"), str) and bool(d.get("id"))) for d in data],
        [("a", True), ("b", True)],
        "(text, has id) of the added items",
    )


@case(
    "conversations.items.message-id-prefix",
    Level.SHOULD,
    source=f"{OAI} components.schemas.ConversationItem",
)
async def item_id_prefix(ctx: CaseContext) -> None:
    """Message items get ids starting with msg_

    id: The unique ID of the message. (OpenAI: msg_...)
    """
    conv = await _create(ctx, items=[_msg("hello")])
    items = await _items(ctx, str(conv.get("id")))
    ids = [i.get("id") for i in items]
    ctx.check(
        ids and all(str(i).startswith("msg_") for i in ids),
        "ids start with msg_",
        expected="msg_...",
        actual=ids,
    )


@case("conversations.items.get-one", Level.MUST, source=ONE)
async def get_one(ctx: CaseContext) -> None:
    """GET /conversations/{id}/items/{item_id} answers that item

    GET /conversations/{conversation_id}/items/{item_id}: Get a single item from a conversation with the given
    IDs.
    """
    conv = await _create(ctx, items=[_msg("alpha"), _msg("beta")])
    cid = str(conv.get("id"))
    items = await _items(ctx, cid, order="asc")
    target = items[1]
    got = ctx.json_ok(await ctx.get(f"/conversations/{cid}/items/{target.get('id')}"), "GET item")
    ctx.check_eq(
        [got.get("id"), item_text(got)], [target.get("id"), "beta"], "[id, text] of the retrieved item"
    )


@case("conversations.items.unknown-item-404", Level.MUST, source=ONE)
async def unknown_item(ctx: CaseContext) -> None:
    """GET of an unknown item id is 404

    GET /conversations/{conversation_id}/items/{item_id}: Get a single item from a conversation with the given
    IDs.
    """
    conv = await _create(ctx, items=[_msg("x")])
    resp = await ctx.get(f"/conversations/{conv.get('id')}/items/msg_conformance_missing")
    ctx.check_eq(resp.status_code, 404, "status")


@case("conversations.items.delete-one", Level.MUST, source=ONE)
async def delete_one(ctx: CaseContext) -> None:
    """DELETE of an item answers the conversation; the item is then gone (GET 404, not listed)

    DELETE /conversations/{conversation_id}/items/{item_id}: Delete an item from a conversation with the given
    IDs. (answers ConversationResource)
    """
    conv = await _create(ctx, items=[_msg("keep"), _msg("drop"), _msg("keep too")])
    cid = str(conv.get("id"))
    items = await _items(ctx, cid, order="asc")
    iid = items[1].get("id")
    got = ctx.json_ok(await ctx.delete(f"/conversations/{cid}/items/{iid}"), "DELETE item")
    ctx.check_eq([got.get("object"), got.get("id")], ["conversation", cid], "[object, id] of the answer")
    ctx.check_eq(
        (await ctx.get(f"/conversations/{cid}/items/{iid}")).status_code, 404, "GET of the deleted item"
    )
    ctx.check_eq([t for _, _, t in await _all_texts(ctx, cid)], ["keep", "keep too"], "remaining items")


@case("conversations.items.order-desc-default", Level.MUST, spec=_ITEMS_ORDER, source=ITEMS)
async def order_default(ctx: CaseContext) -> None:
    """Items are listed newest first by default and oldest first with order=asc"""
    conv = await _create(ctx, items=[_msg("1"), _msg("2"), _msg("3")])
    cid = str(conv.get("id"))
    desc = [item_text(i) for i in await _items(ctx, cid)]
    asc = [item_text(i) for i in await _items(ctx, cid, order="asc")]
    ctx.check_eq([desc, asc], [["3", "2", "1"], ["1", "2", "3"]], "[default order, order=asc]")


# --------------------------------------------------------------------------- Responses + conversation


async def _turn(ctx: CaseContext, cid: str, text: str, **extra: Any) -> dict[str, Any]:
    return await ctx.create_ok(text, conversation=cid, **extra)


@case("conversations.responses.appends-input-then-output", Level.MUST, spec=_PARAM, source=PARAM)
async def appends(ctx: CaseContext) -> None:
    """A Response with conversation appends its input and then its output to the conversation"""
    conv = await _create(ctx, items=[_msg("before")])
    cid = str(conv.get("id"))
    resp = await _turn(ctx, cid, "question one")
    out_ids = [i.get("id") for i in resp.get("output") or [] if isinstance(i, dict)]
    items = await _items(ctx, cid, order="asc", limit=100)
    ctx.check_eq(
        [(i.get("role"), item_text(i)) for i in items[:2]],
        [("user", "before"), ("user", "question one")],
        "the first items: the initial one, then the response's input",
    )
    ctx.check_eq([i.get("id") for i in items[2:]], out_ids, "the items after the input are the output items")


@case("conversations.responses.two-turns-in-order", Level.MUST, spec=_PARAM, source=PARAM)
async def two_turns(ctx: CaseContext) -> None:
    """Two Responses in one conversation leave input1, output1, input2, output2 in order"""
    conv = await _create(ctx)
    cid = str(conv.get("id"))
    r1 = await _turn(ctx, cid, "turn one")
    r2 = await _turn(ctx, cid, "turn two")
    items = await _items(ctx, cid, order="asc", limit=100)
    want = (
        ["user:turn one"]
        + [f"out:{i.get('id')}" for i in r1.get("output") or []]
        + ["user:turn two"]
        + [f"out:{i.get('id')}" for i in r2.get("output") or []]
    )
    got = [f"user:{item_text(i)}" if i.get("role") == "user" else f"out:{i.get('id')}" for i in items]
    ctx.check_eq(got, want, "conversation items (asc)")


@case("conversations.responses.stream-appends", Level.MUST, spec=_PARAM, source=PARAM)
async def stream_appends(ctx: CaseContext) -> None:
    """A streamed Response with conversation also appends its input and output"""
    conv = await _create(ctx)
    cid = str(conv.get("id"))
    res = await ctx.create_stream("streamed question", conversation=cid)
    ctx.check_eq(res.status, 200, "status of the streamed create")
    done = res.of_type("response.completed")
    ctx.check(done, "the stream completes", expected="response.completed", actual=res.types[-3:])
    out_ids = [i.get("id") for i in (done[-1].get("response") or {}).get("output") or []]
    items = await _items(ctx, cid, order="asc", limit=100)
    ctx.check_eq(
        [item_text(items[0]) if items else None] + [i.get("id") for i in items[1:]],
        ["streamed question", *out_ids],
        "conversation items (asc): the input text, then output ids",
    )


@case("conversations.responses.conversation-echo", Level.SHOULD, source=f"{OAI} components.schemas.Response")
async def conversation_echo(ctx: CaseContext) -> None:
    """The Response names its conversation ({id})

    conversation: The conversation that this response belongs to. Input items and output items from this
    response are automatically added to this conversation.
    """
    conv = await _create(ctx)
    resp = await _turn(ctx, str(conv.get("id")), "hi")
    got = resp.get("conversation")
    ctx.check(
        got == {"id": conv.get("id")} or got == conv.get("id"),
        "response.conversation",
        expected={"id": conv.get("id")},
        actual=got,
    )


@case(
    "conversations.responses.history-reaches-model",
    Level.MUST,
    spec=_PARAM,
    source=PARAM,
    tier=Tier.SCRIPTED,
)
async def history_reaches_model(ctx: CaseContext) -> None:
    """The conversation's items are prepended to the request's input for the model"""
    await ctx.require_scripted()
    conv = await _create(ctx, items=[_msg("earlier question"), _msg("earlier answer", "assistant")])
    resp = await _turn(ctx, str(conv.get("id")), "[[messages]]")
    msgs = messages_reply(ctx, resp)
    got = [(m.get("role"), m.get("content")) for m in msgs if isinstance(m, dict)]
    ctx.check_eq(
        got,
        [("user", "earlier question"), ("assistant", "earlier answer"), ("user", "[[messages]]")],
        "messages the model received (role, content)",
    )


@case("conversations.responses.unknown-conversation-rejected", Level.MUST, spec=_PARAM, source=PARAM)
async def unknown_conversation(ctx: CaseContext) -> None:
    """A Response naming an unknown conversation is rejected with 400 or 404 naming conversation"""
    await _create(ctx)
    resp = await ctx.create("hello", conversation="conv_conformance_missing")
    ctx.check(resp.status_code in (400, 404), "status", expected="400 or 404", actual=resp.status_code)
    try:
        param = (resp.json().get("error") or {}).get("param")
    except (ValueError, AttributeError):
        param = None
    ctx.check_eq(param, "conversation", "error.param")


@case(
    "conversations.responses.with-previous-response-400",
    Level.MUST,
    source=f"{OAI} components.schemas.ResponseProperties.previous_response_id",
)
async def with_previous(ctx: CaseContext) -> None:
    # both ids exist, so only the exclusivity rule can make this a 400 (unlike fake ids, which a
    # gateway could reject for being unknown)
    """conversation with a real previous_response_id is a 400 and appends nothing

    previous_response_id: The unique ID of the previous response to the model. Use this to create multi-turn
    conversations. Cannot be used in conjunction with `conversation`.
    """
    conv = await _create(ctx, items=[_msg("only item")])
    cid = str(conv.get("id"))
    prev = await ctx.create_ok("an unrelated stored response")
    resp = await ctx.create("both", conversation=cid, previous_response_id=prev.get("id"))
    ctx.check_eq(resp.status_code, 400, "status with conversation and previous_response_id")
    ctx.check_eq(
        [t for _, _, t in await _all_texts(ctx, cid)], ["only item"], "conversation items afterwards"
    )


@case("conversations.responses.failed-not-appended", Level.SHOULD, source=PARAM, tier=Tier.SCRIPTED,
       provokes_backend_failure=True)
async def failed_not_appended(ctx: CaseContext) -> None:
    """A failed Response (backend error) appends nothing to the conversation

    Input items and output items from this response are automatically added to this conversation after this
    response completes.
    """
    await ctx.require_scripted()
    conv = await _create(ctx, items=[_msg("only item")])
    cid = str(conv.get("id"))
    resp = await ctx.create("[[error:500]]", conversation=cid)
    ctx.check(
        resp.status_code >= 400, "the failed response is an error", expected=">= 400", actual=resp.status_code
    )
    ctx.check_eq(
        [t for _, _, t in await _all_texts(ctx, cid)], ["only item"], "conversation items afterwards"
    )


# --------------------------------------------------------------------------- lists


async def _conv_items(ctx: CaseContext, n: int) -> Listing:
    conv = await _create(ctx, items=[_msg(f"item {i}") for i in range(n)])
    cid = str(conv.get("id"))
    ids = [str(i.get("id")) for i in await _items(ctx, cid, order="asc", limit=100)]
    return Listing(f"/conversations/{cid}/items", ids, exclusive=True)


list_cases(
    __name__,
    "conversations.items",
    "/conversations/{id}/items",
    _conv_items,
    level=Level.MUST,
    source=ITEMS,
    default_order_spec=_ITEMS_ORDER,
)


# --------------------------------------------------------------------------- retrieve, delete

CONVERSATIONS = Resource("/conversations", _create, "conversation.deleted", "conv_conformance_missing")
_RETRIEVE = "GET /conversations/{conversation_id}: Get a conversation"


async def _with_item(ctx: CaseContext) -> dict[str, Any]:
    conv = await _create(ctx, items=[_msg("kept?")])
    items = await _items(ctx, str(conv.get("id")))
    return {**conv, "item_id": items[0].get("id") if items else "msg_missing"}


async def _conversation_routes(ctx: CaseContext, conv: dict[str, Any]) -> dict[str, int]:
    cid, iid = conv.get("id"), conv.get("item_id")
    return {
        "GET": (await ctx.get(f"/conversations/{cid}")).status_code,
        "POST update": (await ctx.post(f"/conversations/{cid}", json={"metadata": {}})).status_code,
        "GET items": (await ctx.get(f"/conversations/{cid}/items")).status_code,
        "POST items": (
            await ctx.post(f"/conversations/{cid}/items", json={"items": [_msg("x")]})
        ).status_code,
        "GET item": (await ctx.get(f"/conversations/{cid}/items/{iid}")).status_code,
        "DELETE again": (await ctx.delete(f"/conversations/{cid}")).status_code,
    }


resource_cases(
    __name__,
    [
        Row(
            "conversations.retrieve.equals-create",
            Level.MUST,
            "GET /conversations/{id} answers the created conversation",
            _RETRIEVE,
            Retrieve(CONVERSATIONS, ("id", "object", "created_at", "metadata"), {"metadata": {"a": "1"}}),
            source=ITEM,
        ),
        Row(
            "conversations.retrieve.unknown-404",
            Level.MUST,
            "GET /conversations/{id} of an unknown id is 404",
            _RETRIEVE,
            Unknown(CONVERSATIONS),
            source=ITEM,
        ),
        Row(
            "conversations.delete.shape",
            Level.MUST,
            "DELETE /conversations/{id} answers {id, object: conversation.deleted, deleted: true}",
            "DeletedConversationResource: object (enum: conversation.deleted), deleted, id.",
            Deleted(CONVERSATIONS),
            source=f"{OAI} components.schemas.DeletedConversationResource",
        ),
        Row(
            "conversations.delete.use-after-delete-404",
            Level.MUST,
            "After DELETE every route of the conversation answers 404 (get, update, items, item, delete)",
            "DELETE /conversations/{conversation_id}: Delete a conversation. Items in the conversation will "
            "not be deleted.",
            Gone(CONVERSATIONS, _conversation_routes, _with_item),
            source=ITEM,
        ),
    ],
)
