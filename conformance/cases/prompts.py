"""Reusable prompts named by a Responses request (prompt: {id, version, variables}).

Reusable prompts: a Responses request names one with ``prompt: {id, version?, variables?}``.

OpenAI's spec defines the ``prompt`` parameter ("Reference to a prompt template and its
variables") but publishes no REST API to create prompts. These cases use the management API
documented by this project's reference gateway (``reference/services/prompts.py``: ``POST /prompts``
``{instructions?, input?, variables?}`` -> ``{id, object: "prompt", default_version: "1",
latest_version: "1", ...}``; ``POST /prompts/{id}/versions`` ``{base_version, ...}``, a stale
``base_version`` -> 409 ``version_conflict``). A gateway without ``/prompts`` is UNIMPLEMENTED
(a 404 on the collection route), never FAIL. Management cases are SHOULD; the rendering cases,
which check the Responses ``prompt`` parameter the OpenAI spec defines, are MUST but scoped to
gateways that offer the management API (there is no other way to create a prompt)."""

from __future__ import annotations

from typing import Any

from conformance.cases._stateful import OAI, require_support
from conformance.cases._support import messages_reply
from conformance.context import CaseContext
from conformance.model import Level, Tier, case

REF = "reference/services/prompts.py (the project's documented prompts API; OpenAI publishes none)"
PROMPT = f"{OAI} components.schemas.Prompt"
_VARS = (
    "variables: Optional map of values to substitute in for variables in your prompt. The substitution "
    "values can either be strings, or other Response input types like images or files."
)


async def _create(ctx: CaseContext, **body: Any) -> dict[str, Any]:
    resp = await ctx.post("/prompts", json=body)
    require_support(ctx, resp, "POST /prompts")
    return ctx.json_ok(resp, "POST /prompts")


async def _version(ctx: CaseContext, pid: Any, base: Any, **body: Any) -> Any:
    return await ctx.post(f"/prompts/{pid}/versions", json={"base_version": base, **body})


async def _system(ctx: CaseContext, prompt: dict[str, Any], text: str = "[[messages]]") -> list[Any]:
    """The chat messages the scripted model received for a Response using ``prompt``."""
    resp = await ctx.create_ok(text, prompt=prompt)
    msgs = messages_reply(ctx, resp)
    return msgs


def _roles(msgs: list[Any]) -> list[tuple[Any, Any]]:
    return [(m.get("role"), m.get("content")) for m in msgs if isinstance(m, dict)]


@case("prompts.create.shape", Level.SHOULD, source=REF)
async def create_shape(ctx: CaseContext) -> None:
    """POST /prompts answers a prompt with default_version and latest_version 1

    POST /v1/prompts {name?, metadata?, instructions?, input?, variables?} -> the prompt, with version "1" as
    default and latest.
    """
    p = await _create(ctx, instructions="You are terse.")
    ctx.check_eq(
        [p.get("object"), p.get("default_version"), p.get("latest_version"), p.get("instructions")],
        ["prompt", "1", "1", "You are terse."],
        "[object, default_version, latest_version, instructions]",
    )


@case("prompts.versions.create-increments", Level.SHOULD, source=REF)
async def version_increments(ctx: CaseContext) -> None:
    """A new version based on the latest is numbered latest + 1

    POST /v1/prompts/{id}/versions {base_version, instructions?, input?, variables?, make_default?} -> the new
    version, numbered latest + 1.
    """
    p = await _create(ctx, instructions="v1")
    v = ctx.json_ok(await _version(ctx, p.get("id"), "1", instructions="v2"), "POST /prompts/{id}/versions")
    again = ctx.json_ok(await ctx.get(f"/prompts/{p.get('id')}"), "GET /prompts/{id}")
    ctx.check_eq(
        [v.get("version"), again.get("latest_version"), again.get("default_version")],
        ["2", "2", "1"],
        "[new version, latest_version, default_version]",
    )


@case("prompts.versions.stale-base-409", Level.SHOULD, source=REF)
async def stale_base(ctx: CaseContext) -> None:
    """Creating a version from a stale base_version is a 409 and writes nothing

    creating a version requires `base_version`, the `latest_version` the edit is based on; when another
    version was created since, the answer is **409** (`code: "version_conflict"`, `param: "base_version"`) and
    nothing is written.
    """
    p = await _create(ctx, instructions="v1")
    pid = p.get("id")
    ctx.json_ok(
        await _version(ctx, pid, "1", instructions="v2"), "POST /prompts/{id}/versions (first editor)"
    )
    stale = await _version(ctx, pid, "1", instructions="v2 from a stale editor")
    ctx.check_eq(stale.status_code, 409, "status for a stale base_version")
    again = ctx.json_ok(await ctx.get(f"/prompts/{pid}"), "GET /prompts/{id}")
    ctx.check_eq(again.get("latest_version"), "2", "latest_version after the conflict (nothing written)")


@case("prompts.default.stale-previous-409", Level.SHOULD, source=REF)
async def stale_default(ctx: CaseContext) -> None:
    """Moving default_version with a stale previous_default_version is a 409

    changing `default_version` requires `previous_default_version`, the default the client saw; when it moved
    meanwhile: 409 (`param: "previous_default_version"`).
    """
    p = await _create(ctx, instructions="v1")
    pid = p.get("id")
    ctx.json_ok(await _version(ctx, pid, "1", instructions="v2"), "POST /prompts/{id}/versions")
    ctx.json_ok(await _version(ctx, pid, "2", instructions="v3"), "POST /prompts/{id}/versions")
    ok = await ctx.post(f"/prompts/{pid}", json={"default_version": "2", "previous_default_version": "1"})
    ctx.json_ok(ok, "POST /prompts/{id} (first editor moves the default)")
    stale = await ctx.post(f"/prompts/{pid}", json={"default_version": "3", "previous_default_version": "1"})
    ctx.check_eq(stale.status_code, 409, "status for a stale previous_default_version")
    again = ctx.json_ok(await ctx.get(f"/prompts/{pid}"), "GET /prompts/{id}")
    ctx.check_eq(again.get("default_version"), "2", "default_version after the conflict")


@case("prompts.delete.then-404", Level.SHOULD, source=REF)
async def delete_then_404(ctx: CaseContext) -> None:
    """After DELETE the prompt and its versions are 404

    DELETE /v1/prompts/{id} -> {"id", "object": "prompt.deleted", "deleted": true} (versions go too).
    """
    p = await _create(ctx, instructions="gone")
    pid = p.get("id")
    got = ctx.json_ok(await ctx.delete(f"/prompts/{pid}"), "DELETE /prompts/{id}")
    ctx.check_eq([got.get("object"), got.get("deleted")], ["prompt.deleted", True], "[object, deleted]")
    codes = [
        (await ctx.get(f"/prompts/{pid}")).status_code,
        (await ctx.get(f"/prompts/{pid}/versions/1")).status_code,
    ]
    ctx.check_eq(codes, [404, 404], "[GET prompt, GET version 1] after DELETE")


@case("prompts.render.instructions-substituted", Level.MUST, spec=_VARS, source=PROMPT, tier=Tier.SCRIPTED)
async def render_instructions(ctx: CaseContext) -> None:
    """A Response with prompt gets the rendered template as its system message"""
    await ctx.require_scripted()
    p = await _create(ctx, instructions="You help {{customer}} with {{topic}}.")
    msgs = await _system(ctx, {"id": p.get("id"), "variables": {"customer": "ACME", "topic": "billing"}})
    ctx.check_eq(
        _roles(msgs),
        [("system", "You help ACME with billing."), ("user", "[[messages]]")],
        "messages the model received",
    )


@case("prompts.render.version-pinned", Level.MUST, source=PROMPT, tier=Tier.SCRIPTED)
async def render_version(ctx: CaseContext) -> None:
    """prompt.version selects that version; without it the default version is used

    version: Optional version of the prompt template.
    """
    await ctx.require_scripted()
    p = await _create(ctx, instructions="Version one.")
    pid = p.get("id")
    ctx.json_ok(await _version(ctx, pid, "1", instructions="Version two."), "POST /prompts/{id}/versions")
    got = [
        _roles(await _system(ctx, {"id": pid, "version": "2"}))[0],
        _roles(await _system(ctx, {"id": pid}))[0],
    ]
    ctx.check_eq(
        got,
        [("system", "Version two."), ("system", "Version one.")],
        "system message with version 2, then without version (default 1)",
    )


@case("prompts.render.input-prepended", Level.MUST, source=PROMPT, tier=Tier.SCRIPTED)
async def render_input(ctx: CaseContext) -> None:
    """A prompt's input messages come before the request's own input

    prompt: Reference to a prompt template and its variables.
    """
    await ctx.require_scripted()
    p = await _create(
        ctx,
        input=[
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Context: {{fact}}"}],
            }
        ],
    )
    msgs = await _system(ctx, {"id": p.get("id"), "variables": {"fact": "the sky is green"}})
    ctx.check_eq(
        _roles(msgs),
        [("user", "Context: the sky is green"), ("user", "[[messages]]")],
        "messages the model received",
    )


@case("prompts.render.prompt-echo", Level.SHOULD, source=PROMPT)
async def render_echo(ctx: CaseContext) -> None:
    """The response reports the prompt it used ({id, version, variables})

    prompt: Reference to a prompt template and its variables. id: The unique identifier of the prompt template
    to use.
    """
    p = await _create(ctx, instructions="Hi {{name}}.")
    resp = await ctx.create_ok("hello", prompt={"id": p.get("id"), "variables": {"name": "Ada"}})
    got = resp.get("prompt") or {}
    ctx.check_eq(
        [got.get("id"), got.get("version"), got.get("variables")],
        [p.get("id"), "1", {"name": "Ada"}],
        "response.prompt [id, version, variables]",
    )


@case("prompts.render.missing-variable-400", Level.SHOULD, source=REF)
async def missing_variable(ctx: CaseContext) -> None:
    """A template variable without a value is a 400 naming it

    A missing variable is a 400 naming it (`param: "prompt.variables.<name>"`, `code:
    "missing_prompt_variable"`)
    """
    p = await _create(ctx, instructions="Hello {{who}}.")
    resp = await ctx.create("hi", prompt={"id": p.get("id")})
    ctx.check_eq(resp.status_code, 400, "status")
    try:
        param = (resp.json().get("error") or {}).get("param")
    except (ValueError, AttributeError):
        param = None
    ctx.check_eq(param, "prompt.variables.who", "error.param")


@case("prompts.render.unknown-prompt-404", Level.SHOULD, source=REF)
async def unknown_prompt(ctx: CaseContext) -> None:
    """A Response naming an unknown prompt is a 404

    an unknown prompt or version is a 404.
    """
    await _create(ctx, instructions="exists")
    resp = await ctx.create("hi", prompt={"id": "pmpt_conformance_missing"})
    ctx.check_eq(resp.status_code, 404, "status")


@case("prompts.render.unknown-version-404", Level.SHOULD, source=REF)
async def unknown_version(ctx: CaseContext) -> None:
    """A Response naming an unknown version of a prompt is a 404

    an unknown prompt or version is a 404.
    """
    p = await _create(ctx, instructions="exists")
    resp = await ctx.create("hi", prompt={"id": p.get("id"), "version": "99"})
    ctx.check_eq(resp.status_code, 404, "status")
