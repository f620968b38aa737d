"""`/v1/prompts` routes (versioned prompt templates); design and logic in `reference.services.prompts`.

Bodies are validated by the service layer (400s naming `param`); the quart-schema decorators
only document the routes in /openapi.json.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, request
from quart_schema import document_querystring, document_request

from reference.http import context
from reference.http.openapi import documented
from reference.services.common import ListQuery, dump
from reference.services.prompts import (
    CreatePromptBody,
    CreateVersionBody,
    DeletedPrompt,
    PromptList,
    PromptObject,
    Prompts,
    PromptVersionList,
    PromptVersionObject,
    UpdatePromptBody,
)

bp = Blueprint("prompts", __name__, url_prefix="/v1")


def _prompts() -> Prompts:
    return context.services().prompts


def _json(text: str) -> Response:
    return Response(text, status=200, content_type="application/json")


def _page_args() -> dict[str, Any]:
    # Raw strings: `core.pagination.paginate` validates them (400 naming the param).
    return {name: request.args.get(name) for name in ("limit", "after", "before", "order")}


async def _body() -> bytes | str:
    return await request.get_data(cache=False)


@bp.post("/prompts")
@document_request(CreatePromptBody)
@documented(PromptObject, 400, 413)
async def create_prompt() -> Response:
    return _json(await _prompts().create(await _body()))


@bp.get("/prompts")
@document_querystring(ListQuery)
@documented(PromptList, 400)
async def list_prompts() -> Response:
    return _json(dump(await _prompts().list_prompts(**_page_args())))


@bp.get("/prompts/<prompt_id>")
@documented(PromptObject, 404)
async def get_prompt(prompt_id: str) -> Response:
    return _json(await _prompts().get_text(prompt_id))


@bp.post("/prompts/<prompt_id>")
@document_request(UpdatePromptBody)
@documented(PromptObject, 400, 404, 409, 413)
async def update_prompt(prompt_id: str) -> Response:
    return _json(await _prompts().update(prompt_id, await _body()))


@bp.delete("/prompts/<prompt_id>")
@documented(DeletedPrompt, 404)
async def delete_prompt(prompt_id: str) -> Response:
    return _json(dump(await _prompts().delete(prompt_id)))


@bp.post("/prompts/<prompt_id>/versions")
@document_request(CreateVersionBody)
@documented(PromptVersionObject, 400, 404, 409, 413)
async def create_version(prompt_id: str) -> Response:
    return _json(await _prompts().create_version(prompt_id, await _body()))


@bp.get("/prompts/<prompt_id>/versions")
@document_querystring(ListQuery)
@documented(PromptVersionList, 400, 404)
async def list_versions(prompt_id: str) -> Response:
    return _json(dump(await _prompts().list_versions(prompt_id, **_page_args())))


@bp.get("/prompts/<prompt_id>/versions/<version>")
@documented(PromptVersionObject, 404)
async def get_version(prompt_id: str, version: str) -> Response:
    return _json(await _prompts().get_version_text(prompt_id, version))
