"""Helpers shared by the stateful-API case modules (files, vector stores, conversations, prompts,
connectors, hosted tool flows). Not a case module itself.

They wrap ``CaseContext`` calls; every verdict still comes from ``ctx.check``. Support is
detected, never assumed: a 404 (or 405) on a resource's collection route means the gateway does
not offer that API, which ends the case UNIMPLEMENTED.

``list_cases`` registers the cursor-pagination invariants once per listed resource (files,
vector stores, vector store files, conversation items, connectors), so every list is held to
the same rules: ``limit``/``after``/``order``, ``has_more``, ``first_id``/``last_id``, and that
walking the pages yields each item exactly once.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from conformance import checks
from conformance.context import CaseContext
from conformance.model import FamilyFunc, Level, Row, Tier, family

OAI = "openai-openapi.yaml"
INGEST_TIMEOUT = 10.0  # seconds a case waits for ingestion to finish
POLL_EVERY = 0.1

# The spec's pagination sentences (the same wording on every OpenAI list endpoint).
LIMIT = "limit: A limit on the number of objects to be returned."
AFTER = (
    "after: A cursor for use in pagination. `after` is an object ID that defines your place in the list. "
    "For instance, if you make a list request and receive 100 objects, ending with obj_foo, your subsequent "
    "call can include after=obj_foo in order to fetch the next page of the list."
)
ORDER = (
    "order: Sort order by the `created_at` timestamp of the objects. `asc` for ascending order and `desc` "
    "for descending order."
)
LIST_SHAPE = (
    "object: The type of object returned, must be `list`. data, has_more, first_id, last_id (required)."
)


def unsupported(resp: httpx.Response) -> bool:
    """A collection route the gateway does not serve (404 / 405 without our resource's error)."""
    return resp.status_code in (404, 405)


def json_of(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


def require_support(ctx: CaseContext, resp: httpx.Response, route: str) -> None:
    """UNIMPLEMENTED when ``route`` (a collection route) is not served."""
    if unsupported(resp):
        ctx.unimplemented(f"{route} answers {resp.status_code}: the gateway does not offer this API")


async def probe(ctx: CaseContext, resp: httpx.Response, route: str) -> dict[str, Any]:
    """The check of an area's probe case: the basic operation ``route`` succeeds.

    404/405 mean the API is not offered (UNIMPLEMENTED); any other non-2xx is a FAIL carrying the
    status and the error message (a gateway answering 500 "not configured" fails here, once, and
    the cases the probe gates are BLOCKED)."""
    require_support(ctx, resp, route)
    body = json_of(resp)
    error = body.get("error") if isinstance(body, dict) else None
    said = error.get("message") if isinstance(error, dict) else resp.text[:200]
    ctx.check(
        200 <= resp.status_code < 300,
        f"{route} succeeds",
        expected="a 2xx answer",
        actual=f"HTTP {resp.status_code}: {said}",
    )
    return ctx.json_ok(resp, route) if resp.status_code == 200 else {}


def is_4xx(status: int) -> bool:
    return 400 <= status < 500


# --------------------------------------------------------------------------- files


def multipart(fields: Mapping[str, str], file: tuple[str, bytes, str] | None) -> tuple[bytes, dict[str, str]]:
    """A multipart/form-data body and its content-type header (fields, then the part ``file``)."""
    boundary = "conformance" + secrets.token_hex(12)
    out = bytearray()
    for key, value in fields.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
    if file is not None:
        name, data, ctype = file
        out += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: {ctype}\r\n\r\n"
        ).encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), {"content-type": f"multipart/form-data; boundary={boundary}"}


async def upload(
    ctx: CaseContext,
    name: str = "conformance.txt",
    data: bytes = b"conformance file\n",
    ctype: str = "text/plain",
    purpose: str | None = "assistants",
) -> httpx.Response:
    fields = {"purpose": purpose} if purpose is not None else {}
    body, headers = multipart(fields, (name, data, ctype))
    return await ctx.post("/files", content=body, headers=headers)


async def upload_ok(
    ctx: CaseContext,
    name: str = "conformance.txt",
    data: bytes = b"conformance file\n",
    ctype: str = "text/plain",
    purpose: str = "assistants",
) -> dict[str, Any]:
    resp = await upload(ctx, name, data, ctype, purpose)
    require_support(ctx, resp, "POST /files")
    return ctx.json_ok(resp, "POST /files")


# --------------------------------------------------------------------------- vector stores

# A small corpus of distinct documents; each query shares its distinctive words with exactly one
# document, so both a hashed bag-of-words embedding (the scripted backend) and a real embedding
# model rank that document first.
CORPUS: dict[str, str] = {
    "bananas.txt": "Bananas are yellow tropical fruits rich in potassium and sugar.",
    "volcano.txt": "A volcano erupts molten lava, ash and sulfur gases from deep underground.",
    "violin.txt": "The violin is a string instrument played with a bow in orchestras.",
    "glacier.txt": "Glaciers are slow rivers of ice that carve valleys in cold mountains.",
    "compiler.txt": "A compiler translates program source code into machine instructions.",
}
QUERIES: dict[str, str] = {
    "bananas.txt": "yellow bananas potassium fruits",
    "volcano.txt": "volcano lava eruption ash",
    "violin.txt": "violin string instrument bow",
    "glacier.txt": "glaciers ice valleys mountains",
    "compiler.txt": "compiler source code machine instructions",
}
# Attributes set on the vector-store files (n: number, color: string, ok: boolean).
ATTRS: dict[str, dict[str, Any]] = {
    "bananas.txt": {"n": 1, "color": "yellow", "ok": True},
    "volcano.txt": {"n": 2, "color": "red", "ok": False},
    "violin.txt": {"n": 3, "color": "brown", "ok": True},
    "glacier.txt": {"n": 4, "color": "white", "ok": False},
    "compiler.txt": {"n": 5, "color": "grey", "ok": True},
}


async def create_store(ctx: CaseContext, **body: Any) -> dict[str, Any]:
    resp = await ctx.post("/vector_stores", json={"name": "conformance", **body})
    require_support(ctx, resp, "POST /vector_stores")
    return ctx.json_ok(resp, "POST /vector_stores")


async def attach(ctx: CaseContext, vs_id: str, file_id: str, **extra: Any) -> dict[str, Any]:
    resp = await ctx.post(f"/vector_stores/{vs_id}/files", json={"file_id": file_id, **extra})
    return ctx.json_ok(resp, "POST /vector_stores/{id}/files")


async def wait_file(ctx: CaseContext, vs_id: str, file_id: str) -> dict[str, Any]:
    """Poll a vector-store file until it leaves ``in_progress`` (at most INGEST_TIMEOUT)."""
    deadline = time.monotonic() + INGEST_TIMEOUT
    while True:
        got = ctx.json_ok(
            await ctx.get(f"/vector_stores/{vs_id}/files/{file_id}"),
            "GET /vector_stores/{id}/files/{file_id}",
        )
        if got.get("status") != "in_progress" or time.monotonic() > deadline:
            return got
        await asyncio.sleep(POLL_EVERY)


async def wait_store(ctx: CaseContext, vs_id: str) -> dict[str, Any]:
    """Poll a vector store until no file is in progress (at most INGEST_TIMEOUT)."""
    deadline = time.monotonic() + INGEST_TIMEOUT
    while True:
        got = ctx.json_ok(await ctx.get(f"/vector_stores/{vs_id}"), "GET /vector_stores/{id}")
        counts = got.get("file_counts") or {}
        if counts.get("in_progress") == 0 or time.monotonic() > deadline:
            return got
        await asyncio.sleep(POLL_EVERY)


@dataclass
class Corpus:
    vs_id: str
    files: dict[str, str]  # document name -> file id

    def name_of(self, file_id: Any) -> str | None:
        return next((n for n, f in self.files.items() if f == file_id), None)


async def corpus(ctx: CaseContext, names: Sequence[str] = tuple(CORPUS), attributes: bool = True) -> Corpus:
    """Upload the corpus, attach every document (with ATTRS) to a new store, wait for ingestion."""
    store = await create_store(ctx)
    vs_id = str(store.get("id"))
    files: dict[str, str] = {}
    for name in names:
        f = await upload_ok(ctx, name, CORPUS[name].encode())
        files[name] = str(f.get("id"))
        await attach(ctx, vs_id, files[name], **({"attributes": ATTRS[name]} if attributes else {}))
    for fid in files.values():
        got = await wait_file(ctx, vs_id, fid)
        ctx.check_eq(
            got.get("status"), "completed", f"ingestion of {fid} completes within {INGEST_TIMEOUT:g}s"
        )
    return Corpus(vs_id, files)


async def search(ctx: CaseContext, vs_id: str, query: Any, **extra: Any) -> httpx.Response:
    return await ctx.post(f"/vector_stores/{vs_id}/search", json={"query": query, **extra})


async def search_ok(ctx: CaseContext, vs_id: str, query: Any, **extra: Any) -> list[dict[str, Any]]:
    page = ctx.json_ok(await search(ctx, vs_id, query, **extra), "POST /vector_stores/{id}/search")
    data = page.get("data")
    ctx.check(isinstance(data, list), "search results data is an array", expected="array", actual=data)
    assert isinstance(data, list)
    return [d for d in data if isinstance(d, dict)]


# --------------------------------------------------------------------------- MCP


def require_mcp(ctx: CaseContext) -> str:
    """The URL of an MCP server the gateway can reach (``--mcp-server-url``), else UNIMPLEMENTED."""
    url = ctx.config.mcp_server_url
    if not url:
        ctx.unimplemented(
            "needs an MCP server reachable by the gateway: pass --mcp-server-url URL (python -m "
            "fixtures.mcp_server --port 0)"
        )
    assert url is not None
    return url


# --------------------------------------------------------------------------- list invariants


@dataclass
class Listing:
    """A list route and the ids of the items this case created there, oldest first.

    ``exclusive``: the list holds only this case's items (conversation items, vector-store files);
    otherwise (files, vector stores, connectors) other items may be present and only ours are
    checked. Items a case creates one after another often share a ``created_at`` second; the
    cases expect such ties in creation order, the only order under which ``after=<id>`` cursors
    are well defined."""

    path: str
    ids: list[str]
    exclusive: bool


MakeListing = Callable[[CaseContext, int], Awaitable[Listing]]


async def page(ctx: CaseContext, path: str, route: str, **params: Any) -> dict[str, Any]:
    resp = await ctx.get(path, params={k: str(v) for k, v in params.items()})
    return ctx.json_ok(resp, f"GET {route}")


def data_of(ctx: CaseContext, pg: dict[str, Any]) -> list[dict[str, Any]]:
    data = pg.get("data")
    ctx.check(isinstance(data, list), "data is an array", expected="array", actual=data)
    assert isinstance(data, list)
    return data


async def walk(
    ctx: CaseContext, listing: Listing, route: str, order: str, start_after: str | None, stop_when_seen: bool
) -> list[str]:
    """Follow ``after=last_id`` with limit=2; returns every id seen, in order."""
    seen: list[str] = []
    after = start_after
    for _ in range(200):
        params: dict[str, Any] = {"limit": 2, "order": order}
        if after:
            params["after"] = after
        pg = await page(ctx, listing.path, route, **params)
        data = data_of(ctx, pg)
        ctx.check(len(data) <= 2, "a page holds at most `limit` items", expected="<= 2", actual=len(data))
        fresh = [str(d.get("id")) for d in data]
        repeated = bool(fresh) and set(fresh) <= set(seen)
        seen += fresh
        if repeated:  # the cursor was not honoured: stop, the duplicates tell
            break
        if not pg.get("has_more") or not data:
            break
        if stop_when_seen and set(listing.ids) <= set(seen):
            break
        after = str(pg.get("last_id") or data[-1].get("id"))
    return seen


@dataclass(frozen=True)
class ListRoute:
    """A list route of the list family: ``make(ctx, n)`` creates n items there."""

    route: str
    make: MakeListing
    default_order: str = "desc"


async def list_shape(ctx: CaseContext, lr: ListRoute) -> None:
    listing = await lr.make(ctx, 1)
    checks.list_page_shape(ctx, await page(ctx, listing.path, lr.route))


async def list_limit_has_more(ctx: CaseContext, lr: ListRoute) -> None:
    listing = await lr.make(ctx, 3)
    pg = await page(ctx, listing.path, lr.route, limit=2)
    ctx.check_eq(len(data_of(ctx, pg)), 2, "number of items with limit=2")
    ctx.check_eq(pg.get("has_more"), True, "has_more with limit=2 and at least 3 items")


async def list_first_last(ctx: CaseContext, lr: ListRoute) -> None:
    listing = await lr.make(ctx, 3)
    pg = await page(ctx, listing.path, lr.route, limit=2)
    data = data_of(ctx, pg)
    ctx.check(bool(data), "the page is not empty", expected="items", actual=data)
    ctx.check_eq(
        [pg.get("first_id"), pg.get("last_id")],
        [data[0].get("id"), data[-1].get("id")],
        "[first_id, last_id] vs the ids of the first and last item",
    )


async def list_default_order(ctx: CaseContext, lr: ListRoute) -> None:
    listing = await lr.make(ctx, 3)
    data = data_of(ctx, await page(ctx, listing.path, lr.route, limit=100))
    ours = [str(d.get("id")) for d in data if d.get("id") in listing.ids]
    want = listing.ids[::-1] if lr.default_order == "desc" else listing.ids
    ctx.check_eq(ours, want, f"our ids in the default listing (default order {lr.default_order})")


async def list_walk_desc(ctx: CaseContext, lr: ListRoute) -> None:
    listing = await lr.make(ctx, 5)
    seen = await walk(ctx, listing, lr.route, "desc", None, stop_when_seen=not listing.exclusive)
    dups = sorted({i for i in seen if seen.count(i) > 1})
    ctx.check(not dups, "no item appears twice while walking", expected=[], actual=dups)
    ctx.check_eq([i for i in seen if i in listing.ids], listing.ids[::-1], "our ids, walking desc")


async def list_walk_asc(ctx: CaseContext, lr: ListRoute) -> None:
    listing = await lr.make(ctx, 5)
    # Shared lists may hold many older items: start after our oldest one.
    start = None if listing.exclusive else listing.ids[0]
    want = listing.ids if listing.exclusive else listing.ids[1:]
    seen = await walk(ctx, listing, lr.route, "asc", start, stop_when_seen=False)
    dups = sorted({i for i in seen if seen.count(i) > 1})
    ctx.check(not dups, "no item appears twice while walking", expected=[], actual=dups)
    ctx.check_eq([i for i in seen if i in listing.ids], want, "our ids, walking asc")


async def list_last_page(ctx: CaseContext, lr: ListRoute) -> None:
    listing = await lr.make(ctx, 2)
    # An exclusive list ends with our items; in a shared one only items newer than our oldest
    # can follow it (asc, after our oldest).
    if listing.exclusive:
        pg = await page(ctx, listing.path, lr.route, limit=100)
    else:
        pg = await page(ctx, listing.path, lr.route, limit=100, order="asc", after=listing.ids[0])
        data = data_of(ctx, pg)
        if len(data) >= 100:
            ctx.skip("too many newer items in the shared list to reach its end in one page")
    ctx.check_eq(pg.get("has_more"), False, "has_more on a page that reaches the end of the list")


def list_cases(
    module: str,
    area: str,
    route: str,
    make: MakeListing,
    *,
    level: Level,
    source: str,
    tier: Tier = Tier.STRUCTURAL,
    default_order: str = "desc",
    default_order_spec: str = ORDER,
) -> None:
    """Register the pagination invariants of one list route under ``<area>.list.*``, as cases of
    ``module`` (the area module that calls this)."""
    lr = ListRoute(route, make, default_order)
    newest = "newest first" if default_order == "desc" else "oldest first"
    table: list[tuple[str, str, str, FamilyFunc[ListRoute]]] = [
        (
            "shape",
            f"GET {route} answers a list object with data, first_id, last_id, has_more",
            LIST_SHAPE,
            list_shape,
        ),
        (
            "limit-has-more",
            f"GET {route}?limit=2 answers two items and has_more=true when there are more",
            LIMIT + " has_more: Whether there are more items available.",
            list_limit_has_more,
        ),
        (
            "first-last-id",
            "first_id and last_id name the first and last item of the page",
            "first_id: The ID of the first item in the list. last_id: The ID of the last item in the list.",
            list_first_last,
        ),
        (
            "default-order",
            f"Without order, GET {route} lists {newest}",
            default_order_spec,
            list_default_order,
        ),
        (
            "walk-desc",
            "Walking order=desc pages with after=last_id yields each item exactly once, newest first",
            AFTER,
            list_walk_desc,
        ),
        (
            "walk-asc",
            "Walking order=asc pages with after=last_id yields each item exactly once, oldest first",
            AFTER + " " + ORDER,
            list_walk_asc,
        ),
        (
            "last-page-no-more",
            "The last page has has_more=false",
            "has_more: Whether there are more items available.",
            list_last_page,
        ),
    ]
    for suffix, title, spec, check in table:
        row = Row(f"{area}.list.{suffix}", level, title, spec, lr, source=source, tier=tier)
        family([row], module=module)(check)


# --------------------------------------------------------------------------- resource family

Probes = Callable[[CaseContext, dict[str, Any]], Awaitable[dict[str, int]]]


@dataclass(frozen=True)
class Resource:
    """A stateful resource behind ``path`` (``/files``): ``create(ctx, **body)`` makes one (and
    ends the case UNIMPLEMENTED when the gateway does not offer the API)."""

    path: str
    create: Callable[..., Awaitable[dict[str, Any]]]
    deleted_object: str  # the `object` of the DELETE answer
    missing_id: str  # an id no gateway has issued

    def url(self, obj: dict[str, Any]) -> str:
        return f"{self.path}/{obj.get('id')}"


@dataclass(frozen=True)
class Retrieve:
    """GET of a created object answers the ``kept`` fields as the create did."""

    resource: Resource
    kept: tuple[str, ...]
    body: dict[str, Any] = field(default_factory=dict)  # the create's body
    what: str = "retrieved vs created"


@dataclass(frozen=True)
class Gone:
    """After DELETE (answered 200), every probe of the deleted object answers 404."""

    resource: Resource
    probes: Probes
    setup: Callable[[CaseContext], Awaitable[dict[str, Any]]] | None = None  # default: create


@dataclass(frozen=True)
class NotListed:
    """A deleted object is not in the newest page of its collection."""

    resource: Resource
    what: str


async def retrieve_equals_create(ctx: CaseContext, r: Retrieve) -> None:
    made = await r.resource.create(ctx, **r.body)
    got = ctx.json_ok(await ctx.get(r.resource.url(made)), f"GET {r.resource.path}/{{id}}")
    ctx.check_eq({k: got.get(k) for k in r.kept}, {k: made.get(k) for k in r.kept}, r.what)


@dataclass(frozen=True)
class Unknown:
    """GET of an id the gateway never issued is 404."""

    resource: Resource


@dataclass(frozen=True)
class Deleted:
    """DELETE answers ``{id, object: <deleted_object>, deleted: true}``."""

    resource: Resource


async def unknown_is_404(ctx: CaseContext, unknown: Unknown) -> None:
    resource = unknown.resource
    await resource.create(ctx)  # detects support
    resp = await ctx.get(f"{resource.path}/{resource.missing_id}")
    ctx.check_eq(resp.status_code, 404, f"status of GET {resource.path}/{{id}} for an unknown id")


async def delete_answer(ctx: CaseContext, deleted: Deleted) -> None:
    resource = deleted.resource
    made = await resource.create(ctx)
    got = ctx.json_ok(await ctx.delete(resource.url(made)), f"DELETE {resource.path}/{{id}}")
    ctx.check_eq(
        {k: got.get(k) for k in ("id", "object", "deleted")},
        {"id": made.get("id"), "object": resource.deleted_object, "deleted": True},
        "delete answer",
    )


async def _deleted(ctx: CaseContext, resource: Resource, setup: Any = None) -> dict[str, Any]:
    made = await (setup or resource.create)(ctx)
    resp = await ctx.delete(resource.url(made))
    ctx.check_eq(resp.status_code, 200, f"status of DELETE {resource.path}/{{id}}")
    return made


async def gone_after_delete(ctx: CaseContext, gone: Gone) -> None:
    made = await _deleted(ctx, gone.resource, gone.setup)
    got = await gone.probes(ctx, made)
    ctx.check_eq(got, {k: 404 for k in got}, "statuses after DELETE")


async def not_listed_after_delete(ctx: CaseContext, nl: NotListed) -> None:
    made = await _deleted(ctx, nl.resource)
    page = ctx.json_ok(await ctx.get(nl.resource.path, params={"limit": "100"}), f"GET {nl.resource.path}")
    ids = [d.get("id") for d in page.get("data") or [] if isinstance(d, dict)]
    ctx.check(made.get("id") not in ids, nl.what, expected=f"no {made.get('id')}", actual=ids[:10])


_RESOURCE_CHECKS: dict[type, FamilyFunc[Any]] = {
    Retrieve: retrieve_equals_create,
    Unknown: unknown_is_404,
    Deleted: delete_answer,
    Gone: gone_after_delete,
    NotListed: not_listed_after_delete,
}


def resource_cases(module: str, rows: Sequence[Row[Any]]) -> None:
    """Register rows of the resource family as cases of ``module``; a row's params say what it
    checks: ``Retrieve``, ``Unknown``, ``Deleted``, ``Gone`` (after DELETE) or ``NotListed``."""
    for row in rows:
        family([row], module=module)(_RESOURCE_CHECKS[type(row.params)])
