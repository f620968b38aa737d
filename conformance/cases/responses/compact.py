"""POST /responses/compact: the compacted window keeps what the conversation needs.

Both documents define the endpoint. A gateway that does not offer it (404, 405 or 501 on the
path) gets UNIMPLEMENTED from the first request of each case, never a FAIL."""

from __future__ import annotations

from typing import Any

from conformance.cases import _openresponses as ors
from conformance.cases._support import OAI, ORS, UNKNOWN_RESPONSE, is_int, parse_json_text, post_offered
from conformance.context import CaseContext
from conformance.model import Level, Tier, case

COMPACT = "/responses/compact"
COMPACT_SRC = f"{OAI} paths./responses/compact; {ORS} paths./responses/compact"


def _window() -> list[dict[str, Any]]:
    return [
        {"type": "message", "role": "user", "content": "My name is Alice and I live in Paris."},
        {"type": "message", "role": "assistant", "content": "Nice to meet you, Alice."},
        {"type": "message", "role": "user", "content": "Remember the code word papaya."},
    ]


def _user_texts(items: list[Any]) -> list[str]:
    texts: list[str] = []
    for item in items:
        if not isinstance(item, dict) or item.get("role") != "user":
            continue
        content = item.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.append("".join(str(p.get("text", "")) for p in content if isinstance(p, dict)))
    return texts


async def _compact_ok(ctx: CaseContext, **body: Any) -> dict[str, Any]:
    resp = await post_offered(ctx, COMPACT, {"model": ctx.model, **body})
    return ctx.json_ok(resp, f"POST {COMPACT}")




@case("responses.compact.shape", Level.MUST, source=COMPACT_SRC)
async def compact_shape(ctx: CaseContext) -> None:
    """POST /responses/compact answers a response.compaction object with a compaction item

    CompactResource: required id, object (always `response.compaction`), output, created_at, usage; output:
    The compacted list of output items (a `compaction` item: type, id, encrypted_content).
    """
    got = await _compact_ok(ctx, input=_window())
    ctx.check_eq(got.get("object"), "response.compaction", "object")
    rid = got.get("id")
    ctx.check(isinstance(rid, str) and rid, "id is a non-empty string", actual=rid)
    ctx.check(is_int(got.get("created_at")), "created_at is an integer", actual=got.get("created_at"))
    ctx.check(isinstance(got.get("usage"), dict), "usage is an object", actual=got.get("usage"))
    output = got.get("output")
    ctx.check(isinstance(output, list), "output is a list", actual=output)
    assert isinstance(output, list)
    items = [i for i in output if isinstance(i, dict) and i.get("type") == "compaction"]
    ctx.check(len(items) == 1, "output holds one compaction item", expected=1,
              actual=[i.get("type") if isinstance(i, dict) else i for i in output])
    item = items[0]
    ctx.check(isinstance(item.get("id"), str) and isinstance(item.get("encrypted_content"), str)
              and item["encrypted_content"], "the compaction item has an id and encrypted_content",
              actual=item)
    ctx.validate(got, "CompactResource")


@case("responses.compact.keeps-user-messages", Level.SHOULD, source=COMPACT_SRC)
async def compact_keeps_user_messages(ctx: CaseContext) -> None:
    """A compaction keeps the window's user messages, the last one included, in order

    Compacted output (OpenAI example): the user message of the window, unchanged, followed by the compaction
    item; Open Responses: a compacted window is the base input of the next response, which must preserve the
    semantic order of the conversation.
    """
    window = _window()
    got = await _compact_ok(ctx, input=window)
    ctx.check_eq(_user_texts(got.get("output") or []), _user_texts(window),
                 "the user messages of the compacted output, in order")


@case("responses.compact.keeps-history-user-messages", Level.SHOULD, source=COMPACT_SRC)
async def compact_keeps_history(ctx: CaseContext) -> None:
    """Compacting from previous_response_id keeps the chain's user messages and the new input's

    previous_response_id: The unique ID of the previous response to the model. Use this to create multi-turn
    conversations (CompactResponseMethodPublicBody).
    """
    first = await ctx.create_ok("The code word is papaya.")
    got = await _compact_ok(ctx, previous_response_id=first.get("id"), input="What is the code word?")
    ctx.check_eq(_user_texts(got.get("output") or []), ["The code word is papaya.", "What is the code word?"],
                 "user messages of the compacted output (the chain's, then the request's)")


@case(
    "responses.compact.output-is-input",
    Level.MUST,
    spec="Compaction item (CompactionSummaryItemParam, one of the input items): A compaction item generated "
    "by the `v1/responses/compact` API.",
    source=f"{OAI} components.schemas.CompactionSummaryItemParam",
    levels={"openresponses": ors.WS_COMPACTION_CLIENT.level()},
)
async def compact_output_is_input(ctx: CaseContext) -> None:
    """The compacted output is accepted as the base input of a new response"""
    got = await _compact_ok(ctx, input=_window())
    output = got.get("output")
    ctx.check(isinstance(output, list) and output, "the compaction has output", actual=output)
    assert isinstance(output, list)
    resp = await ctx.create_ok([*output, {"type": "message", "role": "user", "content": "Say hello."}])
    ctx.check_eq(resp.get("status"), "completed", "status of the response continuing the compacted window")


@case("responses.compact.scripted-summary-reaches-model", Level.MUST, source=COMPACT_SRC, tier=Tier.SCRIPTED)
async def compact_summary_reaches_model(ctx: CaseContext) -> None:
    """A compaction item given as input reaches the model (scripted)

    A compaction item generated by the v1/responses/compact API ... the compacted output [is] the base input
    for that new response.
    """
    await ctx.require_scripted()
    got = await _compact_ok(ctx, input=_window())
    output = [i for i in got.get("output") or [] if isinstance(i, dict)]
    kept_users = len(_user_texts(output))
    resp = await ctx.create_ok([*output, {"type": "message", "role": "user", "content": "[[messages]]"}])
    messages = parse_json_text(ctx, ctx.output_text(resp), "the scripted [[messages]] reply")
    ctx.check(isinstance(messages, list), "the backend reports its messages", actual=messages)
    others = [m for m in messages if isinstance(m, dict) and m.get("role") != "user"]
    ctx.check(len(others) >= 1 and len(messages) == kept_users + 1 + len(others),
              "besides the user messages, the model receives what the compaction item carries",
              expected=f"{kept_users} kept user messages + the new one + at least one summary message",
              actual=messages)


@case("responses.compact.missing-model-400", Level.MUST, source=COMPACT_SRC)
async def compact_missing_model(ctx: CaseContext) -> None:
    """POST /responses/compact without model is a 400 error

    CompactResponseMethodPublicBody: required: [model].
    """
    resp = await post_offered(ctx, COMPACT, {"input": _window()})
    ctx.check_eq(resp.status_code, 400, "status of a compact request without model")
    body = resp.json() if resp.headers.get("content-type", "").startswith("application/json") else None
    ctx.check(isinstance(body, dict) and isinstance(body.get("error"), dict), "an error object",
              actual=resp.text[:300])


@case("responses.compact.unknown-previous-response", Level.MUST, source=COMPACT_SRC)
async def compact_unknown_previous(ctx: CaseContext) -> None:
    """Compacting from an unknown previous_response_id is a 4xx error, not a compaction

    previous_response_id: The unique ID of the previous response to the model.
    """
    resp = await post_offered(ctx, COMPACT, {"model": ctx.model, "input": "hello",
                                              "previous_response_id": UNKNOWN_RESPONSE})
    ctx.check(400 <= resp.status_code < 500, "a 4xx status", expected="4xx", actual=resp.status_code)


