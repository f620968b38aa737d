"""background: true responses: polling and POST /responses/{id}/cancel.

``background: true`` responses: polling and ``POST /responses/{id}/cancel``.

Background mode is optional: a target that rejects ``background: true`` is UNIMPLEMENTED."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from conformance import checks
from conformance.cases._support import OAI
from conformance.context import CaseContext
from conformance.model import Level, Tier, case

BG = "background: Whether to run the model response in the background."
CREATE = f"{OAI} components.schemas.CreateResponse"
CANCEL = f"{OAI} paths./responses/{{response_id}}/cancel.post"
_CANCEL = (
    "Cancels a model response with the given ID. Only responses created with the `background` parameter "
    "set to `true` can be cancelled."
)
POLL_SECONDS = 10.0
# keeps the scripted model busy long enough to be cancelled (the backend waits before answering)
SLOW = "[[delay:1500]] [[text:slow answer]]"


async def _start(ctx: CaseContext, input: str = "Say hello.", **extra: Any) -> dict[str, Any]:
    resp = await ctx.create(input, background=True, **extra)
    if resp.status_code in (400, 404, 501):
        try:
            param = (resp.json().get("error") or {}).get("param")
        except (ValueError, AttributeError):
            param = None
        # a 400 about another parameter is a real failure, not a missing feature
        if resp.status_code != 400 or param in (None, "background"):
            ctx.unimplemented(f"background: true is not offered (HTTP {resp.status_code})")
    return ctx.created_ok(resp, "POST /responses with background: true")


async def _poll(ctx: CaseContext, rid: str, until: tuple[str, ...]) -> dict[str, Any]:
    deadline = time.monotonic() + POLL_SECONDS
    while True:
        got = ctx.json_ok(await ctx.get(f"/responses/{rid}"), "GET /responses/{id}")
        if got.get("status") in until or time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.1)


@case(
    "responses.background.initial-status",
    Level.MUST,
    spec=BG + " (status: `queued` or `in_progress` until the model is done)",
    tier=Tier.SCRIPTED,
    source=CREATE,
)
async def initial_status(ctx: CaseContext) -> None:
    """A background create answers at once with status queued or in_progress"""
    await ctx.require_scripted()
    resp = await _start(ctx, SLOW)
    ctx.check(
        resp.get("status") in ("queued", "in_progress"),
        "status of the background create answer",
        expected=["queued", "in_progress"],
        actual=resp.get("status"),
    )


@case("responses.background.echo", Level.SHOULD, spec=BG, source=f"{OAI} components.schemas.Response")
async def echo(ctx: CaseContext) -> None:
    """background true is echoed"""
    resp = await _start(ctx)
    ctx.check_eq(resp.get("background"), True, "Response.background")


@case(
    "responses.background.poll-completes",
    Level.MUST,
    spec=BG + " GET /responses/{response_id}: Retrieves a model response with the given ID.",
    tier=Tier.SCRIPTED,
    source=CREATE,
)
async def poll_completes(ctx: CaseContext) -> None:
    """Polling a background response reaches completed with the output"""
    await ctx.require_scripted()
    resp = await _start(ctx, "[[delay:200]] [[text:background done]]")
    got = await _poll(ctx, str(resp.get("id")), ("completed", "failed", "incomplete", "cancelled"))
    ctx.check_eq(
        (got.get("status"), ctx.output_text(got)), ("completed", "background done"), "(status, output text)"
    )


@case("responses.background.cancel-in-progress", Level.MUST, spec=_CANCEL, tier=Tier.SCRIPTED, source=CANCEL)
async def cancel_in_progress(ctx: CaseContext) -> None:
    """Cancelling a running background response answers it with status cancelled"""
    await ctx.require_scripted()
    resp = await _start(ctx, SLOW)
    cancelled = ctx.json_ok(
        await ctx.post(f"/responses/{resp.get('id')}/cancel"), "POST /responses/{id}/cancel"
    )
    ctx.check_eq(cancelled.get("status"), "cancelled", "status in the cancel answer")


@case("responses.background.cancel-sticks", Level.MUST, spec=_CANCEL, tier=Tier.SCRIPTED, source=CANCEL)
async def cancel_sticks(ctx: CaseContext) -> None:
    """A cancelled response stays cancelled (the model's late answer does not complete it)"""
    await ctx.require_scripted()
    resp = await _start(ctx, "[[delay:600]] [[text:too late]]")
    rid = resp.get("id")
    ctx.json_ok(await ctx.post(f"/responses/{rid}/cancel"), "POST /responses/{id}/cancel")
    await asyncio.sleep(1.0)  # past the model's answer
    got = ctx.json_ok(await ctx.get(f"/responses/{rid}"), "GET /responses/{id}")
    ctx.check_eq(got.get("status"), "cancelled", "status after the model would have answered")


@case("responses.background.cancel-idempotent", Level.SHOULD, spec=_CANCEL, tier=Tier.SCRIPTED, source=CANCEL)
async def cancel_idempotent(ctx: CaseContext) -> None:
    """Cancelling an already cancelled response answers 200 with status cancelled"""
    await ctx.require_scripted()
    resp = await _start(ctx, SLOW)
    rid = resp.get("id")
    ctx.json_ok(await ctx.post(f"/responses/{rid}/cancel"), "first POST /responses/{id}/cancel")
    again = ctx.json_ok(await ctx.post(f"/responses/{rid}/cancel"), "second POST /responses/{id}/cancel")
    ctx.check_eq(again.get("status"), "cancelled", "status in the second cancel answer")


@case(
    "responses.background.cancel-completed-400",
    Level.SHOULD,
    spec=_CANCEL + " (a finished response is no longer running)",
    source=CANCEL,
)
async def cancel_completed_400(ctx: CaseContext) -> None:
    """Cancelling a background response that already completed is 400"""
    resp = await _start(ctx)
    rid = str(resp.get("id"))
    got = await _poll(ctx, rid, ("completed", "failed", "incomplete", "cancelled"))
    if got.get("status") != "completed":
        ctx.skip(f"the background response ended {got.get('status')!r}, not completed")
    again = await ctx.post(f"/responses/{rid}/cancel")
    ctx.check_eq(again.status_code, 400, "status of cancelling a completed response")
    checks.error_object(ctx, again)


@case("responses.background.cancel-foreground-400", Level.MUST, spec=_CANCEL, source=CANCEL)
async def cancel_foreground_400(ctx: CaseContext) -> None:
    """Cancelling a response not created in background mode is 400"""
    await _start(ctx)  # detect support first
    resp = await ctx.create_ok()
    got = await ctx.post(f"/responses/{resp.get('id')}/cancel")
    ctx.check_eq(got.status_code, 400, "status of cancelling a foreground response")
    checks.error_object(ctx, got)


@case("responses.background.cancel-unknown-404", Level.MUST, source=CANCEL)
async def cancel_unknown_404(ctx: CaseContext) -> None:
    """Cancelling an unknown response is 404

    POST /responses/{response_id}/cancel: 404 Not Found.
    """
    await _start(ctx)  # detect support first
    got = await ctx.post("/responses/resp_conformance_does_not_exist_0000/cancel")
    ctx.check_eq(got.status_code, 404, "status of cancelling an unknown response")
    checks.error_object(ctx, got)


@case(
    "responses.background.store-false-400",
    Level.MUST,
    spec=BG + " store: Whether to store the generated model response for later retrieval via API. "
    "(a background response can only be fetched if it is stored)",
    source=CREATE,
)
async def store_false_400(ctx: CaseContext) -> None:
    """background true with store false is rejected with 400"""
    await _start(ctx)  # detect support first
    resp = await ctx.create(background=True, store=False)
    ctx.check_eq(resp.status_code, 400, "status of background with store false")
    checks.error_object(ctx, resp)


async def _start_stream(ctx: CaseContext, input: str) -> list[dict[str, Any]]:
    """POST background + stream; the event payloads (UNIMPLEMENTED when background is refused)."""
    await _start(ctx)  # detect support first
    got = await ctx.create_stream(input, background=True)
    ctx.check_eq(got.status, 200, "status of a background streaming create")
    ctx.check(
        got.content_type.startswith("text/event-stream"),
        "a background streaming create answers an event stream",
        expected="text/event-stream",
        actual=got.content_type or got.raw[:200].decode("utf-8", "replace"),
    )
    return got.payloads


@case(
    "responses.background.stream-completes",
    Level.MUST,
    spec=BG + " stream: If set to true, the model response data will be streamed to the client as it is "
    "generated using server-sent events.",
    tier=Tier.SCRIPTED,
    source=CREATE,
)
async def stream_completes(ctx: CaseContext) -> None:
    """background with stream answers an event stream ending completed; the stored response is completed"""
    await ctx.require_scripted()
    events = await _start_stream(ctx, "[[text:streamed in the background]]")
    types = [e.get("type") for e in events]
    ctx.check_eq(types[-1:], ["response.completed"], "last event of the background stream")
    final = events[-1].get("response") or {}
    ctx.check_eq(ctx.output_text(final), "streamed in the background", "output text in response.completed")
    got = await _poll(ctx, str(final.get("id")), ("completed", "failed", "incomplete", "cancelled"))
    ctx.check_eq(
        (got.get("status"), ctx.output_text(got)),
        ("completed", "streamed in the background"),
        "(status, output text) of the stored background response",
    )


@case(
    "responses.background.stream-created-echo",
    Level.SHOULD,
    spec=BG,
    source=f"{OAI} components.schemas.ResponseCreatedEvent",
)
async def stream_created_echo(ctx: CaseContext) -> None:
    """The response.created event of a background stream carries background true"""
    events = await _start_stream(ctx, "Say hello.")
    created = next((e for e in events if e.get("type") == "response.created"), None)
    ctx.check(created is not None, "the background stream has a response.created event",
              expected="response.created", actual=[e.get("type") for e in events][:3])
    assert created is not None
    ctx.check_eq((created.get("response") or {}).get("background"), True,
                 "response.background in response.created")
