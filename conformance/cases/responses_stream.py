"""``POST /responses`` with ``stream: true``: the server-sent event stream."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from typing import Any

from conformance.context import CaseContext, StreamResult
from conformance.model import Level, Tier, case
from conformance.profiles import TERMINAL_EVENTS

OAI_EV = "openai-openapi.yaml components.schemas.ResponseStreamEvent"
SPECS_README = "published specs, Open Responses streaming (see specs README: `[DONE]` required)"


async def _stream(ctx: CaseContext, input: str = "Say hello.") -> StreamResult:
    """A stream that is at least an HTTP 200 event stream of JSON frames."""
    res = await ctx.create_stream(input)
    ctx.check_eq(res.status, 200, "status of the streaming request")
    ctx.check(
        res.content_type.split(";")[0].strip().lower() == "text/event-stream",
        "content-type of the stream",
        expected="text/event-stream",
        actual=res.content_type,
    )
    return res


@case(
    "responses.stream.content-type",
    level=Level.MUST,
    title="stream=true answers 200 text/event-stream",
    spec="stream: If set to true, the model response data will be streamed to the client as it is "
    "generated using server-sent events.",
    source="openai-openapi.yaml components.schemas.CreateResponse",
)
async def content_type(ctx: CaseContext) -> None:
    await _stream(ctx)


@case(
    "responses.stream.json-frames",
    level=Level.MUST,
    title="Every event's data is a JSON object with a type",
    spec="ResponseStreamEvent: each event is one of the typed event objects (a `type` discriminator).",
    source=OAI_EV,
)
async def json_frames(ctx: CaseContext) -> None:
    res = await _stream(ctx)
    ctx.check(
        not res.bad_frames,
        "every data payload is a JSON object (or [DONE])",
        expected=[],
        actual=res.bad_frames[:5],
    )
    untyped = [p for p in res.payloads if not isinstance(p.get("type"), str)]
    ctx.check(not untyped, "every event object has a string type", expected=[], actual=untyped[:3])
    ctx.check(len(res.payloads) >= 1, "the stream carries events", expected=">= 1", actual=0)


@case(
    "responses.stream.created-first",
    level=Level.MUST,
    title="The first event is response.created",
    spec="response.created: An event that is emitted when a response is created.",
    source="openai-openapi.yaml components.schemas.ResponseCreatedEvent",
)
async def created_first(ctx: CaseContext) -> None:
    res = await _stream(ctx)
    first = res.types[0] if res.types else None
    ctx.check_eq(first, "response.created", "type of the first event")
    created = res.payloads[0].get("response")
    ctx.check(
        isinstance(created, dict) and isinstance(created.get("id"), str),
        "response.created carries the response with its id",
        expected="response object",
        actual=created,
    )


@case(
    "responses.stream.sequence-monotonic",
    level=Level.MUST,
    title="sequence_number is an integer that strictly increases",
    spec="sequence_number: The sequence number for this event.",
    source=OAI_EV,
)
async def sequence_monotonic(ctx: CaseContext) -> None:
    res = await _stream(ctx)
    seqs = [p.get("sequence_number") for p in res.payloads]
    ctx.check(
        all(isinstance(s, int) and not isinstance(s, bool) for s in seqs),
        "every event has an integer sequence_number",
        expected="integers",
        actual=seqs,
    )
    bad = [(a, b) for a, b in itertools.pairwise(seqs) if not b > a]  # type: ignore[operator]
    ctx.check(not bad, "sequence_number strictly increases", expected="increasing", actual=seqs)


@case(
    "responses.stream.sequence-contiguous",
    level=Level.SHOULD,
    title="sequence_number increases by exactly one per event (no gaps)",
    spec="sequence_number: The sequence number of this event, used to order streaming events. "
    "(Resuming a stream names the sequence number to start after: a gap reads as a lost event.)",
    source=OAI_EV,
)
async def sequence_contiguous(ctx: CaseContext) -> None:
    res = await _stream(ctx)
    seqs = [p.get("sequence_number") for p in res.payloads]
    gaps = [(a, b) for a, b in itertools.pairwise(seqs)
            if not (isinstance(a, int) and isinstance(b, int) and b == a + 1)]
    ctx.check(not gaps, "each event's sequence_number is the previous one plus one",
              expected="consecutive integers", actual=seqs)


@case(
    "responses.stream.event-field-matches-type",
    level=Level.SHOULD,
    title="Each frame's SSE event field equals the payload type",
    spec='Streaming examples: `event: response.created` / `data: {"type":"response.created",...}`.',
    source="openai-openapi.yaml paths./responses.post x-oaiMeta examples",
)
async def event_field_matches_type(ctx: CaseContext) -> None:
    res = await _stream(ctx)
    mismatches: list[dict[str, Any]] = []
    for ev, payload in _paired(res):
        if ev != payload.get("type"):
            mismatches.append({"event": ev, "type": payload.get("type")})
    ctx.check(not mismatches, "event field equals data.type", expected=[], actual=mismatches[:5])


def _paired(res: StreamResult) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for e in res.events:
        try:
            value = json.loads(e.data)
        except ValueError:
            continue
        if isinstance(value, dict):
            out.append((e.event, value))
    return out


@case(
    "responses.stream.single-terminal",
    level=Level.MUST,
    title="Exactly one terminal event, and it is the last event",
    spec="response.completed / response.failed / response.incomplete: emitted when the model response "
    "is complete / fails / finishes as incomplete.",
    source=OAI_EV,
)
async def single_terminal(ctx: CaseContext) -> None:
    res = await _stream(ctx)
    terminals = [t for t in res.types if t in TERMINAL_EVENTS]
    ctx.check(len(terminals) == 1, "number of terminal events", expected=1, actual=terminals)
    ctx.check(
        res.types[-1] in TERMINAL_EVENTS,
        "the terminal event is the last JSON event",
        expected=list(TERMINAL_EVENTS),
        actual=res.types[-1],
    )


@case(
    "responses.stream.completed-status",
    level=Level.MUST,
    title="response.completed carries a response with status completed",
    spec="response.completed: Emitted when the model response is complete.",
    source="openai-openapi.yaml components.schemas.ResponseCompletedEvent",
)
async def completed_status(ctx: CaseContext) -> None:
    res = await _stream(ctx)
    done = res.of_type("response.completed")
    ctx.check(len(done) == 1, "one response.completed event", expected=1, actual=len(done))
    response = done[0].get("response")
    ctx.check(
        isinstance(response, dict) and response.get("status") == "completed",
        "response.completed .response.status",
        expected="completed",
        actual=response.get("status") if isinstance(response, dict) else response,
    )


@case(
    "responses.stream.created-in-progress",
    level=Level.SHOULD,
    title="response.created shows the response in_progress (or queued)",
    spec="status: The status of the response generation.",
    source="openai-openapi.yaml components.schemas.ResponseCreatedEvent",
)
async def created_in_progress(ctx: CaseContext) -> None:
    res = await _stream(ctx)
    created = res.of_type("response.created")
    ctx.check(len(created) == 1, "one response.created event", expected=1, actual=len(created))
    status = (created[0].get("response") or {}).get("status")
    ctx.check(
        status in ("in_progress", "queued"),
        "status in response.created",
        expected=["in_progress", "queued"],
        actual=status,
    )


@case(
    "responses.stream.deltas-concatenate",
    level=Level.MUST,
    title="output_text deltas concatenate to the done text and the final output",
    spec="response.output_text.delta: Emitted when there is an additional text delta. "
    "response.output_text.done: Emitted when text content is finalized.",
    source="openai-openapi.yaml components.schemas.ResponseTextDeltaEvent",
)
async def deltas_concatenate(ctx: CaseContext) -> None:
    res = await _stream(ctx)
    deltas: dict[tuple[Any, Any, Any], list[str]] = defaultdict(list)
    for p in res.of_type("response.output_text.delta"):
        deltas[(p.get("item_id"), p.get("output_index"), p.get("content_index"))].append(str(p.get("delta")))
    dones = res.of_type("response.output_text.done")
    ctx.check(len(dones) >= 1, "at least one response.output_text.done", expected=">= 1", actual=0)
    for p in dones:
        key = (p.get("item_id"), p.get("output_index"), p.get("content_index"))
        ctx.check_eq(
            "".join(deltas.get(key, [])),
            p.get("text"),
            f"deltas of part {key} concatenate to output_text.done.text",
        )
    final = res.of_type("response.completed")
    if final and isinstance(final[-1].get("response"), dict):
        ctx.check_eq(
            ctx.output_text(final[-1]["response"]),
            "".join(str(p.get("text")) for p in dones),
            "final response output text equals the done texts",
        )


@case(
    "responses.stream.final-equals-get",
    level=Level.MUST,
    title="The streamed final response equals a later GET",
    spec="GET /responses/{response_id}: Retrieves a model response with the given ID.",
    source="openai-openapi.yaml paths./responses/{response_id}.get",
)
async def final_equals_get(ctx: CaseContext) -> None:
    res = await _stream(ctx)
    final = res.of_type("response.completed")
    ctx.check(len(final) == 1, "one response.completed event", expected=1, actual=len(final))
    streamed = final[0].get("response") or {}
    got = ctx.json_ok(await ctx.get(f"/responses/{streamed.get('id')}"), "GET /responses/{id}")
    keys = ("id", "object", "created_at", "status", "model", "output", "usage")
    ctx.check_eq(
        {k: got.get(k) for k in keys},
        {k: streamed.get(k) for k in keys},
        f"stored response equals the streamed one on {', '.join(keys)}",
    )


@case(
    "responses.stream.last-event-terminated",
    level=Level.MUST,
    title="The final event is terminated by a blank line",
    spec="WHATWG event stream: if the file ends in the middle of an event, before the final empty "
    "line, the incomplete event is not dispatched.",
    source="html.spec.whatwg.org server-sent events, event stream interpretation",
)
async def last_event_terminated(ctx: CaseContext) -> None:
    res = await _stream(ctx)
    ctx.check(
        res.discarded_tail is None,
        "no unterminated event at end of stream (a browser would drop it)",
        expected=None,
        actual=res.discarded_tail,
    )


@case(
    "responses.stream.done-terminator",
    level=Level.MUST,
    title="The stream ends with data: [DONE]",
    spec="Open Responses streaming: the stream is terminated by a final `data: [DONE]` frame.",
    profiles=("openresponses",),
    source=SPECS_README,
)
async def done_terminator(ctx: CaseContext) -> None:
    res = await _stream(ctx)
    last = res.events[-1].data if res.events else None
    ctx.check_eq(last, "[DONE]", "data of the last event")


@case(
    "responses.stream.no-done-terminator",
    level=Level.INFO,
    title="OpenAI Responses streams carry no data: [DONE]",
    spec="OpenAI Responses streams end with the terminal event; unlike Chat Completions there is no "
    "`data: [DONE]` message.",
    profiles=("openai",),
    source=SPECS_README,
)
async def no_done_terminator(ctx: CaseContext) -> None:
    res = await _stream(ctx)
    ctx.check(not res.done_marker, "no [DONE] frame", expected="absent", actual="present")


@case(
    "responses.stream.scripted-deltas-word-pieces",
    level=Level.SHOULD,
    title="Text streams incrementally: one delta per backend chunk",
    spec="response.output_text.delta: Emitted when there is an additional text delta.",
    tier=Tier.SCRIPTED,
    source="openai-openapi.yaml components.schemas.ResponseTextDeltaEvent",
)
async def scripted_deltas_word_pieces(ctx: CaseContext) -> None:
    await ctx.require_scripted()
    res = await _stream(ctx, "[[text:one two three four]]")
    deltas = [p.get("delta") for p in res.of_type("response.output_text.delta")]
    # the scripted backend streams word pieces; a gateway that buffers sends one delta
    ctx.check(len(deltas) >= 4, "the text arrives in several deltas", expected=">= 4 deltas", actual=deltas)
    ctx.check_eq("".join(str(d) for d in deltas), "one two three four", "deltas concatenate to the text")


@case(
    "responses.stream.scripted-backend-drop-fails",
    level=Level.MUST,
    title="A backend that drops the stream ends it with response.failed carrying an error",
    spec="response.failed: An event that is emitted when a response fails. "
    "error: An error object returned when the model fails to generate a Response.",
    tier=Tier.SCRIPTED,
    source="openai-openapi.yaml components.schemas.ResponseFailedEvent, ResponseError",
)
async def scripted_backend_drop_fails(ctx: CaseContext) -> None:
    await ctx.require_scripted()
    # the scripted backend sends two content chunks, then closes the connection without [DONE]
    res = await _stream(ctx, "[[drop]]")
    terminals = [t for t in res.types if t in TERMINAL_EVENTS]
    ctx.check_eq(terminals, ["response.failed"], "terminal events after the backend dropped the stream")
    response = res.of_type("response.failed")[0].get("response") or {}
    ctx.check_eq(response.get("status"), "failed", "response.failed .response.status")
    error = response.get("error")
    ctx.check(
        isinstance(error, dict)
        and isinstance(error.get("code"), str)
        and isinstance(error.get("message"), str),
        "response.error is an object with string code and message",
        expected={"code": "string", "message": "string"},
        actual=error,
    )


@case(
    "responses.stream.scripted-error-event-shape",
    level=Level.MUST,
    title="error stream events have the profile's shape (flat in OpenAI, nested in Open Responses)",
    spec="OpenAI ResponseErrorEvent: required type, code, message, param, sequence_number. "
    "Open Responses ErrorStreamingEvent: required type, sequence_number, error.",
    tier=Tier.SCRIPTED,
    source="openai-openapi.yaml ResponseErrorEvent; openresponses-openapi.json ErrorStreamingEvent",
)
async def scripted_error_event_shape(ctx: CaseContext) -> None:
    await ctx.require_scripted()
    errors = []
    for directive in ("[[drop]]", "[[error:503]]"):
        res = await _stream(ctx, directive)
        errors += res.of_type("error")
    if not errors:
        ctx.skip(
            "the target sent no `error` stream event for a failing backend (it may use response.failed only)"
        )
    for ev in errors:
        missing = [k for k in ctx.profile.error_event_required if k not in ev]
        ctx.check(
            not missing, f"`error` event has the {ctx.profile.name} fields", expected=[], actual=missing
        )
        payload = ev.get("error") if ctx.profile.error_event_nested else ev
        ctx.check(
            isinstance(payload, dict) and isinstance(payload.get("message"), str),
            "the error message is at " + ("error.message" if ctx.profile.error_event_nested else "message"),
            expected="string",
            actual=payload,
        )
