"""Stored responses: retrieve, store=false, delete, previous_response_id chains, input_items.

Stored responses: retrieve, store=false, delete, ``previous_response_id`` chains, and
``GET /responses/{id}/input_items``."""

from __future__ import annotations

from typing import Any

from conformance import checks
from conformance.cases import _openresponses as ors
from conformance.cases._stateful import json_of
from conformance.cases._support import (
    OAI,
    TOOLS,
    backend_messages,
    item_text,
    one_function_call,
    roles_and_texts,
)
from conformance.context import CaseContext
from conformance.model import Level, Tier, case

SRC = "openai-openapi.yaml paths./responses/{response_id}"


# Every case that reads back, lists, deletes or cancels a response it created: none can be set
# up when the gateway does not keep what it answered.
_NEEDS_STORED = (
    "state.get-after-create", "state.delete-then-get-404", "state.delete-twice-404",
    "state.chain.get-equals-create", "state.chain.metadata-persisted", "state.chain.delete-shape",
    "state.chain.deleted-previous-rejected",
    *(f"state.input-items.{name}" for name in (
        "list-shape", "all-items", "default-order-desc", "order-asc", "limit-has-more", "first-last-id",
        "after-cursor", "walk-asc", "walk-desc", "last-page-no-more", "limit-zero-400", "limit-over-100-400",
        "string-input-item")),
    "schemas.lists.input-items", "responses.stream.final-equals-get",
    "responses.background.poll-completes", "responses.background.stream-completes",
    "responses.background.cancel-in-progress", "responses.background.cancel-sticks",
    "responses.background.cancel-idempotent", "responses.background.cancel-completed-400",
    "responses.background.cancel-foreground-400",
)


@case(
    "state.probe.retrieve",
    Level.MUST,
    source=f"{SRC}; {OAI} components.schemas.ResponseProperties.store",
    gates=_NEEDS_STORED,
    hint="the gateway must keep the responses it creates (store defaults to true) and serve "
    "GET /responses/{id} for the retrieve, delete, input_items, cancel and background cases to run",
)
async def probe_retrieve(ctx: CaseContext) -> None:
    """A response just created (store defaults to true) is read back by id (the stored-responses probe)

    store: Whether to store the generated model response for later retrieval via API. GET
    /responses/{response_id}: Retrieves a model response with the given ID.
    """
    created = await ctx.create_ok()
    resp = await ctx.get(f"/responses/{created.get('id')}")
    body = json_of(resp)
    error = body.get("error") if isinstance(body, dict) else None
    said = error.get("message") if isinstance(error, dict) else resp.text[:200]
    # a 404 here is not "API not offered": the id is one the gateway itself just returned
    ctx.check(resp.status_code == 200, "GET /responses/{id} of a response just created answers 200",
              expected=200, actual=f"HTTP {resp.status_code}: {said}")
    got = ctx.json_ok(resp, "GET /responses/{id}")
    ctx.check_eq(got.get("id"), created.get("id"), "the response read back has the id asked for")


@case("state.get-after-create", Level.MUST, source=SRC)
async def get_after_create(ctx: CaseContext) -> None:
    """A created response can be retrieved by id

    GET /responses/{response_id}: Retrieves a model response with the given ID.
    """
    created = await ctx.create_ok()
    got = ctx.json_ok(await ctx.get(f"/responses/{created.get('id')}"), "GET /responses/{id}")
    keys = ("id", "object", "created_at", "status", "model", "output", "usage")
    ctx.check_eq(
        {k: got.get(k) for k in keys},
        {k: created.get(k) for k in keys},
        f"retrieved response equals the created one on {', '.join(keys)}",
    )


@case(
    "state.store-false-not-retrievable",
    Level.MUST,
    source="openai-openapi.yaml components.schemas.ResponseProperties.store",
)
async def store_false(ctx: CaseContext) -> None:
    """A response created with store=false cannot be retrieved

    store: Whether to store the generated model response for later retrieval via API.
    """
    created = await ctx.create_ok(store=False)
    resp = await ctx.get(f"/responses/{created.get('id')}")
    ctx.check_eq(resp.status_code, 404, "GET of a response created with store=false")


@case("state.delete-then-get-404", Level.MUST, source=SRC)
async def delete_then_get(ctx: CaseContext) -> None:
    """After DELETE the response is gone

    DELETE /responses/{response_id}: Deletes a model response with the given ID.
    """
    created = await ctx.create_ok()
    rid = created.get("id")
    deleted = await ctx.delete(f"/responses/{rid}")
    ctx.check_eq(deleted.status_code, 200, "status of DELETE")
    resp = await ctx.get(f"/responses/{rid}")
    ctx.check_eq(resp.status_code, 404, "GET after DELETE")


@case("state.delete-twice-404", Level.MUST, source=SRC)
async def delete_twice(ctx: CaseContext) -> None:
    """A second DELETE of the same response is 404

    DELETE /responses/{response_id}: 404 Not Found.
    """
    created = await ctx.create_ok()
    rid = created.get("id")
    first = await ctx.delete(f"/responses/{rid}")
    ctx.check_eq(first.status_code, 200, "status of the first DELETE")
    second = await ctx.delete(f"/responses/{rid}")
    ctx.check_eq(second.status_code, 404, "status of the second DELETE")


@case("state.delete-unknown-404", Level.MUST, source=SRC)
async def delete_unknown(ctx: CaseContext) -> None:
    """DELETE of an unknown id is 404

    DELETE /responses/{response_id}: 404 Not Found.
    """
    resp = await ctx.delete("/responses/resp_conformance_does_not_exist_0000")
    ctx.check_eq(resp.status_code, 404, "status of DELETE for an unknown id")


PREV = (
    "previous_response_id: The unique ID of the previous response to the model. Use this to create "
    "multi-turn conversations."
)
CREATE = f"{OAI} components.schemas.CreateResponse"
INSTR = (
    "instructions: When using along with `previous_response_id`, the instructions from a previous "
    "response will not be carried over to the next response."
)
CHAIN_SRC = f"{OAI} paths./responses/{{response_id}}"


@case(
    "state.chain.history-reaches-model", Level.MUST, spec=PREV, tier=Tier.SCRIPTED, source=CREATE,
    levels={"openresponses": ors.cite(ors.PREVIOUS_LOADED, ors.PREVIOUS_ORDER)},
)
async def history_reaches_model(ctx: CaseContext) -> None:
    """previous_response_id puts the earlier turn before the new input"""
    await ctx.require_scripted()
    first = await ctx.create_ok("My name is Ada. [[text:Hello Ada.]]")
    msgs = await backend_messages(ctx, "[[messages]]", previous_response_id=first.get("id"))
    ctx.check_eq(
        roles_and_texts(msgs),
        [
            ("user", "My name is Ada. [[text:Hello Ada.]]"),
            ("assistant", "Hello Ada."),
            ("user", "[[messages]]"),
        ],
        "messages the backend received for the second turn",
    )


@case(
    "state.chain.three-turns", Level.MUST, spec=PREV, tier=Tier.SCRIPTED, source=CREATE,
    levels={"openresponses": ors.cite(ors.PREVIOUS_LOADED, ors.PREVIOUS_ORDER)},
)
async def three_turns(ctx: CaseContext) -> None:
    """A chain of three responses carries both earlier turns"""
    await ctx.require_scripted()
    a = await ctx.create_ok("one [[text:A1]]")
    b = await ctx.create_ok("two [[text:B2]]", previous_response_id=a.get("id"))
    msgs = await backend_messages(ctx, "[[messages]]", previous_response_id=b.get("id"))
    ctx.check_eq(
        [m.get("content") for m in msgs],
        ["one [[text:A1]]", "A1", "two [[text:B2]]", "B2", "[[messages]]"],
        "message texts the backend received for the third turn",
    )


@case(
    "state.chain.function-calls-carried", Level.MUST, spec=PREV, tier=Tier.SCRIPTED, source=CREATE,
    levels={"openresponses": ors.PREVIOUS_LOADED.level()},
)
async def function_calls_carried(ctx: CaseContext) -> None:
    """A chain carries function calls and their outputs"""
    await ctx.require_scripted()
    first, call = await one_function_call(ctx)
    second = await ctx.create_ok(
        [{"type": "function_call_output", "call_id": call.get("call_id"), "output": "sunny"}],
        previous_response_id=first.get("id"),
        tools=TOOLS,
    )
    msgs = await backend_messages(ctx, "[[messages]]", previous_response_id=second.get("id"), tools=TOOLS)
    shape = [
        (m.get("role"), [tc.get("name") for tc in m.get("tool_calls") or []] or None, m.get("tool_call_id"))
        for m in msgs
    ]
    ctx.check_eq(
        shape,
        [
            ("user", None, None),
            ("assistant", ["get_weather"], None),
            ("tool", None, call.get("call_id")),
            ("assistant", None, None),
            ("user", None, None),
        ],
        "(role, tool call names, tool_call_id) of the messages the backend received",
    )


@case("state.chain.instructions-not-inherited", Level.MUST, spec=INSTR, tier=Tier.SCRIPTED, source=CREATE)
async def instructions_not_inherited(ctx: CaseContext) -> None:
    """instructions of the previous response are not carried over"""
    await ctx.require_scripted()
    first = await ctx.create_ok("hi [[text:hello]]", instructions="OLD-INSTRUCTIONS")
    msgs = await backend_messages(ctx, "[[messages]]", previous_response_id=first.get("id"))
    leaked = [m for m in msgs if "OLD-INSTRUCTIONS" in str(m.get("content"))]
    ctx.check(not leaked, "the old instructions are not sent again", expected=[], actual=leaked)


@case(
    "state.chain.new-instructions-apply",
    Level.MUST,
    spec=INSTR + " This makes it simple to swap out system (or developer) messages in new responses.",
    tier=Tier.SCRIPTED,
    source=CREATE,
)
async def new_instructions_apply(ctx: CaseContext) -> None:
    """New instructions on a follow-up replace the previous ones"""
    await ctx.require_scripted()
    first = await ctx.create_ok("hi [[text:hello]]", instructions="OLD-INSTRUCTIONS")
    msgs = await backend_messages(
        ctx, "[[messages]]", previous_response_id=first.get("id"), instructions="NEW-INSTRUCTIONS"
    )
    instr = [m.get("content") for m in msgs if m.get("role") in ("system", "developer")]
    ctx.check_eq(instr, ["NEW-INSTRUCTIONS"], "instruction messages the backend received")


@case("state.chain.instructions-not-echoed-from-previous", Level.SHOULD, spec=INSTR, source=CREATE)
async def instructions_not_echoed_from_previous(ctx: CaseContext) -> None:
    """A follow-up without instructions reports instructions null"""
    first = await ctx.create_ok(instructions="OLD-INSTRUCTIONS")
    second = await ctx.create_ok(previous_response_id=first.get("id"))
    ctx.check_eq(second.get("instructions"), None, "instructions of the follow-up response")


@case(
    "state.chain.previous-response-id-echo",
    Level.SHOULD,
    spec=PREV,
    source=f"{OAI} components.schemas.Response",
)
async def previous_response_id_echo(ctx: CaseContext) -> None:
    """The follow-up response reports its previous_response_id"""
    first = await ctx.create_ok()
    second = await ctx.create_ok(previous_response_id=first.get("id"))
    ctx.check_eq(second.get("previous_response_id"), first.get("id"), "previous_response_id")


@case(
    "state.chain.unknown-previous-rejected",
    Level.MUST,
    spec=PREV + " (the id must name a stored response)",
    source=CREATE,
)
async def unknown_previous_rejected(ctx: CaseContext) -> None:
    """An unknown previous_response_id is rejected with 400 or 404 and an error object"""
    resp = await ctx.create(previous_response_id="resp_conformance_does_not_exist_0000")
    ctx.check(resp.status_code in (400, 404), "status", expected=[400, 404], actual=resp.status_code)
    checks.error_object(ctx, resp)


@case("state.chain.unknown-previous-param", Level.SHOULD, source=CREATE)
async def unknown_previous_param(ctx: CaseContext) -> None:
    """The error for an unknown previous_response_id names param "previous_response_id"

    Error.param: the parameter the error relates to.
    """
    resp = await ctx.create(previous_response_id="resp_conformance_does_not_exist_0000")
    ctx.check(resp.status_code in (400, 404), "status", expected=[400, 404], actual=resp.status_code)
    err = checks.error_object(ctx, resp)
    ctx.check_eq(err.get("param"), "previous_response_id", "error.param")


@case("state.chain.deleted-previous-rejected", Level.MUST, source=CHAIN_SRC)
async def deleted_previous_rejected(ctx: CaseContext) -> None:
    """A deleted response cannot be continued

    DELETE /responses/{response_id}: Deletes a model response with the given ID.
    """
    first = await ctx.create_ok()
    deleted = await ctx.delete(f"/responses/{first.get('id')}")
    ctx.check_eq(deleted.status_code, 200, "status of DELETE")
    resp = await ctx.create(previous_response_id=first.get("id"))
    ctx.check(resp.status_code in (400, 404), "status", expected=[400, 404], actual=resp.status_code)


@case("state.chain.get-equals-create", Level.SHOULD, source=CHAIN_SRC)
async def get_equals_create(ctx: CaseContext) -> None:
    """GET returns the same object the create call returned

    GET /responses/{response_id}: Retrieves a model response with the given ID.
    """
    created = await ctx.create_ok(metadata={"k": "v"}, instructions="Be brief.", temperature=0.5)
    got = ctx.json_ok(await ctx.get(f"/responses/{created.get('id')}"), "GET /responses/{id}")
    diff = sorted(k for k in set(got) | set(created) if got.get(k, "<absent>") != created.get(k, "<absent>"))
    ctx.check(not diff, "fields that differ between create and GET", expected=[], actual=diff)


@case("state.chain.metadata-persisted", Level.MUST, source=f"{OAI} components.schemas.Metadata")
async def metadata_persisted(ctx: CaseContext) -> None:
    """metadata is returned by a later GET

    Metadata: Set of 16 key-value pairs that can be attached to an object. This can be useful for storing
    additional information about the object in a structured format, and querying for objects via API or the
    dashboard.
    """
    meta = {"ticket": "T-42", "owner": "conformance"}
    created = await ctx.create_ok(metadata=meta)
    got = ctx.json_ok(await ctx.get(f"/responses/{created.get('id')}"), "GET /responses/{id}")
    ctx.check_eq(got.get("metadata"), meta, "metadata of the stored response")


@case("state.chain.delete-shape", Level.MUST, source=f"{CHAIN_SRC}.delete x-oaiMeta")
async def delete_shape(ctx: CaseContext) -> None:
    """DELETE answers the deleted id with deleted: true

    DELETE /responses/{response_id}: Deletes a model response with the given ID. (example answer: `{"id":
    "resp_6786a1bec27481909a17d673315b29f6", "object": "response", "deleted": true}`)
    """
    created = await ctx.create_ok()
    body = ctx.json_ok(await ctx.delete(f"/responses/{created.get('id')}"), "DELETE /responses/{id}")
    ctx.check_eq(
        {k: body.get(k) for k in ("id", "deleted")},
        {"id": created.get("id"), "deleted": True},
        "id and deleted of the DELETE answer",
    )
    # the published example says "response"; the API and its SDK type say "response.deleted"
    ctx.check(
        body.get("object") in ("response.deleted", "response"),
        "object of the DELETE answer",
        expected=["response.deleted", "response"],
        actual=body.get("object"),
    )


@case(
    "state.chain.unstored-previous-rejected",
    Level.MUST,
    spec="store: Whether to store the generated model response for later retrieval via API. " + PREV,
    source=CREATE,
)
async def unstored_previous_rejected(ctx: CaseContext) -> None:
    """A response created with store=false cannot be continued"""
    first = await ctx.create_ok(store=False)
    resp = await ctx.create(previous_response_id=first.get("id"))
    ctx.check(resp.status_code in (400, 404), "status", expected=[400, 404], actual=resp.status_code)
    checks.error_object(ctx, resp)


INPUT_ITEMS_SRC = f"{OAI} paths./responses/{{response_id}}/input_items.get"
LIST = f"{OAI} components.schemas.ResponseItemList"
_LIMIT = (
    "limit: A limit on the number of objects to be returned. Limit can range between 1 and 100, and the "
    "default is 20."
)
_ORDER = (
    "order: The order to return the input items in. Default is `desc`. - `asc`: Return the input items in "
    "ascending order. - `desc`: Return the input items in descending order."
)
_AFTER = "after: An item ID to list items after, used in pagination."
N = 7
TEXTS = [f"conformance input {i}" for i in range(N)]


async def _seven(ctx: CaseContext) -> str:
    """A stored response whose input is seven user messages; returns its id."""
    resp = await ctx.create_ok([{"role": "user", "content": t} for t in TEXTS])
    return str(resp.get("id"))


async def _page(ctx: CaseContext, rid: str, **params: Any) -> dict[str, Any]:
    query = {k: str(v) for k, v in params.items()}
    resp = await ctx.get(f"/responses/{rid}/input_items", params=query)
    if resp.status_code == 404 and not params:
        ctx.unimplemented("GET /responses/{id}/input_items answers 404 for a stored response")
    return ctx.json_ok(resp, "GET /responses/{id}/input_items")


def _data(ctx: CaseContext, page: dict[str, Any]) -> list[dict[str, Any]]:
    data = page.get("data")
    ctx.check(isinstance(data, list), "data is an array", expected="array", actual=data)
    return data  # type: ignore[return-value]


@case("state.input-items.list-shape", Level.MUST, source=LIST)
async def list_shape(ctx: CaseContext) -> None:
    """input_items answers a list object with data, first_id, last_id, has_more

    ResponseItemList: A list of Response items. object: The type of object returned, must be `list`. data,
    has_more, first_id, last_id (required).
    """
    checks.list_page_shape(ctx, await _page(ctx, await _seven(ctx)))


@case("state.input-items.all-items", Level.MUST, source=LIST)
async def all_items(ctx: CaseContext) -> None:
    """input_items lists every input message, each a user message item with an id

    data: A list of items used to generate this response.
    """
    data = _data(ctx, await _page(ctx, await _seven(ctx), order="asc"))
    ctx.check_eq([item_text(i) for i in data], TEXTS, "texts of the listed items (order=asc)")
    bad = [
        i
        for i in data
        if not (
            i.get("type") == "message"
            and i.get("role") == "user"
            and isinstance(i.get("id"), str)
            and i["id"]
        )
    ]
    ctx.check(not bad, "every item is a user message with an id", expected=[], actual=bad[:3])


@case("state.input-items.default-order-desc", Level.MUST, spec=_ORDER, source=INPUT_ITEMS_SRC)
async def default_order_desc(ctx: CaseContext) -> None:
    """Without order the items come newest first"""
    data = _data(ctx, await _page(ctx, await _seven(ctx)))
    ctx.check_eq([item_text(i) for i in data], TEXTS[::-1], "texts of the listed items (default order)")


@case("state.input-items.order-asc", Level.MUST, spec=_ORDER, source=INPUT_ITEMS_SRC)
async def order_asc(ctx: CaseContext) -> None:
    """order=asc lists the items in input order"""
    data = _data(ctx, await _page(ctx, await _seven(ctx), order="asc"))
    ctx.check_eq([item_text(i) for i in data], TEXTS, "texts of the listed items (order=asc)")


@case(
    "state.input-items.limit-has-more",
    Level.MUST,
    spec=_LIMIT + " has_more: Whether there are more items available.",
    source=INPUT_ITEMS_SRC,
)
async def limit_has_more(ctx: CaseContext) -> None:
    """limit caps the page and has_more says more items follow"""
    page = await _page(ctx, await _seven(ctx), limit=3, order="asc")
    data = _data(ctx, page)
    ctx.check_eq(
        {"texts": [item_text(i) for i in data], "has_more": page.get("has_more")},
        {"texts": TEXTS[:3], "has_more": True},
        "first page with limit=3",
    )


@case("state.input-items.first-last-id", Level.MUST, source=LIST)
async def first_last_id(ctx: CaseContext) -> None:
    """first_id and last_id are the ids of the first and last items of the page

    first_id: The ID of the first item in the list. last_id: The ID of the last item in the list.
    """
    page = await _page(ctx, await _seven(ctx), limit=3)
    data = _data(ctx, page)
    ctx.check(len(data) == 3, "three items", expected=3, actual=len(data))
    ctx.check_eq(
        (page.get("first_id"), page.get("last_id")),
        (data[0].get("id"), data[-1].get("id")),
        "(first_id, last_id) against data[0].id, data[-1].id",
    )


@case("state.input-items.after-cursor", Level.MUST, spec=_AFTER, source=INPUT_ITEMS_SRC)
async def after_cursor(ctx: CaseContext) -> None:
    """after=<last_id> continues right after that item"""
    rid = await _seven(ctx)
    first = await _page(ctx, rid, limit=3, order="asc")
    second = await _page(ctx, rid, limit=3, order="asc", after=first.get("last_id"))
    ctx.check_eq([item_text(i) for i in _data(ctx, second)], TEXTS[3:6], "texts of the second page")


@case(
    "state.input-items.walk-asc",
    Level.MUST,
    spec=_AFTER + " has_more: Whether there are more items available.",
    source=INPUT_ITEMS_SRC,
)
async def walk_asc(ctx: CaseContext) -> None:
    """Walking pages with after yields every item once, in order, and ends with has_more false"""
    await _walk(ctx, "asc", TEXTS)


@case("state.input-items.walk-desc", Level.MUST, spec=_AFTER + " " + _ORDER, source=INPUT_ITEMS_SRC)
async def walk_desc(ctx: CaseContext) -> None:
    """Walking pages in order=desc yields every item once, newest first"""
    await _walk(ctx, "desc", TEXTS[::-1])


async def _walk(ctx: CaseContext, order: str, want: list[str]) -> None:
    rid = await _seven(ctx)
    seen: list[str] = []
    after: Any = None
    for _ in range(N + 2):  # a gateway that never ends has_more is caught, not looped on
        params: dict[str, Any] = {"limit": 2, "order": order}
        if after is not None:
            params["after"] = after
        page = await _page(ctx, rid, **params)
        data = _data(ctx, page)
        seen += [item_text(i) for i in data]
        if not page.get("has_more"):
            break
        ctx.check(data, "a page with has_more true holds items", expected=">= 1 item", actual=page)
        after = page.get("last_id")
    ctx.check_eq(seen, want, f"texts collected by walking limit=2 pages (order={order})")


@case("state.input-items.last-page-no-more", Level.MUST, source=LIST)
async def last_page_no_more(ctx: CaseContext) -> None:
    """A page that reaches the end says has_more false

    has_more: Whether there are more items available.
    """
    page = await _page(ctx, await _seven(ctx), limit=N)
    ctx.check_eq((len(_data(ctx, page)), page.get("has_more")), (N, False), "(items, has_more) with limit=7")


@case("state.input-items.limit-zero-400", Level.MUST, spec=_LIMIT, source=INPUT_ITEMS_SRC)
async def limit_zero_400(ctx: CaseContext) -> None:
    """limit=0 is rejected with 400 naming limit"""
    await _bad_limit(ctx, 0)


@case("state.input-items.limit-over-100-400", Level.MUST, spec=_LIMIT, source=INPUT_ITEMS_SRC)
async def limit_over_100_400(ctx: CaseContext) -> None:
    """limit=101 is rejected with 400 naming limit"""
    await _bad_limit(ctx, 101)


async def _bad_limit(ctx: CaseContext, limit: int) -> None:
    rid = await _seven(ctx)
    await _page(ctx, rid)  # the endpoint exists (else UNIMPLEMENTED)
    resp = await ctx.get(f"/responses/{rid}/input_items", params={"limit": str(limit)})
    ctx.check_eq(resp.status_code, 400, f"status for limit={limit}")
    err = checks.error_object(ctx, resp)
    ctx.check_eq(err.get("param"), "limit", "error.param")


@case("state.input-items.unknown-response-404", Level.MUST, source=INPUT_ITEMS_SRC)
async def unknown_response_404(ctx: CaseContext) -> None:
    """input_items of an unknown response is 404

    response_id: The ID of the response to retrieve input items for.
    """
    await _page(ctx, await _seven(ctx))  # the endpoint exists (else UNIMPLEMENTED)
    resp = await ctx.get("/responses/resp_conformance_does_not_exist_0000/input_items")
    ctx.check_eq(resp.status_code, 404, "status for an unknown response")
    checks.error_object(ctx, resp)


@case("state.input-items.string-input-item", Level.MUST, source=f"{OAI} components.schemas.InputParam")
async def string_input_item(ctx: CaseContext) -> None:
    """A string input is listed as one user message with an input_text part

    input: A text input to the model, equivalent to a text input with the `user` role.
    """
    created = await ctx.create_ok("Just a string.")
    data = _data(ctx, await _page(ctx, str(created.get("id"))))
    ctx.check_eq(
        [(i.get("type"), i.get("role"), i.get("content")) for i in data],
        [("message", "user", [{"type": "input_text", "text": "Just a string."}])],
        "(type, role, content) of the listed items",
    )
