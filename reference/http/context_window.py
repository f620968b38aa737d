"""`POST /v1/responses/compact` and `POST /v1/responses/input_tokens` (reference/context_window.py)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from quart import Blueprint, Response, request
from quart_schema import document_request, document_response

from reference import context_window
from reference.core.models import ErrorResponse
from reference.engine import Engine, dump
from reference.http import context

bp = Blueprint("context_window", __name__, url_prefix="/v1")


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class CompactRequest(_Open):
    model: str
    input: str | list[dict[str, Any]] | None = None
    previous_response_id: str | None = None
    instructions: str | None = None
    prompt_cache_key: str | None = None


class CompactResource(_Open):
    id: str
    object: Literal["response.compaction"] = "response.compaction"
    created_at: int
    output: list[dict[str, Any]]
    usage: dict[str, Any]


class TokenCountsRequest(_Open):
    model: str | None = None
    input: str | list[dict[str, Any]] | None = None
    previous_response_id: str | None = None
    conversation: str | dict[str, Any] | None = None
    instructions: str | None = None
    tools: list[dict[str, Any]] | None = None


class TokenCountsResource(_Open):
    object: Literal["response.input_tokens"] = "response.input_tokens"
    input_tokens: int


def _engine() -> Engine:
    return context.engine()


def _errors(func: Any) -> Any:
    for status in (400, 404, 502, 504):
        func = document_response(ErrorResponse, status)(func)
    return func


@bp.post("/responses/compact")
@document_request(CompactRequest)
@document_response(CompactResource, 200)
@_errors
async def compact() -> Response:
    body = await request.get_data(cache=False)
    resource = await context_window.compact(_engine(), body)
    return Response(dump(resource), content_type="application/json")


@bp.post("/responses/input_tokens")
@document_request(TokenCountsRequest)
@document_response(TokenCountsResource, 200)
@_errors
async def input_tokens() -> Response:
    body = await request.get_data(cache=False)
    resource = await context_window.count_input_tokens(_engine(), body)
    return Response(dump(resource), content_type="application/json")
