"""Reusable prompts: versioned templates a Response names with `prompt: {id, version?, variables?}`.

OpenAI's Responses API references prompts (the `Prompt` schema: "Reference to a prompt template
and its variables", `id`, optional `version`, `variables`: "Optional map of values to substitute
in for variables in your prompt. The substitution values can either be strings, or other Response
input types like images or files") but publishes no REST API to manage them; this is ours, in
the style of the other OpenAI resources.

Objects
-------
A prompt (`GET /v1/prompts/{id}`)::

    {"id": "pmpt_...", "object": "prompt", "created_at": 1700000000, "name": "support" | null,
     "metadata": {}, "default_version": "1", "latest_version": "2",
     "instructions": "...", "input": [...] | null, "variables": {...}}

`instructions`, `input` and `variables` are those of the *default* version. A version
(`GET /v1/prompts/{id}/versions/{version}`)::

    {"id": "pmpt_...", "object": "prompt.version", "version": "2", "created_at": ...,
     "instructions": "You help {{customer}}." | null,
     "input": [{"type": "message", "role": "user", "content": [{"type": "input_text",
                "text": "Question: {{question}}"}]}] | null,
     "variables": {"customer": {"description": "...", "default": "our customer"}}}

A version has `instructions` (a template that becomes the response's instructions), `input`
(template messages placed before the request's own input), or both. `variables` optionally
declares variables with a `description` and a `default`; any `{{name}}` used in a template is a
variable whether declared or not.

Routes
------
- `POST /v1/prompts` `{name?, metadata?, instructions?, input?, variables?}` -> the prompt, with
  version "1" as default and latest.
- `GET /v1/prompts` - list (paginated like every OpenAI list), `GET /v1/prompts/{id}`,
  `DELETE /v1/prompts/{id}` -> `{"id", "object": "prompt.deleted", "deleted": true}` (versions go too).
- `POST /v1/prompts/{id}/versions` `{base_version, instructions?, input?, variables?,
  make_default?}` -> the new version, numbered latest + 1.
- `GET /v1/prompts/{id}/versions` (paginated; cursors are version strings, default order desc),
  `GET /v1/prompts/{id}/versions/{version}`.
- `POST /v1/prompts/{id}` `{name?, metadata?, default_version?, previous_default_version?}`.

Optimistic concurrency (body fields, so every SDK can send them via `extra_body`):
- creating a version requires `base_version`, the `latest_version` the edit is based on; when
  another version was created since, the answer is **409** (`code: "version_conflict"`,
  `param: "base_version"`) and nothing is written.
- changing `default_version` requires `previous_default_version`, the default the client saw;
  when it moved meanwhile: 409 (`param: "previous_default_version"`).
The check and the write run as one step on the gateway's single store thread, so two requests
to one gateway process cannot both win.

Rendering
---------
`Prompts.render({"id", "version"?, "variables"?})` substitutes `{{name}}` (whitespace
inside the braces allowed) in one pass: values are not themselves expanded, so a variable value
containing `{{x}}` stays literal. String and `input_text` values substitute text anywhere;
`input_image` / `input_file` values only inside `input` message text, where they split the text
part around a new image/file part. A missing variable is a 400 naming it
(`param: "prompt.variables.<name>"`, `code: "missing_prompt_variable"`); a supplied variable the
version neither uses nor declares is a 400 (`unknown_prompt_variable`) since it is almost
always a typo; an unknown prompt or version is a 404.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from reference.core import errors, ids, pagination, translate
from reference.core.errors import APIError
from reference.core.models import (
    CreateResponseRequest,
    InputFile,
    InputImage,
    InputText,
    Message,
    validate_metadata,
)
from reference.services.common import StoredService, dump, now, parse_model
from reference.store import Kind, ObjectStore

PROMPT = Kind.PROMPT
VERSION = Kind.PROMPT_VERSION

NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_]*"
_PLACEHOLDER = re.compile(r"\{\{\s*(" + NAME_PATTERN + r")\s*\}\}")
_NAME = re.compile(NAME_PATTERN)

_STRICT_FORBID = ConfigDict(strict=True, extra="forbid")

VariableValue = str | InputText | InputImage | InputFile


class VariableSpec(BaseModel):
    model_config = _STRICT_FORBID
    description: str | None = None
    default: VariableValue | None = None


def _check_variable_names(value: dict[str, VariableSpec] | None) -> dict[str, VariableSpec] | None:
    for name in value or {}:
        if not _NAME.fullmatch(name):
            raise ValueError(f"variable name '{name}' must match {NAME_PATTERN}")
    return value


class _Template(BaseModel):
    model_config = _STRICT_FORBID
    instructions: str | None = None
    input: list[Message] | None = None
    variables: dict[str, VariableSpec] | None = None

    @field_validator("variables")
    @classmethod
    def _names(cls, value: dict[str, VariableSpec] | None) -> dict[str, VariableSpec] | None:
        return _check_variable_names(value)


class CreatePromptBody(_Template):
    name: str | None = Field(default=None, max_length=256)
    metadata: dict[str, str] | None = None

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return validate_metadata(value)


class CreateVersionBody(_Template):
    base_version: str
    make_default: bool = False


class UpdatePromptBody(BaseModel):
    model_config = _STRICT_FORBID
    name: str | None = Field(default=None, max_length=256)
    metadata: dict[str, str] | None = None
    default_version: str | None = None
    previous_default_version: str | None = None

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return validate_metadata(value)


class PromptRef(BaseModel):
    """The `prompt` parameter of a Response (`Prompt` in the OpenAI OpenAPI document)."""

    model_config = ConfigDict(strict=True, extra="forbid")
    id: str
    version: str | None = None
    variables: dict[str, VariableValue] | None = None


class _PromptParam(BaseModel):
    # Validating {"prompt": ref} makes every error's param start with `prompt.`.
    model_config = ConfigDict(strict=True)
    prompt: PromptRef


# Output shapes, for /openapi.json (the objects themselves are built as dicts).
_OPEN = ConfigDict(extra="allow")


class PromptObject(BaseModel):
    model_config = _OPEN
    id: str
    object: Literal["prompt"] = "prompt"
    created_at: int
    name: str | None
    metadata: dict[str, str]
    default_version: str
    latest_version: str
    instructions: str | None
    input: list[dict[str, Any]] | None
    variables: dict[str, Any]


class PromptVersionObject(BaseModel):
    model_config = _OPEN
    id: str
    object: Literal["prompt.version"] = "prompt.version"
    version: str
    created_at: int
    instructions: str | None
    input: list[dict[str, Any]] | None
    variables: dict[str, Any]


class PromptList(BaseModel):
    model_config = _OPEN
    object: Literal["list"] = "list"
    data: list[PromptObject]
    first_id: str | None
    last_id: str | None
    has_more: bool


class PromptVersionList(BaseModel):
    model_config = _OPEN
    object: Literal["list"] = "list"
    data: list[PromptVersionObject]
    first_id: str | None
    last_id: str | None
    has_more: bool


class DeletedPrompt(BaseModel):
    model_config = _OPEN
    id: str
    object: Literal["prompt.deleted"] = "prompt.deleted"
    deleted: bool


# --- templates ---------------------------------------------------------------------------------


def _template_fields(body: _Template) -> dict[str, Any]:
    if body.instructions is None and not body.input:
        raise errors.invalid_request(
            "A prompt version needs 'instructions', 'input' or both.", "instructions",
            "missing_required_parameter")
    items = None
    if body.input:
        # Same item shapes as Responses input (typed messages with content parts); ids are given
        # per render, not per template.
        items = translate.input_items(CreateResponseRequest.model_construct(input=list(body.input)))
        for item in items:
            item.pop("id", None)
            item.pop("status", None)
    variables = {name: spec.model_dump(mode="json", exclude_none=True)
                 for name, spec in (body.variables or {}).items()}
    return {"instructions": body.instructions, "input": items, "variables": variables}


def _prompt_view(prompt: dict[str, Any], version: dict[str, Any]) -> dict[str, Any]:
    view = {key: prompt[key] for key in ("id", "object", "created_at", "name", "metadata",
                                         "default_version", "latest_version")}
    view.update({key: version[key] for key in ("instructions", "input", "variables")})
    return view


def _conflict(message: str, param: str) -> APIError:
    return APIError(409, message, errors.INVALID_REQUEST, param, "version_conflict")


def _version_not_found(prompt_id: str, version: str, param: str | None = None) -> APIError:
    return APIError(404, f"No version '{version}' of prompt '{prompt_id}' found.", errors.INVALID_REQUEST,
                    param, "not_found")


# --- blocking operations (store thread) ---------------------------------------------------


def _require(objects: ObjectStore, prompt_id: str, param: str | None = None) -> dict[str, Any]:
    prompt = objects.get(PROMPT, prompt_id)
    if prompt is None:
        raise errors.not_found("prompt", prompt_id, param)
    return prompt


def _put_prompt(objects: ObjectStore, prompt: dict[str, Any]) -> str:
    return objects.put(PROMPT, dump(prompt), object_id=prompt["id"], created_at=int(prompt["created_at"]))


def _create(objects: ObjectStore, prompt: dict[str, Any], version: dict[str, Any]) -> str:
    objects.put(VERSION, dump(version), parent=prompt["id"], object_id=version["version"],
                created_at=int(version["created_at"]))
    return _put_prompt(objects, prompt)


def _create_version(objects: ObjectStore, prompt_id: str, base_version: str,
                    fields: dict[str, Any], make_default: bool) -> str:
    prompt = _require(objects, prompt_id)
    latest = str(prompt["latest_version"])
    if base_version != latest:
        raise _conflict(
            f"Version conflict: prompt '{prompt_id}' is at version '{latest}', but 'base_version' is "
            f"'{base_version}'. Fetch the latest version and apply your change to it.", "base_version")
    number = str(int(latest) + 1)
    version = {"id": prompt_id, "object": "prompt.version", "version": number, "created_at": now(), **fields}
    text = objects.put(VERSION, dump(version), parent=prompt_id, object_id=number,
                       created_at=int(version["created_at"]))
    prompt["latest_version"] = number
    if make_default:
        prompt = {**_prompt_view(prompt, version), "default_version": number}
    _put_prompt(objects, prompt)
    return text


def _update(objects: ObjectStore, prompt_id: str, body: UpdatePromptBody, fields_set: set[str]) -> str:
    prompt = _require(objects, prompt_id)
    if "name" in fields_set:
        prompt["name"] = body.name
    if "metadata" in fields_set:
        prompt["metadata"] = body.metadata or {}
    if body.default_version is not None:
        current = str(prompt["default_version"])
        if body.previous_default_version is None:
            raise errors.invalid_request(
                "Missing required parameter: 'previous_default_version' (required with "
                "'default_version', for optimistic concurrency).", "previous_default_version",
                "missing_required_parameter")
        if body.previous_default_version != current:
            raise _conflict(
                f"Version conflict: the default version of prompt '{prompt_id}' is '{current}', but "
                f"'previous_default_version' is '{body.previous_default_version}'.",
                "previous_default_version")
        version = objects.get(VERSION, body.default_version, parent=prompt_id)
        if version is None:
            raise errors.invalid_request(
                f"Invalid 'default_version': prompt '{prompt_id}' has no version "
                f"'{body.default_version}'.", "default_version", "invalid_value")
        prompt = _prompt_view(prompt, version)
        prompt["default_version"] = body.default_version
    return _put_prompt(objects, prompt)


def _get_version(objects: ObjectStore, prompt_id: str, version: str | None,
                 param: str | None = None) -> dict[str, Any]:
    prompt = _require(objects, prompt_id, None if param is None else f"{param}.id")
    number = version if version is not None else str(prompt["default_version"])
    found = objects.get(VERSION, number, parent=prompt_id)
    if found is None:
        raise _version_not_found(prompt_id, number, None if param is None else f"{param}.version")
    return found


def _list_versions(objects: ObjectStore, prompt_id: str) -> list[dict[str, Any]]:
    _require(objects, prompt_id)
    return objects.list(VERSION, parent=prompt_id)


# --- rendering -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedPrompt:
    """A prompt version with its variables substituted.

    The engine uses `instructions` as the response's instructions and places `input` (message
    items without ids, valid Responses input) before the request's own input. `reference` is
    the `prompt` object to echo on the Response (`{"id", "version", "variables"}`).
    """

    id: str
    version: str
    instructions: str | None
    input: list[dict[str, Any]] = field(default_factory=list)
    reference: dict[str, Any] = field(default_factory=dict)


_Values = Mapping[str, dict[str, Any] | str]


def _variable_error(name: str, message: str, code: str) -> APIError:
    return errors.invalid_request(message, f"prompt.variables.{name}", code)


def _text_value(name: str, value: dict[str, Any] | str) -> str:
    if isinstance(value, str):
        return value
    if value.get("type") in ("input_text", "text"):
        return str(value.get("text", ""))
    raise _variable_error(
        name, f"Prompt variable '{name}' is an {value.get('type')} and can only be used inside prompt "
        "input messages, not in instructions or assistant text.", "invalid_prompt_variable")


def _placeholders(text: str) -> list[str]:
    return [match.group(1) for match in _PLACEHOLDER.finditer(text)]


def _substitute_text(text: str, values: _Values) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        return _text_value(name, values[name])
    # One pass: substituted values are never scanned again, so user-supplied values cannot
    # smuggle in further placeholders.
    return _PLACEHOLDER.sub(replace, text)


def _substitute_parts(part: dict[str, Any], values: _Values) -> list[dict[str, Any]]:
    """Substitute in one content part; image/file values split an input_text part around them."""
    kind = part.get("type")
    if kind not in ("input_text", "output_text"):
        return [part]
    text = str(part.get("text", ""))
    if kind == "output_text":
        return [{**part, "text": _substitute_text(text, values)}]
    out: list[dict[str, Any]] = []
    buffer = ""
    position = 0
    for match in _PLACEHOLDER.finditer(text):
        buffer += text[position:match.start()]
        position = match.end()
        value = values[match.group(1)]
        if isinstance(value, dict) and value.get("type") in ("input_image", "input_file"):
            if buffer:
                out.append({"type": "input_text", "text": buffer})
                buffer = ""
            out.append(dict(value))
        else:
            buffer += _text_value(match.group(1), value)
    buffer += text[position:]
    if buffer or not out:
        out.append({"type": "input_text", "text": buffer})
    return out


def _used_names(version: dict[str, Any]) -> list[str]:
    names: list[str] = []
    if version.get("instructions"):
        names += _placeholders(str(version["instructions"]))
    for item in version.get("input") or []:
        for part in item.get("content") or []:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                names += _placeholders(part["text"])
    return list(dict.fromkeys(names))


def render_version(version: dict[str, Any], supplied: Mapping[str, dict[str, Any] | str]) -> RenderedPrompt:
    """Substitute `supplied` (plus declared defaults) into a stored version. Pure."""
    declared: dict[str, Any] = version.get("variables") or {}
    used = _used_names(version)
    for name in supplied:
        if name not in used and name not in declared:
            raise _variable_error(
                name, f"Unknown prompt variable '{name}': version '{version['version']}' of prompt "
                f"'{version['id']}' does not use it.", "unknown_prompt_variable")
    values: dict[str, dict[str, Any] | str] = {
        name: spec["default"] for name, spec in declared.items() if "default" in spec}
    values.update(supplied)
    for name in used:
        if name not in values:
            raise _variable_error(name, f"Missing prompt variable: '{name}'.", "missing_prompt_variable")
    instructions = version.get("instructions")
    if instructions is not None:
        instructions = _substitute_text(str(instructions), values)
    items: list[dict[str, Any]] = []
    for item in version.get("input") or []:
        content: list[dict[str, Any]] = []
        for part in item.get("content") or []:
            content.extend(_substitute_parts(part, values))
        items.append({**item, "content": content})
    return RenderedPrompt(id=str(version["id"]), version=str(version["version"]),
                          instructions=instructions, input=items)


def parse_prompt_ref(prompt_ref: Mapping[str, Any] | Any) -> PromptRef:
    try:
        return _PromptParam.model_validate({"prompt": prompt_ref}).prompt
    except ValidationError as exc:
        raise errors.from_validation_error(exc) from None


# --- the service (HTTP routes and the engine) ------------------------------------------------------


class Prompts(StoredService):
    """Prompts and their versions (the prompt routes), and rendering for the engine."""

    async def create(self, body: bytes | str | dict[str, Any] | None) -> str:
        req = parse_model(CreatePromptBody, body)
        fields = _template_fields(req)
        created = now()
        prompt_id = ids.new_id(ids.PROMPT)
        version = {"id": prompt_id, "object": "prompt.version", "version": "1", "created_at": created,
                   **fields}
        prompt = {"id": prompt_id, "object": "prompt", "created_at": created, "name": req.name,
                  "metadata": req.metadata or {}, "default_version": "1", "latest_version": "1", **fields}
        return await self._run(_create, self.objects, prompt, version)

    async def get_text(self, prompt_id: str) -> str:
        text = await self._run(self.objects.get_text, PROMPT, prompt_id)
        if text is None:
            raise errors.not_found("prompt", prompt_id)
        return text

    async def list_prompts(self, *, limit: int | str | None = None, after: str | None = None,
                           before: str | None = None, order: str | None = None) -> dict[str, Any]:
        prompts = await self._run(self.objects.list, PROMPT)
        return pagination.paginate(prompts, limit=limit, after=after, before=before, order=order)

    async def update(self, prompt_id: str, body: bytes | str | dict[str, Any] | None) -> str:
        await self.get_text(prompt_id)
        req = parse_model(UpdatePromptBody, body)
        return await self._run(_update, self.objects, prompt_id, req, set(req.model_fields_set))

    async def delete(self, prompt_id: str) -> dict[str, Any]:
        if not await self._run(self.objects.delete, PROMPT, prompt_id):
            raise errors.not_found("prompt", prompt_id)
        return {"id": prompt_id, "object": "prompt.deleted", "deleted": True}

    async def create_version(self, prompt_id: str, body: bytes | str | dict[str, Any] | None) -> str:
        await self.get_text(prompt_id)
        req = parse_model(CreateVersionBody, body)
        fields = _template_fields(req)
        return await self._run(_create_version, self.objects, prompt_id, req.base_version, fields,
                                 req.make_default)

    async def get_version_text(self, prompt_id: str, version: str) -> str:
        found = await self._run(_get_version, self.objects, prompt_id, version)
        return dump(found)

    async def list_versions(self, prompt_id: str, *, limit: int | str | None = None,
                            after: str | None = None, before: str | None = None,
                            order: str | None = None) -> dict[str, Any]:
        """Versions, paginated with the version strings as cursors (`after=3`)."""
        versions = await self._run(_list_versions, self.objects, prompt_id)
        keyed = [{"id": v["version"], "value": v} for v in versions]
        page = pagination.paginate(keyed, limit=limit, after=after, before=before, order=order)
        page["data"] = [entry["value"] for entry in page["data"]]
        return page

    async def render(self, prompt_ref: Mapping[str, Any] | Any) -> RenderedPrompt:
        """Render the `prompt` parameter of a Response (see the module docstring for the rules)."""
        ref = parse_prompt_ref(prompt_ref)
        version = await self._run(_get_version, self.objects, ref.id, ref.version, "prompt")
        supplied = {name: value if isinstance(value, str)
                    else value.model_dump(mode="json", exclude_none=True)
                    for name, value in (ref.variables or {}).items()}
        rendered = render_version(version, supplied)
        reference = {"id": rendered.id, "version": rendered.version, "variables": supplied or None}
        return RenderedPrompt(id=rendered.id, version=rendered.version, instructions=rendered.instructions,
                              input=rendered.input, reference=reference)
