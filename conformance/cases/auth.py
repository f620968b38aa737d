"""API keys: a gateway that needs a key refuses requests without it (401, OpenAI error object).

Only meaningful when the run has a key (``--api-key``, ``--api-key-env VAR``, or
``OPENAI_API_KEY`` as the OpenAI SDK reads it); without one the cases are UNIMPLEMENTED. A key
given for the target (``--api-key``/``--api-key-env``) says the target needs it; a key only picked
up from ``OPENAI_API_KEY`` does not, so when the target serves a keyless request the cases are
SKIPPED there rather than FAIL."""

from __future__ import annotations

import httpx

from conformance import checks
from conformance.cases._support import OAI
from conformance.context import CaseContext
from conformance.model import Level, case

SCHEME = f"{OAI} components.securitySchemes.ApiKeyAuth (http bearer); RFC 9110 section 15.5.2"
AUTH = (
    "The 401 (Unauthorized) status code indicates that the request has not been applied because it lacks "
    "valid authentication credentials for the target resource. (The Responses API authenticates with "
    "ApiKeyAuth: an HTTP bearer token; its errors are error objects.)"
)
CODE = (
    f"{OAI} security: ApiKeyAuth (bearer); the OpenAI API answers a missing or wrong key with 401 and "
    "code invalid_api_key"
)


async def _without_valid_key(ctx: CaseContext, authorization: str) -> httpx.Response:
    if not ctx.config.api_key:
        ctx.unimplemented(
            "the run has no API key (--api-key, --api-key-env, OPENAI_API_KEY): the target is not known "
            "to need one"
        )
    resp = await ctx.post("/responses", json=ctx.body("Say hello."), headers={"authorization": authorization})
    if 200 <= resp.status_code < 300 and not ctx.config.api_key_explicit:
        ctx.skip(
            "the target serves requests without a valid key; the key was only picked up from "
            "OPENAI_API_KEY (give --api-key or --api-key-env to say the target needs it)"
        )
    return resp


async def _refused(ctx: CaseContext, authorization: str) -> None:
    resp = await _without_valid_key(ctx, authorization)
    ctx.check_eq(resp.status_code, 401, "status without a valid API key")
    checks.error_object(ctx, resp)


def _wrong_key(ctx: CaseContext) -> str:
    return "Bearer " + "x" * 8 + (ctx.config.api_key or "")[-4:] + "-not-the-key"


@case("auth.api-key.missing-401", Level.MUST, spec=AUTH, source=SCHEME)
async def missing_401(ctx: CaseContext) -> None:
    """A create without credentials is refused with 401 and an OpenAI error object"""
    await _refused(ctx, "")


@case("auth.api-key.wrong-401", Level.MUST, spec=AUTH, source=SCHEME)
async def wrong_401(ctx: CaseContext) -> None:
    """A create with a wrong key is refused with 401 and an OpenAI error object"""
    await _refused(ctx, _wrong_key(ctx))


@case("auth.api-key.error-code", Level.SHOULD, spec=CODE, source=f"{OAI} security")
async def error_code(ctx: CaseContext) -> None:
    """A wrong key's 401 says code invalid_api_key, as the OpenAI API does"""
    resp = await _without_valid_key(ctx, _wrong_key(ctx))
    ctx.check_eq(resp.status_code, 401, "status with a wrong API key")
    ctx.check_eq(checks.error_object(ctx, resp).get("code"), "invalid_api_key", "error.code with a wrong key")


@case("auth.api-key.accepted", Level.SHOULD, spec=CODE, source=f"{OAI} security")
async def accepted(ctx: CaseContext) -> None:
    """A create with the run's key is served"""
    if not ctx.config.api_key:
        ctx.unimplemented("the run has no API key (--api-key, --api-key-env, OPENAI_API_KEY)")
    await ctx.create_ok()
