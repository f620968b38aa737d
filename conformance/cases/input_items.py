"""``GET /responses/{id}/input_items``: the list object and cursor pagination."""

from __future__ import annotations

from typing import Any

from conformance.cases._support import OAI
from conformance.cases.errors import check_error_object
from conformance.context import CaseContext
from conformance.model import Level, case

SRC = f"{OAI} paths./responses/{{response_id}}/input_items.get"
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


def _text(item: Any) -> str:
    if not isinstance(item, dict):
        return repr(item)
    content = item.get("content")
    if isinstance(content, str):
        return content
    return "".join(str(p.get("text", "")) for p in content or [] if isinstance(p, dict))


def _data(ctx: CaseContext, page: dict[str, Any]) -> list[dict[str, Any]]:
    data = page.get("data")
    ctx.check(isinstance(data, list), "data is an array", expected="array", actual=data)
    return data  # type: ignore[return-value]


@case(
    "state.input-items.list-shape",
    level=Level.MUST,
    title="input_items answers a list object with data, first_id, last_id, has_more",
    spec="ResponseItemList: A list of Response items. object: The type of object returned, must be `list`. "
    "data, has_more, first_id, last_id (required).",
    source=LIST,
)
async def list_shape(ctx: CaseContext) -> None:
    page = await _page(ctx, await _seven(ctx))
    shape = {
        "object": page.get("object"),
        "data": isinstance(page.get("data"), list),
        "has_more": isinstance(page.get("has_more"), bool),
        "first_id": isinstance(page.get("first_id"), str),
        "last_id": isinstance(page.get("last_id"), str),
    }
    ctx.check_eq(
        shape,
        {"object": "list", "data": True, "has_more": True, "first_id": True, "last_id": True},
        "list object fields (types)",
    )


@case(
    "state.input-items.all-items",
    level=Level.MUST,
    title="input_items lists every input message, each a user message item with an id",
    spec="data: A list of items used to generate this response.",
    source=LIST,
)
async def all_items(ctx: CaseContext) -> None:
    data = _data(ctx, await _page(ctx, await _seven(ctx), order="asc"))
    ctx.check_eq([_text(i) for i in data], TEXTS, "texts of the listed items (order=asc)")
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


@case(
    "state.input-items.default-order-desc",
    level=Level.MUST,
    title="Without order the items come newest first",
    spec=_ORDER,
    source=SRC,
)
async def default_order_desc(ctx: CaseContext) -> None:
    data = _data(ctx, await _page(ctx, await _seven(ctx)))
    ctx.check_eq([_text(i) for i in data], TEXTS[::-1], "texts of the listed items (default order)")


@case(
    "state.input-items.order-asc",
    level=Level.MUST,
    title="order=asc lists the items in input order",
    spec=_ORDER,
    source=SRC,
)
async def order_asc(ctx: CaseContext) -> None:
    data = _data(ctx, await _page(ctx, await _seven(ctx), order="asc"))
    ctx.check_eq([_text(i) for i in data], TEXTS, "texts of the listed items (order=asc)")


@case(
    "state.input-items.limit-has-more",
    level=Level.MUST,
    title="limit caps the page and has_more says more items follow",
    spec=_LIMIT + " has_more: Whether there are more items available.",
    source=SRC,
)
async def limit_has_more(ctx: CaseContext) -> None:
    page = await _page(ctx, await _seven(ctx), limit=3, order="asc")
    data = _data(ctx, page)
    ctx.check_eq(
        {"texts": [_text(i) for i in data], "has_more": page.get("has_more")},
        {"texts": TEXTS[:3], "has_more": True},
        "first page with limit=3",
    )


@case(
    "state.input-items.first-last-id",
    level=Level.MUST,
    title="first_id and last_id are the ids of the first and last items of the page",
    spec="first_id: The ID of the first item in the list. last_id: The ID of the last item in the list.",
    source=LIST,
)
async def first_last_id(ctx: CaseContext) -> None:
    page = await _page(ctx, await _seven(ctx), limit=3)
    data = _data(ctx, page)
    ctx.check(len(data) == 3, "three items", expected=3, actual=len(data))
    ctx.check_eq(
        (page.get("first_id"), page.get("last_id")),
        (data[0].get("id"), data[-1].get("id")),
        "(first_id, last_id) against data[0].id, data[-1].id",
    )


@case(
    "state.input-items.after-cursor",
    level=Level.MUST,
    title="after=<last_id> continues right after that item",
    spec=_AFTER,
    source=SRC,
)
async def after_cursor(ctx: CaseContext) -> None:
    rid = await _seven(ctx)
    first = await _page(ctx, rid, limit=3, order="asc")
    second = await _page(ctx, rid, limit=3, order="asc", after=first.get("last_id"))
    ctx.check_eq([_text(i) for i in _data(ctx, second)], TEXTS[3:6], "texts of the second page")


@case(
    "state.input-items.walk-asc",
    level=Level.MUST,
    title="Walking pages with after yields every item once, in order, and ends with has_more false",
    spec=_AFTER + " has_more: Whether there are more items available.",
    source=SRC,
)
async def walk_asc(ctx: CaseContext) -> None:
    await _walk(ctx, "asc", TEXTS)


@case(
    "state.input-items.walk-desc",
    level=Level.MUST,
    title="Walking pages in order=desc yields every item once, newest first",
    spec=_AFTER + " " + _ORDER,
    source=SRC,
)
async def walk_desc(ctx: CaseContext) -> None:
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
        seen += [_text(i) for i in data]
        if not page.get("has_more"):
            break
        ctx.check(data, "a page with has_more true holds items", expected=">= 1 item", actual=page)
        after = page.get("last_id")
    ctx.check_eq(seen, want, f"texts collected by walking limit=2 pages (order={order})")


@case(
    "state.input-items.last-page-no-more",
    level=Level.MUST,
    title="A page that reaches the end says has_more false",
    spec="has_more: Whether there are more items available.",
    source=LIST,
)
async def last_page_no_more(ctx: CaseContext) -> None:
    page = await _page(ctx, await _seven(ctx), limit=N)
    ctx.check_eq((len(_data(ctx, page)), page.get("has_more")), (N, False), "(items, has_more) with limit=7")


@case(
    "state.input-items.limit-zero-400",
    level=Level.MUST,
    title="limit=0 is rejected with 400 naming limit",
    spec=_LIMIT,
    source=SRC,
)
async def limit_zero_400(ctx: CaseContext) -> None:
    await _bad_limit(ctx, 0)


@case(
    "state.input-items.limit-over-100-400",
    level=Level.MUST,
    title="limit=101 is rejected with 400 naming limit",
    spec=_LIMIT,
    source=SRC,
)
async def limit_over_100_400(ctx: CaseContext) -> None:
    await _bad_limit(ctx, 101)


async def _bad_limit(ctx: CaseContext, limit: int) -> None:
    rid = await _seven(ctx)
    await _page(ctx, rid)  # the endpoint exists (else UNIMPLEMENTED)
    resp = await ctx.get(f"/responses/{rid}/input_items", params={"limit": str(limit)})
    ctx.check_eq(resp.status_code, 400, f"status for limit={limit}")
    err = check_error_object(ctx, resp)
    ctx.check_eq(err.get("param"), "limit", "error.param")


@case(
    "state.input-items.unknown-response-404",
    level=Level.MUST,
    title="input_items of an unknown response is 404",
    spec="response_id: The ID of the response to retrieve input items for.",
    source=SRC,
)
async def unknown_response_404(ctx: CaseContext) -> None:
    await _page(ctx, await _seven(ctx))  # the endpoint exists (else UNIMPLEMENTED)
    resp = await ctx.get("/responses/resp_conformance_does_not_exist_0000/input_items")
    ctx.check_eq(resp.status_code, 404, "status for an unknown response")
    check_error_object(ctx, resp)


@case(
    "state.input-items.string-input-item",
    level=Level.MUST,
    title="A string input is listed as one user message with an input_text part",
    spec="input: A text input to the model, equivalent to a text input with the `user` role.",
    source=f"{OAI} components.schemas.InputParam",
)
async def string_input_item(ctx: CaseContext) -> None:
    created = await ctx.create_ok("Just a string.")
    data = _data(ctx, await _page(ctx, str(created.get("id"))))
    ctx.check_eq(
        [(i.get("type"), i.get("role"), i.get("content")) for i in data],
        [("message", "user", [{"type": "input_text", "text": "Just a string."}])],
        "(type, role, content) of the listed items",
    )
