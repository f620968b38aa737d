"""POST /responses without streaming: the shape of the Response object.

``POST /responses`` without streaming: the shape of the Response object."""

from __future__ import annotations

import time
from typing import Any

from conformance.cases import _openresponses as ors
from conformance.context import CREATE_PROBE, CaseContext
from conformance.model import Level, Tier, case
from conformance.profiles import RESPONSE_STATUSES

OAI = "openai-openapi.yaml components.schemas.Response"
ORS = "openresponses-openapi.json components.schemas.ResponseResource"


@case(
    CREATE_PROBE,
    Level.MUST,
    source="openai-openapi.yaml paths./responses.post; openresponses-openapi.json paths./responses.post",
    probe=True,
    hint="a plain non-streaming POST /responses must answer 200 with a Response object for the "
    "cases that create one to run",
)
async def probe_create(ctx: CaseContext) -> None:
    """A plain non-streaming create answers 200 with a JSON object (the probe of creating a response)

    POST /responses: Creates a model response. (responses: 200 OK with a Response object)
    """
    # a case whose own create later fails this same check with the same answer is BLOCKED by
    # this probe (CaseContext.create_ok) rather than repeating its FAIL
    await ctx.create_ok()


@case("responses.create.required-fields", Level.MUST, source=f"{OAI}; {ORS}")
async def required_fields(ctx: CaseContext) -> None:
    """Response carries every field the profile requires

    Response `required`: OpenAI lists 14 fields, Open Responses (ResponseResource) 31.
    """
    resp = await ctx.create_ok()
    missing = [f for f in ctx.profile.response_required if f not in resp]
    ctx.check(
        not missing,
        f"all {len(ctx.profile.response_required)} required fields of profile {ctx.profile.name} are present",
        expected=[],
        actual=missing,
    )


@case("responses.create.object-type", Level.MUST, source=OAI)
async def object_type(ctx: CaseContext) -> None:
    """object is "response"

    object: The object type of this resource - always set to `response`.
    """
    resp = await ctx.create_ok()
    ctx.check_eq(resp.get("object"), "response", "object field")


@case("responses.create.id-prefix", Level.SHOULD, source=OAI)
async def id_prefix(ctx: CaseContext) -> None:
    """Response id is a string starting with resp_

    id: Unique identifier for this Response. (examples: `resp_677efb5139a88190b512bc3fef8e535d`)
    """
    resp = await ctx.create_ok()
    rid = resp.get("id")
    ctx.check(
        isinstance(rid, str) and rid.startswith("resp_") and len(rid) > len("resp_"),
        "id is a string with prefix resp_",
        expected="resp_...",
        actual=rid,
    )


@case("responses.create.id-unique", Level.MUST, source=OAI)
async def id_unique(ctx: CaseContext) -> None:
    """Two responses get different ids

    id: Unique identifier for this Response.
    """
    a = await ctx.create_ok()
    b = await ctx.create_ok()
    ctx.check(
        a.get("id") != b.get("id"),
        "ids of two responses differ",
        expected="two distinct ids",
        actual=[a.get("id"), b.get("id")],
    )


@case("responses.create.created-at", Level.MUST, source=OAI)
async def created_at(ctx: CaseContext) -> None:
    """created_at is an integer Unix timestamp in seconds

    created_at: Unix timestamp (in seconds) of when this Response was created.
    """
    before = time.time()
    resp = await ctx.create_ok()
    value = resp.get("created_at")
    ctx.check(
        isinstance(value, int) and not isinstance(value, bool),
        "created_at is an integer",
        expected="integer",
        actual=value,
    )
    assert isinstance(value, int)
    # seconds, not milliseconds: allow a day of clock skew either way
    ctx.check(
        abs(value - before) < 86_400,
        "created_at is close to now (seconds, not milliseconds)",
        expected=f"about {int(before)}",
        actual=value,
    )


@case("responses.create.status-enum", Level.MUST, source=OAI)
async def status_enum(ctx: CaseContext) -> None:
    """status is one of the defined values

    status: The status of the response generation. One of `completed`, `failed`, `in_progress`, `cancelled`,
    `queued`, or `incomplete`.
    """
    resp = await ctx.create_ok()
    ctx.check(
        resp.get("status") in RESPONSE_STATUSES,
        "status value",
        expected=list(RESPONSE_STATUSES),
        actual=resp.get("status"),
    )


@case("responses.create.status-completed", Level.SHOULD, source=OAI)
async def status_completed(ctx: CaseContext) -> None:
    """A plain successful request ends with status completed

    response.completed: Emitted when the model response is complete.
    """
    resp = await ctx.create_ok()
    ctx.check_eq(resp.get("status"), "completed", "status of a finished, non-background response")


@case("responses.create.model-echo", Level.SHOULD, source=OAI)
async def model_echo(ctx: CaseContext) -> None:
    """model names the model that was asked for

    model: Model ID used to generate the response, like `gpt-4o` or `o3`.
    """
    resp = await ctx.create_ok()
    model = resp.get("model")
    # providers may resolve an alias to a dated snapshot (gpt-4o -> gpt-4o-2024-08-06)
    ctx.check(
        isinstance(model, str) and model.startswith(ctx.model),
        "model echoes the requested model",
        expected=ctx.model,
        actual=model,
    )


@case(
    "responses.create.usage-arithmetic",
    Level.MUST,
    source="openai-openapi.yaml components.schemas.ResponseUsage",
)
async def usage_arithmetic(ctx: CaseContext) -> None:
    """usage counts are integers and total = input + output

    usage: Represents token usage details including input tokens, output tokens, a breakdown of output tokens,
    and the total tokens used.
    """
    resp = await ctx.create_ok()
    usage = resp.get("usage")
    if usage is None:
        ctx.unimplemented("the target reports no usage")
    ctx.check(isinstance(usage, dict), "usage is an object", expected="object", actual=usage)
    assert isinstance(usage, dict)
    counts = {k: usage.get(k) for k in ("input_tokens", "output_tokens", "total_tokens")}
    ctx.check(
        all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in counts.values()),
        "input_tokens, output_tokens, total_tokens are non-negative integers",
        expected="integers >= 0",
        actual=counts,
    )
    total, inp, out = int(usage["total_tokens"]), int(usage["input_tokens"]), int(usage["output_tokens"])
    ctx.check(
        total == inp + out, "total_tokens = input_tokens + output_tokens", expected=inp + out, actual=total
    )


def _messages(resp: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for i in resp.get("output") or [] if isinstance(i, dict) and i.get("type") == "message"]


@case(
    "responses.create.output-message-shape",
    Level.MUST,
    source="openai-openapi.yaml components.schemas.OutputMessage",
    levels={"openresponses": ors.ITEM_REQUIRED_FIELDS.level()},
)
async def output_message_shape(ctx: CaseContext) -> None:
    """output holds an assistant message item with id, status and content

    OutputMessage: required `id`, `type` (`message`), `role` (`assistant`), `content`, `status`.
    """
    resp = await ctx.create_ok()
    output = resp.get("output")
    ctx.check(isinstance(output, list), "output is an array", expected="array", actual=type(output).__name__)
    messages = _messages(resp)
    ctx.check(
        len(messages) >= 1,
        "output contains a message item",
        expected=">= 1 message",
        actual=[i.get("type") for i in output or [] if isinstance(i, dict)],
    )
    for msg in messages:
        ctx.check_eq(msg.get("role"), "assistant", "message role")
        ctx.check(
            isinstance(msg.get("id"), str) and msg["id"] != "",
            "message has a string id",
            expected="non-empty string",
            actual=msg.get("id"),
        )
        ctx.check(
            msg.get("status") in ("in_progress", "completed", "incomplete"),
            "message status",
            expected=["in_progress", "completed", "incomplete"],
            actual=msg.get("status"),
        )
        ctx.check(
            isinstance(msg.get("content"), list),
            "message content is an array",
            expected="array",
            actual=msg.get("content"),
        )


@case(
    "responses.create.output-text-part-shape",
    Level.MUST,
    source="openai-openapi.yaml components.schemas.OutputTextContent",
)
async def output_text_part_shape(ctx: CaseContext) -> None:
    """output_text parts carry text and annotations

    OutputTextContent: required `type` (`output_text`), `text`, `annotations`.
    """
    resp = await ctx.create_ok()
    parts = [p for m in _messages(resp) for p in m.get("content") or []]
    ctx.check(len(parts) >= 1, "the message has at least one content part", expected=">= 1", actual=0)
    for part in parts:
        ctx.check(
            isinstance(part, dict) and part.get("type") in ("output_text", "refusal"),
            "content part type",
            expected=["output_text", "refusal"],
            actual=part,
        )
        if part.get("type") == "output_text":
            ctx.check(
                isinstance(part.get("text"), str),
                "output_text.text is a string",
                expected="string",
                actual=part.get("text"),
            )
            ctx.check(
                isinstance(part.get("annotations"), list),
                "output_text.annotations is an array",
                expected="array",
                actual=part.get("annotations"),
            )


@case(
    "responses.create.content-type-json", Level.MUST, source="openai-openapi.yaml paths./responses.post",
    levels={"openresponses": ors.NON_STREAMING_JSON.level()},
)
async def content_type_json(ctx: CaseContext) -> None:
    """A non-streaming answer is application/json

    POST /responses 200: content application/json, schema Response.
    """
    resp = await ctx.create()
    ctx.check_eq(resp.status_code, 200, "status")
    ctype = resp.headers.get("content-type", "")
    ctx.check(
        ctype.split(";")[0].strip().lower() == "application/json",
        "content-type",
        expected="application/json",
        actual=ctype,
    )


@case(
    "responses.create.input-message-list",
    Level.MUST,
    source="openai-openapi.yaml components.schemas.CreateResponse",
)
async def input_message_list(ctx: CaseContext) -> None:
    """input given as a list of messages is accepted

    input: Text, image, or file inputs to the model, used to generate a response.
    """
    resp = await ctx.create_ok([{"role": "user", "content": "Say hello."}])
    ctx.check_eq(resp.get("object"), "response", "object field")


@case("responses.create.echo-parameters", Level.SHOULD, source=OAI)
async def echo_parameters(ctx: CaseContext) -> None:
    """instructions, metadata, temperature and top_p are echoed

    Response carries `instructions`, `metadata`, `temperature`, `top_p` (required fields): the values the
    response was created with.
    """
    sent = {
        "instructions": "Answer briefly.",
        "metadata": {"suite": "conformance"},
        "temperature": 0.5,
        "top_p": 0.9,
    }
    resp = await ctx.create_ok(**sent)
    got = {k: resp.get(k) for k in sent}
    ctx.check(got == sent, "request parameters echoed", expected=sent, actual=got)


@case("responses.create.openapi-valid", Level.MUST, source=f"{OAI}; {ORS}")
async def openapi_valid(ctx: CaseContext) -> None:
    """The Response validates against the profile's published schema

    POST /responses 200: schema Response (OpenAI) / ResponseResource (Open Responses).
    """
    if ctx.config.validator is None:
        ctx.skip("schema validation is off (--no-openapi)")
    resp = await ctx.create_ok()
    ctx.validate(resp, ctx.profile.response_schema)


@case("responses.create.scripted-exact-text", Level.MUST, tier=Tier.SCRIPTED, source=OAI)
async def scripted_exact_text(ctx: CaseContext) -> None:
    """The model's text reaches the client unchanged

    output: An array of content items generated by the model.
    """
    await ctx.require_scripted()
    text = "alpha beta  gamma \u00e9\u4e2d\U0001f600"
    resp = await ctx.create_ok(f"[[text:{text}]]")
    ctx.check_eq(ctx.output_text(resp), text, "output text equals the backend's text")
