"""/vector_stores: stores, files, file batches, search, list.

`/vector_stores`: stores, their files (ingestion, attributes, counts), file batches, search
(filters, score_threshold, max_num_results, ranking), use after delete, and list pagination.

Ingestion is polled for at most ``_stateful.INGEST_TIMEOUT`` seconds. The small corpus
(``_stateful.CORPUS``) has distinct documents whose queries share their distinctive words, so
the right document ranks first with hashed bag-of-words embeddings (the scripted backend) and
with a real embedding model alike: those cases are MUST."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from conformance.cases._stateful import (
    ATTRS,
    CORPUS,
    OAI,
    QUERIES,
    Deleted,
    Gone,
    Listing,
    NotListed,
    Resource,
    Retrieve,
    Unknown,
    attach,
    corpus,
    create_store,
    is_4xx,
    json_of,
    list_cases,
    probe,
    require_support,
    resource_cases,
    search,
    search_ok,
    upload_ok,
    wait_file,
    wait_store,
)
from conformance.context import CaseContext
from conformance.model import Level, Row, case, family

SRC = f"{OAI} paths./vector_stores"
ITEM = f"{OAI} paths./vector_stores/{{vector_store_id}}"
FILES = f"{OAI} paths./vector_stores/{{vector_store_id}}/files"
BATCHES = f"{OAI} paths./vector_stores/{{vector_store_id}}/file_batches"
SEARCH = f"{OAI} paths./vector_stores/{{vector_store_id}}/search"
STORE = f"{OAI} components.schemas.VectorStoreObject"
VSFILE = f"{OAI} components.schemas.VectorStoreFileObject"
BATCH = f"{OAI} components.schemas.VectorStoreFileBatchObject"
REQ = f"{OAI} components.schemas.VectorStoreSearchRequest"
PAGE = f"{OAI} components.schemas.VectorStoreSearchResultsPage"
CMP = f"{OAI} components.schemas.ComparisonFilter"
COMPOUND = f"{OAI} components.schemas.CompoundFilter"
COUNT_KEYS = ("in_progress", "completed", "failed", "cancelled", "total")
_STATUS = (
    "status: The status of the vector store file, which can be either `in_progress`, `completed`, "
    "`cancelled`, or `failed`. The status `completed` indicates that the vector store file is ready for use."
)
_CMP_TYPES = (
    "type: Specifies the comparison operator: `eq`, `ne`, `gt`, `gte`, `lt`, `lte`, `in`, `nin`. - `eq`: "
    "equals - `ne`: not equal - `gt`: greater than - `gte`: greater than or equal - `lt`: less than - "
    "`lte`: less than or equal - `in`: in - `nin`: not in"
)


def _counts_ok(counts: Any) -> bool:
    return (
        isinstance(counts, dict)
        and all(isinstance(counts.get(k), int) for k in COUNT_KEYS)
        and sum(counts[k] for k in COUNT_KEYS[:4]) == counts["total"]
    )


# --------------------------------------------------------------------------- stores


@case(
    "vector_stores.probe.create",
    Level.MUST,
    source=f"{SRC}.post",
    gates=("vector_stores", "schemas.objects.vector-stores", "tool_flows.file_search"),
    hint="creating a vector store must work (the gateway needs its vector-store backend "
    "configured) for the vector-store and file_search cases to run",
)
async def probe_create(ctx: CaseContext) -> None:
    """POST /vector_stores creates a vector store (the vector stores area's probe)

    Create a vector store. (responses: 200 with the VectorStoreObject)
    """
    resp = await ctx.post("/vector_stores", json={"name": "conformance-probe"})
    await probe(ctx, resp, "POST /vector_stores")


@case("vector_stores.create.shape", Level.MUST, source=STORE)
async def create_shape(ctx: CaseContext) -> None:
    """POST /vector_stores answers a vector_store object with every required field

    VectorStoreObject required: id, object, usage_bytes, created_at, status, last_active_at, name,
    file_counts, metadata. object: The object type, which is always `vector_store`.
    """
    vs = await create_store(ctx, metadata={"suite": "conformance"})
    missing = [
        k
        for k in (
            "id",
            "object",
            "usage_bytes",
            "created_at",
            "status",
            "last_active_at",
            "name",
            "file_counts",
            "metadata",
        )
        if k not in vs
    ]
    ctx.check(not missing, "required fields present", expected=[], actual=missing)
    ctx.check_eq(
        [vs.get("object"), vs.get("name"), vs.get("metadata")],
        ["vector_store", "conformance", {"suite": "conformance"}],
        "[object, name, metadata]",
    )
    ctx.check(
        _counts_ok(vs.get("file_counts")),
        "file_counts has the five integer counts, adding up",
        expected=list(COUNT_KEYS),
        actual=vs.get("file_counts"),
    )


@case("vector_stores.create.id-prefix", Level.SHOULD, source=STORE)
async def create_id_prefix(ctx: CaseContext) -> None:
    """Vector store ids start with vs_

    id: The identifier, which can be referenced in API endpoints. (example: vs_abc123)
    """
    vs = await create_store(ctx)
    ctx.check(
        str(vs.get("id")).startswith("vs_"), "the id starts with vs_", expected="vs_...", actual=vs.get("id")
    )


@case(
    "vector_stores.create.with-file-ids",
    Level.MUST,
    source=f"{OAI} components.schemas.CreateVectorStoreRequest",
)
async def create_with_files(ctx: CaseContext) -> None:
    """file_ids given at creation are attached and ingested

    file_ids: A list of File IDs that the vector store should use. Useful for tools like `file_search` that
    can access files.
    """
    f = await upload_ok(ctx, "bananas.txt", CORPUS["bananas.txt"].encode())
    vs = await create_store(ctx, file_ids=[f.get("id")])
    done = await wait_store(ctx, str(vs.get("id")))
    counts = done.get("file_counts") or {}
    ctx.check_eq([counts.get("completed"), counts.get("total")], [1, 1], "file_counts [completed, total]")


@case("vector_stores.update.name-metadata", Level.MUST, source=ITEM)
async def update(ctx: CaseContext) -> None:
    """POST /vector_stores/{id} changes name and metadata

    POST /vector_stores/{vector_store_id}: Modifies a vector store.
    """
    vs = await create_store(ctx)
    vid = vs.get("id")
    got = ctx.json_ok(
        await ctx.post(f"/vector_stores/{vid}", json={"name": "renamed", "metadata": {"x": "1"}}),
        "POST /vector_stores/{id}",
    )
    again = ctx.json_ok(await ctx.get(f"/vector_stores/{vid}"), "GET /vector_stores/{id}")
    ctx.check_eq(
        [got.get("name"), got.get("metadata"), again.get("name"), again.get("metadata")],
        ["renamed", {"x": "1"}, "renamed", {"x": "1"}],
        "name and metadata after the update (answer, GET)",
    )


# --------------------------------------------------------------------------- store files


@case("vector_stores.files.attach-shape", Level.MUST, source=VSFILE)
async def attach_shape(ctx: CaseContext) -> None:
    """Attaching a file answers a vector_store.file with the file's id and the store's id

    VectorStoreFileObject required: id, object, usage_bytes, created_at, vector_store_id, status, last_error.
    object: The object type, which is always `vector_store.file`.
    """
    f = await upload_ok(ctx, "bananas.txt", CORPUS["bananas.txt"].encode())
    vs = await create_store(ctx)
    got = await attach(ctx, str(vs.get("id")), str(f.get("id")))
    missing = [
        k
        for k in ("id", "object", "usage_bytes", "created_at", "vector_store_id", "status", "last_error")
        if k not in got
    ]
    ctx.check(not missing, "required fields present", expected=[], actual=missing)
    ctx.check_eq(
        [got.get("object"), got.get("id"), got.get("vector_store_id")],
        ["vector_store.file", f.get("id"), vs.get("id")],
        "[object, id, vector_store_id]",
    )
    ctx.check(
        got.get("status") in ("in_progress", "completed"),
        "status right after attaching",
        expected="in_progress or completed",
        actual=got.get("status"),
    )


@case(
    "vector_stores.files.ingest-completes",
    Level.MUST,
    spec=_STATUS
    + " last_error: The last error associated with this vector store file. Will be `null` if there "
    "are no errors.",
    source=VSFILE,
)
async def ingest_completes(ctx: CaseContext) -> None:
    """An attached text file reaches status completed with last_error null"""
    f = await upload_ok(ctx, "violin.txt", CORPUS["violin.txt"].encode())
    vs = await create_store(ctx)
    await attach(ctx, str(vs.get("id")), str(f.get("id")))
    got = await wait_file(ctx, str(vs.get("id")), str(f.get("id")))
    ctx.check_eq([got.get("status"), got.get("last_error")], ["completed", None], "[status, last_error]")


@case("vector_stores.files.counts-add-up", Level.MUST, source=STORE)
async def counts_add_up(ctx: CaseContext) -> None:
    """file_counts adds up to total and counts every attached file once ingestion is done

    file_counts: in_progress: The number of files that are currently being processed. completed: The number of
    files that have been successfully processed. ... total: The total number of files.
    """
    c = await corpus(ctx, ("bananas.txt", "volcano.txt", "violin.txt"), attributes=False)
    vs = await wait_store(ctx, c.vs_id)
    counts = vs.get("file_counts")
    ctx.check(
        _counts_ok(counts),
        "in_progress + completed + failed + cancelled == total",
        expected="sum == total",
        actual=counts,
    )
    assert isinstance(counts, dict)
    ctx.check_eq([counts.get("completed"), counts.get("total")], [3, 3], "file_counts [completed, total]")


@case("vector_stores.files.usage-bytes", Level.SHOULD, source=STORE)
async def usage_bytes(ctx: CaseContext) -> None:
    """usage_bytes of a store grows once a file is ingested

    usage_bytes: The total number of bytes used by the files in the vector store.
    """
    c = await corpus(ctx, ("glacier.txt",), attributes=False)
    vs = await wait_store(ctx, c.vs_id)
    ub = vs.get("usage_bytes")
    ctx.check(
        isinstance(ub, int) and ub > 0, "usage_bytes > 0 with one ingested file", expected="> 0", actual=ub
    )


@case("vector_stores.files.unsupported-refused-or-failed", Level.SHOULD, source=VSFILE)
async def unsupported_fails(ctx: CaseContext) -> None:
    """A file type file_search cannot read is refused with a 400 or ends failed with last_error

    last_error: code: One of `server_error`, `unsupported_file`, or `invalid_file`. message: A human-readable
    description of the error.
    """
    f = await upload_ok(ctx, "noise.bin", bytes(range(256)) * 8, "application/octet-stream")
    vs = await create_store(ctx)
    resp = await ctx.post(f"/vector_stores/{vs.get('id')}/files", json={"file_id": f.get("id")})
    if resp.status_code == 400:
        return  # refused up front, as OpenAI does for unsupported extensions
    ctx.json_ok(resp, "POST /vector_stores/{id}/files")
    got = await wait_file(ctx, str(vs.get("id")), str(f.get("id")))
    err = got.get("last_error")
    ctx.check_eq(got.get("status"), "failed", "status of an unsupported binary file")
    ctx.check(
        isinstance(err, dict) and err.get("code") in ("server_error", "unsupported_file", "invalid_file"),
        "last_error {code, message}",
        expected="{code: unsupported_file|invalid_file|server_error}",
        actual=err,
    )


async def _broken_pdf(ctx: CaseContext) -> tuple[str, str, dict[str, Any]]:
    """A store with one `.pdf` file that is not a PDF, ingested; (store id, file id, the vs file)."""
    f = await upload_ok(ctx, "broken.pdf", b"%conformance: this is not a PDF document", "application/pdf")
    vs = await create_store(ctx)
    vid, fid = str(vs.get("id")), str(f.get("id"))
    resp = await ctx.post(f"/vector_stores/{vid}/files", json={"file_id": fid})
    if resp.status_code == 400:
        ctx.skip("the gateway refuses PDF files up front; no failed ingestion to observe")
    ctx.json_ok(resp, "POST /vector_stores/{id}/files")
    return vid, fid, await wait_file(ctx, vid, fid)


@case(
    "vector_stores.files.failed-has-last-error",
    Level.MUST,
    spec=_STATUS
    + " last_error: The last error associated with this vector store file. Will be `null` if there "
    "are no errors. code: One of `server_error`, `unsupported_file`, or `invalid_file`.",
    source=VSFILE,
)
async def failed_has_last_error(ctx: CaseContext) -> None:
    """A file whose ingestion fails (a .pdf that is not a PDF) ends failed with last_error {code, message}"""
    _vid, _fid, got = await _broken_pdf(ctx)
    err = got.get("last_error")
    ctx.check_eq(got.get("status"), "failed", "status of a broken PDF after ingestion")
    ctx.check(
        isinstance(err, dict)
        and err.get("code") in ("server_error", "unsupported_file", "invalid_file")
        and isinstance(err.get("message"), str)
        and bool(err.get("message")),
        "last_error {code, message}",
        expected="{code: invalid_file|..., message}",
        actual=err,
    )


@case("vector_stores.files.failed-counted", Level.MUST, source=STORE)
async def failed_counted(ctx: CaseContext) -> None:
    """A failed file is counted in file_counts.failed, and the counts add up

    file_counts: failed: The number of files that have failed to process. total: The total number of files.
    """
    vid, _fid, got = await _broken_pdf(ctx)
    ctx.check_eq(got.get("status"), "failed", "status of a broken PDF after ingestion")
    counts = (await wait_store(ctx, vid)).get("file_counts")
    ctx.check(_counts_ok(counts), "counts add up", expected="sum == total", actual=counts)
    assert isinstance(counts, dict)
    ctx.check_eq(
        [counts.get("failed"), counts.get("completed"), counts.get("total")],
        [1, 0, 1],
        "file_counts [failed, completed, total]",
    )


@case(
    "vector_stores.files.attributes-echo",
    Level.MUST,
    source=f"{OAI} components.schemas.VectorStoreFileAttributes",
)
async def attributes_echo(ctx: CaseContext) -> None:
    """attributes given when attaching are returned on the vector store file

    attributes: Set of 16 key-value pairs that can be attached to an object. ... Values are strings with a
    maximum length of 512 characters, booleans, or numbers.
    """
    f = await upload_ok(ctx)
    vs = await create_store(ctx)
    attrs = {"n": 7, "color": "blue", "ok": True}
    got = await attach(ctx, str(vs.get("id")), str(f.get("id")), attributes=attrs)
    again = ctx.json_ok(await ctx.get(f"/vector_stores/{vs.get('id')}/files/{f.get('id')}"), "GET vs file")
    ctx.check_eq([got.get("attributes"), again.get("attributes")], [attrs, attrs], "attributes (answer, GET)")


@case("vector_stores.files.update-attributes", Level.MUST, source=f"{FILES}/{{file_id}}")
async def update_attributes(ctx: CaseContext) -> None:
    """POST /vector_stores/{id}/files/{file_id} replaces the attributes

    POST /vector_stores/{vector_store_id}/files/{file_id}: Update attributes on a vector store file.
    """
    c = await corpus(ctx, ("bananas.txt",))
    fid = c.files["bananas.txt"]
    resp = await ctx.post(f"/vector_stores/{c.vs_id}/files/{fid}", json={"attributes": {"color": "green"}})
    got = ctx.json_ok(resp, "POST /vector_stores/{id}/files/{file_id}")
    again = ctx.json_ok(await ctx.get(f"/vector_stores/{c.vs_id}/files/{fid}"), "GET vs file")
    ctx.check_eq([got.get("attributes"), again.get("attributes")], [{"color": "green"}] * 2, "attributes")


@case(
    "vector_stores.files.unknown-file-4xx",
    Level.MUST,
    source=f"{OAI} components.schemas.CreateVectorStoreFileRequest",
)
async def attach_unknown(ctx: CaseContext) -> None:
    """Attaching a file id that does not exist is a 4xx

    file_id: A [File](/docs/api-reference/files) ID that the vector store should use.
    """
    vs = await create_store(ctx)
    resp = await ctx.post(
        f"/vector_stores/{vs.get('id')}/files", json={"file_id": "file-conformance-missing"}
    )
    ctx.check(
        resp.status_code in (400, 404),
        "status of attaching an unknown file",
        expected="400 or 404",
        actual=resp.status_code,
    )


@case(
    "vector_stores.files.detach-shape",
    Level.MUST,
    source=f"{OAI} components.schemas.DeleteVectorStoreFileResponse",
)
async def detach_shape(ctx: CaseContext) -> None:
    """DELETE /vector_stores/{id}/files/{file_id} answers vector_store.file.deleted

    DeleteVectorStoreFileResponse: id, deleted, object (enum: vector_store.file.deleted), all required.
    """
    c = await corpus(ctx, ("bananas.txt",), attributes=False)
    fid = c.files["bananas.txt"]
    got = ctx.json_ok(await ctx.delete(f"/vector_stores/{c.vs_id}/files/{fid}"), "DELETE vs file")
    ctx.check_eq(
        {k: got.get(k) for k in ("id", "object", "deleted")},
        {"id": fid, "object": "vector_store.file.deleted", "deleted": True},
        "delete answer",
    )


@case("vector_stores.files.detach-use-after-delete", Level.MUST, source=f"{FILES}/{{file_id}}")
async def detach_use_after(ctx: CaseContext) -> None:
    """A detached file is gone from the store (GET 404, not listed, not searched) but the file remains

    DELETE /vector_stores/{vector_store_id}/files/{file_id}: Delete a vector store file. This will remove the
    file from the vector store but the file itself will not be deleted.
    """
    c = await corpus(ctx, ("bananas.txt", "volcano.txt"), attributes=False)
    fid = c.files["bananas.txt"]
    ctx.check_eq(
        (await ctx.delete(f"/vector_stores/{c.vs_id}/files/{fid}")).status_code, 200, "DELETE status"
    )
    ctx.check_eq(
        (await ctx.get(f"/vector_stores/{c.vs_id}/files/{fid}")).status_code, 404, "GET vs file after"
    )
    listed = ctx.json_ok(await ctx.get(f"/vector_stores/{c.vs_id}/files"), "GET vs files")
    ids = [d.get("id") for d in listed.get("data") or [] if isinstance(d, dict)]
    ctx.check(fid not in ids, "not listed after DELETE", expected=f"no {fid}", actual=ids)
    hits = await search_ok(ctx, c.vs_id, QUERIES["bananas.txt"])
    ctx.check(
        all(h.get("file_id") != fid for h in hits),
        "not found by search after DELETE",
        expected=f"no {fid}",
        actual=[h.get("file_id") for h in hits],
    )
    ctx.check_eq(
        (await ctx.get(f"/files/{fid}")).status_code, 200, "GET /files/{id} (the file itself remains)"
    )


@case(
    "vector_stores.files.content",
    Level.MUST,
    source=f"{OAI} components.schemas.VectorStoreFileContentResponse",
)
async def file_content(ctx: CaseContext) -> None:
    """GET /vector_stores/{id}/files/{file_id}/content answers the parsed text as a content page

    VectorStoreFileContentResponse: Represents the parsed content of a vector store file. object: The object
    type, which is always `vector_store.file_content.page`
    """
    c = await corpus(ctx, ("violin.txt",), attributes=False)
    resp = await ctx.get(f"/vector_stores/{c.vs_id}/files/{c.files['violin.txt']}/content")
    got = ctx.json_ok(resp, "GET vs file content")
    ctx.check_eq(got.get("object"), "vector_store.file_content.page", "object")
    text = " ".join(str(d.get("text", "")) for d in got.get("data") or [] if isinstance(d, dict))
    ctx.check(
        " ".join(CORPUS["violin.txt"].split()) in " ".join(text.split()),
        "the page holds the file's text",
        expected=CORPUS["violin.txt"],
        actual=text[:300],
    )


# --------------------------------------------------------------------------- file batches


async def _batch(ctx: CaseContext, n: int = 3) -> tuple[str, list[str], dict[str, Any]]:
    names = list(CORPUS)[:n]
    fids = [str((await upload_ok(ctx, nm, CORPUS[nm].encode())).get("id")) for nm in names]
    vs = await create_store(ctx)
    vid = str(vs.get("id"))
    resp = await ctx.post(f"/vector_stores/{vid}/file_batches", json={"file_ids": fids})
    if resp.status_code == 404 and (json_of(resp) or {}).get("error", {}).get("param") is None:
        require_support(ctx, resp, "POST /vector_stores/{id}/file_batches")
    return vid, fids, ctx.json_ok(resp, "POST /vector_stores/{id}/file_batches")


async def _wait_batch(ctx: CaseContext, vid: str, bid: str) -> dict[str, Any]:
    import asyncio
    import time

    from conformance.cases._stateful import INGEST_TIMEOUT

    deadline = time.monotonic() + INGEST_TIMEOUT
    while True:
        got = ctx.json_ok(await ctx.get(f"/vector_stores/{vid}/file_batches/{bid}"), "GET file batch")
        if got.get("status") != "in_progress" or time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.1)


@case("vector_stores.batches.create-shape", Level.MUST, source=BATCH)
async def batch_shape(ctx: CaseContext) -> None:
    """POST file_batches answers a file batch object counting every file

    VectorStoreFileBatchObject: A batch of files attached to a vector store. object: The object type, which is
    always `vector_store.file_batch`. required: id, object, created_at, vector_store_id, status, file_counts.
    """
    vid, fids, b = await _batch(ctx)
    # the schema's enum spells it `vector_store.files_batch`, its description `vector_store.file_batch`
    ctx.check(
        b.get("object") in ("vector_store.file_batch", "vector_store.files_batch"),
        "object",
        expected="vector_store.file_batch",
        actual=b.get("object"),
    )
    ctx.check_eq(
        [b.get("vector_store_id"), (b.get("file_counts") or {}).get("total")],
        [vid, len(fids)],
        "[vector_store_id, file_counts.total]",
    )
    ctx.check(
        _counts_ok(b.get("file_counts")),
        "file_counts add up",
        expected="sum == total",
        actual=b.get("file_counts"),
    )


@case("vector_stores.batches.completes", Level.MUST, source=BATCH)
async def batch_completes(ctx: CaseContext) -> None:
    """A file batch of text files reaches completed with every file completed

    status: The status of the vector store files batch, which can be either `in_progress`, `completed`,
    `cancelled` or `failed`.
    """
    vid, _fids, b = await _batch(ctx)
    got = await _wait_batch(ctx, vid, str(b.get("id")))
    counts = got.get("file_counts") or {}
    ctx.check_eq(
        [got.get("status"), counts.get("completed"), counts.get("total")],
        ["completed", 3, 3],
        "[status, completed, total]",
    )


@case("vector_stores.batches.list-files", Level.MUST, source=f"{BATCHES}/{{batch_id}}/files")
async def batch_files(ctx: CaseContext) -> None:
    """GET file_batches/{id}/files lists exactly the batch's files

    GET /vector_stores/{vector_store_id}/file_batches/{batch_id}/files: Returns a list of vector store files
    in a batch.
    """
    vid, fids, b = await _batch(ctx)
    got = ctx.json_ok(
        await ctx.get(f"/vector_stores/{vid}/file_batches/{b.get('id')}/files"), "GET batch files"
    )
    ids = sorted(str(d.get("id")) for d in got.get("data") or [] if isinstance(d, dict))
    ctx.check_eq(ids, sorted(fids), "ids of the batch's files")


@case("vector_stores.batches.cancel", Level.MUST, source=f"{BATCHES}/{{batch_id}}/cancel")
async def batch_cancel(ctx: CaseContext) -> None:
    """Cancelling a batch right after creating it ends it cancelled (or completed if already done)

    POST /vector_stores/{vector_store_id}/file_batches/{batch_id}/cancel: Cancel a vector store file batch.
    This attempts to cancel the processing of files in this batch as soon as possible.
    """
    vid, _fids, b = await _batch(ctx, 5)
    bid = str(b.get("id"))
    resp = await ctx.post(f"/vector_stores/{vid}/file_batches/{bid}/cancel")
    if 400 <= resp.status_code < 500:
        # A batch that finished before the cancel arrived may refuse it (nothing left to
        # cancel); that is only acceptable when the batch really had completed.
        got = await _wait_batch(ctx, vid, bid)
        ctx.check_eq(
            got.get("status"),
            "completed",
            f"status of a batch whose cancel was refused with {resp.status_code}",
        )
        ctx.note("the batch completed before the cancel arrived; the cancel was refused")
        return
    answer = ctx.json_ok(resp, "POST file_batches/{id}/cancel")
    ctx.check(
        answer.get("id") == bid and answer.get("status") in ("cancelling", "cancelled", "completed"),
        "the cancel answers the batch, cancelling or cancelled (completed if it already finished)",
        expected="status cancelling|cancelled|completed",
        actual=[answer.get("id"), answer.get("status")],
    )
    got = await _wait_batch(ctx, vid, bid)
    counts = got.get("file_counts") or {}
    ctx.check(
        got.get("status") in ("cancelled", "completed"),
        "status after cancel",
        expected="cancelled",
        actual=got.get("status"),
    )
    ctx.check(_counts_ok(counts), "file_counts add up after cancel", expected="sum == total", actual=counts)
    if got.get("status") == "cancelled":
        ctx.check(
            counts.get("cancelled", 0) >= 1 and counts.get("in_progress") == 0,
            "a cancelled batch counts cancelled files and none in progress",
            expected="cancelled >= 1",
            actual=counts,
        )
    else:
        ctx.note("the batch completed before the cancel arrived")


@case("vector_stores.batches.unknown-404", Level.MUST, source=f"{BATCHES}/{{batch_id}}")
async def batch_unknown(ctx: CaseContext) -> None:
    """GET of an unknown file batch is 404

    GET /vector_stores/{vector_store_id}/file_batches/{batch_id}: Retrieves a vector store file batch.
    """
    vs = await create_store(ctx)
    resp = await ctx.get(f"/vector_stores/{vs.get('id')}/file_batches/vsfb_conformance_missing")
    ctx.check_eq(resp.status_code, 404, "status")


# --------------------------------------------------------------------------- search


@case("vector_stores.search.page-shape", Level.MUST, source=PAGE)
async def page_shape(ctx: CaseContext) -> None:
    """Search answers a vector_store.search_results.page echoing the query

    VectorStoreSearchResultsPage required: object, search_query, data, has_more, next_page. object: The object
    type, which is always `vector_store.search_results.page`
    """
    c = await corpus(ctx, ("bananas.txt", "violin.txt"), attributes=False)
    pg = ctx.json_ok(await search(ctx, c.vs_id, "violin bow"), "POST search")
    missing = [k for k in ("object", "search_query", "data", "has_more", "next_page") if k not in pg]
    ctx.check(not missing, "required fields present", expected=[], actual=missing)
    ctx.check_eq(pg.get("object"), "vector_store.search_results.page", "object")
    sq = pg.get("search_query")
    ctx.check(
        sq == ["violin bow"] or sq == "violin bow",
        "search_query echoes the query",
        expected=["violin bow"],
        actual=sq,
    )


@case(
    "vector_stores.search.result-shape",
    Level.MUST,
    source=f"{OAI} components.schemas.VectorStoreSearchResultItem",
)
async def result_shape(ctx: CaseContext) -> None:
    """Each search result has file_id, filename, score in [0, 1], attributes and text content

    VectorStoreSearchResultItem required: file_id, filename, score, attributes, content. score: The similarity
    score for the result. (minimum 0, maximum 1)
    """
    c = await corpus(ctx, ("bananas.txt", "violin.txt"))
    hits = await search_ok(ctx, c.vs_id, QUERIES["violin.txt"])
    ctx.check(bool(hits), "at least one result", expected=">= 1", actual=0)
    bad = [
        h
        for h in hits
        if not (
            isinstance(h.get("file_id"), str)
            and isinstance(h.get("filename"), str)
            and isinstance(h.get("score"), int | float)
            and 0 <= h["score"] <= 1
            and isinstance(h.get("attributes"), dict | type(None))
            and isinstance(h.get("content"), list)
            and all(
                isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
                for p in h["content"]
            )
        )
    ]
    ctx.check(not bad, "every result is well formed", expected=[], actual=bad[:2])
    top = hits[0]
    ctx.check_eq(
        [top.get("filename"), top.get("attributes")],
        ["violin.txt", ATTRS["violin.txt"]],
        "[filename, attributes] of the top result",
    )


@case("vector_stores.search.retrieval-first", Level.MUST, source=SEARCH)
async def retrieval_first(ctx: CaseContext) -> None:
    """On a corpus of distinct documents, the document that answers the query ranks first

    POST /vector_stores/{vector_store_id}/search: Search a vector store for relevant chunks based on a query
    and file attributes filter.
    """
    c = await corpus(ctx, attributes=False)
    got = {}
    for name, query in QUERIES.items():
        hits = await search_ok(ctx, c.vs_id, query)
        got[name] = c.name_of(hits[0].get("file_id")) if hits else None
    ctx.check_eq(got, {n: n for n in QUERIES}, "top document per query (query -> expected document)")


@case("vector_stores.search.scores-descending", Level.MUST, source=PAGE)
async def scores_descending(ctx: CaseContext) -> None:
    """Search results are ordered by descending score

    data: The list of search result items. score: The similarity score for the result.
    """
    c = await corpus(ctx, attributes=False)
    hits = await search_ok(ctx, c.vs_id, "yellow fruits and molten lava")
    scores = [float(h.get("score") or 0) for h in hits]
    ctx.check(len(scores) >= 2, "at least two results", expected=">= 2", actual=scores)
    ctx.check(
        scores == sorted(scores, reverse=True), "scores do not increase", expected="descending", actual=scores
    )


@case("vector_stores.search.max-num-results", Level.MUST, source=REQ)
async def max_results(ctx: CaseContext) -> None:
    """max_num_results bounds the number of results

    max_num_results: The maximum number of results to return. This number should be between 1 and 50
    inclusive.
    """
    c = await corpus(ctx, attributes=False)
    got = [len(await search_ok(ctx, c.vs_id, "the a of in", max_num_results=n)) for n in (1, 2)]
    ctx.check(
        got[0] == 1 and 1 <= got[1] <= 2,
        "result counts with max_num_results 1 and 2",
        expected=[1, "1..2"],
        actual=got,
    )


@case("vector_stores.search.max-num-results-range-400", Level.MUST, source=REQ)
async def max_results_range(ctx: CaseContext) -> None:
    """max_num_results outside 1..50 is a 400

    max_num_results: The maximum number of results to return. This number should be between 1 and 50
    inclusive. (minimum: 1, maximum: 50)
    """
    c = await corpus(ctx, ("bananas.txt",), attributes=False)
    got = [(await search(ctx, c.vs_id, "x", max_num_results=n)).status_code for n in (0, 51)]
    ctx.check_eq(got, [400, 400], "statuses for max_num_results 0 and 51")


@case("vector_stores.search.score-threshold", Level.MUST, source=REQ)
async def score_threshold(ctx: CaseContext) -> None:
    """ranking_options.score_threshold drops results scoring below it

    ranking_options: Ranking options for search. score_threshold (minimum 0, maximum 1, default 0)
    """
    c = await corpus(ctx, attributes=False)
    query = QUERIES["glacier.txt"]
    hits = await search_ok(ctx, c.vs_id, query)
    scores = [float(h.get("score") or 0) for h in hits]
    ctx.check(
        len(scores) >= 2 and scores[0] > scores[1],
        "an unfiltered search ranks one document above the rest",
        expected="top score > second",
        actual=scores,
    )
    cut = (scores[0] + scores[1]) / 2
    kept = await search_ok(ctx, c.vs_id, query, ranking_options={"score_threshold": cut})
    ctx.check_eq(
        [c.name_of(h.get("file_id")) for h in kept],
        ["glacier.txt"],
        f"documents kept with score_threshold={cut:.4f}",
    )


@case("vector_stores.search.query-required-400", Level.MUST, source=REQ)
async def query_required(ctx: CaseContext) -> None:
    """A search without query is a 400

    VectorStoreSearchRequest required: query.
    """
    vs = await create_store(ctx)
    resp = await ctx.post(f"/vector_stores/{vs.get('id')}/search", json={"max_num_results": 3})
    ctx.check_eq(resp.status_code, 400, "status of a search without query")


@case("vector_stores.search.bad-filter-400", Level.MUST, spec=_CMP_TYPES, source=CMP)
async def bad_filter(ctx: CaseContext) -> None:
    """A filter with an unknown comparison type is a 400"""
    c = await corpus(ctx, ("bananas.txt",))
    resp = await search(ctx, c.vs_id, "bananas", filters={"type": "like", "key": "color", "value": "y"})
    ctx.check(
        is_4xx(resp.status_code) and resp.status_code == 400, "status", expected=400, actual=resp.status_code
    )


# filter case: id suffix -> (filter, documents it keeps, document targeted by the query)
FILTERS: dict[str, tuple[dict[str, Any], set[str], str]] = {
    "eq": ({"type": "eq", "key": "color", "value": "red"}, {"volcano.txt"}, "volcano.txt"),
    "ne": ({"type": "ne", "key": "color", "value": "red"}, set(CORPUS) - {"volcano.txt"}, "bananas.txt"),
    "gt": ({"type": "gt", "key": "n", "value": 3}, {"glacier.txt", "compiler.txt"}, "glacier.txt"),
    "gte": ({"type": "gte", "key": "n", "value": 4}, {"glacier.txt", "compiler.txt"}, "compiler.txt"),
    "lt": ({"type": "lt", "key": "n", "value": 2}, {"bananas.txt"}, "bananas.txt"),
    "lte": ({"type": "lte", "key": "n", "value": 2}, {"bananas.txt", "volcano.txt"}, "volcano.txt"),
    "in": (
        {"type": "in", "key": "color", "value": ["brown", "grey"]},
        {"violin.txt", "compiler.txt"},
        "violin.txt",
    ),
    "nin": (
        {"type": "nin", "key": "color", "value": ["yellow", "red"]},
        {"violin.txt", "glacier.txt", "compiler.txt"},
        "glacier.txt",
    ),
    "bool-eq": (
        {"type": "eq", "key": "ok", "value": True},
        {"bananas.txt", "violin.txt", "compiler.txt"},
        "compiler.txt",
    ),
    "and": (
        {
            "type": "and",
            "filters": [{"type": "gte", "key": "n", "value": 2}, {"type": "eq", "key": "ok", "value": True}],
        },
        {"violin.txt", "compiler.txt"},
        "violin.txt",
    ),
    "or": (
        {
            "type": "or",
            "filters": [
                {"type": "eq", "key": "color", "value": "yellow"},
                {"type": "gt", "key": "n", "value": 4},
            ],
        },
        {"bananas.txt", "compiler.txt"},
        "compiler.txt",
    ),
    "nested": (
        {
            "type": "or",
            "filters": [
                {
                    "type": "and",
                    "filters": [
                        {"type": "eq", "key": "ok", "value": False},
                        {"type": "lt", "key": "n", "value": 3},
                    ],
                },
                {"type": "eq", "key": "color", "value": "brown"},
            ],
        },
        {"volcano.txt", "violin.txt"},
        "volcano.txt",
    ),
}


_COMPOUND_SPEC = (
    "CompoundFilter: Combine multiple filters using `and` or `or`. filters: Array of filters to "
    "combine. Items can be `ComparisonFilter` or `CompoundFilter`."
)
_COMPARISON_SPEC = (
    _CMP_TYPES + " value: The value to compare against the attribute key; supports string, number, "
    "or boolean types."
)


@dataclass(frozen=True)
class Filtered:
    """A search with ``filter`` must find ``target`` and nothing outside ``keeps``."""

    filter: dict[str, Any]
    keeps: set[str]
    target: str


def _filter_row(suffix: str, flt: dict[str, Any], keeps: set[str], target: str) -> Row[Filtered]:
    compound = flt["type"] in ("and", "or")
    return Row(
        f"vector_stores.search.filter-{suffix}",
        Level.MUST,
        f"filters {flt['type']}{' (nested)' if suffix == 'nested' else ''} keeps exactly the matching files",
        _COMPOUND_SPEC if compound else _COMPARISON_SPEC,
        Filtered(flt, keeps, target),
        source=COMPOUND if compound else CMP,
    )


@family([_filter_row(suffix, *row) for suffix, row in FILTERS.items()])
async def filtered_search(ctx: CaseContext, search: Filtered) -> None:
    c = await corpus(ctx)
    # the query targets a document the filter keeps, and shares no words with the others;
    # a sibling query for a document the filter drops must not bring that document back
    dropped = sorted(set(CORPUS) - search.keeps)
    query = QUERIES[search.target] + (" " + QUERIES[dropped[0]] if dropped else "")
    hits = await search_ok(ctx, c.vs_id, query, filters=search.filter, max_num_results=50)
    names = [c.name_of(h.get("file_id")) for h in hits]
    ctx.check(
        set(names) <= search.keeps,
        "every result matches the filter",
        expected=sorted(search.keeps),
        actual=names,
    )
    ctx.check(
        search.target in names,
        f"{search.target} (matches the filter and the query) is found",
        expected=search.target,
        actual=names,
    )


# --------------------------------------------------------------------------- lists


async def _stores(ctx: CaseContext, n: int) -> Listing:
    ids = [str((await create_store(ctx)).get("id")) for _ in range(n)]
    return Listing("/vector_stores", ids, exclusive=False)


async def _store_files(ctx: CaseContext, n: int) -> Listing:
    vs = await create_store(ctx)
    vid = str(vs.get("id"))
    ids = []
    for i in range(n):
        f = await upload_ok(ctx, f"item-{i}.txt", f"item {i}\n".encode())
        ids.append(str((await attach(ctx, vid, str(f.get("id")))).get("id")))
    return Listing(f"/vector_stores/{vid}/files", ids, exclusive=True)


list_cases(__name__, "vector_stores", "/vector_stores", _stores, level=Level.MUST, source=SRC)
list_cases(
    __name__, "vector_stores.files", "/vector_stores/{id}/files", _store_files, level=Level.MUST, source=FILES
)


# --------------------------------------------------------------------------- retrieve, delete

STORES = Resource("/vector_stores", create_store, "vector_store.deleted", "vs_conformance_missing")
_RETRIEVE = "GET /vector_stores/{vector_store_id}: Retrieves a vector store."
_DELETE = "DELETE /vector_stores/{vector_store_id}: Delete a vector store."


async def _ingested_store(ctx: CaseContext) -> dict[str, Any]:
    return {"id": (await corpus(ctx, ("bananas.txt",), attributes=False)).vs_id}


async def _store_routes(ctx: CaseContext, vs: dict[str, Any]) -> dict[str, int]:
    vid = vs.get("id")
    f = await upload_ok(ctx)
    return {
        "GET": (await ctx.get(f"/vector_stores/{vid}")).status_code,
        "POST update": (await ctx.post(f"/vector_stores/{vid}", json={"name": "x"})).status_code,
        "GET files": (await ctx.get(f"/vector_stores/{vid}/files")).status_code,
        "POST files": (
            await ctx.post(f"/vector_stores/{vid}/files", json={"file_id": f.get("id")})
        ).status_code,
        "POST search": (await search(ctx, str(vid), "bananas")).status_code,
        "POST file_batches": (
            await ctx.post(f"/vector_stores/{vid}/file_batches", json={"file_ids": [f.get("id")]})
        ).status_code,
        "DELETE again": (await ctx.delete(f"/vector_stores/{vid}")).status_code,
    }


resource_cases(
    __name__,
    [
        Row(
            "vector_stores.retrieve.equals-create",
            Level.MUST,
            "GET /vector_stores/{id} answers the created store",
            _RETRIEVE,
            Retrieve(
                STORES,
                ("id", "object", "created_at", "name", "metadata"),
                {"metadata": {"k": "v"}},
                "retrieved vs created store",
            ),
            source=ITEM,
        ),
        Row(
            "vector_stores.retrieve.unknown-404",
            Level.MUST,
            "GET /vector_stores/{id} of an unknown id is 404",
            _RETRIEVE,
            Unknown(STORES),
            source=ITEM,
        ),
        Row(
            "vector_stores.delete.shape",
            Level.MUST,
            "DELETE /vector_stores/{id} answers {id, object: vector_store.deleted, deleted: true}",
            "DeleteVectorStoreResponse: id, deleted, object (enum: vector_store.deleted), all required.",
            Deleted(STORES),
            source=f"{OAI} components.schemas.DeleteVectorStoreResponse",
        ),
        Row(
            "vector_stores.delete.use-after-delete-404",
            Level.MUST,
            "After DELETE, every route of the store answers 404 (get, update, files, search, batches, "
            "delete)",
            _DELETE,
            Gone(STORES, _store_routes, _ingested_store),
            source=ITEM,
        ),
        Row(
            "vector_stores.delete.not-listed",
            Level.MUST,
            "A deleted vector store no longer appears in GET /vector_stores",
            _DELETE,
            NotListed(STORES, "the deleted store is not listed"),
            source=SRC,
        ),
    ],
)
