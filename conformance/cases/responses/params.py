"""Request parameters: echoed in the Response, and forwarded to the model.

``POST /responses``: request parameters echoed in the Response object, and forwarded to the
model (scripted tier, seen from the backend's side with ``[[request]]``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from conformance.cases import _openresponses as ors
from conformance.cases._support import OAI, TOOLS, WEATHER, backend_request
from conformance.context import CaseContext
from conformance.model import Level, Row, Tier, case, family

RESP = f"{OAI} components.schemas.Response"
CREATE = f"{OAI} components.schemas.CreateResponse"

JSON_SCHEMA_FORMAT = {
    "type": "json_schema",
    "name": "city_answer",
    "schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}


@dataclass(frozen=True)
class Echo:
    """Create with ``extra``; ``pick(response)`` must equal ``expected`` (``what`` names it)."""

    extra: dict[str, Any]
    pick: Callable[[dict[str, Any]], Any]
    expected: Any
    what: str


ECHOES: list[Row[Echo]] = []


def _echo_case(
    case_id: str,
    *,
    title: str,
    spec: str,
    extra: dict[str, Any],
    pick: Callable[[dict[str, Any]], Any],
    expected: Any,
    what: str,
    level: Level = Level.MUST,
    source: str = RESP,
) -> None:
    """A row of the ``ECHOES`` family."""
    ECHOES.append(Row(case_id, level, title, spec, Echo(extra, pick, expected, what), source=source))


def _tool_names(resp: dict[str, Any]) -> Any:
    tools = resp.get("tools")
    if not isinstance(tools, list):
        return tools
    return [(t.get("type"), t.get("name")) if isinstance(t, dict) else t for t in tools]


def _format(resp: dict[str, Any]) -> Any:
    text = resp.get("text")
    return text.get("format") if isinstance(text, dict) else text


_TEMPERATURE = "temperature: What sampling temperature to use, between 0 and 2."
_echo_case(
    "responses.params.temperature-echo",
    title="temperature is echoed in the Response",
    spec=_TEMPERATURE,
    extra={"temperature": 0.25},
    pick=lambda r: r.get("temperature"),
    expected=0.25,
    what="Response.temperature",
)
_echo_case(
    "responses.params.top-p-echo",
    title="top_p is echoed in the Response",
    spec="top_p: An alternative to sampling with temperature, called nucleus sampling, where the model "
    "considers the results of the tokens with top_p probability mass.",
    extra={"top_p": 0.5},
    pick=lambda r: r.get("top_p"),
    expected=0.5,
    what="Response.top_p",
)
_echo_case(
    "responses.params.max-output-tokens-echo",
    title="max_output_tokens is echoed in the Response",
    spec="max_output_tokens: An upper bound for the number of tokens that can be generated for a "
    "response, including visible output tokens and reasoning tokens.",
    extra={"max_output_tokens": 64},
    pick=lambda r: r.get("max_output_tokens"),
    expected=64,
    what="Response.max_output_tokens",
    level=Level.SHOULD,
)
_TOOL_CHOICE = (
    "ToolChoiceOptions: Controls which (if any) tool is called by the model. `none` means the model will "
    "not call any tool and instead generates a message. `auto` means the model can pick between "
    "generating a message or calling one or more tools. `required` means the model must call one or "
    "more tools."
)
_echo_case(
    "responses.params.tool-choice-none-echo",
    title='tool_choice "none" is echoed',
    spec=_TOOL_CHOICE,
    extra={"tools": TOOLS, "tool_choice": "none"},
    pick=lambda r: r.get("tool_choice"),
    expected="none",
    what="Response.tool_choice",
)
_echo_case(
    "responses.params.tool-choice-required-echo",
    title='tool_choice "required" is echoed',
    spec=_TOOL_CHOICE,
    extra={"input": "Say hello. [[text:hello]]", "tools": TOOLS, "tool_choice": "required"},
    pick=lambda r: r.get("tool_choice"),
    expected="required",
    what="Response.tool_choice",
)
_echo_case(
    "responses.params.tool-choice-function-echo",
    title="tool_choice naming a function is echoed as {type: function, name}",
    spec="ToolChoiceFunction: Use this option to force the model to call a specific function. "
    "type: For function calling, the type is always `function`. name: The name of the function to call.",
    extra={"tools": TOOLS, "tool_choice": {"type": "function", "name": "get_time"}},
    pick=lambda r: r.get("tool_choice"),
    expected={"type": "function", "name": "get_time"},
    what="Response.tool_choice",
    source=f"{OAI} components.schemas.ToolChoiceFunction",
)
_echo_case(
    "responses.params.tool-choice-default-auto",
    title='tool_choice defaults to "auto"',
    spec="`auto` means the model can pick between generating a message or calling one or more tools "
    "(the default when tools are given and tool_choice is not).",
    extra={"tools": TOOLS},
    pick=lambda r: r.get("tool_choice"),
    expected="auto",
    what="Response.tool_choice when none was sent",
    level=Level.SHOULD,
    source=f"{OAI} components.schemas.ToolChoiceOptions",
)
_echo_case(
    "responses.params.tools-echo",
    title="The declared function tools are echoed, in order",
    spec="tools: An array of tools the model may call while generating a response.",
    extra={"tools": TOOLS},
    pick=_tool_names,
    expected=[("function", "get_weather"), ("function", "get_time")],
    what="Response.tools as (type, name)",
)
_echo_case(
    "responses.params.tool-parameters-echo",
    title="A function tool's parameters schema is echoed unchanged",
    spec="FunctionTool.parameters: A JSON schema object describing the parameters of the function.",
    extra={"tools": [WEATHER]},
    pick=lambda r: [t.get("parameters") for t in r.get("tools") or [] if isinstance(t, dict)],
    expected=[WEATHER["parameters"]],
    what="Response.tools[0].parameters",
    source=f"{OAI} components.schemas.FunctionTool",
)
_echo_case(
    "responses.params.metadata-echo",
    title="metadata is echoed",
    spec="Metadata: Set of 16 key-value pairs that can be attached to an object. Keys are strings with a "
    "maximum length of 64 characters. Values are strings with a maximum length of 512 characters.",
    extra={"metadata": {"suite": "conformance", "case": "metadata-echo"}},
    pick=lambda r: r.get("metadata"),
    expected={"suite": "conformance", "case": "metadata-echo"},
    what="Response.metadata",
    source=f"{OAI} components.schemas.Metadata",
)
_echo_case(
    "responses.params.parallel-tool-calls-echo",
    title="parallel_tool_calls false is echoed",
    spec="parallel_tool_calls: Whether to allow the model to run tool calls in parallel.",
    extra={"tools": TOOLS, "parallel_tool_calls": False},
    pick=lambda r: r.get("parallel_tool_calls"),
    expected=False,
    what="Response.parallel_tool_calls",
)
_echo_case(
    "responses.params.text-format-json-schema-echo",
    title="text.format json_schema is echoed with its name and schema",
    spec="TextResponseFormatJsonSchema: JSON Schema response format. Used to generate structured JSON "
    "responses.",
    extra={"input": '[[text:{"city":"Paris"}]]', "text": {"format": JSON_SCHEMA_FORMAT}},
    pick=lambda r: {k: (_format(r) or {}).get(k) for k in ("type", "name", "schema")},
    expected={k: JSON_SCHEMA_FORMAT[k] for k in ("type", "name", "schema")},
    what="Response.text.format (type, name, schema)",
    level=Level.SHOULD,
    source=f"{OAI} components.schemas.TextResponseFormatJsonSchema",
)
_echo_case(
    "responses.params.text-format-json-object-echo",
    title="text.format json_object is echoed",
    spec="ResponseFormatJsonObject: JSON object response format. type: The type of response format being "
    "defined. Always `json_object`.",
    extra={"input": 'Answer in JSON. [[text:{"ok":true}]]', "text": {"format": {"type": "json_object"}}},
    pick=_format,
    expected={"type": "json_object"},
    what="Response.text.format",
    level=Level.SHOULD,
    source=f"{OAI} components.schemas.ResponseFormatJsonObject",
)
_echo_case(
    "responses.params.text-format-default-text",
    title='text.format defaults to {"type": "text"}',
    spec="text: Configuration options for a text response from the model (the default format is `text`).",
    extra={},
    pick=_format,
    expected={"type": "text"},
    what="Response.text.format when none was sent",
    level=Level.SHOULD,
    source=f"{OAI} components.schemas.ResponseTextParam",
)
_echo_case(
    "responses.params.instructions-echo",
    title="instructions are echoed",
    spec="instructions: A system (or developer) message inserted into the model's context.",
    extra={"instructions": "Answer in one short sentence."},
    pick=lambda r: r.get("instructions"),
    expected="Answer in one short sentence.",
    what="Response.instructions",
)
_echo_case(
    "responses.params.store-false-echo",
    title="store false is echoed",
    spec="store: Whether to store the generated model response for later retrieval via API.",
    extra={"store": False},
    pick=lambda r: r.get("store"),
    expected=False,
    what="Response.store",
    level=Level.SHOULD,
    source=CREATE,
)
_echo_case(
    "responses.params.background-false-echo",
    title="background false is echoed",
    spec="background: Whether to run the model response in the background.",
    extra={"background": False},
    pick=lambda r: r.get("background"),
    expected=False,
    what="Response.background",
    level=Level.SHOULD,
)
_echo_case(
    "responses.params.previous-response-id-null",
    title="previous_response_id is null for a first turn",
    spec="previous_response_id: The unique ID of the previous response to the model. Use this to create "
    "multi-turn conversations.",
    extra={},
    pick=lambda r: r.get("previous_response_id", "<absent>"),
    expected=None,
    what="Response.previous_response_id without a previous response",
    level=Level.SHOULD,
)


# --------------------------------------------------------------------------- forwarded to the model


@family(ECHOES)
async def echoed(ctx: CaseContext, echo: Echo) -> None:
    resp = await ctx.create_ok(**echo.extra)
    ctx.check_eq(echo.pick(resp), echo.expected, echo.what)


@case(
    "responses.params.scripted-temperature-forwarded",
    Level.MUST,
    spec=_TEMPERATURE + " Higher values like 0.8 will make the output more random.",
    tier=Tier.SCRIPTED,
    source=CREATE,
)
async def scripted_temperature_forwarded(ctx: CaseContext) -> None:
    """temperature and top_p reach the model"""
    await ctx.require_scripted()
    sent = await backend_request(ctx, temperature=0.25, top_p=0.5)
    ctx.check_eq(
        {"temperature": sent.get("temperature"), "top_p": sent.get("top_p")},
        {"temperature": 0.25, "top_p": 0.5},
        "temperature and top_p the backend received",
    )


@case("responses.params.scripted-max-output-tokens-forwarded", Level.MUST, tier=Tier.SCRIPTED, source=CREATE)
async def scripted_max_output_tokens_forwarded(ctx: CaseContext) -> None:
    """max_output_tokens reaches the model as its token limit

    max_output_tokens: An upper bound for the number of tokens that can be generated for a response.
    """
    await ctx.require_scripted()
    sent = await backend_request(ctx, max_output_tokens=64)
    limit = sent.get("max_completion_tokens", sent.get("max_tokens"))
    ctx.check_eq(limit, 64, "max_tokens / max_completion_tokens the backend received")


@case(
    "responses.params.scripted-json-schema-forwarded",
    Level.MUST,
    tier=Tier.SCRIPTED,
    source=f"{OAI} components.schemas.TextResponseFormatJsonSchema",
)
async def scripted_json_schema_forwarded(ctx: CaseContext) -> None:
    """text.format json_schema reaches the model as a json_schema response_format

    TextResponseFormatJsonSchema: JSON Schema response format. Used to generate structured JSON responses.
    """
    await ctx.require_scripted()
    sent = await backend_request(ctx, text={"format": JSON_SCHEMA_FORMAT})
    fmt = sent.get("response_format")
    ctx.check(
        isinstance(fmt, dict) and fmt.get("type") == "json_schema",
        "response_format.type the backend received",
        expected="json_schema",
        actual=fmt,
    )
    assert isinstance(fmt, dict)
    inner = fmt.get("json_schema")
    ctx.check(
        isinstance(inner, dict)
        and inner.get("name") == JSON_SCHEMA_FORMAT["name"]
        and inner.get("schema") == JSON_SCHEMA_FORMAT["schema"],
        "response_format.json_schema carries the name and schema",
        expected={"name": JSON_SCHEMA_FORMAT["name"], "schema": JSON_SCHEMA_FORMAT["schema"]},
        actual=inner,
    )


@case(
    "responses.params.scripted-parallel-tool-calls-forwarded",
    Level.MUST,
    tier=Tier.SCRIPTED,
    source=CREATE,
)
async def scripted_parallel_tool_calls_forwarded(ctx: CaseContext) -> None:
    """parallel_tool_calls false reaches the model

    parallel_tool_calls: Whether to allow the model to run tool calls in parallel.
    """
    await ctx.require_scripted()
    sent = await backend_request(ctx, tools=TOOLS, parallel_tool_calls=False)
    ctx.check_eq(sent.get("parallel_tool_calls"), False, "parallel_tool_calls the backend received")


# The scripted model's context window, in words (`[[context_window:N]]`): the short history fits,
# the long one does not, and they differ in their first (oldest) item only.
_WINDOW = 40


def _history(filler_words: int) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": " ".join(["earlier"] * filler_words)},
        {"role": "assistant", "content": "Noted."},
        {"role": "user", "content": f"[[context_window:{_WINDOW}]] [[text:answered]] And now?"},
    ]


@case(
    "responses.params.scripted-truncation-disabled-fails",
    Level.MUST,
    tier=Tier.SCRIPTED,
    source=CREATE,
    levels={"openresponses": ors.cite(ors.TRUNCATION_DISABLED, ors.TRUNCATION_DISABLED_FAILS)},
)
async def scripted_truncation_disabled_fails(ctx: CaseContext) -> None:
    """With truncation "disabled", an input longer than the context window fails

    truncation: `disabled` (default): If the input size will exceed the context window size for a model,
    the request will fail with a 400 error.
    """
    await ctx.require_scripted()
    fits = await ctx.create_ok(_history(5), truncation="disabled")
    ctx.check_eq(ctx.output_text(fits), "answered", "output text when the input fits the context window")
    resp = await ctx.create(_history(2 * _WINDOW), truncation="disabled")
    if ctx.profile.name == "openai":
        # OpenAI names the status; Open Responses asks for an error of any kind.
        ctx.check_eq(resp.status_code, 400, "HTTP status for an input longer than the context window")
        return
    if resp.status_code >= 400:
        return
    body = ctx.created_ok(resp)
    ctx.check(
        body.get("status") == "failed",
        "an input longer than the context window fails (not silently truncated)",
        expected="an HTTP error or status failed",
        actual={"status": body.get("status"), "output_text": ctx.output_text(body)},
    )
