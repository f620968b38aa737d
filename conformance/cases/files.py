"""/files: upload, retrieve, content, delete, list.

`/files`: upload (multipart), retrieve, content round trip, delete, list and pagination.

The upload size limit (413) is not tested: a gateway does not publish its limit, and guessing it
would mean uploading unbounded amounts of data."""

from __future__ import annotations

import re
from typing import Any

from conformance import checks
from conformance.cases._stateful import (
    OAI,
    Deleted,
    Gone,
    Listing,
    NotListed,
    Probes,
    Resource,
    Retrieve,
    Unknown,
    is_4xx,
    json_of,
    list_cases,
    multipart,
    probe,
    require_support,
    resource_cases,
    upload,
    upload_ok,
)
from conformance.context import CaseContext
from conformance.model import Level, Row, case

SRC = f"{OAI} paths./files"
ITEM = f"{OAI} paths./files/{{file_id}}"
CONTENT = f"{OAI} paths./files/{{file_id}}/content"
FILE = f"{OAI} components.schemas.OpenAIFile"
CREATE = f"{OAI} components.schemas.CreateFileRequest"
DELETED = f"{OAI} components.schemas.DeleteFileResponse"
_PURPOSE = (
    "purpose: The intended purpose of the uploaded file. One of: - `assistants`: Used in the Assistants API "
    "- `batch`: Used in the Batch API - `fine-tune`: Used for fine-tuning - `vision`: Images used for "
    "vision fine-tuning - `user_data`: Flexible file type for any purpose - `evals`: Used for eval data sets"
)
# OpenAI's file ids look like `file-abc123`; `file_` is the documented variant of this project's
# reference gateway (ids are `<prefix>_<hex>` there).
_FILE_ID = re.compile(r"^file[-_][A-Za-z0-9_-]+$")
BINARY = bytes(range(256)) * 3 + b"\r\n\x00end"
UNICODE = "Grüße, 世界! naïve café — ok\n".encode()


@case(
    "files.probe.upload",
    Level.MUST,
    source=f"{SRC}.post",
    gates=("files", "schemas.objects.files", "vector_stores.files", "vector_stores.batches",
           "vector_stores.search", "tool_flows.file_search"),
    hint="file uploads must work (the gateway needs its file storage configured) for the files, "
    "vector-store file and file_search cases to run",
)
async def probe_upload(ctx: CaseContext) -> None:
    """POST /files uploads a small text file (the files area's probe)

    Upload a file that can be used across various endpoints. (responses: 200 with the File object)
    """
    await probe(ctx, await upload(ctx, "probe.txt", b"conformance probe\n"), "POST /files")


@case("files.upload.shape", Level.MUST, source=FILE)
async def upload_shape(ctx: CaseContext) -> None:
    """POST /files answers a File object (object=file, id, bytes, created_at, filename, purpose)

    The `File` object represents a document that has been uploaded to OpenAI. object: The object type, which
    is always `file`.
    """
    f = await upload_ok(ctx, "shape.txt", b"shape\n")
    got = {
        "object": f.get("object"),
        "id": isinstance(f.get("id"), str) and bool(f.get("id")),
        "bytes": isinstance(f.get("bytes"), int),
        "created_at": isinstance(f.get("created_at"), int),
        "filename": isinstance(f.get("filename"), str),
        "purpose": isinstance(f.get("purpose"), str),
    }
    want = {k: True for k in got} | {"object": "file"}
    ctx.check_eq(got, want, "File object fields (types)")


@case("files.upload.id-prefix", Level.SHOULD, source=FILE)
async def upload_id_prefix(ctx: CaseContext) -> None:
    """File ids start with file- (OpenAI) or file_

    id: The file identifier, which can be referenced in the API endpoints.
    """
    f = await upload_ok(ctx)
    ctx.check(
        _FILE_ID.match(str(f.get("id"))),
        "the id starts with file- or file_",
        expected="file-...",
        actual=f.get("id"),
    )


@case("files.upload.bytes", Level.MUST, source=FILE)
async def upload_bytes(ctx: CaseContext) -> None:
    """bytes is the size of the uploaded file

    bytes: The size of the file, in bytes.
    """
    f = await upload_ok(ctx, "bytes.bin", BINARY, "application/octet-stream", "user_data")
    ctx.check_eq(f.get("bytes"), len(BINARY), "bytes of the uploaded file")


@case("files.upload.purpose-echo", Level.MUST, source=FILE)
async def purpose_echo(ctx: CaseContext) -> None:
    """The File object carries the purpose it was uploaded with

    purpose: The intended purpose of the file.
    """
    got = [
        (await upload_ok(ctx, "p.txt", b"p\n", purpose=p)).get("purpose") for p in ("assistants", "user_data")
    ]
    ctx.check_eq(got, ["assistants", "user_data"], "purpose of files uploaded as assistants, user_data")


@case("files.upload.purpose-invalid-400", Level.MUST, spec=_PURPOSE, source=CREATE)
async def purpose_invalid(ctx: CaseContext) -> None:
    """An unknown purpose is a 400 naming purpose"""
    resp = await upload(ctx, purpose="not-a-purpose")
    require_support(ctx, resp, "POST /files")
    ctx.check_eq(resp.status_code, 400, "status of an upload with purpose=not-a-purpose")
    err = (json_of(resp) or {}).get("error") or {}
    ctx.check_eq(err.get("param"), "purpose", "error.param")


@case("files.upload.purpose-missing-400", Level.MUST, source=CREATE)
async def purpose_missing(ctx: CaseContext) -> None:
    """An upload without purpose is a 400

    CreateFileRequest required: file, purpose.
    """
    resp = await upload(ctx, purpose=None)
    require_support(ctx, resp, "POST /files")
    ctx.check_eq(resp.status_code, 400, "status of an upload without purpose")


@case("files.upload.file-missing-400", Level.MUST, source=CREATE)
async def file_missing(ctx: CaseContext) -> None:
    """An upload without the file part is a 400

    file: The File object (not file name) to be uploaded. (required)
    """
    body, headers = multipart({"purpose": "assistants"}, None)
    resp = await ctx.post("/files", content=body, headers=headers)
    require_support(ctx, resp, "POST /files")
    ctx.check_eq(resp.status_code, 400, "status of an upload without a file part")


@case("files.upload.filename-echo", Level.MUST, source=FILE)
async def filename_echo(ctx: CaseContext) -> None:
    """filename is the name the file was uploaded with

    filename: The name of the file.
    """
    f = await upload_ok(ctx, "quarterly report-2024.txt", b"q\n")
    ctx.check_eq(f.get("filename"), "quarterly report-2024.txt", "filename")


@case("files.upload.filename-not-a-path", Level.MUST, source=FILE)
async def filename_not_path(ctx: CaseContext) -> None:
    """A filename like ../../etc/passwd is stored as a name only, or refused with a 400

    filename: The name of the file. file: The File object (not file name) to be uploaded.
    """
    data = b"conformance: not the passwd file\n"
    resp = await upload(ctx, "../../etc/passwd", data)
    require_support(ctx, resp, "POST /files")
    if resp.status_code == 400:
        # Refusing a name that is a path is as safe as reducing it to a name; it must still be a
        # clean client error.
        checks.rejected(ctx, resp, "an upload named ../../etc/passwd")
        return
    f = ctx.json_ok(resp, "POST /files")
    name = str(f.get("filename"))
    ctx.check(
        "/" not in name and "\\" not in name and ".." not in name,
        "the stored filename holds no path (no '/', '\\', '..')",
        expected="a bare name",
        actual=name,
    )
    content = await ctx.get(f"/files/{f.get('id')}/content")
    ctx.check_eq(content.status_code, 200, "status of GET /files/{id}/content")
    ctx.check_eq(content.content, data, "content of the file uploaded as ../../etc/passwd")


@case("files.content.round-trip-binary", Level.MUST, source=CONTENT)
async def round_trip_binary(ctx: CaseContext) -> None:
    """GET /files/{id}/content returns the uploaded bytes unchanged (all 256 byte values)

    GET /files/{file_id}/content: Returns the contents of the specified file.
    """
    f = await upload_ok(ctx, "blob.bin", BINARY, "application/octet-stream", "user_data")
    resp = await ctx.get(f"/files/{f.get('id')}/content")
    ctx.check_eq(resp.status_code, 200, "status of GET /files/{id}/content")
    ctx.check(
        resp.content == BINARY,
        "the content equals the uploaded bytes",
        expected=f"{len(BINARY)} bytes",
        actual=f"{len(resp.content)} bytes, first difference at "
        f"{next((i for i, (a, b) in enumerate(zip(resp.content, BINARY, strict=False)) if a != b), None)}",
    )


@case("files.content.round-trip-text", Level.MUST, source=CONTENT)
async def round_trip_text(ctx: CaseContext) -> None:
    """GET /files/{id}/content returns UTF-8 text byte for byte

    GET /files/{file_id}/content: Returns the contents of the specified file.
    """
    f = await upload_ok(ctx, "unicode.txt", UNICODE, "text/plain; charset=utf-8")
    resp = await ctx.get(f"/files/{f.get('id')}/content")
    ctx.check_eq(resp.status_code, 200, "status of GET /files/{id}/content")
    ctx.check_eq(resp.content, UNICODE, "content bytes")


@case("files.content.content-type", Level.SHOULD, source=CONTENT)
async def content_type(ctx: CaseContext) -> None:
    """The content is served with the uploaded media type (or application/octet-stream), not JSON

    GET /files/{file_id}/content: Returns the contents of the specified file. (application/octet-stream)
    """
    f = await upload_ok(ctx, "ctype.txt", b"plain text\n", "text/plain")
    resp = await ctx.get(f"/files/{f.get('id')}/content")
    ctx.check_eq(resp.status_code, 200, "status of GET /files/{id}/content")
    ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
    ctx.check(
        ctype in ("text/plain", "application/octet-stream"),
        "content-type of the content",
        expected="text/plain or application/octet-stream",
        actual=ctype,
    )


@case("files.content.unknown-404", Level.MUST, source=CONTENT)
async def content_unknown(ctx: CaseContext) -> None:
    """GET /files/{id}/content of an unknown id is 404

    GET /files/{file_id}/content: Returns the contents of the specified file.
    """
    await upload_ok(ctx)
    resp = await ctx.get("/files/file-conformance-does-not-exist/content")
    ctx.check_eq(resp.status_code, 404, "status of GET content for an unknown file id")


@case("files.delete.removed-from-vector-store", Level.SHOULD, source=ITEM)
async def delete_removes_from_store(ctx: CaseContext) -> None:
    """Deleting a file removes it from the vector stores it was attached to

    DELETE /files/{file_id}: Delete a file and remove it from all vector stores.
    """
    from conformance.cases._stateful import attach, create_store, wait_file

    f = await upload_ok(ctx, "attached.txt", b"attached to a store\n")
    fid = str(f.get("id"))
    store = await create_store(ctx)
    vs = str(store.get("id"))
    await attach(ctx, vs, fid)
    await wait_file(ctx, vs, fid)
    ctx.check_eq((await ctx.delete(f"/files/{fid}")).status_code, 200, "status of DELETE /files/{id}")
    resp = await ctx.get(f"/vector_stores/{vs}/files/{fid}")
    ctx.check_eq(resp.status_code, 404, "GET of the vector store file after the file was deleted")


@case("files.list.purpose-filter", Level.MUST, source=SRC)
async def purpose_filter(ctx: CaseContext) -> None:
    """GET /files?purpose=X lists only files with that purpose

    purpose: Only return files with the given purpose.
    """
    a = await upload_ok(ctx, "a.txt", b"a\n", purpose="assistants")
    u = await upload_ok(ctx, "u.txt", b"u\n", purpose="user_data")
    got = ctx.json_ok(await ctx.get("/files", params={"purpose": "user_data", "limit": "100"}), "GET /files")
    data = [d for d in got.get("data") or [] if isinstance(d, dict)]
    purposes = sorted({str(d.get("purpose")) for d in data})
    ids = [d.get("id") for d in data]
    ctx.check_eq(purposes, ["user_data"], "purposes listed with purpose=user_data")
    ctx.check(
        u.get("id") in ids and a.get("id") not in ids,
        "our user_data file is listed, our assistants file is not",
        expected=[u.get("id")],
        actual=ids[:10],
    )


@case("files.list.limit-400", Level.MUST, source=SRC)
async def limit_zero(ctx: CaseContext) -> None:
    """GET /files?limit=0 is a 400

    limit: A limit on the number of objects to be returned. Limit can range between 1 and 10,000, and the
    default is 10,000.
    """
    await upload_ok(ctx)
    resp = await ctx.get("/files", params={"limit": "0"})
    ctx.check(
        is_4xx(resp.status_code) and resp.status_code == 400,
        "status of GET /files?limit=0",
        expected=400,
        actual=resp.status_code,
    )


async def _files(ctx: CaseContext, n: int) -> Listing:
    ids = [str((await upload_ok(ctx, f"list-{i}.txt", f"list {i}\n".encode())).get("id")) for i in range(n)]
    return Listing("/files", ids, exclusive=False)


list_cases(__name__, "files", "/files", _files, level=Level.MUST, source=SRC)


# --------------------------------------------------------------------------- retrieve, delete

FILES = Resource("/files", upload_ok, "file", "file-conformance-does-not-exist")
_DELETE = "DELETE /files/{file_id}: Delete a file and remove it from all vector stores."
_RETRIEVE = "GET /files/{file_id}: Returns information about a specific file."


async def _gone_file(ctx: CaseContext) -> dict[str, Any]:
    return await upload_ok(ctx, "gone.txt", b"gone\n")


def _after_delete(method: str, suffix: str, what: str) -> Probes:
    async def probe(ctx: CaseContext, f: dict[str, Any]) -> dict[str, int]:
        return {what: (await ctx.request(method, f"/files/{f.get('id')}{suffix}")).status_code}

    return probe


resource_cases(
    __name__,
    [
        Row(
            "files.retrieve.equals-upload",
            Level.MUST,
            "GET /files/{id} answers the File object the upload returned",
            _RETRIEVE,
            Retrieve(
                FILES,
                ("id", "object", "bytes", "created_at", "filename", "purpose"),
                {"name": "retrieve.txt", "data": b"retrieve\n"},
                "retrieved vs uploaded File",
            ),
            source=ITEM,
        ),
        Row(
            "files.retrieve.unknown-404",
            Level.MUST,
            "GET /files/{id} of an unknown id is 404",
            _RETRIEVE,
            Unknown(FILES),
            source=ITEM,
        ),
        Row(
            "files.delete.shape",
            Level.MUST,
            "DELETE /files/{id} answers {id, object: file, deleted: true}",
            "DeleteFileResponse: id, object (enum: file), deleted (required).",
            Deleted(FILES),
            source=DELETED,
        ),
        Row(
            "files.delete.get-404",
            Level.MUST,
            "After DELETE, GET /files/{id} is 404",
            _DELETE,
            Gone(FILES, _after_delete("GET", "", "GET after DELETE"), _gone_file),
            source=ITEM,
        ),
        Row(
            "files.delete.content-404",
            Level.MUST,
            "After DELETE, GET /files/{id}/content is 404",
            _DELETE,
            Gone(FILES, _after_delete("GET", "/content", "GET content after DELETE"), _gone_file),
            source=CONTENT,
        ),
        Row(
            "files.delete.twice-404",
            Level.MUST,
            "A second DELETE of the same file is 404",
            _DELETE,
            Gone(FILES, _after_delete("DELETE", "", "second DELETE"), _gone_file),
            source=ITEM,
        ),
        Row(
            "files.delete.not-listed",
            Level.MUST,
            "A deleted file no longer appears in GET /files",
            _DELETE,
            NotListed(FILES, "the deleted id is not listed"),
            source=SRC,
        ),
    ],
)
