"""POST /responses/input_tokens: counting a request's input tokens.

The OpenAI document defines the endpoint. A gateway that does not offer it (404, 405 or 501 on
the path) gets UNIMPLEMENTED from the first request of each case, never a FAIL."""

from __future__ import annotations

from typing import Any

from conformance.cases._support import NOT_OFFERED, OAI, UNKNOWN_RESPONSE, is_int, post_offered
from conformance.context import CaseContext
from conformance.model import Level, Tier, case

INPUT_TOKENS = "/responses/input_tokens"
COUNT_SRC = f"{OAI} paths./responses/input_tokens"



async def _count(ctx: CaseContext, **body: Any) -> int:
    resp = await post_offered(ctx, INPUT_TOKENS, {"model": ctx.model, **body})
    got = ctx.json_ok(resp, f"POST {INPUT_TOKENS}")
    ctx.check_eq(got.get("object"), "response.input_tokens", "object")
    count = got.get("input_tokens")
    ctx.check(is_int(count) and count >= 0, "input_tokens is a non-negative integer", actual=count)
    assert isinstance(count, int)
    return count


@case("responses.input_tokens.shape", Level.MUST, source=COUNT_SRC, profiles=("openai",))
async def input_tokens_shape(ctx: CaseContext) -> None:
    """POST /responses/input_tokens answers {object: response.input_tokens, input_tokens}

    Returns an object with `object` set to `response.input_tokens` and an `input_tokens` count.
    """
    count = await _count(ctx, input="Tell me a joke about the sea.")
    ctx.check(count > 0, "a non-empty input counts more than 0 tokens", expected="> 0", actual=count)


@case("responses.input_tokens.grows-with-input", Level.MUST, source=COUNT_SRC, profiles=("openai",))
async def input_tokens_grows(ctx: CaseContext) -> None:
    """A longer input counts more tokens

    Returns input token counts of the request.
    """
    short = await _count(ctx, input="Hello there.")
    long = await _count(ctx, input="Hello there. " + " ".join(["Tell me about the weather in Paris."] * 8))
    ctx.check(long > short, "the longer input counts more", expected=f"> {short}", actual=long)


@case("responses.input_tokens.counts-previous-response", Level.MUST, source=COUNT_SRC, profiles=("openai",))
async def input_tokens_history(ctx: CaseContext) -> None:
    """input_tokens with previous_response_id counts the earlier turns too

    previous_response_id: The unique ID of the previous response to the model. Use this to create multi-turn
    conversations (TokenCountsBody).
    """
    first = await ctx.create_ok("Remember: " + " ".join(["the code word is papaya."] * 6))
    alone = await _count(ctx, input="What is the code word?")
    chained = await _count(ctx, input="What is the code word?", previous_response_id=first.get("id"))
    ctx.check(chained > alone, "counting with previous_response_id includes the history",
              expected=f"> {alone} (the count without it)", actual=chained)


@case("responses.input_tokens.counts-conversation", Level.MUST, source=COUNT_SRC, profiles=("openai",))
async def input_tokens_conversation(ctx: CaseContext) -> None:
    """input_tokens with a conversation counts the conversation's items

    conversation: The conversation that this response belongs to. Items from this conversation are prepended
    to input_items for this response request (TokenCountsBody).
    """
    created = await ctx.post("/conversations", json={"items": [
        {"type": "message", "role": "user", "content": " ".join(["The sky over Paris is blue today."] * 6)}]})
    if created.status_code in NOT_OFFERED:
        ctx.unimplemented(f"the gateway does not offer POST /conversations (HTTP {created.status_code})")
    conversation = ctx.json_ok(created, "POST /conversations")
    alone = await _count(ctx, input="What colour is the sky?")
    with_conversation = await _count(ctx, input="What colour is the sky?",
                                     conversation=conversation.get("id"))
    ctx.check(with_conversation > alone, "counting with a conversation includes its items",
              expected=f"> {alone}", actual=with_conversation)


@case("responses.input_tokens.unknown-previous-response", Level.MUST, source=COUNT_SRC, profiles=("openai",))
async def input_tokens_unknown_previous(ctx: CaseContext) -> None:
    """input_tokens with an unknown previous_response_id is a 4xx error, not a count

    previous_response_id: The unique ID of the previous response to the model.
    """
    resp = await post_offered(ctx, INPUT_TOKENS, {"model": ctx.model, "input": "hello",
                                                   "previous_response_id": UNKNOWN_RESPONSE})
    ctx.check(400 <= resp.status_code < 500, "a 4xx status", expected="4xx", actual=resp.status_code)


@case(
    "responses.input_tokens.scripted-matches-usage",
    Level.SHOULD,
    source=COUNT_SRC,
    tier=Tier.SCRIPTED,
    profiles=("openai",),
)
async def input_tokens_matches_usage(ctx: CaseContext) -> None:
    """The count equals usage.input_tokens of the same request (scripted)

    Returns input token counts of the request.
    """
    await ctx.require_scripted()
    first = await ctx.create_ok("[[text:Paris is sunny today]]", instructions="Answer briefly.")
    follow = "And what about tomorrow?"
    count = await _count(ctx, input=follow, previous_response_id=first.get("id"))
    created = await ctx.create_ok(follow, previous_response_id=first.get("id"))
    usage = created.get("usage") or {}
    ctx.check_eq(count, usage.get("input_tokens"), "the count vs usage.input_tokens of the same request")
