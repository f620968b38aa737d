"""`/v1/vector_stores`: stores, their files, file batches, file content and search.

Request bodies are checked against the spec's request schemas (all `additionalProperties:
false`): unknown keys, wrong types and out-of-range values are 400s naming the parameter.
Chunking strategies, attributes, filters and search options are validated by
`reference.retrieval` (its `RetrievalError`s render as 400s here).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from quart import Blueprint, Response, request
from quart_schema import document_querystring, document_request, document_response

from reference.core import errors, jsonbody
from reference.core.models import ErrorResponse
from reference.engine import dump
from reference.http import context
from reference.retrieval import RetrievalError
from reference.services import VectorStores

bp = Blueprint("vector_stores", __name__, url_prefix="/v1/vector_stores")


# -- /openapi.json --------------------------------------------------------------------------
# Documentation only (the spec's shapes, trimmed): validation is the handlers' own, so every
# 400 is an OpenAI error object naming the parameter.

Attributes = dict[str, str | float | bool]
FileStatus = Literal["in_progress", "completed", "failed", "cancelled"]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExpiresAfter(_Closed):
    anchor: Literal["last_active_at"]
    days: int = Field(ge=1, le=365)


class FileCounts(_Open):
    in_progress: int
    completed: int
    failed: int
    cancelled: int
    total: int


class VectorStoreObject(_Open):
    id: str
    object: Literal["vector_store"]
    created_at: int
    name: str
    usage_bytes: int
    file_counts: FileCounts
    status: Literal["expired", "in_progress", "completed"]
    expires_after: ExpiresAfter | None = None
    expires_at: int | None = None
    last_active_at: int | None = None
    metadata: dict[str, str] | None = None


class LastError(_Open):
    code: Literal["server_error", "unsupported_file", "invalid_file"]
    message: str


class VectorStoreFileObject(_Open):
    id: str
    object: Literal["vector_store.file"]
    usage_bytes: int
    created_at: int
    vector_store_id: str
    status: FileStatus
    last_error: LastError | None
    chunking_strategy: dict[str, Any] | None = None
    attributes: Attributes | None = None


class FileBatchObject(_Open):
    id: str
    object: Literal["vector_store.files_batch"]
    created_at: int
    vector_store_id: str
    status: FileStatus
    file_counts: FileCounts


class _List(_Open):
    object: Literal["list"]
    first_id: str | None
    last_id: str | None
    has_more: bool


class VectorStoreList(_List):
    data: list[VectorStoreObject]


class VectorStoreFileList(_List):
    data: list[VectorStoreFileObject]


class Deleted(_Open):
    id: str
    object: str
    deleted: bool


class TextContent(_Open):
    type: Literal["text"]
    text: str


class SearchResult(_Open):
    file_id: str
    filename: str
    score: float = Field(ge=0, le=1)
    attributes: Attributes | None = None
    content: list[TextContent]


class SearchResultsPage(_Open):
    object: Literal["vector_store.search_results.page"]
    search_query: list[str]
    data: list[SearchResult]
    has_more: bool
    next_page: str | None


class FileContentPage(_Open):
    object: Literal["vector_store.file_content.page"]
    data: list[TextContent]
    has_more: bool
    next_page: str | None


class CreateVectorStoreRequest(_Closed):
    file_ids: list[str] | None = Field(default=None, max_length=500)
    name: str | None = None
    description: str | None = None
    expires_after: ExpiresAfter | None = None
    chunking_strategy: dict[str, Any] | None = None
    metadata: dict[str, str] | None = None


class UpdateVectorStoreRequest(_Closed):
    name: str | None = None
    expires_after: ExpiresAfter | None = None
    metadata: dict[str, str] | None = None


class CreateVectorStoreFileRequest(_Closed):
    file_id: str
    chunking_strategy: dict[str, Any] | None = None
    attributes: Attributes | None = None


class UpdateVectorStoreFileAttributesRequest(_Closed):
    attributes: Attributes | None


class CreateFileBatchRequest(_Closed):
    file_ids: list[str] | None = Field(default=None, min_length=1, max_length=2000)
    files: list[CreateVectorStoreFileRequest] | None = Field(default=None, min_length=1, max_length=2000)
    chunking_strategy: dict[str, Any] | None = None
    attributes: Attributes | None = None


class SearchRequest(_Closed):
    query: str | list[str]
    rewrite_query: bool = False
    max_num_results: int = Field(default=10, ge=1, le=50)
    filters: dict[str, Any] | None = None
    ranking_options: dict[str, Any] | None = None


class ListQuery(BaseModel):
    limit: int | None = None
    after: str | None = None
    before: str | None = None
    order: Literal["asc", "desc"] | None = None


class FilesQuery(ListQuery):
    filter: FileStatus | None = None


def documented(ok: type[BaseModel], *errors_: int) -> Any:
    """Declare the 200 model and the error statuses (OpenAI error objects) of a route."""
    def decorate(func: Any) -> Any:
        func = document_response(ok, 200)(func)
        for status in (400, 404, *errors_):
            func = document_response(ErrorResponse, status)(func)
        return func
    return decorate


@bp.errorhandler(RetrievalError)
async def _retrieval_error(exc: RetrievalError) -> Response:
    err = exc.as_api_error()
    return Response(err.body_bytes(), status=err.status, content_type="application/json")


def _service() -> VectorStores:
    return context.services().vector_stores


def _json(obj: Any) -> Response:
    return Response(dump(obj), status=200, content_type="application/json")


async def _body(allowed: tuple[str, ...]) -> dict[str, Any]:
    raw = await request.get_data()
    if not raw.strip():
        body: Any = {}
    else:
        body = jsonbody.loads(raw)
    if not isinstance(body, dict):
        raise errors.invalid_request("The request body must be a JSON object.", None, "invalid_type")
    for key in body:
        if key not in allowed:
            raise errors.invalid_request(f"Unknown parameter: '{key}'.", key, "unknown_parameter")
    return body


def _page() -> dict[str, Any]:
    args = request.args
    return {"limit": args.get("limit"), "after": args.get("after"), "before": args.get("before"),
            "order": args.get("order")}


def _check_string(body: dict[str, Any], key: str, *, nullable: bool = False) -> None:
    if key in body and not isinstance(body[key], str) and not (nullable and body[key] is None):
        raise errors.invalid_request(f"Invalid type for '{key}': expected a string.", key, "invalid_type")


def _check_metadata(body: dict[str, Any]) -> None:
    """Metadata: "Set of 16 key-value pairs ... Keys are strings with a maximum length of 64
    characters. Values are strings with a maximum length of 512 characters." """
    if "metadata" not in body or body["metadata"] is None:
        return
    meta = body["metadata"]
    if not isinstance(meta, dict):
        raise errors.invalid_request("Invalid type for 'metadata': expected an object.", "metadata",
                                     "invalid_type")
    if len(meta) > 16:
        raise errors.invalid_request("Invalid 'metadata': at most 16 keys are allowed.", "metadata",
                                     "invalid_value")
    for key, value in meta.items():
        if len(key) > 64:
            raise errors.invalid_request(
                f"Invalid 'metadata': key '{key[:20]}...' is longer than 64 characters.", "metadata",
                "invalid_value")
        if not isinstance(value, str) or len(value) > 512:
            raise errors.invalid_request(
                f"Invalid 'metadata.{key}': expected a string of at most 512 characters.", f"metadata.{key}",
                "invalid_value")


def _check_expires_after(body: dict[str, Any], *, nullable: bool) -> None:
    """VectorStoreExpirationAfter: anchor "last_active_at", days 1..365, both required."""
    if "expires_after" not in body or (nullable and body["expires_after"] is None):
        return
    value = body["expires_after"]
    if not isinstance(value, dict):
        raise errors.invalid_request("Invalid type for 'expires_after': expected an object.", "expires_after",
                                     "invalid_type")
    extra = sorted(set(value) - {"anchor", "days"})
    if extra:
        raise errors.invalid_request(f"Unknown parameter: 'expires_after.{extra[0]}'.",
                                     f"expires_after.{extra[0]}", "unknown_parameter")
    if value.get("anchor") != "last_active_at":
        raise errors.invalid_request("Invalid 'expires_after.anchor': expected 'last_active_at'.",
                                     "expires_after.anchor", "invalid_value")
    days = value.get("days")
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 365:
        raise errors.invalid_request("Invalid 'expires_after.days': expected an integer between 1 and 365.",
                                     "expires_after.days", "invalid_value")


@bp.post("")
@document_request(CreateVectorStoreRequest)
@documented(VectorStoreObject, 413)
async def create_vector_store() -> Response:
    body = await _body(("file_ids", "name", "description", "expires_after", "chunking_strategy", "metadata"))
    _check_string(body, "name")
    _check_string(body, "description")
    _check_metadata(body)
    _check_expires_after(body, nullable=False)
    file_ids = body.get("file_ids")
    if file_ids is not None and (not isinstance(file_ids, list) or len(file_ids) > 500):
        raise errors.invalid_request("Invalid 'file_ids': expected an array of at most 500 file ids.",
                                     "file_ids", "invalid_value")
    return _json(await _service().create_vector_store(body))


@bp.get("")
@document_querystring(ListQuery)
@documented(VectorStoreList)
async def list_vector_stores() -> Response:
    return _json(await _service().list_vector_stores(**_page()))


@bp.get("/<vs_id>")
@documented(VectorStoreObject)
async def get_vector_store(vs_id: str) -> Response:
    return _json(await _service().get_vector_store(vs_id))


@bp.post("/<vs_id>")
@document_request(UpdateVectorStoreRequest)
@documented(VectorStoreObject, 413)
async def modify_vector_store(vs_id: str) -> Response:
    body = await _body(("name", "expires_after", "metadata"))
    _check_string(body, "name", nullable=True)
    _check_metadata(body)
    _check_expires_after(body, nullable=True)
    return _json(await _service().modify_vector_store(vs_id, body))


@bp.delete("/<vs_id>")
@documented(Deleted)
async def delete_vector_store(vs_id: str) -> Response:
    return _json(await _service().delete_vector_store(vs_id))


@bp.post("/<vs_id>/search")
@document_request(SearchRequest)
@documented(SearchResultsPage, 413, 502, 504)
async def search(vs_id: str) -> Response:
    raw = await request.get_data()
    body = jsonbody.loads(raw or b"{}")
    return _json(await _service().search(vs_id, body))


@bp.post("/<vs_id>/files")
@document_request(CreateVectorStoreFileRequest)
@documented(VectorStoreFileObject, 413)
async def create_vs_file(vs_id: str) -> Response:
    body = await _body(("file_id", "chunking_strategy", "attributes"))
    return _json(await _service().create_vs_file(vs_id, body))


@bp.get("/<vs_id>/files")
@document_querystring(FilesQuery)
@documented(VectorStoreFileList)
async def list_vs_files(vs_id: str) -> Response:
    return _json(await _service().list_vs_files(vs_id, status=request.args.get("filter"), **_page()))


@bp.get("/<vs_id>/files/<file_id>")
@documented(VectorStoreFileObject)
async def get_vs_file(vs_id: str, file_id: str) -> Response:
    return _json(await _service().get_vs_file(vs_id, file_id))


@bp.post("/<vs_id>/files/<file_id>")
@document_request(UpdateVectorStoreFileAttributesRequest)
@documented(VectorStoreFileObject, 413)
async def update_vs_file(vs_id: str, file_id: str) -> Response:
    body = await _body(("attributes",))
    return _json(await _service().update_vs_file(vs_id, file_id, body))


@bp.delete("/<vs_id>/files/<file_id>")
@documented(Deleted)
async def delete_vs_file(vs_id: str, file_id: str) -> Response:
    return _json(await _service().delete_vs_file(vs_id, file_id))


@bp.get("/<vs_id>/files/<file_id>/content")
@documented(FileContentPage)
async def vs_file_content(vs_id: str, file_id: str) -> Response:
    return _json(await _service().vs_file_content(vs_id, file_id))


@bp.post("/<vs_id>/file_batches")
@document_request(CreateFileBatchRequest)
@documented(FileBatchObject, 413)
async def create_batch(vs_id: str) -> Response:
    body = await _body(("file_ids", "files", "chunking_strategy", "attributes"))
    return _json(await _service().create_batch(vs_id, body))


@bp.get("/<vs_id>/file_batches/<batch_id>")
@documented(FileBatchObject)
async def get_batch(vs_id: str, batch_id: str) -> Response:
    return _json(await _service().get_batch(vs_id, batch_id))


@bp.post("/<vs_id>/file_batches/<batch_id>/cancel")
@documented(FileBatchObject)
async def cancel_batch(vs_id: str, batch_id: str) -> Response:
    return _json(await _service().cancel_batch(vs_id, batch_id))


@bp.get("/<vs_id>/file_batches/<batch_id>/files")
@document_querystring(FilesQuery)
@documented(VectorStoreFileList)
async def list_batch_files(vs_id: str, batch_id: str) -> Response:
    return _json(await _service().list_vs_files(vs_id, status=request.args.get("filter"),
                                                batch_id=batch_id, **_page()))
