"""API keys: a gateway run with ``--api-key-env`` must refuse requests without that key.

Only meaningful when the run has a key (``--api-key-env VAR``); without one the cases are
UNIMPLEMENTED. The OpenAI API answers a missing or wrong key with 401 and an error object whose
code is ``invalid_api_key``."""

from __future__ import annotations

from conformance import checks
from conformance.cases._support import OAI
from conformance.context import CaseContext
from conformance.model import Level, case

AUTH = (f"{OAI} security: ApiKeyAuth (bearer); the OpenAI API answers 401 with code "
        "invalid_api_key when the key is missing or wrong")


async def _refused(ctx: CaseContext, authorization: str) -> None:
    if not ctx.config.api_key:
        ctx.unimplemented("the run has no API key (--api-key-env): the target is not known to need one")
    resp = await ctx.post("/responses", json=ctx.body("Say hello."), headers={"authorization": authorization})
    ctx.check_eq(resp.status_code, 401, "status without a valid API key")
    err = checks.error_object(ctx, resp)
    ctx.check_eq(err.get("code"), "invalid_api_key", "error.code without a valid API key")


@case("auth.api-key.missing-401", Level.SHOULD, spec=AUTH, source=f"{OAI} security")
async def missing_401(ctx: CaseContext) -> None:
    """A create without credentials is refused with 401 invalid_api_key"""
    await _refused(ctx, "")


@case("auth.api-key.wrong-401", Level.SHOULD, spec=AUTH, source=f"{OAI} security")
async def wrong_401(ctx: CaseContext) -> None:
    """A create with a wrong key is refused with 401 invalid_api_key"""
    await _refused(ctx, "Bearer " + "x" * 8 + (ctx.config.api_key or "")[-4:] + "-not-the-key")


@case("auth.api-key.accepted", Level.SHOULD, spec=AUTH, source=f"{OAI} security")
async def accepted(ctx: CaseContext) -> None:
    """A create with the run's key is served"""
    if not ctx.config.api_key:
        ctx.unimplemented("the run has no API key (--api-key-env)")
    await ctx.create_ok()
