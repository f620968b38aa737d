"""Every object, list, error and stream event validates against the profile's published schema.

Each case produces one kind of traffic and validates everything it received against the schema
the profile's document gives it: the schemas the harness ships (``conformance/schemas/``,
extracted from the published documents) or ``--openapi PATH``. One case per kind, so one
deviation (a field missing from every delta, say) is one FAIL listing every place it showed,
not a FAIL in every case that happened to stream."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from conformance.cases import _openresponses as ors
from conformance.cases._stateful import OAI, create_store, json_of, require_support, upload_ok
from conformance.context import CaseContext, StreamResult
from conformance.model import Level, Row, Tier, case, family

ORS = "openresponses-openapi.json"

#: (where it came from, the object, the schema it must validate against)
Sample = tuple[str, Any, str]


def _validate_all(ctx: CaseContext, samples: list[Sample]) -> None:
    """One check over every sample: each schema error is listed with where it was seen."""
    validator = ctx.config.validator
    if validator is None:
        ctx.skip("schema validation is off (--no-openapi)")
        return
    problems: list[str] = []
    for where, obj, schema in samples:
        if not validator.has(schema):
            problems.append(f"{where}: schema {schema!r} is not in {validator.path}")
            continue
        problems += [f"{where} ({schema}) {err}" for err in validator.errors(obj, schema)]
    ctx.check(
        not problems,
        f"{len(samples)} objects validate against {validator.path}",
        expected="no schema errors",
        actual=problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else []),
    )


def _event_samples(ctx: CaseContext, res: StreamResult, what: str) -> list[Sample]:
    validator = ctx.config.validator
    known = validator.event_schemas if validator is not None else {}
    samples: list[Sample] = []
    unknown: list[str] = []
    for i, ev in enumerate(res.payloads):
        kind = str(ev.get("type"))
        if kind in known:
            samples.append((f"{what} event #{i} {kind}", ev, known[kind]))
        else:
            unknown.append(kind)
    if res.status != 200 or not samples:
        # whether there must be a stream is the stream cases' verdict, not a schema finding
        ctx.skip(f"{what}: no event stream to validate (status {res.status}, {len(res.payloads)} events)")
    if unknown:
        # An event type the document does not define is not judged here (extensions exist);
        # the stream cases judge the event vocabulary.
        ctx.note(f"{what}: event types the document does not define: {sorted(set(unknown))}")
    return samples


# --------------------------------------------------------------------------- stream events


@dataclass(frozen=True)
class Streamed:
    input: str
    scripted: bool = False
    tools: tuple[dict[str, Any], ...] = ()


WEATHER = {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}

STREAMS = [
    Row(
        "schemas.stream.text-events",
        Level.MUST,
        "every event of a text stream validates against its event schema",
        "OpenAI: ResponseStreamEvent lists each event's schema (e.g. ResponseTextDeltaEvent requires "
        "type, item_id, output_index, content_index, delta, sequence_number, logprobs). Open "
        "Responses: one *StreamingEvent schema per event type.",
        Streamed("Say hello."),
        source=f"{OAI} components.schemas.ResponseStreamEvent; {ORS} components.schemas.*StreamingEvent",
        levels={"openresponses": ors.NON_NULLABLE_HAVE_VALUE.level()},
    ),
    Row(
        "schemas.stream.function-call-events",
        Level.MUST,
        "every event of a function-call stream validates against its event schema",
        "ResponseFunctionCallArgumentsDeltaEvent / ResponseFunctionCallArgumentsDoneEvent, "
        "ResponseOutputItemAddedEvent with a FunctionToolCall item.",
        Streamed('[[tool:get_weather:{"city":"Paris"}]]', scripted=True, tools=(WEATHER,)),
        source=f"{OAI} components.schemas.ResponseStreamEvent; {ORS} components.schemas.*StreamingEvent",
        tier=Tier.SCRIPTED, levels={"openresponses": ors.NON_NULLABLE_HAVE_VALUE.level()},
    ),
    Row(
        "schemas.stream.refusal-events",
        Level.MUST,
        "every event of a refusal stream validates against its event schema",
        "ResponseRefusalDeltaEvent / ResponseRefusalDoneEvent and the refusal content part.",
        Streamed("[[refusal]]", scripted=True),
        source=f"{OAI} components.schemas.ResponseStreamEvent; {ORS} components.schemas.*StreamingEvent",
        tier=Tier.SCRIPTED,
    ),
    Row(
        "schemas.stream.failed-events",
        Level.MUST,
        "every event of a stream the backend breaks validates against its event schema",
        "ResponseFailedEvent carries a Response whose error is a ResponseError; an error event is "
        "ResponseErrorEvent (OpenAI) / ErrorStreamingEvent (Open Responses).",
        Streamed("[[drop]]", scripted=True),
        source=f"{OAI} components.schemas.ResponseFailedEvent; "
        f"{ORS} components.schemas.ResponseFailedStreamingEvent",
        tier=Tier.SCRIPTED,
        provokes_backend_failure=True,
    ),
]


@family(STREAMS)
async def stream_events(ctx: CaseContext, streamed: Streamed) -> None:
    if streamed.scripted:
        await ctx.require_scripted()
    extra: dict[str, Any] = {"tools": list(streamed.tools)} if streamed.tools else {}
    res = await ctx.create_stream(streamed.input, **extra)
    _validate_all(ctx, _event_samples(ctx, res, "stream"))


@case(
    "schemas.stream.failed-closes-items",
    Level.MUST,
    tier=Tier.SCRIPTED,
    provokes_backend_failure=True,
    source=f"{OAI} components.schemas.ResponseFailedEvent, OutputMessage.status",
)
async def failed_closes_items(ctx: CaseContext) -> None:
    """A failed stream leaves no output item in_progress

    status: The status of the message input. One of in_progress, completed, or incomplete.
    Populated when input items are returned via API. A response that ended (response.failed)
    has no item still being generated: each is completed or incomplete.
    """
    await ctx.require_scripted()
    res = await ctx.create_stream("[[drop]]")
    failed = res.of_type("response.failed")
    if not failed:
        ctx.skip("the stream did not end in response.failed (the stream cases judge that)")
    output = (failed[-1].get("response") or {}).get("output") or []
    stuck = [i.get("id") for i in output if isinstance(i, dict) and i.get("status") == "in_progress"]
    ctx.check(not stuck, "no output item of the failed response is in_progress", expected=[], actual=stuck)


# --------------------------------------------------------------------------- objects, lists, errors


@dataclass(frozen=True)
class Collected:
    collect: Callable[[CaseContext], Awaitable[list[Sample]]]


async def _responses(ctx: CaseContext) -> list[Sample]:
    schema = ctx.profile.response_schema
    created = await ctx.create_ok(metadata={"k": "v"})
    samples: list[Sample] = [("POST /responses", created, schema)]
    got = await ctx.get(f"/responses/{created.get('id')}")
    if got.status_code == 200:
        samples.append(("GET /responses/{id}", json_of(got), schema))
    return samples


async def _lists(ctx: CaseContext) -> list[Sample]:
    created = await ctx.create_ok()
    items = await ctx.get(f"/responses/{created.get('id')}/input_items")
    require_support(ctx, items, "GET /responses/{id}/input_items")
    return [("GET /responses/{id}/input_items", json_of(items), "ResponseItemList")]


async def _errors(ctx: CaseContext) -> list[Sample]:
    samples: list[Sample] = []
    for where, resp in (
        ("POST /responses with temperature 5",
         await ctx.post("/responses", json=ctx.body("Hi", temperature=5))),
        ("GET /responses/{unknown}", await ctx.get("/responses/resp_doesnotexist0000000000000")),
        ("POST /responses without model", await ctx.post("/responses", json={"input": "Hi"})),
    ):
        # whether each request must be refused is the errors.* cases' to judge; this case
        # validates the error answers it gets
        if resp.status_code < 400:
            ctx.note(f"{where}: answered {resp.status_code}, no error object to validate")
            continue
        samples.append((f"{where} -> {resp.status_code}", json_of(resp), "ErrorResponse"))
    if not samples:
        ctx.skip("no request was answered with an error, so no error object to validate "
                 "(errors.params.temperature-range, errors.unknown-response-404 and errors.missing-model "
                 "judge whether they must be refused)")
    return samples


async def _files(ctx: CaseContext) -> list[Sample]:
    file = await upload_ok(ctx)
    listed = await ctx.get("/files")
    return [("POST /files", file, "OpenAIFile"), ("GET /files", json_of(listed), "ListFilesResponse")]


async def _vector_stores(ctx: CaseContext) -> list[Sample]:
    store = await create_store(ctx, name="schemas")
    stores = await ctx.get("/vector_stores")
    return [("POST /vector_stores", store, "VectorStoreObject"),
            ("GET /vector_stores", json_of(stores), "ListVectorStoresResponse")]


async def _conversations(ctx: CaseContext) -> list[Sample]:
    first = {"type": "message", "role": "user", "content": "Hi"}
    conv = await ctx.post("/conversations", json={"items": [first]})
    require_support(ctx, conv, "POST /conversations")
    created = ctx.json_ok(conv, "POST /conversations")
    items = await ctx.get(f"/conversations/{created.get('id')}/items")
    return [("POST /conversations", created, "ConversationResource"),
            ("GET /conversations/{id}/items", json_of(items), "ConversationItemList")]


COLLECTED = [
    Row(
        "schemas.objects.response",
        Level.MUST,
        "created and retrieved Responses validate against the profile's Response schema",
        "POST /responses 200 and GET /responses/{response_id} 200: Response (OpenAI) / "
        "ResponseResource (Open Responses).",
        Collected(_responses),
        source=f"{OAI} paths./responses; {ORS} paths./responses",
    ),
    Row(
        "schemas.lists.input-items",
        Level.MUST,
        "the input items list validates against ResponseItemList",
        "GET /responses/{response_id}/input_items 200: ResponseItemList.",
        Collected(_lists),
        source=f"{OAI} paths./responses/{{response_id}}/input_items",
        profiles=("openai",),
    ),
    Row(
        "schemas.errors.error-response",
        Level.MUST,
        "4xx answers validate against ErrorResponse",
        "ErrorResponse: required error (Error: required code, message, param, type).",
        Collected(_errors),
        source=f"{OAI} components.schemas.ErrorResponse",
        profiles=("openai",),
    ),
    Row(
        "schemas.objects.files",
        Level.MUST,
        "an uploaded file and the files list validate against their schemas",
        "POST /files 200: OpenAIFile. GET /files 200: ListFilesResponse.",
        Collected(_files),
        source=f"{OAI} paths./files",
        profiles=("openai",),
    ),
    Row(
        "schemas.objects.vector-stores",
        Level.MUST,
        "a vector store and the vector stores list validate against their schemas",
        "POST /vector_stores 200: VectorStoreObject. GET /vector_stores 200: ListVectorStoresResponse.",
        Collected(_vector_stores),
        source=f"{OAI} paths./vector_stores",
        profiles=("openai",),
    ),
    Row(
        "schemas.objects.conversations",
        Level.MUST,
        "a conversation and its items list validate against their schemas",
        "POST /conversations 200: ConversationResource. GET /conversations/{conversation_id}/items "
        "200: ConversationItemList.",
        Collected(_conversations),
        source=f"{OAI} paths./conversations",
        profiles=("openai",),
    ),
]


@family(COLLECTED)
async def collected(ctx: CaseContext, what: Collected) -> None:
    _validate_all(ctx, await what.collect(ctx))
