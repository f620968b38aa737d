"""Usage, timestamps, output items, and the finish states a model can end in.

``POST /responses``: usage details, timestamps, output items, and the finish states the model
can end in (scripted tier: ``[[length]]``, ``[[refusal]]``, ``[[content_filter]]``)."""

from __future__ import annotations

import time
from typing import Any

from conformance.cases import _openresponses as ors
from conformance.cases._support import OAI, TOOLS, is_int, is_number, items_of
from conformance.context import CaseContext
from conformance.model import Level, Tier, case

RESP = f"{OAI} components.schemas.Response"
USAGE = f"{OAI} components.schemas.ResponseUsage"


async def _usage(ctx: CaseContext, input: str = "Say hello.") -> dict[str, Any]:
    resp = await ctx.create_ok(input)
    usage = resp.get("usage")
    if usage is None:
        ctx.unimplemented("the target reports no usage")
    ctx.check(isinstance(usage, dict), "usage is an object", expected="object", actual=usage)
    return usage if isinstance(usage, dict) else {}


@case("responses.output.usage-cached-tokens", Level.MUST, source=USAGE)
async def usage_cached_tokens(ctx: CaseContext) -> None:
    """usage.input_tokens_details.cached_tokens is an integer

    input_tokens_details: A detailed breakdown of the input tokens. cached_tokens: The number of tokens that
    were retrieved from the cache.
    """
    usage = await _usage(ctx)
    details = usage.get("input_tokens_details")
    value = details.get("cached_tokens") if isinstance(details, dict) else details
    ctx.check(
        is_int(value) and value >= 0,
        "input_tokens_details.cached_tokens",
        expected="integer >= 0",
        actual=value,
    )


@case("responses.output.usage-reasoning-tokens", Level.MUST, source=USAGE)
async def usage_reasoning_tokens(ctx: CaseContext) -> None:
    """usage.output_tokens_details.reasoning_tokens is an integer

    output_tokens_details: A detailed breakdown of the output tokens. reasoning_tokens: The number of
    reasoning tokens.
    """
    usage = await _usage(ctx)
    details = usage.get("output_tokens_details")
    value = details.get("reasoning_tokens") if isinstance(details, dict) else details
    ctx.check(
        is_int(value) and value >= 0,
        "output_tokens_details.reasoning_tokens",
        expected="integer >= 0",
        actual=value,
    )


@case("responses.output.usage-details-bounded", Level.MUST, source=USAGE)
async def usage_details_bounded(ctx: CaseContext) -> None:
    """cached_tokens <= input_tokens and reasoning_tokens <= output_tokens

    cached_tokens: The number of tokens that were retrieved from the cache (part of the input tokens).
    reasoning_tokens: The number of reasoning tokens (part of the output tokens).
    """
    usage = await _usage(ctx)
    cached = (usage.get("input_tokens_details") or {}).get("cached_tokens", 0)
    reasoning = (usage.get("output_tokens_details") or {}).get("reasoning_tokens", 0)
    got = {
        "cached": cached,
        "input": usage.get("input_tokens"),
        "reasoning": reasoning,
        "output": usage.get("output_tokens"),
    }
    ctx.check(
        all(is_int(v) for v in got.values()) and cached <= got["input"] and reasoning <= got["output"],
        "token breakdowns do not exceed their totals",
        expected="cached <= input, reasoning <= output",
        actual=got,
    )


@case("responses.output.scripted-usage-from-model", Level.SHOULD, tier=Tier.SCRIPTED, source=USAGE)
async def scripted_usage_from_model(ctx: CaseContext) -> None:
    """usage reports the model's token counts

    output_tokens: The number of output tokens. input_tokens: The number of input tokens.
    """
    await ctx.require_scripted()
    # the scripted backend counts whitespace-separated words of the message texts as sent
    # (directive included): 7 in, and 5 out
    usage = await _usage(ctx, "alpha [[text:one two three four five]] omega")
    ctx.check_eq(
        {"input_tokens": usage.get("input_tokens"), "output_tokens": usage.get("output_tokens")},
        {"input_tokens": 7, "output_tokens": 5},
        "usage counts (the backend's prompt_tokens / completion_tokens)",
    )


@case("responses.output.message-id-prefix", Level.SHOULD, source=f"{OAI} components.schemas.OutputMessage")
async def message_id_prefix(ctx: CaseContext) -> None:
    """Output message ids start with msg_

    OutputMessage id: The unique ID of the output message. (examples:
    `msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654`)
    """
    resp = await ctx.create_ok()
    ids = [m.get("id") for m in items_of(resp, "message")]
    ctx.check(
        ids and all(isinstance(i, str) and i.startswith("msg_") for i in ids),
        "message ids have prefix msg_",
        expected="msg_...",
        actual=ids,
    )


@case(
    "responses.output.message-status-completed",
    Level.SHOULD,
    source=f"{OAI} components.schemas.OutputMessage",
)
async def message_status_completed(ctx: CaseContext) -> None:
    """The message of a completed response has status completed

    status: The status of the message input. One of `in_progress`, `completed`, or `incomplete`.
    """
    resp = await ctx.create_ok()
    ctx.check_eq(resp.get("status"), "completed", "response status")
    ctx.check_eq([m.get("status") for m in items_of(resp, "message")], ["completed"], "message status")


@case(
    "responses.output.item-ids-unique", Level.MUST, tier=Tier.SCRIPTED, source=RESP,
    levels={"openresponses": ors.ITEM_ID_UNIQUE.level()},
)
async def item_ids_unique(ctx: CaseContext) -> None:
    """Output items of one response have distinct ids

    output: An array of content items generated by the model. (each item has its unique ID)
    """
    await ctx.require_scripted()
    resp = await ctx.create_ok("[[tools:4]]", tools=TOOLS)
    ids = [i.get("id") for i in resp.get("output") or [] if isinstance(i, dict)]
    ctx.check(
        len(ids) == 4 and len(set(ids)) == 4,
        "four items with distinct ids",
        expected="4 distinct",
        actual=ids,
    )


@case("responses.output.created-at-recent", Level.MUST, source=RESP)
async def created_at_recent(ctx: CaseContext) -> None:
    """created_at is within minutes of the request

    created_at: Unix timestamp (in seconds) of when this Response was created.
    """
    before = time.time()
    resp = await ctx.create_ok()
    after = time.time()
    value = resp.get("created_at")
    # Only the time is judged here: an integer type is responses.create.created-at's check, so a
    # gateway sending fractional seconds fails that one case, not three.
    ctx.check(
        is_number(value) and before - 300 <= value <= after + 300,
        "created_at is the creation time (5 minutes of clock skew allowed)",
        expected=f"{int(before)} +- 300",
        actual=value,
    )


@case("responses.output.completed-at-after-created", Level.MUST, source=RESP)
async def completed_at_after_created(ctx: CaseContext) -> None:
    """completed_at, when present, is an integer >= created_at

    completed_at: Unix timestamp (in seconds) of when this Response was completed. Only present when the
    status is `completed`.
    """
    resp = await ctx.create_ok()
    done, created = resp.get("completed_at"), resp.get("created_at")
    if done is None:
        ctx.check(
            "completed_at" not in ctx.profile.response_required,
            "completed_at is given",
            expected="integer",
            actual=None,
        )
        ctx.skip("the target does not report completed_at")
    ctx.check(
        is_number(done) and is_number(created) and done >= created and done - created < 3600,
        "created_at <= completed_at (and within the hour)",
        expected=f">= {created}",
        actual=done,
    )


@case("responses.output.completed-at-null-unless-completed", Level.SHOULD, tier=Tier.SCRIPTED, source=RESP)
async def completed_at_null_unless_completed(ctx: CaseContext) -> None:
    """completed_at is null for a response that is not completed

    completed_at: Unix timestamp (in seconds) of when this Response was completed. Only present when the
    status is `completed`.
    """
    await ctx.require_scripted()
    resp = await ctx.create_ok("[[length]]")
    ctx.check_eq(resp.get("status"), "incomplete", "status after finish_reason length")
    ctx.check_eq(resp.get("completed_at"), None, "completed_at of an incomplete response")


@case("responses.output.error-null-on-success", Level.MUST, source=RESP)
async def error_null_on_success(ctx: CaseContext) -> None:
    """error is null and incomplete_details is null on a completed response

    error: An error object returned when the model fails to generate a Response. incomplete_details: Details
    about why the response is incomplete.
    """
    resp = await ctx.create_ok()
    ctx.check_eq(
        {
            "status": resp.get("status"),
            "error": resp.get("error", "<absent>"),
            "incomplete_details": resp.get("incomplete_details", "<absent>"),
        },
        {"status": "completed", "error": None, "incomplete_details": None},
        "status, error and incomplete_details of a successful response",
    )


@case(
    "responses.output.length-incomplete", Level.MUST, tier=Tier.SCRIPTED, source=RESP,
    levels={"openresponses": ors.INCOMPLETE_LAST.level()},
)
async def length_incomplete(ctx: CaseContext) -> None:
    """A model cut off by its token limit gives status incomplete

    status: The status of the response generation. One of `completed`, `failed`, `in_progress`, `cancelled`,
    `queued`, or `incomplete`.
    """
    await ctx.require_scripted()
    resp = await ctx.create_ok("[[length]]", max_output_tokens=16)
    ctx.check_eq(resp.get("status"), "incomplete", "status after finish_reason length")


@case("responses.output.length-reason", Level.MUST, tier=Tier.SCRIPTED, source=RESP)
async def length_reason(ctx: CaseContext) -> None:
    """incomplete_details.reason is max_output_tokens when the token limit cut the answer

    incomplete_details.reason: The reason why the response is incomplete. (enum: `max_output_tokens`,
    `content_filter`)
    """
    await ctx.require_scripted()
    resp = await ctx.create_ok("[[length]]", max_output_tokens=16)
    ctx.check_eq(resp.get("incomplete_details"), {"reason": "max_output_tokens"}, "incomplete_details")


@case("responses.output.length-partial-text-kept", Level.SHOULD, tier=Tier.SCRIPTED, source=RESP)
async def length_partial_text_kept(ctx: CaseContext) -> None:
    """The partial text of an incomplete response is kept in output

    output: An array of content items generated by the model.
    """
    await ctx.require_scripted()
    resp = await ctx.create_ok("[[length]]")
    ctx.check_eq(ctx.output_text(resp), "partial answer", "output text of the incomplete response")


@case("responses.output.content-filter-reason", Level.MUST, tier=Tier.SCRIPTED, source=RESP)
async def content_filter_reason(ctx: CaseContext) -> None:
    """A content-filtered answer is incomplete with reason content_filter

    incomplete_details.reason: The reason why the response is incomplete. (enum: `max_output_tokens`,
    `content_filter`)
    """
    await ctx.require_scripted()
    resp = await ctx.create_ok("[[content_filter]]")
    ctx.check_eq(
        {"status": resp.get("status"), "incomplete_details": resp.get("incomplete_details")},
        {"status": "incomplete", "incomplete_details": {"reason": "content_filter"}},
        "status and incomplete_details",
    )


@case(
    "responses.output.refusal-part",
    Level.MUST,
    tier=Tier.SCRIPTED,
    source=f"{OAI} components.schemas.RefusalContent",
)
async def refusal_part(ctx: CaseContext) -> None:
    """A model refusal becomes a refusal content part with the refusal text

    RefusalContent: A refusal from the model. type: The type of the refusal. Always `refusal`. refusal: The
    refusal explanation from the model.
    """
    await ctx.require_scripted()
    resp = await ctx.create_ok("[[refusal]]")
    parts = [p for m in items_of(resp, "message") for p in m.get("content") or []]
    ctx.check_eq(
        [{k: p.get(k) for k in ("type", "refusal")} for p in parts if isinstance(p, dict)],
        [{"type": "refusal", "refusal": "I can't help with that."}],
        "content parts of the message",
    )


@case(
    "responses.output.refusal-not-output-text",
    Level.SHOULD,
    tier=Tier.SCRIPTED,
    source=f"{OAI} components.schemas.RefusalContent",
)
async def refusal_not_output_text(ctx: CaseContext) -> None:
    """A refusal is not reported as output_text

    RefusalContent: A refusal from the model.
    """
    await ctx.require_scripted()
    resp = await ctx.create_ok("[[refusal]]")
    ctx.check_eq(ctx.output_text(resp), "", "output_text of a refused response")


@case("responses.output.tool-calls-without-empty-message", Level.SHOULD, tier=Tier.SCRIPTED, source=RESP)
async def tool_calls_without_empty_message(ctx: CaseContext) -> None:
    """A turn in which the model only calls tools has no empty message item

    output: An array of content items generated by the model. (the model generated no text)
    """
    await ctx.require_scripted()
    resp = await ctx.create_ok("[[tools:2]]", tools=TOOLS)
    ctx.check_eq(
        [i.get("type") for i in resp.get("output") or [] if isinstance(i, dict)],
        ["function_call", "function_call"],
        "types of the output items",
    )
