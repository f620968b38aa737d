"""Tenant isolation: with keys of two tenants, neither reaches the other's stored objects.

Only meaningful when the run has two keys of two tenants (``--api-key-env`` and
``--second-api-key-env``); otherwise the cases are UNIMPLEMENTED. Tenant A (the run's key)
creates an object; tenant B (the second key) must get 404 for it, not find it in lists, and not
build on it (``previous_response_id``). The OpenAI API scopes every object to its project: an id
from another project is answered as unknown."""

from __future__ import annotations

from typing import Any

import httpx

from conformance.cases._stateful import OAI, require_support, upload
from conformance.context import CaseContext
from conformance.model import Level, case

SPEC = (
    f"{OAI} security: ApiKeyAuth; objects belong to the project of the key that created them, and "
    "a key of another project gets 404 for them, as for an unknown id"
)


def _tenant_b(ctx: CaseContext) -> dict[str, str]:
    if not ctx.config.api_key or not ctx.config.second_api_key:
        ctx.unimplemented("the run has no keys of two tenants (--api-key-env and --second-api-key-env)")
    return {"authorization": f"Bearer {ctx.config.second_api_key}"}


def _created(ctx: CaseContext, resp: httpx.Response, route: str) -> str:
    require_support(ctx, resp, route)
    obj = ctx.json_ok(resp, route)
    ctx.check(isinstance(obj.get("id"), str), f"{route} answers an object with an id", actual=obj.get("id"))
    return str(obj["id"])


async def _hidden(ctx: CaseContext, b: dict[str, str], object_id: str, paths: list[str],
                  listing: str | None) -> None:
    for path in paths:
        mine = await ctx.get(path)
        ctx.check_eq(mine.status_code, 200, f"GET {path} with tenant A's key (its owner)")
        theirs = await ctx.get(path, headers=b)
        ctx.check_eq(theirs.status_code, 404, f"GET {path} with tenant B's key")
    if listing is None:
        return
    resp = await ctx.get(listing, headers=b, params={"limit": "100"})
    if resp.status_code == 200:
        data: Any = resp.json().get("data") if isinstance(resp.json(), dict) else None
        ids = [x.get("id") for x in data or [] if isinstance(x, dict)]
        ctx.check(object_id not in ids, f"GET {listing} with tenant B's key leaves out tenant A's object",
                  expected=f"no {object_id}", actual=ids[:20])


@case("tenants.isolation.response", Level.SHOULD, spec=SPEC, source=f"{OAI} paths./responses/{{response_id}}")
async def response(ctx: CaseContext) -> None:
    """Another tenant gets 404 for a stored response and its input items, and does not list it"""
    b = _tenant_b(ctx)
    rid = str((await ctx.create_ok("Remember: tenant A's response.", store=True))["id"])
    await _hidden(ctx, b, rid, [f"/responses/{rid}", f"/responses/{rid}/input_items"], "/responses")


@case("tenants.isolation.chain", Level.SHOULD, spec=SPEC, source=f"{OAI} components.schemas.CreateResponse")
async def chain(ctx: CaseContext) -> None:
    """Another tenant cannot continue a stored response with previous_response_id"""
    b = _tenant_b(ctx)
    rid = str((await ctx.create_ok("Remember: tenant A's secret.", store=True))["id"])
    resp = await ctx.post("/responses", json=ctx.body("What did I say?", previous_response_id=rid), headers=b)
    ctx.check(400 <= resp.status_code < 500,
              "a create by tenant B naming tenant A's response is refused (4xx)",
              expected="400 or 404", actual=resp.status_code)


@case("tenants.isolation.file", Level.SHOULD, spec=SPEC, source=f"{OAI} paths./files/{{file_id}}")
async def file(ctx: CaseContext) -> None:
    """Another tenant gets 404 for a file and its content, and does not list it"""
    b = _tenant_b(ctx)
    fid = _created(ctx, await upload(ctx, "tenant-a.txt", b"tenant A's notes\n"), "POST /files")
    await _hidden(ctx, b, fid, [f"/files/{fid}", f"/files/{fid}/content"], "/files")


@case("tenants.isolation.vector-store", Level.SHOULD, spec=SPEC,
      source=f"{OAI} paths./vector_stores/{{vector_store_id}}")
async def vector_store(ctx: CaseContext) -> None:
    """Another tenant gets 404 for a vector store and does not list it"""
    b = _tenant_b(ctx)
    vid = _created(ctx, await ctx.post("/vector_stores", json={"name": "tenant A"}), "POST /vector_stores")
    await _hidden(ctx, b, vid, [f"/vector_stores/{vid}"], "/vector_stores")


@case("tenants.isolation.conversation", Level.SHOULD, spec=SPEC,
      source=f"{OAI} paths./conversations/{{conversation_id}}")
async def conversation(ctx: CaseContext) -> None:
    """Another tenant gets 404 for a conversation and its items"""
    b = _tenant_b(ctx)
    cid = _created(ctx, await ctx.post("/conversations", json={}), "POST /conversations")
    await _hidden(ctx, b, cid, [f"/conversations/{cid}", f"/conversations/{cid}/items"], None)
