"""`/v1/prompts` routes (versioned prompt templates); design and logic in `reference.prompts`."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, current_app, request

from reference import prompts
from reference.engine import Engine
from reference.service_common import dump

bp = Blueprint("prompts", __name__, url_prefix="/v1")


def _engine() -> Engine:
    engine: Engine = current_app.extensions["responses_engine"]
    return engine


def _json(text: str) -> Response:
    return Response(text, status=200, content_type="application/json")


def _page_args() -> dict[str, Any]:
    # Raw strings: `core.pagination.paginate` validates them (400 naming the param).
    return {name: request.args.get(name) for name in ("limit", "after", "before", "order")}


async def _body() -> bytes | str:
    return await request.get_data(cache=False)


@bp.post("/prompts")
async def create_prompt() -> Response:
    return _json(await prompts.create(_engine(), await _body()))


@bp.get("/prompts")
async def list_prompts() -> Response:
    return _json(dump(await prompts.list_prompts(_engine(), **_page_args())))


@bp.get("/prompts/<prompt_id>")
async def get_prompt(prompt_id: str) -> Response:
    return _json(await prompts.get_text(_engine(), prompt_id))


@bp.post("/prompts/<prompt_id>")
async def update_prompt(prompt_id: str) -> Response:
    return _json(await prompts.update(_engine(), prompt_id, await _body()))


@bp.delete("/prompts/<prompt_id>")
async def delete_prompt(prompt_id: str) -> Response:
    return _json(dump(await prompts.delete(_engine(), prompt_id)))


@bp.post("/prompts/<prompt_id>/versions")
async def create_version(prompt_id: str) -> Response:
    return _json(await prompts.create_version(_engine(), prompt_id, await _body()))


@bp.get("/prompts/<prompt_id>/versions")
async def list_versions(prompt_id: str) -> Response:
    return _json(dump(await prompts.list_versions(_engine(), prompt_id, **_page_args())))


@bp.get("/prompts/<prompt_id>/versions/<version>")
async def get_version(prompt_id: str, version: str) -> Response:
    return _json(await prompts.get_version_text(_engine(), prompt_id, version))
