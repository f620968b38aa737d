"""`/v1/files`: upload (multipart, streamed to disk), list, retrieve, delete, content.

Uploads never sit in memory whole: the multipart body is decoded incrementally
(werkzeug's sans-IO `MultipartDecoder`) as Quart hands over body chunks, and the file part is
written to `<blob dir>/<file_id>.part`, renamed into place only once complete. The size limit
(`app.config["MAX_FILE_BYTES"]`, default the app's body limit) is enforced while streaming:
413 as soon as the file crosses it, or before reading when Content-Length already says so.

The client's filename is metadata only: we keep its last path component (so
`../../etc/passwd` is stored as the name `passwd`) and the bytes go to a path built from our own
id. The content endpoint sends it back in `Content-Disposition` (RFC 6266, with an RFC 8187
`filename*` for non-ASCII names).
"""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
import os
import re
import unicodedata
from pathlib import Path
from typing import Any, BinaryIO, Literal, cast
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict
from quart import Blueprint, Quart, Request, Response, current_app, request
from quart.blueprints import BlueprintSetupState
from quart_schema import DataSource, document_querystring, document_request
from werkzeug.datastructures import Headers
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from reference.core import errors, ids
from reference.engine import dump
from reference.http import context
from reference.http.vector_stores import documented
from reference.retrieval import RetrievalError
from reference.services import VectorStores

bp = Blueprint("files", __name__, url_prefix="/v1")
UPLOAD_PATH = "/v1/files"

# CreateFileRequest.purpose: "One of: assistants, batch, fine-tune, vision, user_data, evals".
PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
FORM_FIELD_LIMIT = 64 * 1024  # the non-file fields (purpose, expires_after[...]) are tiny
FEED_SLICE = 16 * 1024  # bytes handed to the multipart decoder at a time
WRITE_BUFFER = 1024 * 1024  # bytes gathered before one disk write on a worker thread


# -- /openapi.json (documentation only; the handlers validate) --------------------------------
Purpose = Literal["assistants", "batch", "fine-tune", "vision", "user_data", "evals"]


class CreateFileRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file: bytes
    purpose: Purpose


class FileObject(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    object: Literal["file"]
    bytes: int
    created_at: int
    expires_at: int | None = None
    filename: str
    purpose: str
    status: Literal["uploaded", "processed", "error"]
    status_details: str | None = None


class FileList(BaseModel):
    model_config = ConfigDict(extra="allow")
    object: Literal["list"]
    data: list[FileObject]
    first_id: str | None
    last_id: str | None
    has_more: bool


class FileDeleted(BaseModel):
    id: str
    object: Literal["file"]
    deleted: bool


class FilesQuery(BaseModel):
    purpose: str | None = None
    limit: int | None = None
    after: str | None = None
    order: Literal["asc", "desc"] | None = None


@bp.errorhandler(RetrievalError)
async def _retrieval_error(exc: RetrievalError) -> Response:
    err = exc.as_api_error()
    return Response(err.body_bytes(), status=err.status, content_type="application/json")


def _service() -> VectorStores:
    return context.services().vector_stores


def _json(obj: Any, status: int = 200) -> Response:
    return Response(dump(obj), status=status, content_type="application/json")


def max_file_bytes() -> int:
    limit = current_app.config.get("MAX_FILE_BYTES") or current_app.config["MAX_CONTENT_LENGTH"]
    return int(limit)


def _install_upload_limit(state: BlueprintSetupState) -> None:
    """Give `POST /v1/files` the file limit instead of the app-wide JSON body limit.

    Quart fixes a request body's limit when the request object is created, from
    MAX_CONTENT_LENGTH (a larger Content-Length is refused before any route code runs, and the
    body's bytes are dropped). Only the request class can choose another limit per route, so
    the blueprint installs a subclass when registered. The upload route still enforces the
    file limit itself while streaming; this only keeps Quart from refusing first.
    """
    app = cast(Quart, state.app)
    base: type[Request] = app.request_class

    class UploadLimitRequest(base):  # type: ignore[valid-type,misc]
        def __init__(self, method: str, scheme: str, path: str, *args: Any,
                     max_content_length: int | None = None, **kwargs: Any) -> None:
            file_limit = app.config.get("MAX_FILE_BYTES") or app.config.get("MAX_CONTENT_LENGTH")
            if method == "POST" and path.rstrip("/") == UPLOAD_PATH and file_limit:
                # Room for the multipart framing and the small fields around the file.
                max_content_length = int(file_limit) + FORM_FIELD_LIMIT
            super().__init__(method, scheme, path, *args, max_content_length=max_content_length, **kwargs)

    app.request_class = UploadLimitRequest


bp.record_once(_install_upload_limit)


def safe_filename(raw: str | None) -> str:
    """The client's filename reduced to a display name: last path component, no control chars."""
    name = re.split(r"[\\/]", raw or "")[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    if name in ("", ".", ".."):
        return "upload"
    return name[:255]


def content_disposition(filename: str) -> str:
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_")
    ascii_name = ascii_name.replace("\\", "_").replace('"', "_")
    value = f'attachment; filename="{ascii_name}"'
    if ascii_name != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value


class _Upload:
    """State of one streamed multipart upload."""

    def __init__(self, part_path: Path, limit: int) -> None:
        self.part_path = part_path
        self.limit = limit
        self.fields: dict[str, bytearray] = {}
        self.filename: str | None = None
        self.mime: str | None = None
        self.size = 0
        self._fh: BinaryIO | None = None
        self._pending = bytearray()
        self._current: str | None = None  # "file" or a field name
        self.files_seen = 0

    async def _flush(self) -> None:
        if self._pending and self._fh is not None:
            data, self._pending = bytes(self._pending), bytearray()
            await asyncio.to_thread(self._fh.write, data)

    async def handle(self, event: Any) -> None:
        if isinstance(event, File):
            self.files_seen += 1
            if event.name != "file" or self.files_seen > 1:
                raise errors.invalid_request(
                    "Exactly one file part named 'file' is expected.", "file", "invalid_value")
            self.filename = event.filename
            ctype = event.headers.get("content-type")
            self.mime = ctype.strip() if ctype else None
            self._current = "file"
            self._fh = await asyncio.to_thread(self.part_path.open, "wb")
        elif isinstance(event, Field):
            self._current = event.name
            self.fields[event.name] = bytearray()
        elif isinstance(event, Data):
            if self._current == "file":
                self.size += len(event.data)
                if self.size > self.limit:
                    raise errors.payload_too_large(self.limit)
                self._pending.extend(event.data)
                if len(self._pending) >= WRITE_BUFFER:
                    await self._flush()
            elif self._current is not None:
                self.fields[self._current].extend(event.data)
                if sum(map(len, self.fields.values())) > FORM_FIELD_LIMIT:
                    raise errors.invalid_request("The form fields besides 'file' are too large.", None,
                                                 "invalid_value")

    async def finish(self) -> None:
        await self._flush()
        if self._fh is not None:
            fh, self._fh = self._fh, None
            await asyncio.to_thread(_close_synced, fh)

    async def abort(self) -> None:
        if self._fh is not None:
            fh, self._fh = self._fh, None
            await asyncio.to_thread(fh.close)
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(self.part_path.unlink)


def _close_synced(fh: BinaryIO) -> None:
    fh.flush()
    os.fsync(fh.fileno())
    fh.close()


def _boundary() -> bytes:
    ctype, options = parse_options_header(request.headers.get("content-type", ""))
    if ctype != "multipart/form-data" or not options.get("boundary"):
        raise errors.invalid_request(
            "Uploads must be multipart/form-data with the fields 'file' and 'purpose'.", "file",
            "invalid_content_type")
    return options["boundary"].encode("latin-1")


async def _receive(upload: _Upload, decoder: MultipartDecoder) -> None:
    async def drain() -> bool:
        while True:
            event = decoder.next_event()
            if isinstance(event, NeedData):
                return False
            if isinstance(event, Epilogue):
                return True
            await upload.handle(event)

    done = False
    body = request.body
    # A client that stops sending must not hold the upload (and its connection) open: each
    # chunk must arrive within the body timeout (Quart applies BODY_TIMEOUT only to bodies read
    # whole, not to a streamed one).
    gap = current_app.config.get("BODY_TIMEOUT")
    while True:
        try:
            chunk = await asyncio.wait_for(body.__anext__(), gap)
        except StopAsyncIteration:
            break
        except TimeoutError:
            raise errors.request_timeout(gap) from None
        # The decoder refuses to buffer more than its limit at once, so feed it in slices and
        # let it emit Data events in between; its buffer then stays small whatever the body.
        for start in range(0, len(chunk), FEED_SLICE):
            decoder.receive_data(chunk[start:start + FEED_SLICE])
            done = await drain()
    decoder.receive_data(None)
    if not done:
        done = await drain()


def _expires_after(fields: dict[str, str], created_at: int) -> int | None:
    """FileExpirationAfter: anchor "created_at", seconds between 3600 and 2592000."""
    anchor, seconds = fields.get("expires_after[anchor]"), fields.get("expires_after[seconds]")
    if anchor is None and seconds is None:
        return None
    if anchor != "created_at":
        raise errors.invalid_request("Invalid 'expires_after.anchor': expected 'created_at'.",
                                     "expires_after.anchor", "invalid_value")
    try:
        secs = int(seconds or "")
    except ValueError:
        secs = -1
    if not 3600 <= secs <= 2_592_000:
        raise errors.invalid_request(
            "Invalid 'expires_after.seconds': expected an integer between 3600 and 2592000.",
            "expires_after.seconds", "invalid_value")
    return created_at + secs


@bp.post("/files")
@document_request(CreateFileRequest, source=DataSource.FORM_MULTIPART)
@documented(FileObject, 413)
async def upload() -> Response:
    service = _service()
    limit = max_file_bytes()
    boundary = _boundary()
    if request.content_length is not None and request.content_length > limit + FORM_FIELD_LIMIT:
        raise errors.payload_too_large(limit)
    file_id = ids.new_id(ids.FILE)
    final = service.blob_path(file_id)
    upload = _Upload(final.with_name(file_id + ".part"), limit)
    decoder = MultipartDecoder(boundary, FORM_FIELD_LIMIT, max_parts=16)
    try:
        await _receive(upload, decoder)
        await upload.finish()
    except RequestEntityTooLarge as exc:
        await upload.abort()
        raise errors.payload_too_large(limit) from exc
    except ValueError as exc:  # werkzeug: a malformed multipart body
        await upload.abort()
        raise errors.invalid_request(f"The multipart body could not be parsed: {exc}", "file") from exc
    except BaseException:
        await upload.abort()
        raise
    try:
        fields = {k: v.decode("utf-8", "replace") for k, v in upload.fields.items()}
        unknown = sorted(set(fields) - {"purpose", "expires_after[anchor]", "expires_after[seconds]"})
        if unknown:
            raise errors.invalid_request(f"Unknown parameter: '{unknown[0]}'.", unknown[0],
                                         "unknown_parameter")
        if upload.files_seen == 0:
            raise errors.invalid_request("Missing required parameter: 'file'.", "file",
                                         "missing_required_parameter")
        purpose = fields.get("purpose")
        if purpose is None:
            raise errors.invalid_request("Missing required parameter: 'purpose'.", "purpose",
                                         "missing_required_parameter")
        if purpose not in PURPOSES:
            raise errors.invalid_request(
                f"Invalid value: '{purpose}'. Supported values are: {', '.join(map(repr, PURPOSES))}.",
                "purpose", "invalid_value")
        if upload.size == 0:
            # OpenAI refuses empty uploads; an empty file is useless for every purpose.
            raise errors.invalid_request("The uploaded file is empty.", "file", "empty_file")
        created_at = service.now()
        expires_at = _expires_after(fields, created_at)
        filename = safe_filename(upload.filename)
        mime = upload.mime
        if not mime or mime.split(";")[0].strip().lower() in ("application/octet-stream", ""):
            mime = mimetypes.guess_type(filename)[0] or mime
        await asyncio.to_thread(os.replace, upload.part_path, final)
    except BaseException:
        await upload.abort()
        raise
    obj: dict[str, Any] = {
        "id": file_id, "object": "file", "bytes": upload.size, "created_at": created_at,
        "filename": filename, "purpose": purpose,
        # Deprecated but required by OpenAIFile: an upload is ready as soon as it is stored.
        "status": "processed", "_mime": mime,
    }
    # OpenAIFile types `expires_at` as an integer and `status_details` as a string, neither
    # nullable: absent rather than null when there is nothing to say.
    if expires_at is not None:
        obj["expires_at"] = expires_at
    await service.save_file(obj)
    return _json(await service.get_file(file_id))


@bp.get("/files")
@document_querystring(FilesQuery)
@documented(FileList)
async def list_files() -> Response:
    args = request.args
    purpose = args.get("purpose")
    return _json(await _service().list_files(purpose=purpose, limit=args.get("limit"),
                                             after=args.get("after"), order=args.get("order")))


@bp.get("/files/<file_id>")
@documented(FileObject)
async def retrieve_file(file_id: str) -> Response:
    return _json(await _service().get_file(file_id))


@bp.delete("/files/<file_id>")
@documented(FileDeleted)
async def delete_file(file_id: str) -> Response:
    return _json(await _service().delete_file(file_id))


@bp.get("/files/<file_id>/content")
async def file_content(file_id: str) -> Response:
    service = _service()
    obj = await service.get_file_raw(file_id)
    path = service.blob_path(file_id)
    try:
        fh = await asyncio.to_thread(path.open, "rb")
    except FileNotFoundError:
        raise errors.not_found("file content", file_id) from None

    async def body() -> Any:
        try:
            while chunk := await asyncio.to_thread(fh.read, 256 * 1024):
                yield chunk
        finally:
            fh.close()

    headers = Headers()
    headers["Content-Disposition"] = content_disposition(obj["filename"])
    headers["Content-Length"] = str(obj["bytes"])
    return Response(body(), status=200, headers=headers,
                    content_type=obj.get("_mime") or "application/octet-stream")
