"""Error answers: the error object, backend failures, request validation, routing.

Three tables hold most of the area: ``ERROR_ANSWERS`` (a request and the status of the error
object it must get, including model-backend failures in the scripted tier), ``REJECTED`` (create
requests a gateway must refuse with 400 naming the offending ``param``); the cases that check
something else of the answer follow them."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from conformance import checks
from conformance.cases import _openresponses as ors
from conformance.cases._support import OAI, UNKNOWN_RESPONSE
from conformance.context import CaseContext
from conformance.model import Level, Row, Tier, case, family

ERR = f"{OAI} components.schemas.ErrorResponse / Error"
ERROR_SCHEMA = f"{OAI} components.schemas.Error"
CREATE = f"{OAI} components.schemas.CreateResponse"
METADATA = f"{OAI} components.schemas.Metadata"
RETRIEVE = f"{OAI} paths./responses/{{response_id}}"
_502 = (
    "The 502 (Bad Gateway) status code indicates that the server, while acting as a gateway or proxy, "
    "received an invalid response from an inbound server it accessed while attempting to fulfill the "
    "request."
)
RFC_502 = "RFC 9110 section 15.6.3 (502 Bad Gateway)"
_5XX = (
    "The 5xx (Server Error) class of status code indicates that the server is aware that it has erred "
    "or is incapable of performing the requested method."
)
RFC_5XX = "RFC 9110 section 15.6 (Server Error 5xx)"
_TYPES = (
    "Error: required `type` (a string). The OpenAI API types failures on its side `server_error` and "
    "requests it cannot accept `invalid_request_error`."
)
_PARAM = "Error.param: the parameter the error relates to."

Send = Callable[[CaseContext], Awaitable[httpx.Response]]


def _get(path: str) -> Send:
    async def send(ctx: CaseContext) -> httpx.Response:
        return await ctx.get(path)

    return send


def _post(body: dict[str, Any]) -> Send:
    async def send(ctx: CaseContext) -> httpx.Response:
        return await ctx.post("/responses", json=body)

    return send


def _backend(directive: str) -> Send:
    """A create whose scripted model call fails as ``directive`` says."""

    async def send(ctx: CaseContext) -> httpx.Response:
        await ctx.require_scripted()
        return await ctx.create(directive)

    return send


async def _malformed_json(ctx: CaseContext) -> httpx.Response:
    body = b'{"model": "x", "input": '
    return await ctx.post("/responses", content=body, headers={"content-type": "application/json"})


# --------------------------------------------------------------------------- error answers


@dataclass(frozen=True)
class Answer:
    """``send`` must be answered with an error object and a status in ``statuses``."""

    send: Send
    statuses: range
    what: str  # the check's name


ERROR_ANSWERS = [
    Row(
        "errors.object-shape",
        Level.MUST,
        "Errors carry an error object with message, type, param and code",
        "Error: required `type`, `message`, `param`, `code`; ErrorResponse: required `error`.",
        Answer(_get(f"/responses/{UNKNOWN_RESPONSE}"), range(400, 500), "status is a 4xx"),
        source=ERR,
    ),
    Row(
        "errors.invalid-json",
        Level.MUST,
        "A body that is not JSON is answered 400 with an error object",
        "400 Bad Request: the request body could not be parsed (invalid_request_error).",
        Answer(_malformed_json, range(400, 401), "status for a malformed JSON body"),
        source=ERR,
    ),
    Row(
        "errors.missing-model",
        Level.MUST,
        "A request without model is answered 400",
        "CreateResponse: `model` - Model ID used to generate the response (a request without it is invalid).",
        Answer(_post({"input": "Say hello."}), range(400, 401), "status for a request without model"),
        source=CREATE,
    ),
    Row(
        "errors.unknown-response-404",
        Level.MUST,
        "GET of an unknown response id is 404",
        "GET /responses/{response_id}: Retrieves a model response with the given ID "
        "(404 Not Found otherwise).",
        Answer(_get(f"/responses/{UNKNOWN_RESPONSE}"), range(404, 405), "status for an unknown id"),
        source=RETRIEVE,
    ),
    Row(
        "errors.routes.unknown-route-404",
        Level.MUST,
        "An unknown route under /v1 is 404 with an error object",
        "The 404 (Not Found) status code indicates that the origin server did not find a current "
        "representation for the target resource or is not willing to disclose that one exists.",
        Answer(_get("/conformance-no-such-route"), range(404, 405), "status for an unknown route"),
        source="RFC 9110 section 15.5.5",
    ),
    # A backend failure MUST be a 5xx with an error object (never a success); which 5xx is a
    # SHOULD: 502 is the status RFC 9110 gives a gateway for an invalid upstream answer, but a
    # gateway passing the upstream's 503 on, or answering 500, still reports the failure.
    Row(
        "errors.backend.unavailable-5xx",
        Level.MUST,
        "A backend 503 is answered with a 5xx and an error object, never 200",
        _5XX,
        Answer(_backend("[[error:503]]"), range(500, 600), "status for a backend 503"),
        tier=Tier.SCRIPTED,
        provokes_backend_failure=True,
        source=RFC_5XX,
    ),
    Row(
        "errors.backend.unavailable-502",
        Level.SHOULD,
        "A backend 503 is answered 502 with an error object",
        _502,
        Answer(_backend("[[error:503]]"), range(502, 503), "status for a backend 503"),
        tier=Tier.SCRIPTED,
        provokes_backend_failure=True,
        source=RFC_502,
    ),
    Row(
        "errors.backend.malformed-5xx",
        Level.MUST,
        "A backend answer that is not JSON is answered with a 5xx and an error object, never 200",
        _5XX,
        Answer(_backend("[[malformed]]"), range(500, 600), "status for a garbled backend answer"),
        tier=Tier.SCRIPTED,
        provokes_backend_failure=True,
        source=RFC_5XX,
    ),
    Row(
        "errors.backend.malformed-502",
        Level.SHOULD,
        "A backend answer that is not JSON is answered 502",
        _502,
        Answer(_backend("[[malformed]]"), range(502, 503), "status for a garbled backend answer"),
        tier=Tier.SCRIPTED,
        provokes_backend_failure=True,
        source=RFC_502,
    ),
    Row(
        "errors.backend.dropped-5xx",
        Level.MUST,
        "A backend that closes the connection is answered 502 (or 5xx) with an error object",
        _502,
        Answer(_backend("[[drop]]"), range(500, 600), "a 5xx status"),
        tier=Tier.SCRIPTED,
        provokes_backend_failure=True,
        source=RFC_502,
    ),
]


@family(ERROR_ANSWERS)
async def error_answer(ctx: CaseContext, answer: Answer) -> None:
    resp = await answer.send(ctx)
    want = answer.statuses
    expected: Any = want.start if len(want) == 1 else f"{want.start}-{want.stop - 1}"
    ctx.check(resp.status_code in want, answer.what, expected=expected, actual=resp.status_code)
    checks.error_object(ctx, resp)


# --------------------------------------------------------------------------- rejected requests


@dataclass(frozen=True)
class Rejected:
    """A create request (the run's model, ``input``, ``extra``) that must be answered 400, with
    ``error.param`` naming ``param`` (or a path inside it) unless ``param`` is None."""

    extra: dict[str, Any] = field(default_factory=dict)
    param: str | None = None
    what: str = "an invalid request"
    input: Any = "Say hello."


_TOOL = {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}

REJECTED = [
    Row(
        "errors.params.temperature-type",
        Level.MUST,
        'temperature "hot" is 400 naming param temperature',
        "temperature: What sampling temperature to use, between 0 and 2. (type: number)",
        Rejected({"temperature": "hot"}, "temperature", 'temperature: "hot"'),
        source=CREATE,
    ),
    Row(
        "errors.params.temperature-range",
        Level.MUST,
        "temperature 3 is 400 naming param temperature",
        "temperature: What sampling temperature to use, between 0 and 2.",
        Rejected({"temperature": 3}, "temperature", "temperature: 3"),
        source=CREATE,
    ),
    Row(
        "errors.params.input-type",
        Level.MUST,
        "input 42 is 400 naming param input",
        "input: Text, image, or file inputs to the model (a string or an array of input items).",
        Rejected({}, "input", "input: 42", input=42),
        source=CREATE,
    ),
    Row(
        "errors.params.tools-type",
        Level.MUST,
        "tools given as an object is 400 naming param tools",
        "tools: An array of tools the model may call while generating a response.",
        Rejected({"tools": {"type": "function", "name": "f"}}, "tools", "tools: {...}"),
        source=CREATE,
    ),
    Row(
        "errors.params.metadata-value-type",
        Level.MUST,
        "A metadata value that is not a string is 400 naming metadata",
        "Metadata: Values are strings with a maximum length of 512 characters.",
        Rejected({"metadata": {"n": 1}}, "metadata", "metadata: {n: 1}"),
        source=METADATA,
    ),
    Row(
        "errors.params.metadata-too-many-keys",
        Level.SHOULD,
        "metadata with 17 keys is 400 naming metadata",
        "Metadata: Set of 16 key-value pairs that can be attached to an object.",
        Rejected({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata", "17 metadata keys"),
        source=METADATA,
    ),
    Row(
        "errors.params.max-output-tokens-negative",
        Level.MUST,
        "max_output_tokens -1 is 400 naming param max_output_tokens",
        "max_output_tokens: An upper bound for the number of tokens that can be generated for a response.",
        Rejected({"max_output_tokens": -1}, "max_output_tokens", "max_output_tokens: -1"),
        source=CREATE,
    ),
    Row(
        "errors.params.unknown-parameter",
        Level.MUST,
        "An unknown top-level parameter is rejected with 400",
        "CreateResponse: the request body is a CreateResponse object (OpenAI answers an unknown parameter "
        "with 400 `Unknown parameter`).",
        Rejected({"conformance_bogus_param": 1}, None, "an unknown parameter"),
        source=CREATE,
    ),
    Row(
        "errors.params.unknown-parameter-named",
        Level.SHOULD,
        "The error for an unknown parameter names it in param",
        _PARAM,
        Rejected({"conformance_bogus_param": 1}, "conformance_bogus_param", "an unknown parameter"),
        source=ERROR_SCHEMA,
    ),
    Row(
        "errors.params.conversation-with-previous",
        Level.MUST,
        "conversation together with previous_response_id is 400",
        "previous_response_id: ... Cannot be used in conjunction with `conversation`.",
        Rejected(
            {"conversation": "conv_conformance_0000", "previous_response_id": "resp_conformance_0000"},
            None,
            "conversation + previous_response_id",
        ),
        source=CREATE,
    ),
    Row(
        "errors.params.input-item-type",
        Level.MUST,
        "An input item of an unknown type is 400 naming input",
        "input: A list of one or many input items to the model, containing different content types (each "
        "item is one of the InputItem types).",
        Rejected(
            {}, "input", "an unknown input item type", input=[{"type": "conformance_bogus_item", "text": "x"}]
        ),
        source=f"{OAI} components.schemas.InputParam",
    ),
    Row(
        "errors.params.input-role",
        Level.MUST,
        "A message with an unknown role is 400 naming input",
        "role: The role of the message input. One of `user`, `assistant`, `system`, or `developer`.",
        Rejected({}, "input", "role: robot", input=[{"role": "robot", "content": "beep"}]),
        source=f"{OAI} components.schemas.EasyInputMessage",
    ),
    Row(
        "errors.params.function-tool-name-missing",
        Level.MUST,
        "A function tool without a name is 400 naming tools",
        "FunctionTool: required `type`, `name`, `strict`, `parameters`. name: The name of the function to "
        "call.",
        Rejected(
            {"tools": [{"type": "function", "parameters": {"type": "object", "properties": {}}}]},
            "tools",
            "a function tool without name",
        ),
        source=f"{OAI} components.schemas.FunctionTool",
    ),
    Row(
        "errors.params.json-schema-name-missing",
        Level.SHOULD,
        "text.format json_schema without a name is 400 naming text",
        "TextResponseFormatJsonSchema: required `type`, `schema`, `name`. name: The name of the response "
        "format.",
        Rejected(
            {"text": {"format": {"type": "json_schema", "schema": {"type": "object"}}}},
            "text",
            "json_schema without name",
        ),
        source=f"{OAI} components.schemas.TextResponseFormatJsonSchema",
    ),
    Row(
        "errors.params.tool-choice-undeclared-function",
        Level.SHOULD,
        "tool_choice naming a function that is not in tools is 400 naming tool_choice",
        "ToolChoiceFunction: Use this option to force the model to call a specific function. name: The "
        "name of the function to call. (a function that was not declared cannot be called; the OpenAI API "
        "answers 400 `Tool choice 'function' not found in 'tools' parameter.`)",
        Rejected(
            {"tools": [_TOOL], "tool_choice": {"type": "function", "name": "conformance_not_declared"}},
            "tool_choice",
            "tool_choice naming an undeclared function",
        ),
        source=f"{OAI} components.schemas.ToolChoiceFunction",
    ),
    Row(
        "errors.params.tool-choice-required-without-tools",
        Level.SHOULD,
        'tool_choice "required" without tools is 400 naming tool_choice',
        "`required` means the model must call one or more tools. (with no tools the request cannot be "
        "honoured; the OpenAI API answers 400 `Tool choice 'required' must be specified with 'tools' "
        "parameter.`)",
        Rejected({"tool_choice": "required"}, "tool_choice", "tool_choice required, no tools"),
        source=f"{OAI} components.schemas.ToolChoiceOptions",
    ),
]


@family(REJECTED)
async def rejected(ctx: CaseContext, request: Rejected) -> None:
    resp = await ctx.post("/responses", json=ctx.body(request.input, **request.extra))
    if ctx.case.level is not Level.MUST or request.param is None:
        checks.rejected(ctx, resp, request.what, request.param)
        return
    # The MUST is the 400 with an error object. Error.param is only "nullable string" in the
    # schema: a gateway that leaves validation to its upstream passes on the upstream's param
    # (`messages[0].role` for an input role); naming the Responses parameter is what the SHOULD
    # cases (errors.params.unknown-parameter-named, errors.missing-model-param) check.
    err = checks.rejected(ctx, resp, request.what)
    if not checks.param_named(err, request.param):
        ctx.note(f"error.param is {err.get('param')!r}, not the request's {request.param!r}")


# --------------------------------------------------------------------------- other error answers


@case("errors.missing-model-param", Level.SHOULD, spec=_PARAM, source=ERR)
async def missing_model_param(ctx: CaseContext) -> None:
    """The error for a missing model names param "model"
    """
    err = checks.rejected(
        ctx, await ctx.post("/responses", json={"input": "Say hello."}), "a request without model"
    )
    ctx.check_eq(err.get("param"), "model", "error.param")


@case(
    "errors.content-type-json", Level.SHOULD, source=f"{OAI} paths./responses/{{response_id}}.delete",
    levels={"openresponses": ors.NON_STREAMING_JSON.level()},
)
async def content_type_json(ctx: CaseContext) -> None:
    """Error answers are application/json

    404: content application/json, schema Error.
    """
    checks.json_content_type(ctx, await ctx.get(f"/responses/{UNKNOWN_RESPONSE}"), "content-type of an error")


@case(
    "errors.params.error-content-type-json", Level.MUST, source=ERROR_SCHEMA,
    levels={"openresponses": ors.NON_STREAMING_JSON.level()},
)
async def error_content_type_json(ctx: CaseContext) -> None:
    """A 400 validation error is application/json

    Error answers carry an ErrorResponse object (content application/json).
    """
    resp = await ctx.create(temperature="hot")
    ctx.check_eq(resp.status_code, 400, 'status for temperature "hot"')
    checks.json_content_type(ctx, resp, "content-type of the error")


@case("errors.params.invalid-request-type", Level.SHOULD, source=ERROR_SCHEMA)
async def invalid_request_type(ctx: CaseContext) -> None:
    """A validation error has error.type "invalid_request_error"

    Error: required `type` (a string). The OpenAI API types requests it cannot accept `invalid_request_error`.
    """
    err = checks.rejected(ctx, await ctx.create(temperature="hot"), 'temperature "hot"')
    ctx.check_eq(err.get("type"), "invalid_request_error", "error.type")


@case("errors.routes.wrong-method-405", Level.SHOULD, source="RFC 9110 section 15.5.6")
async def wrong_method_405(ctx: CaseContext) -> None:
    """A wrong method on /responses is 405

    The 405 (Method Not Allowed) status code indicates that the method received in the request-line is known
    by the origin server but not supported by the target resource.
    """
    resp = await ctx.request("PUT", "/responses", json=ctx.body())
    ctx.check_eq(resp.status_code, 405, "status of PUT /responses")


# --------------------------------------------------------------------------- backend failures


@case("errors.backend.server-error-type", Level.SHOULD, spec=_TYPES, tier=Tier.SCRIPTED, source=ERROR_SCHEMA,
       provokes_backend_failure=True)
async def server_error_type(ctx: CaseContext) -> None:
    """A backend failure is reported with error.type "server_error"
    """
    resp = await _backend("[[error:503]]")(ctx)
    ctx.check(resp.status_code >= 500, "a 5xx status", expected=">= 500", actual=resp.status_code)
    ctx.check_eq(checks.error_object(ctx, resp).get("type"), "server_error", "error.type")


@case("errors.backend.client-error-passed-on", Level.MUST, tier=Tier.SCRIPTED, source=ERROR_SCHEMA,
       provokes_backend_failure=True)
async def client_error_passed_on(ctx: CaseContext) -> None:
    """A backend 400 is passed on as 400 with the backend's message

    The 400 (Bad Request) status code indicates that the server cannot or will not process the request due to
    something that is perceived to be a client error. Error: required `message`.
    """
    message = checks.rejected(ctx, await _backend("[[error:400]]")(ctx), "a backend 400").get("message")
    ctx.check(
        "scripted error 400" in str(message),
        "error.message carries the backend's message",
        expected="... scripted error 400 ...",
        actual=message,
    )


@case(
    "errors.backend.not-stored",
    Level.SHOULD,
    tier=Tier.SCRIPTED,
    provokes_backend_failure=True,
    source=f"{OAI} components.schemas.Response",
)
async def not_stored(ctx: CaseContext) -> None:
    # Seen from outside: the failed call's response, if the error names one, and every stored
    # response carrying this call's metadata in the newest page of GET /responses.
    """A failed backend call does not leave a completed response behind

    status: The status of the response generation. One of `completed`, `failed`, `in_progress`, `cancelled`,
    `queued`, or `incomplete`.
    """
    await ctx.require_scripted()
    nonce = secrets.token_hex(8)
    resp = await ctx.create("[[error:503]]", metadata={"conformance_probe": nonce})
    ctx.check(resp.status_code >= 500, "a 5xx status", expected=">= 500", actual=resp.status_code)
    try:
        named = resp.json().get("id")
    except (ValueError, AttributeError):
        named = None
    if named is not None:
        got = await ctx.get(f"/responses/{named}")
        status = got.json().get("status") if got.status_code == 200 else None
        ctx.check(
            status != "completed",
            "stored status of the response the error names",
            expected="not completed",
            actual=status,
        )
    listing = await ctx.get("/responses", params={"limit": "100"})
    if listing.status_code in (404, 405):
        if named is None:
            ctx.unimplemented(
                "the error names no response and GET /responses is not served: the store cannot be seen"
            )
        return
    data = ctx.json_ok(listing, "GET /responses").get("data")
    ours = [
        (r.get("id"), r.get("status"))
        for r in (data if isinstance(data, list) else [])
        if isinstance(r, dict) and (r.get("metadata") or {}).get("conformance_probe") == nonce
    ]
    ctx.check(
        all(status != "completed" for _, status in ours),
        "no stored response of the failed call is completed",
        expected="none completed",
        actual=ours,
    )
