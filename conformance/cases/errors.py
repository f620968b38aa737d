"""Error answers: the error object, backend failures, request validation, routing.

Error answers: the error object, model-backend failures mapped to gateway errors (scripted
tier), request validation naming the offending ``param``, and routing errors."""

from __future__ import annotations

import secrets
from typing import Any

import httpx

from conformance.cases._support import OAI
from conformance.context import CaseContext
from conformance.model import Level, Tier, case

ERR = "openai-openapi.yaml components.schemas.ErrorResponse / Error"
UNKNOWN_ID = "resp_conformance_does_not_exist_0000"


def check_error_object(ctx: CaseContext, resp: httpx.Response) -> dict[str, Any]:
    """The body is ``{"error": {"message": str, "type": str, "param": str|null, "code": str|null}}``."""
    try:
        body = resp.json()
    except ValueError:
        body = None
    ctx.check(
        isinstance(body, dict) and isinstance(body.get("error"), dict),
        "body is an object with an `error` object",
        expected='{"error": {...}}',
        actual=resp.text[:300],
    )
    err = body["error"]  # type: ignore[index]
    ctx.check(
        isinstance(err.get("message"), str) and err["message"] != "",
        "error.message is a non-empty string",
        expected="string",
        actual=err.get("message"),
    )
    ctx.check(
        isinstance(err.get("type"), str), "error.type is a string", expected="string", actual=err.get("type")
    )
    for key in ("param", "code"):
        ctx.check(
            key in err and (err[key] is None or isinstance(err[key], str)),
            f"error.{key} is present, a string or null",
            expected="string | null",
            actual=err.get(key, "<missing>"),
        )
    return err  # type: ignore[no-any-return]


@case(
    "errors.object-shape",
    level=Level.MUST,
    title="Errors carry an error object with message, type, param and code",
    spec="Error: required `type`, `message`, `param`, `code`; ErrorResponse: required `error`.",
    source=ERR,
)
async def object_shape(ctx: CaseContext) -> None:
    resp = await ctx.get(f"/responses/{UNKNOWN_ID}")
    ctx.check(400 <= resp.status_code < 500, "status is a 4xx", expected="4xx", actual=resp.status_code)
    check_error_object(ctx, resp)


@case(
    "errors.invalid-json",
    level=Level.MUST,
    title="A body that is not JSON is answered 400 with an error object",
    spec="400 Bad Request: the request body could not be parsed (invalid_request_error).",
    source=ERR,
)
async def invalid_json(ctx: CaseContext) -> None:
    resp = await ctx.post(
        "/responses", content=b'{"model": "x", "input": ', headers={"content-type": "application/json"}
    )
    ctx.check_eq(resp.status_code, 400, "status for a malformed JSON body")
    check_error_object(ctx, resp)


@case(
    "errors.missing-model",
    level=Level.MUST,
    title="A request without model is answered 400",
    spec="CreateResponse: `model` - Model ID used to generate the response "
    "(a request without it is invalid).",
    source="openai-openapi.yaml components.schemas.CreateResponse",
)
async def missing_model(ctx: CaseContext) -> None:
    resp = await ctx.post("/responses", json={"input": "Say hello."})
    ctx.check_eq(resp.status_code, 400, "status for a request without model")
    check_error_object(ctx, resp)


@case(
    "errors.missing-model-param",
    level=Level.SHOULD,
    title='The error for a missing model names param "model"',
    spec="Error.param: the parameter the error relates to.",
    source=ERR,
)
async def missing_model_param(ctx: CaseContext) -> None:
    resp = await ctx.post("/responses", json={"input": "Say hello."})
    ctx.check_eq(resp.status_code, 400, "status for a request without model")
    err = check_error_object(ctx, resp)
    ctx.check_eq(err.get("param"), "model", "error.param")


@case(
    "errors.unknown-response-404",
    level=Level.MUST,
    title="GET of an unknown response id is 404",
    spec="GET /responses/{response_id}: Retrieves a model response with the given ID "
    "(404 Not Found otherwise).",
    source="openai-openapi.yaml paths./responses/{response_id}",
)
async def unknown_response_404(ctx: CaseContext) -> None:
    resp = await ctx.get(f"/responses/{UNKNOWN_ID}")
    ctx.check_eq(resp.status_code, 404, "status for an unknown id")
    check_error_object(ctx, resp)


@case(
    "errors.content-type-json",
    level=Level.SHOULD,
    title="Error answers are application/json",
    spec="404: content application/json, schema Error.",
    source="openai-openapi.yaml paths./responses/{response_id}.delete",
)
async def content_type_json(ctx: CaseContext) -> None:
    resp = await ctx.get(f"/responses/{UNKNOWN_ID}")
    ctype = resp.headers.get("content-type", "")
    ctx.check(
        ctype.split(";")[0].strip().lower() == "application/json",
        "content-type of an error",
        expected="application/json",
        actual=ctype,
    )


ERROR_SCHEMA = f"{OAI} components.schemas.Error"
CREATE = f"{OAI} components.schemas.CreateResponse"
_502 = (
    "The 502 (Bad Gateway) status code indicates that the server, while acting as a gateway or proxy, "
    "received an invalid response from an inbound server it accessed while attempting to fulfill the "
    "request."
)
RFC = "RFC 9110 section 15.6.3 (502 Bad Gateway)"


async def _backend_failure(ctx: CaseContext, directive: str, **extra: Any) -> Any:
    await ctx.require_scripted()
    return await ctx.create(directive, **extra)


@case(
    "errors.backend.unavailable-502",
    level=Level.MUST,
    title="A backend 503 is answered 502 with an error object, never 200",
    spec=_502,
    tier=Tier.SCRIPTED,
    source=RFC,
)
async def unavailable_502(ctx: CaseContext) -> None:
    resp = await _backend_failure(ctx, "[[error:503]]")
    ctx.check_eq(resp.status_code, 502, "status for a backend 503")
    check_error_object(ctx, resp)


@case(
    "errors.backend.server-error-type",
    level=Level.SHOULD,
    title='A backend failure is reported with error.type "server_error"',
    spec="Error: required `type` (a string). The OpenAI API types failures on its side `server_error` "
    "and requests it cannot accept `invalid_request_error`.",
    tier=Tier.SCRIPTED,
    source=ERROR_SCHEMA,
)
async def server_error_type(ctx: CaseContext) -> None:
    resp = await _backend_failure(ctx, "[[error:503]]")
    ctx.check(resp.status_code >= 500, "a 5xx status", expected=">= 500", actual=resp.status_code)
    err = check_error_object(ctx, resp)
    ctx.check_eq(err.get("type"), "server_error", "error.type")


@case(
    "errors.backend.not-stored",
    level=Level.SHOULD,
    title="A failed backend call does not leave a completed response behind",
    spec="status: The status of the response generation. One of `completed`, `failed`, `in_progress`, "
    "`cancelled`, `queued`, or `incomplete`.",
    tier=Tier.SCRIPTED,
    source=f"{OAI} components.schemas.Response",
)
async def not_stored(ctx: CaseContext) -> None:
    # Seen from outside: the failed call's response, if the error names one, and every stored
    # response carrying this call's metadata in the newest page of GET /responses.
    nonce = secrets.token_hex(8)
    resp = await _backend_failure(ctx, "[[error:503]]", metadata={"conformance_probe": nonce})
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


@case(
    "errors.backend.client-error-passed-on",
    level=Level.MUST,
    title="A backend 400 is passed on as 400 with the backend's message",
    spec="The 400 (Bad Request) status code indicates that the server cannot or will not process the "
    "request due to something that is perceived to be a client error. Error: required `message`.",
    tier=Tier.SCRIPTED,
    source=ERROR_SCHEMA,
)
async def client_error_passed_on(ctx: CaseContext) -> None:
    resp = await _backend_failure(ctx, "[[error:400]]")
    ctx.check_eq(resp.status_code, 400, "status for a backend 400")
    err = check_error_object(ctx, resp)
    ctx.check(
        "scripted error 400" in str(err.get("message")),
        "error.message carries the backend's message",
        expected="... scripted error 400 ...",
        actual=err.get("message"),
    )


@case(
    "errors.backend.malformed-502",
    level=Level.MUST,
    title="A backend answer that is not JSON is answered 502",
    spec=_502,
    tier=Tier.SCRIPTED,
    source=RFC,
)
async def malformed_502(ctx: CaseContext) -> None:
    resp = await _backend_failure(ctx, "[[malformed]]")
    ctx.check_eq(resp.status_code, 502, "status for a garbled backend answer")
    check_error_object(ctx, resp)


@case(
    "errors.backend.dropped-5xx",
    level=Level.MUST,
    title="A backend that closes the connection is answered 502 (or 5xx) with an error object",
    spec=_502,
    tier=Tier.SCRIPTED,
    source=RFC,
)
async def dropped_5xx(ctx: CaseContext) -> None:
    resp = await _backend_failure(ctx, "[[drop]]")
    ctx.check(500 <= resp.status_code < 600, "a 5xx status", expected="5xx (502)", actual=resp.status_code)
    check_error_object(ctx, resp)


# --------------------------------------------------------------------------- request validation


async def _invalid(ctx: CaseContext, body: dict[str, Any], param: str | None, level_note: str = "") -> None:
    resp = await ctx.post("/responses", json=body)
    ctx.check_eq(resp.status_code, 400, f"status for {level_note or 'an invalid request'}")
    err = check_error_object(ctx, resp)
    if param is not None:
        got = err.get("param")
        ctx.check(
            isinstance(got, str)
            and (got == param or got.startswith(param + ".") or got.startswith(param + "[")),
            "error.param names the offending parameter",
            expected=param,
            actual=got,
        )


def _body(ctx: CaseContext, **extra: Any) -> dict[str, Any]:
    return ctx.body("Say hello.", **extra)


@case(
    "errors.params.temperature-type",
    level=Level.MUST,
    title='temperature "hot" is 400 naming param temperature',
    spec="temperature: What sampling temperature to use, between 0 and 2. (type: number)",
    source=CREATE,
)
async def temperature_type(ctx: CaseContext) -> None:
    await _invalid(ctx, _body(ctx, temperature="hot"), "temperature", 'temperature: "hot"')


@case(
    "errors.params.temperature-range",
    level=Level.MUST,
    title="temperature 3 is 400 naming param temperature",
    spec="temperature: What sampling temperature to use, between 0 and 2.",
    source=CREATE,
)
async def temperature_range(ctx: CaseContext) -> None:
    await _invalid(ctx, _body(ctx, temperature=3), "temperature", "temperature: 3")


@case(
    "errors.params.input-type",
    level=Level.MUST,
    title="input 42 is 400 naming param input",
    spec="input: Text, image, or file inputs to the model (a string or an array of input items).",
    source=CREATE,
)
async def input_type(ctx: CaseContext) -> None:
    await _invalid(ctx, {"model": ctx.model, "input": 42}, "input", "input: 42")


@case(
    "errors.params.tools-type",
    level=Level.MUST,
    title="tools given as an object is 400 naming param tools",
    spec="tools: An array of tools the model may call while generating a response.",
    source=CREATE,
)
async def tools_type(ctx: CaseContext) -> None:
    await _invalid(ctx, _body(ctx, tools={"type": "function", "name": "f"}), "tools", "tools: {...}")


@case(
    "errors.params.metadata-value-type",
    level=Level.MUST,
    title="A metadata value that is not a string is 400 naming metadata",
    spec="Metadata: Values are strings with a maximum length of 512 characters.",
    source=f"{OAI} components.schemas.Metadata",
)
async def metadata_value_type(ctx: CaseContext) -> None:
    await _invalid(ctx, _body(ctx, metadata={"n": 1}), "metadata", "metadata: {n: 1}")


@case(
    "errors.params.metadata-too-many-keys",
    level=Level.SHOULD,
    title="metadata with 17 keys is 400 naming metadata",
    spec="Metadata: Set of 16 key-value pairs that can be attached to an object.",
    source=f"{OAI} components.schemas.Metadata",
)
async def metadata_too_many_keys(ctx: CaseContext) -> None:
    meta = {f"k{i}": "v" for i in range(17)}
    await _invalid(ctx, _body(ctx, metadata=meta), "metadata", "17 metadata keys")


@case(
    "errors.params.max-output-tokens-negative",
    level=Level.MUST,
    title="max_output_tokens -1 is 400 naming param max_output_tokens",
    spec="max_output_tokens: An upper bound for the number of tokens that can be generated for a response.",
    source=CREATE,
)
async def max_output_tokens_negative(ctx: CaseContext) -> None:
    await _invalid(ctx, _body(ctx, max_output_tokens=-1), "max_output_tokens", "max_output_tokens: -1")


@case(
    "errors.params.unknown-parameter",
    level=Level.MUST,
    title="An unknown top-level parameter is rejected with 400",
    spec="CreateResponse: the request body is a CreateResponse object (OpenAI answers an unknown "
    "parameter with 400 `Unknown parameter`).",
    source=CREATE,
)
async def unknown_parameter(ctx: CaseContext) -> None:
    await _invalid(ctx, _body(ctx, conformance_bogus_param=1), None, "an unknown parameter")


@case(
    "errors.params.unknown-parameter-named",
    level=Level.SHOULD,
    title="The error for an unknown parameter names it in param",
    spec="Error.param: the parameter the error relates to.",
    source=ERROR_SCHEMA,
)
async def unknown_parameter_named(ctx: CaseContext) -> None:
    await _invalid(
        ctx, _body(ctx, conformance_bogus_param=1), "conformance_bogus_param", "an unknown parameter"
    )


@case(
    "errors.params.conversation-with-previous",
    level=Level.MUST,
    title="conversation together with previous_response_id is 400",
    spec="previous_response_id: ... Cannot be used in conjunction with `conversation`.",
    source=CREATE,
)
async def conversation_with_previous(ctx: CaseContext) -> None:
    await _invalid(
        ctx,
        _body(ctx, conversation="conv_conformance_0000", previous_response_id="resp_conformance_0000"),
        None,
        "conversation + previous_response_id",
    )


@case(
    "errors.params.error-content-type-json",
    level=Level.MUST,
    title="A 400 validation error is application/json",
    spec="Error answers carry an ErrorResponse object (content application/json).",
    source=ERROR_SCHEMA,
)
async def error_content_type_json(ctx: CaseContext) -> None:
    resp = await ctx.post("/responses", json=_body(ctx, temperature="hot"))
    ctx.check_eq(resp.status_code, 400, 'status for temperature "hot"')
    ctype = resp.headers.get("content-type", "")
    ctx.check(
        ctype.split(";")[0].strip().lower() == "application/json",
        "content-type of the error",
        expected="application/json",
        actual=ctype,
    )


@case(
    "errors.params.invalid-request-type",
    level=Level.SHOULD,
    title='A validation error has error.type "invalid_request_error"',
    spec="Error: required `type` (a string). The OpenAI API types requests it cannot accept "
    "`invalid_request_error`.",
    source=ERROR_SCHEMA,
)
async def invalid_request_type(ctx: CaseContext) -> None:
    resp = await ctx.post("/responses", json=_body(ctx, temperature="hot"))
    ctx.check_eq(resp.status_code, 400, 'status for temperature "hot"')
    ctx.check_eq(check_error_object(ctx, resp).get("type"), "invalid_request_error", "error.type")


# --------------------------------------------------------------------------- routes


@case(
    "errors.routes.unknown-route-404",
    level=Level.MUST,
    title="An unknown route under /v1 is 404 with an error object",
    spec="The 404 (Not Found) status code indicates that the origin server did not find a current "
    "representation for the target resource or is not willing to disclose that one exists.",
    source="RFC 9110 section 15.5.5",
)
async def unknown_route_404(ctx: CaseContext) -> None:
    resp = await ctx.get("/conformance-no-such-route")
    ctx.check_eq(resp.status_code, 404, "status for an unknown route")
    check_error_object(ctx, resp)


@case(
    "errors.routes.wrong-method-405",
    level=Level.SHOULD,
    title="A wrong method on /responses is 405",
    spec="The 405 (Method Not Allowed) status code indicates that the method received in the request-line "
    "is known by the origin server but not supported by the target resource.",
    source="RFC 9110 section 15.5.6",
)
async def wrong_method_405(ctx: CaseContext) -> None:
    resp = await ctx.request("PUT", "/responses", json=ctx.body())
    ctx.check_eq(resp.status_code, 405, "status of PUT /responses")


@case(
    "errors.params.input-item-type",
    level=Level.MUST,
    title="An input item of an unknown type is 400 naming input",
    spec="input: A list of one or many input items to the model, containing different content types "
    "(each item is one of the InputItem types).",
    source=f"{OAI} components.schemas.InputParam",
)
async def input_item_type(ctx: CaseContext) -> None:
    body = {"model": ctx.model, "input": [{"type": "conformance_bogus_item", "text": "x"}]}
    await _invalid(ctx, body, "input", "an unknown input item type")


@case(
    "errors.params.input-role",
    level=Level.MUST,
    title="A message with an unknown role is 400 naming input",
    spec="role: The role of the message input. One of `user`, `assistant`, `system`, or `developer`.",
    source=f"{OAI} components.schemas.EasyInputMessage",
)
async def input_role(ctx: CaseContext) -> None:
    body = {"model": ctx.model, "input": [{"role": "robot", "content": "beep"}]}
    await _invalid(ctx, body, "input", "role: robot")


@case(
    "errors.params.function-tool-name-missing",
    level=Level.MUST,
    title="A function tool without a name is 400 naming tools",
    spec="FunctionTool: required `type`, `name`, `strict`, `parameters`. name: The name of the function to "
    "call.",
    source=f"{OAI} components.schemas.FunctionTool",
)
async def function_tool_name_missing(ctx: CaseContext) -> None:
    tools = [{"type": "function", "parameters": {"type": "object", "properties": {}}}]
    await _invalid(ctx, _body(ctx, tools=tools), "tools", "a function tool without name")


@case(
    "errors.params.json-schema-name-missing",
    level=Level.SHOULD,
    title="text.format json_schema without a name is 400 naming text",
    spec="TextResponseFormatJsonSchema: required `type`, `schema`, `name`. name: The name of the response "
    "format.",
    source=f"{OAI} components.schemas.TextResponseFormatJsonSchema",
)
async def json_schema_name_missing(ctx: CaseContext) -> None:
    fmt = {"type": "json_schema", "schema": {"type": "object"}}
    await _invalid(ctx, _body(ctx, text={"format": fmt}), "text", "json_schema without name")


@case(
    "errors.params.tool-choice-undeclared-function",
    level=Level.SHOULD,
    title="tool_choice naming a function that is not in tools is 400 naming tool_choice",
    spec="ToolChoiceFunction: Use this option to force the model to call a specific function. name: The "
    "name of the function to call. (a function that was not declared cannot be called; the OpenAI API "
    "answers 400 `Tool choice 'function' not found in 'tools' parameter.`)",
    source=f"{OAI} components.schemas.ToolChoiceFunction",
)
async def tool_choice_undeclared_function(ctx: CaseContext) -> None:
    body = _body(
        ctx,
        tools=[
            {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}
        ],
        tool_choice={"type": "function", "name": "conformance_not_declared"},
    )
    await _invalid(ctx, body, "tool_choice", "tool_choice naming an undeclared function")


@case(
    "errors.params.tool-choice-required-without-tools",
    level=Level.SHOULD,
    title='tool_choice "required" without tools is 400 naming tool_choice',
    spec="`required` means the model must call one or more tools. (with no tools the request cannot be "
    "honoured; the OpenAI API answers 400 `Tool choice 'required' must be specified with 'tools' "
    "parameter.`)",
    source=f"{OAI} components.schemas.ToolChoiceOptions",
)
async def tool_choice_required_without_tools(ctx: CaseContext) -> None:
    await _invalid(ctx, _body(ctx, tool_choice="required"), "tool_choice", "tool_choice required, no tools")
