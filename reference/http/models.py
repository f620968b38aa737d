"""`GET /v1/models`: the model server's list, passed on (an OpenAI list object), so SDKs and
tools that start by listing models see the names the backend serves. A backend that is down or
answers garbage is the usual OpenAI error (502, 504)."""

from __future__ import annotations

from typing import Any

from quart import Blueprint
from quart_schema import document_response

from reference.core.errors import SERVER_ERROR, APIError
from reference.core.models import ErrorResponse
from reference.http import context

bp = Blueprint("models", __name__)


@bp.get("/v1/models")
# 500: no backend configured; 502: backend unreachable or garbage; 504: backend too slow (the
# 200 is documented in reference/http/openapi.py: the list has no pydantic model).
@document_response(ErrorResponse, 500)
@document_response(ErrorResponse, 502)
@document_response(ErrorResponse, 504)
async def list_models() -> dict[str, Any]:
    backend = context.engine().backend
    if backend is None:
        raise APIError(500, "This gateway has no model backend configured.", SERVER_ERROR)
    return await backend.list_models()
