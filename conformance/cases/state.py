"""Stored responses: retrieve, store=false, delete."""

from __future__ import annotations

from conformance.context import CaseContext
from conformance.model import Level, case

SRC = "openai-openapi.yaml paths./responses/{response_id}"


@case(
    "state.get-after-create",
    level=Level.MUST,
    title="A created response can be retrieved by id",
    spec="GET /responses/{response_id}: Retrieves a model response with the given ID.",
    source=SRC,
)
async def get_after_create(ctx: CaseContext) -> None:
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
    level=Level.MUST,
    title="A response created with store=false cannot be retrieved",
    spec="store: Whether to store the generated model response for later retrieval via API.",
    source="openai-openapi.yaml components.schemas.ResponseProperties.store",
)
async def store_false(ctx: CaseContext) -> None:
    created = await ctx.create_ok(store=False)
    resp = await ctx.get(f"/responses/{created.get('id')}")
    ctx.check_eq(resp.status_code, 404, "GET of a response created with store=false")


@case(
    "state.delete-then-get-404",
    level=Level.MUST,
    title="After DELETE the response is gone",
    spec="DELETE /responses/{response_id}: Deletes a model response with the given ID.",
    source=SRC,
)
async def delete_then_get(ctx: CaseContext) -> None:
    created = await ctx.create_ok()
    rid = created.get("id")
    deleted = await ctx.delete(f"/responses/{rid}")
    ctx.check_eq(deleted.status_code, 200, "status of DELETE")
    resp = await ctx.get(f"/responses/{rid}")
    ctx.check_eq(resp.status_code, 404, "GET after DELETE")


@case(
    "state.delete-twice-404",
    level=Level.MUST,
    title="A second DELETE of the same response is 404",
    spec="DELETE /responses/{response_id}: 404 Not Found.",
    source=SRC,
)
async def delete_twice(ctx: CaseContext) -> None:
    created = await ctx.create_ok()
    rid = created.get("id")
    first = await ctx.delete(f"/responses/{rid}")
    ctx.check_eq(first.status_code, 200, "status of the first DELETE")
    second = await ctx.delete(f"/responses/{rid}")
    ctx.check_eq(second.status_code, 404, "status of the second DELETE")


@case(
    "state.delete-unknown-404",
    level=Level.MUST,
    title="DELETE of an unknown id is 404",
    spec="DELETE /responses/{response_id}: 404 Not Found.",
    source=SRC,
)
async def delete_unknown(ctx: CaseContext) -> None:
    resp = await ctx.delete("/responses/resp_conformance_does_not_exist_0000")
    ctx.check_eq(resp.status_code, 404, "status of DELETE for an unknown id")
