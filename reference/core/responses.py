"""The response object skeleton.

`new_response` echoes the request's parameters with the defaults OpenAI reports, and carries
every field Open Responses' `ResponseResource.required` lists (31 fields), so one object passes
both profiles. Open Responses types several of them as non-null (`temperature`, `top_p`,
`presence_penalty`, `frequency_penalty`, `top_logprobs`: numbers; `service_tier`: string;
`truncation`: enum; `text`: object with `format`), hence concrete defaults instead of null.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from .models import CreateResponseRequest, FunctionTool

Status = Literal["queued", "in_progress", "completed", "incomplete", "failed", "cancelled"]

# OpenAI's documented defaults ("default: 1" for temperature and top_p, 0 for the penalties).
DEFAULT_TEMPERATURE = 1.0
DEFAULT_TOP_P = 1.0


def _tool_choice(req: CreateResponseRequest) -> str | dict[str, Any]:
    choice = req.tool_choice
    if choice is None:
        return "auto"
    if isinstance(choice, str):
        return choice
    return choice.model_dump(mode="json", by_alias=True, exclude_none=True)


def _tool(tool: BaseModel) -> dict[str, Any]:
    # Open Responses' FunctionTool requires description, parameters and strict (nullable).
    if isinstance(tool, FunctionTool):
        return tool.model_dump(mode="json")
    return tool.model_dump(mode="json", exclude_none=True)


def _text(req: CreateResponseRequest) -> dict[str, Any]:
    text: dict[str, Any] = {"format": {"type": "text"}}
    if req.text is not None:
        if req.text.format is not None:
            fmt = req.text.format.model_dump(mode="json", by_alias=True, exclude_none=True)
            if fmt["type"] == "json_schema":
                # `strict` "default: false" (OpenAI TextResponseFormatJsonSchema); Open Responses
                # requires the key. `description` stays absent when not given: OpenAI types it
                # as a non-null string.
                fmt.setdefault("strict", False)
            text["format"] = fmt
        if req.text.verbosity is not None:
            text["verbosity"] = req.text.verbosity
    return text


def new_response(
    req: CreateResponseRequest, *, response_id: str, created_at: int, status: Status
) -> dict[str, Any]:
    """The response object before any output: `output: []`, `usage: null`."""
    reasoning: dict[str, Any] = {"effort": None, "summary": None}
    if req.reasoning is not None:
        reasoning.update(req.reasoning.model_dump(mode="json", exclude_none=True))
    conversation_id = req.conversation_id
    response: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "completed_at": None,
        "status": status,
        "background": bool(req.background),
        "error": None,
        "incomplete_details": None,
        "instructions": req.instructions,
        "max_output_tokens": req.max_output_tokens,
        "max_tool_calls": req.max_tool_calls,
        "model": req.model,
        "output": [],
        "parallel_tool_calls": True if req.parallel_tool_calls is None else req.parallel_tool_calls,
        "previous_response_id": req.previous_response_id,
        "conversation": {"id": conversation_id} if conversation_id is not None else None,
        "prompt_cache_key": req.prompt_cache_key,
        "reasoning": reasoning,
        "safety_identifier": req.safety_identifier,
        # "auto" resolves to the tier actually used; the reference has only one.
        "service_tier": "default" if req.service_tier in (None, "auto") else req.service_tier,
        "store": True if req.store is None else req.store,
        "temperature": DEFAULT_TEMPERATURE if req.temperature is None else req.temperature,
        "text": _text(req),
        "tool_choice": _tool_choice(req),
        "tools": [_tool(tool) for tool in req.tools or []],
        "top_logprobs": 0 if req.top_logprobs is None else req.top_logprobs,
        "top_p": DEFAULT_TOP_P if req.top_p is None else req.top_p,
        "presence_penalty": 0.0 if req.presence_penalty is None else req.presence_penalty,
        "frequency_penalty": 0.0 if req.frequency_penalty is None else req.frequency_penalty,
        "truncation": req.truncation or "disabled",
        "usage": None,
        "metadata": dict(req.metadata or {}),
    }
    if req.user is not None:
        # OpenAI types `user` (deprecated) as a non-null string: present only when given.
        response["user"] = req.user
    return response
