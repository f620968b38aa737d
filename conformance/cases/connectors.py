"""Connectors: MCP servers that mcp tools name by connector_id.

Connectors: a registry of MCP servers that `{"type": "mcp"}` tools name by `connector_id`.

OpenAI's ``MCPTool`` takes "`server_url` or `connector_id`" but publishes no API to register
connectors. These cases use the API documented by this project's reference gateway
(``reference/services/connectors.py``): ``POST /connectors`` ``{label, server_url, headers?,
description?, metadata?}`` -> ``{id: "conn_...", object: "connector", ...}`` with header values
redacted; ``GET /connectors`` (paginated, default order desc); ``GET``/``DELETE
/connectors/{id}`` (``connector.deleted``). A gateway without ``/connectors`` is UNIMPLEMENTED
(404 on the collection route). Every case is SHOULD: the contract is this project's, not
OpenAI's."""

from __future__ import annotations

from typing import Any

from conformance.cases._stateful import Listing, list_cases, require_mcp, require_support
from conformance.context import CaseContext
from conformance.model import Level, Tier, case

REF = "reference/services/connectors.py (the project's documented connectors API; OpenAI publishes none)"
SECRET = "Bearer conformance-secret-0123456789abcdef"


async def _create(ctx: CaseContext, url: str = "http://127.0.0.1:9/mcp", **body: Any) -> dict[str, Any]:
    resp = await ctx.post("/connectors", json={"label": "conformance", "server_url": url} | body)
    require_support(ctx, resp, "POST /connectors")
    return ctx.json_ok(resp, "POST /connectors")


@case("connectors.create.shape", Level.SHOULD, source=REF)
async def create_shape(ctx: CaseContext) -> None:
    """POST /connectors answers a connector object echoing label and server_url

    {"id": "conn_...", "object": "connector", "created_at": 1700000000, "label": "docs", "server_url":
    "https://mcp.example/mcp", "description": null, "metadata": {}, "headers": {...}}
    """
    c = await _create(ctx, metadata={"team": "qa"})
    ctx.check_eq(
        [
            c.get("object"),
            str(c.get("id")).startswith("conn_"),
            c.get("label"),
            c.get("server_url"),
            c.get("metadata"),
        ],
        ["connector", True, "conformance", "http://127.0.0.1:9/mcp", {"team": "qa"}],
        "[object, id starts with conn_, label, server_url, metadata]",
    )


@case("connectors.create.headers-redacted", Level.SHOULD, source=REF)
async def headers_redacted(ctx: CaseContext) -> None:
    """Header values (credentials) are never returned in full (create, get, list)

    Header values are credentials: they are stored (the MCP loop sends them) but never returned in full.
    """
    c = await _create(ctx, headers={"Authorization": SECRET})
    got = ctx.json_ok(await ctx.get(f"/connectors/{c.get('id')}"), "GET /connectors/{id}")
    listed = ctx.json_ok(await ctx.get("/connectors", params={"limit": "100"}), "GET /connectors")
    bodies = [str(c), str(got), str(listed)]
    ctx.check(
        all(SECRET not in b and "0123456789abcdef" not in b for b in bodies),
        "the secret appears in no answer",
        expected="redacted",
        actual=[c.get("headers"), got.get("headers")],
    )
    ctx.check(
        "Authorization" in (got.get("headers") or {}),
        "the header name is still shown",
        expected="Authorization",
        actual=got.get("headers"),
    )


@case("connectors.create.bad-url-400", Level.SHOULD, source=REF)
async def bad_url(ctx: CaseContext) -> None:
    """A server_url that is not an absolute http(s) URL is a 400

    `server_url` must be an absolute http(s) URL.
    """
    await _create(ctx)
    resp = await ctx.post("/connectors", json={"label": "bad", "server_url": "file:///etc/passwd"})
    ctx.check_eq(resp.status_code, 400, "status")


@case("connectors.delete.use-after-delete", Level.SHOULD, source=REF)
async def delete_then(ctx: CaseContext) -> None:
    """DELETE answers connector.deleted; afterwards GET and DELETE are 404

    DELETE /v1/connectors/{id} -> {"id", "object": "connector.deleted", "deleted": true}
    """
    c = await _create(ctx)
    cid = c.get("id")
    got = ctx.json_ok(await ctx.delete(f"/connectors/{cid}"), "DELETE /connectors/{id}")
    ctx.check_eq(
        [got.get("id"), got.get("object"), got.get("deleted")],
        [cid, "connector.deleted", True],
        "delete answer",
    )
    codes = [
        (await ctx.get(f"/connectors/{cid}")).status_code,
        (await ctx.delete(f"/connectors/{cid}")).status_code,
    ]
    ctx.check_eq(codes, [404, 404], "[GET, DELETE] after DELETE")


@case("connectors.use.mcp-by-connector-id", Level.SHOULD, source=REF, tier=Tier.SCRIPTED)
async def use_connector(ctx: CaseContext) -> None:
    """An mcp tool naming connector_id reaches the registered server (list tools and call)

    MCPTool: server_url or connector_id. (connector_id names a connector registered at /v1/connectors)
    """
    await ctx.require_scripted()
    url = require_mcp(ctx)
    c = await _create(ctx, url=url)
    tool = {
        "type": "mcp",
        "server_label": "viaconn",
        "connector_id": c.get("id"),
        "require_approval": "never",
        "allowed_tools": ["echo"],
    }
    resp = await ctx.create_ok('[[tool::{"text":"through a connector"}]]', tools=[tool])
    calls = [i for i in resp.get("output") or [] if isinstance(i, dict) and i.get("type") == "mcp_call"]
    ctx.check_eq(
        [(i.get("name"), i.get("output")) for i in calls],
        [("echo", "through a connector")],
        "(name, output) of the mcp_call items",
    )


@case("connectors.use.deleted-connector-rejected", Level.SHOULD, source=REF)
async def deleted_connector(ctx: CaseContext) -> None:
    """An mcp tool naming a deleted connector is rejected with a 4xx

    `connectors.resolve_connector(engine, id)` (404 when unknown); unknown ids answer a 400 (connector_refs /
    server_ref_from_tool).
    """
    c = await _create(ctx)
    cid = c.get("id")
    ctx.check_eq((await ctx.delete(f"/connectors/{cid}")).status_code, 200, "status of DELETE")
    tool = {"type": "mcp", "server_label": "gone", "connector_id": cid, "require_approval": "never"}
    resp = await ctx.create("hi", tools=[tool])
    ctx.check(resp.status_code in (400, 404), "status", expected="400 or 404", actual=resp.status_code)


async def _connectors(ctx: CaseContext, n: int) -> Listing:
    ids = [str((await _create(ctx, label=f"list{i}")).get("id")) for i in range(n)]
    return Listing("/connectors", ids, exclusive=False)


list_cases(
    __name__,
    "connectors",
    "/connectors",
    _connectors,
    level=Level.SHOULD,
    source=REF,
    default_order_spec="GET /v1/connectors (paginated like every OpenAI list: `limit`, `after`, `before`, "
    "`order` default `desc`)",
)
