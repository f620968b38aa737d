"""Error answers: status codes and the error object."""

from __future__ import annotations

from typing import Any

import httpx

from conformance.context import CaseContext
from conformance.model import Level, case

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
