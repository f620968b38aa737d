"""POST /responses with stream: true: event grammar, item lifecycle, finish states, failures.

``POST /responses`` with ``stream: true``: the event stream's grammar, the item and
content-part lifecycle, function-call argument streaming, finish states and failures."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from typing import Any

from conformance.cases import _openresponses as ors
from conformance.cases._support import OAI, TOOLS
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
    Level.MUST,
    source="openai-openapi.yaml components.schemas.CreateResponse",
    levels={"openresponses": ors.STREAMING_CONTENT_TYPE.level()},
)
async def content_type(ctx: CaseContext) -> None:
    """stream=true answers 200 text/event-stream

    stream: If set to true, the model response data will be streamed to the client as it is generated using
    server-sent events.
    """
    await _stream(ctx)


@case(
    "responses.stream.json-frames", Level.MUST, source=OAI_EV,
    levels={"openresponses": ors.cite(ors.STREAMING_CONTENT_TYPE, ors.EVENT_MINIMUM_FIELDS)},
)
async def json_frames(ctx: CaseContext) -> None:
    """Every event's data is a JSON object with a type

    ResponseStreamEvent: each event is one of the typed event objects (a `type` discriminator).
    """
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
    Level.MUST,
    source="openai-openapi.yaml components.schemas.ResponseCreatedEvent",
)
async def created_first(ctx: CaseContext) -> None:
    """The first event is response.created

    response.created: An event that is emitted when a response is created.
    """
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
    "responses.stream.sequence-monotonic", Level.MUST, source=OAI_EV,
    levels={"openresponses": ors.EVENT_MINIMUM_FIELDS.level()},
)
async def sequence_monotonic(ctx: CaseContext) -> None:
    """sequence_number is an integer that strictly increases

    sequence_number: The sequence number for this event.
    """
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


@case("responses.stream.sequence-contiguous", Level.SHOULD, source=OAI_EV)
async def sequence_contiguous(ctx: CaseContext) -> None:
    """sequence_number increases by exactly one per event (no gaps)

    sequence_number: The sequence number of this event, used to order streaming events. (Resuming a stream
    names the sequence number to start after: a gap reads as a lost event.)
    """
    res = await _stream(ctx)
    seqs = [p.get("sequence_number") for p in res.payloads]
    gaps = [
        (a, b)
        for a, b in itertools.pairwise(seqs)
        if not (isinstance(a, int) and isinstance(b, int) and b == a + 1)
    ]
    ctx.check(
        not gaps,
        "each event's sequence_number is the previous one plus one",
        expected="consecutive integers",
        actual=seqs,
    )


@case(
    "responses.stream.event-field-matches-type",
    Level.SHOULD,
    source="openai-openapi.yaml paths./responses.post x-oaiMeta examples",
    levels={"openresponses": ors.EVENT_MATCHES_TYPE.level()},
)
async def event_field_matches_type(ctx: CaseContext) -> None:
    """Each frame's SSE event field equals the payload type

    Streaming examples: `event: response.created` / `data: {"type":"response.created",...}`.
    """
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


@case("responses.stream.single-terminal", Level.MUST, source=OAI_EV)
async def single_terminal(ctx: CaseContext) -> None:
    """Exactly one terminal event, and it is the last event

    response.completed / response.failed / response.incomplete: emitted when the model response is complete /
    fails / finishes as incomplete.
    """
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
    Level.MUST,
    source="openai-openapi.yaml components.schemas.ResponseCompletedEvent",
)
async def completed_status(ctx: CaseContext) -> None:
    """response.completed carries a response with status completed

    response.completed: Emitted when the model response is complete.
    """
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
    Level.SHOULD,
    source="openai-openapi.yaml components.schemas.ResponseCreatedEvent",
)
async def created_in_progress(ctx: CaseContext) -> None:
    """response.created shows the response in_progress (or queued)

    status: The status of the response generation.
    """
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
    Level.MUST,
    source="openai-openapi.yaml components.schemas.ResponseTextDeltaEvent",
)
async def deltas_concatenate(ctx: CaseContext) -> None:
    """output_text deltas concatenate to the done text and the final output

    response.output_text.delta: Emitted when there is an additional text delta. response.output_text.done:
    Emitted when text content is finalized.
    """
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
    Level.MUST,
    source="openai-openapi.yaml paths./responses/{response_id}.get",
)
async def final_equals_get(ctx: CaseContext) -> None:
    """The streamed final response equals a later GET

    GET /responses/{response_id}: Retrieves a model response with the given ID.
    """
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
    Level.MUST,
    source="html.spec.whatwg.org server-sent events, event stream interpretation",
)
async def last_event_terminated(ctx: CaseContext) -> None:
    """The final event is terminated by a blank line

    WHATWG event stream: if the file ends in the middle of an event, before the final empty line, the
    incomplete event is not dispatched.
    """
    res = await _stream(ctx)
    ctx.check(
        res.discarded_tail is None,
        "no unterminated event at end of stream (a browser would drop it)",
        expected=None,
        actual=res.discarded_tail,
    )


@case(
    "responses.stream.done-terminator", Level.MUST, profiles=("openresponses",), source=SPECS_README,
    levels={"openresponses": ors.DONE_TERMINATOR.level()},
)
async def done_terminator(ctx: CaseContext) -> None:
    """The stream ends with data: [DONE]

    Open Responses streaming: the stream is terminated by a final `data: [DONE]` frame.
    """
    res = await _stream(ctx)
    last = res.events[-1].data if res.events else None
    ctx.check_eq(last, "[DONE]", "data of the last event")


@case(
    "responses.stream.no-event-id",
    Level.SHOULD,
    profiles=("openresponses",),
    spec=ors.NO_EVENT_ID.text,
    source=ors.NO_EVENT_ID.source,
    levels={"openresponses": ors.NO_EVENT_ID.level()},
)
async def no_event_id(ctx: CaseContext) -> None:
    """No event of the stream carries an SSE id field"""
    res = await _stream(ctx)
    with_id = [{"id": e.id, "event": e.event} for e in res.events if e.id]
    ctx.check(not with_id, "no event sets an SSE id", expected=[], actual=with_id[:5])


@case("responses.stream.no-done-terminator", Level.INFO, profiles=("openai",), source=SPECS_README)
async def no_done_terminator(ctx: CaseContext) -> None:
    """OpenAI Responses streams carry no data: [DONE]

    OpenAI Responses streams end with the terminal event; unlike Chat Completions there is no `data: [DONE]`
    message.
    """
    res = await _stream(ctx)
    ctx.check(not res.done_marker, "no [DONE] frame", expected="absent", actual="present")


@case(
    "responses.stream.scripted-deltas-word-pieces",
    Level.SHOULD,
    tier=Tier.SCRIPTED,
    source="openai-openapi.yaml components.schemas.ResponseTextDeltaEvent",
)
async def scripted_deltas_word_pieces(ctx: CaseContext) -> None:
    """Text streams incrementally: one delta per backend chunk

    response.output_text.delta: Emitted when there is an additional text delta.
    """
    await ctx.require_scripted()
    res = await _stream(ctx, "[[text:one two three four]]")
    deltas = [p.get("delta") for p in res.of_type("response.output_text.delta")]
    # the scripted backend streams word pieces; a gateway that buffers sends one delta
    ctx.check(len(deltas) >= 4, "the text arrives in several deltas", expected=">= 4 deltas", actual=deltas)
    ctx.check_eq("".join(str(d) for d in deltas), "one two three four", "deltas concatenate to the text")


@case(
    "responses.stream.scripted-backend-drop-fails",
    Level.MUST,
    tier=Tier.SCRIPTED,
    provokes_backend_failure=True,
    source="openai-openapi.yaml components.schemas.ResponseFailedEvent, ResponseError",
)
async def scripted_backend_drop_fails(ctx: CaseContext) -> None:
    """A backend that drops the stream ends it with response.failed carrying an error

    response.failed: An event that is emitted when a response fails. error: An error object returned when the
    model fails to generate a Response.
    """
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
    Level.MUST,
    tier=Tier.SCRIPTED,
    provokes_backend_failure=True,
    source="openai-openapi.yaml ResponseErrorEvent; openresponses-openapi.json ErrorStreamingEvent",
)
async def scripted_error_event_shape(ctx: CaseContext) -> None:
    """error stream events have the profile's shape (flat in OpenAI, nested in Open Responses)

    OpenAI ResponseErrorEvent: required type, code, message, param, sequence_number. Open Responses
    ErrorStreamingEvent: required type, sequence_number, error.
    """
    await ctx.require_scripted()
    errors = []
    for directive in ("[[drop]]", "[[error:503]]"):
        res = await ctx.create_stream(directive)
        if res.status != 200:
            # A failure before the first byte may be answered as a JSON error instead of a stream
            # (no event to judge here); it must still be a server error, never a success.
            what = f"status of a stream for {directive}"
            ctx.check(res.status >= 500, what, expected=">= 500", actual=res.status)
            continue
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


EV = f"{OAI} components.schemas"
_ADDED = "response.output_item.added: Emitted when a new output item is added."
_DONE = "response.output_item.done: Emitted when an output item is marked done."
_PART = (
    "response.content_part.added: Emitted when a new content part is added. "
    "response.content_part.done: Emitted when a content part is done."
)
_ARGS = (
    "response.function_call_arguments.delta: Emitted when there is a partial function-call arguments "
    "delta. response.function_call_arguments.done: Emitted when function-call arguments are finalized."
)
_TERMINAL_STATUS = {
    "response.completed": "completed",
    "response.failed": "failed",
    "response.incomplete": "incomplete",
}


async def _stream_200(ctx: CaseContext, input: Any = "Say hello.", **extra: Any) -> StreamResult:
    res = await ctx.create_stream(input, **extra)
    ctx.check_eq(res.status, 200, "status of the streaming request")
    return res


def _indexed(res: StreamResult) -> list[tuple[int, dict[str, Any]]]:
    return list(enumerate(res.payloads))


def _final(ctx: CaseContext, res: StreamResult) -> dict[str, Any]:
    terminal = [p for p in res.payloads if p.get("type") in TERMINAL_EVENTS]
    ctx.check(len(terminal) == 1, "one terminal event", expected=1, actual=[p.get("type") for p in terminal])
    response = terminal[0].get("response")
    ctx.check(
        isinstance(response, dict),
        "the terminal event carries the response",
        expected="object",
        actual=response,
    )
    return response if isinstance(response, dict) else {}


def _positions(res: StreamResult, event_type: str, **match: Any) -> list[int]:
    return [
        i
        for i, p in _indexed(res)
        if p.get("type") == event_type and all(p.get(k) == v for k, v in match.items())
    ]


@case(
    "responses.stream.items.added-before-deltas",
    Level.MUST,
    spec=_ADDED,
    source=f"{EV}.ResponseOutputItemAddedEvent", levels={"openresponses": ors.ITEM_ADDED_FIRST.level()},
)
async def added_before_deltas(ctx: CaseContext) -> None:
    """output_item.added comes before the first text delta of its item"""
    res = await _stream_200(ctx)
    deltas = _positions(res, "response.output_text.delta")
    ctx.check(deltas, "the stream has text deltas", expected=">= 1", actual=res.types)
    first = res.payloads[deltas[0]]
    added = _positions(res, "response.output_item.added", output_index=first.get("output_index"))
    ctx.check(
        added and added[0] < deltas[0],
        "output_item.added of the delta's output_index precedes the first delta",
        expected=f"added before event #{deltas[0]}",
        actual=res.types,
    )


@case(
    "responses.stream.items.done-after-deltas",
    Level.MUST,
    spec=_DONE,
    source=f"{EV}.ResponseOutputItemDoneEvent",
)
async def done_after_deltas(ctx: CaseContext) -> None:
    """output_item.done comes after the last text delta of its item"""
    res = await _stream_200(ctx)
    deltas = _positions(res, "response.output_text.delta")
    ctx.check(deltas, "the stream has text deltas", expected=">= 1", actual=res.types)
    last = res.payloads[deltas[-1]]
    done = _positions(res, "response.output_item.done", output_index=last.get("output_index"))
    ctx.check(
        done and done[0] > deltas[-1],
        "output_item.done of the delta's output_index follows the last delta",
        expected=f"done after event #{deltas[-1]}",
        actual=res.types,
    )


@case(
    "responses.stream.items.content-part-brackets",
    Level.MUST,
    spec=_PART,
    source=f"{EV}.ResponseContentPartAddedEvent",
    levels={"openresponses": ors.cite(ors.CONTENT_PART_BACKED, ors.CONTENT_PART_ADDED_FIRST)},
)
async def content_part_brackets(ctx: CaseContext) -> None:
    """content_part.added and content_part.done bracket the text deltas of their part"""
    res = await _stream_200(ctx)
    deltas = _positions(res, "response.output_text.delta")
    ctx.check(deltas, "the stream has text deltas", expected=">= 1", actual=res.types)
    d = res.payloads[deltas[0]]
    key = {"item_id": d.get("item_id"), "content_index": d.get("content_index")}
    added = _positions(res, "response.content_part.added", **key)
    done = _positions(res, "response.content_part.done", **key)
    ctx.check(
        len(added) == 1 and len(done) == 1 and added[0] < deltas[0] and deltas[-1] < done[0],
        f"one content_part.added before and one content_part.done after the deltas of {key}",
        expected="added < deltas < done",
        actual=res.types,
    )


@case("responses.stream.items.ids-consistent", Level.MUST, source=f"{EV}.ResponseTextDeltaEvent")
async def ids_consistent(ctx: CaseContext) -> None:
    """Deltas name the item_id and output_index announced by output_item.added

    response.output_text.delta item_id: The ID of the output item that the text delta was added to.
    output_index: The index of the output item that the text delta was added to.
    """
    res = await _stream_200(ctx)
    announced = {
        p.get("output_index"): (p.get("item") or {}).get("id")
        for p in res.of_type("response.output_item.added")
    }
    bad = [
        {k: p.get(k) for k in ("type", "item_id", "output_index")}
        for p in res.payloads
        if p.get("type")
        in (
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.added",
            "response.content_part.done",
        )
        and announced.get(p.get("output_index"), "<none>") != p.get("item_id")
    ]
    ctx.check(
        not bad,
        "every text/part event's (output_index, item_id) matches an output_item.added",
        expected=announced,
        actual=bad[:5],
    )


@case("responses.stream.items.done-item-equals-final", Level.MUST, source=f"{EV}.ResponseOutputItemDoneEvent")
async def done_item_equals_final(ctx: CaseContext) -> None:
    """The item in output_item.done equals the final response's output item

    response.output_item.done item: The output item that was marked done.
    """
    res = await _stream_200(ctx)
    final = _final(ctx, res)
    output = final.get("output") or []
    for p in res.of_type("response.output_item.done"):
        idx = p.get("output_index")
        ctx.check(
            isinstance(idx, int) and 0 <= idx < len(output),
            "output_index within the final output",
            expected=f"0..{len(output) - 1}",
            actual=idx,
        )
        assert isinstance(idx, int)
        ctx.check_eq(p.get("item"), output[idx], f"output_item.done item vs final output[{idx}]")
    ctx.check(
        res.of_type("response.output_item.done"), "at least one output_item.done", expected=">= 1", actual=0
    )


@case("responses.stream.items.part-done-text", Level.MUST, source=f"{EV}.ResponseContentPartDoneEvent")
async def part_done_text(ctx: CaseContext) -> None:
    """content_part.done carries the full text of the part

    response.content_part.done part: The content part that is done.
    """
    res = await _stream_200(ctx)
    texts = {
        (p.get("item_id"), p.get("content_index")): p.get("text")
        for p in res.of_type("response.output_text.done")
    }
    parts = {
        (p.get("item_id"), p.get("content_index")): (p.get("part") or {}).get("text")
        for p in res.of_type("response.content_part.done")
    }
    ctx.check(texts, "at least one output_text.done", expected=">= 1", actual=res.types)
    ctx.check_eq(parts, texts, "content_part.done part.text by (item_id, content_index)")


@case(
    "responses.stream.items.in-progress-after-created",
    Level.SHOULD,
    source=f"{EV}.ResponseInProgressEvent",
)
async def in_progress_after_created(ctx: CaseContext) -> None:
    """response.in_progress follows response.created

    response.in_progress: Emitted when the response is in progress.
    """
    res = await _stream_200(ctx)
    ctx.check_eq(res.types[:2], ["response.created", "response.in_progress"], "the first two events")


@case("responses.stream.items.same-response-id", Level.MUST, source=f"{EV}.ResponseCreatedEvent")
async def same_response_id(ctx: CaseContext) -> None:
    """created, in_progress and the terminal event carry the same response id

    response.created response: The response that was created. response.completed response: Properties of the
    completed response.
    """
    res = await _stream_200(ctx)
    ids = [(p.get("type"), (p.get("response") or {}).get("id")) for p in res.payloads if "response" in p]
    ctx.check(
        len(ids) >= 2 and len({i for _, i in ids}) == 1 and isinstance(ids[0][1], str),
        "one response id across the lifecycle events",
        expected="one id",
        actual=ids,
    )


@case("responses.stream.items.completed-usage", Level.SHOULD, source=f"{EV}.ResponseUsage")
async def completed_usage(ctx: CaseContext) -> None:
    """The completed response in the stream carries usage

    usage: Represents token usage details including input tokens, output tokens, a breakdown of output tokens,
    and the total tokens used.
    """
    res = await _stream_200(ctx)
    usage = _final(ctx, res).get("usage")
    ctx.check(
        isinstance(usage, dict) and isinstance(usage.get("total_tokens"), int),
        "final response.usage with total_tokens",
        expected="usage object",
        actual=usage,
    )


# --------------------------------------------------------------------------- function calls


@case(
    "responses.stream.tools.arguments-concatenate",
    Level.MUST,
    spec=_ARGS,
    tier=Tier.SCRIPTED,
    source=f"{EV}.ResponseFunctionCallArgumentsDeltaEvent",
)
async def arguments_concatenate(ctx: CaseContext) -> None:
    """function_call_arguments deltas concatenate to the done arguments and the final item"""
    await ctx.require_scripted()
    args = '{"city": "Paris", "unit": "celsius"}'
    res = await _stream_200(ctx, f"[[tool:get_weather:{args}]]", tools=TOOLS)
    deltas = res.of_type("response.function_call_arguments.delta")
    done = res.of_type("response.function_call_arguments.done")
    ctx.check(len(deltas) >= 2, "arguments arrive in several deltas", expected=">= 2", actual=len(deltas))
    ctx.check(len(done) == 1, "one function_call_arguments.done", expected=1, actual=len(done))
    joined = "".join(str(d.get("delta")) for d in deltas)
    ctx.check_eq(joined, done[0].get("arguments"), "deltas concatenated vs .done arguments")
    ctx.check_eq(json.loads(joined), json.loads(args), "the arguments the model produced")
    calls = [i for i in _final(ctx, res).get("output") or [] if i.get("type") == "function_call"]
    ctx.check_eq([c.get("arguments") for c in calls], [joined], "final function_call arguments")


@case(
    "responses.stream.tools.arguments-item-id",
    Level.MUST,
    tier=Tier.SCRIPTED,
    source=f"{EV}.ResponseFunctionCallArgumentsDeltaEvent",
)
async def arguments_item_id(ctx: CaseContext) -> None:
    """function_call_arguments events name the function_call item

    response.function_call_arguments.delta item_id: The ID of the output item that the function-call arguments
    delta is added to.
    """
    await ctx.require_scripted()
    res = await _stream_200(ctx, '[[tool:get_weather:{"city":"Paris"}]]', tools=TOOLS)
    added = [p.get("item") or {} for p in res.of_type("response.output_item.added")]
    call_ids = [i.get("id") for i in added if i.get("type") == "function_call"]
    ctx.check(len(call_ids) == 1, "one function_call item added", expected=1, actual=added)
    named = [
        (p.get("type"), p.get("item_id"))
        for p in res.payloads
        if str(p.get("type")).startswith("response.function_call_arguments.")
    ]
    ctx.check(
        named and all(i == call_ids[0] for _, i in named),
        "every function_call_arguments event names the added item",
        expected=call_ids[0],
        actual=named,
    )


@case(
    "responses.stream.tools.arguments-done-name",
    Level.SHOULD,
    tier=Tier.SCRIPTED,
    source=f"{EV}.ResponseFunctionCallArgumentsDoneEvent",
)
async def arguments_done_name(ctx: CaseContext) -> None:
    """function_call_arguments.done names the function

    response.function_call_arguments.done name: The name of the function that was called.
    """
    await ctx.require_scripted()
    res = await _stream_200(ctx, '[[tool:get_time:{"city":"Oslo"}]]', tools=TOOLS)
    done = res.of_type("response.function_call_arguments.done")
    ctx.check_eq([d.get("name") for d in done], ["get_time"], "name in function_call_arguments.done")


@case(
    "responses.stream.tools.parallel-items",
    Level.MUST,
    spec=_ADDED + " output_index: The index of the output item that was added.",
    tier=Tier.SCRIPTED,
    source=f"{EV}.ResponseOutputItemAddedEvent",
)
async def parallel_items(ctx: CaseContext) -> None:
    """Parallel tool calls stream as separate items with output_index 0, 1, ..."""
    await ctx.require_scripted()
    res = await _stream_200(ctx, "[[tools:2]]", tools=TOOLS)
    added = [
        (p.get("output_index"), (p.get("item") or {}).get("name"))
        for p in res.of_type("response.output_item.added")
    ]
    done = [
        (p.get("output_index"), (p.get("item") or {}).get("name"))
        for p in res.of_type("response.output_item.done")
    ]
    want = [(0, "get_weather"), (1, "get_time")]
    ctx.check_eq((added, done), (want, want), "(output_index, name) of added and done items")


# --------------------------------------------------------------------------- finish states


@case(
    "responses.stream.finish.length-incomplete",
    Level.MUST,
    tier=Tier.SCRIPTED,
    source=f"{EV}.ResponseIncompleteEvent", levels={"openresponses": ors.INCOMPLETE_LAST.level()},
)
async def length_incomplete(ctx: CaseContext) -> None:
    """A model cut off by its token limit ends the stream with response.incomplete

    response.incomplete: An event that is emitted when a response finishes as incomplete.
    """
    await ctx.require_scripted()
    res = await _stream_200(ctx, "[[length]]")
    final = _final(ctx, res)
    terminal = [t for t in res.types if t in TERMINAL_EVENTS]
    ctx.check_eq(
        (terminal, final.get("status"), final.get("incomplete_details")),
        (["response.incomplete"], "incomplete", {"reason": "max_output_tokens"}),
        "(terminal events, status, incomplete_details)",
    )


@case(
    "responses.stream.finish.terminal-status-matches",
    Level.MUST,
    tier=Tier.SCRIPTED,
    provokes_backend_failure=True,
    source=f"{EV}.ResponseStreamEvent",
)
async def terminal_status_matches(ctx: CaseContext) -> None:
    """The terminal event's response status matches the event type

    response.completed: Emitted when the model response is complete. response.failed: An event that is emitted
    when a response fails. response.incomplete: An event that is emitted when a response finishes as
    incomplete.
    """
    await ctx.require_scripted()
    for directive in ("[[text:fine]]", "[[length]]", "[[malformed]]"):
        if directive == "[[malformed]]":
            # a gateway may answer a garbled backend stream with an HTTP error instead of a stream
            # (behind Envoy the failure can surface before the first byte): nothing to judge then
            res = await ctx.create_stream(directive)
            if res.status != 200:
                ctx.note(f"{directive}: HTTP {res.status} instead of a stream")
                continue
        else:
            res = await _stream_200(ctx, directive)
        for p in res.payloads:
            if p.get("type") in _TERMINAL_STATUS:
                ctx.check_eq(
                    (p.get("response") or {}).get("status"),
                    _TERMINAL_STATUS[str(p.get("type"))],
                    f"status in {p.get('type')} for {directive}",
                )


@case(
    "responses.stream.finish.refusal-deltas",
    Level.MUST,
    tier=Tier.SCRIPTED,
    source=f"{EV}.ResponseRefusalDeltaEvent",
)
async def refusal_deltas(ctx: CaseContext) -> None:
    """A refusal streams as refusal deltas that concatenate to refusal.done

    response.refusal.delta: Emitted when there is a partial refusal text. response.refusal.done: Emitted when
    refusal text is finalized.
    """
    await ctx.require_scripted()
    res = await _stream_200(ctx, "[[refusal]]")
    deltas = "".join(str(p.get("delta")) for p in res.of_type("response.refusal.delta"))
    done = [p.get("refusal") for p in res.of_type("response.refusal.done")]
    ctx.check_eq(
        (deltas, done),
        ("I can't help with that.", ["I can't help with that."]),
        "(concatenated refusal deltas, refusal.done texts)",
    )


@case(
    "responses.stream.finish.refusal-final-part",
    Level.MUST,
    tier=Tier.SCRIPTED,
    source=f"{EV}.RefusalContent",
)
async def refusal_final_part(ctx: CaseContext) -> None:
    """The final streamed response holds the refusal as a refusal part, not output_text

    RefusalContent: A refusal from the model. type: Always `refusal`.
    """
    await ctx.require_scripted()
    res = await _stream_200(ctx, "[[refusal]]")
    final = _final(ctx, res)
    parts = [
        (p.get("type"), p.get("refusal"))
        for i in final.get("output") or []
        if i.get("type") == "message"
        for p in i.get("content") or []
    ]
    ctx.check_eq(parts, [("refusal", "I can't help with that.")], "content parts of the final message")
    ctx.check_eq(res.of_type("response.output_text.delta"), [], "no output_text deltas for a refusal")


# --------------------------------------------------------------------------- storage and failures


@case("responses.stream.store.store-false-not-retrievable", Level.MUST, source=f"{EV}.CreateResponse")
async def store_false_not_retrievable(ctx: CaseContext) -> None:
    """A streamed response created with store=false cannot be retrieved

    store: Whether to store the generated model response for later retrieval via API.
    """
    res = await _stream_200(ctx, store=False)
    rid = _final(ctx, res).get("id")
    got = await ctx.get(f"/responses/{rid}")
    ctx.check_eq(got.status_code, 404, "GET of a streamed response created with store=false")


@case(
    "responses.stream.errors.backend-error-not-completed",
    Level.MUST,
    tier=Tier.SCRIPTED,
    provokes_backend_failure=True,
    source=f"{EV}.ResponseFailedEvent",
)
async def backend_error_not_completed(ctx: CaseContext) -> None:
    """A backend 503 during a stream is an HTTP error or response.failed, never response.completed

    response.failed: An event that is emitted when a response fails.
    """
    await ctx.require_scripted()
    res = await ctx.create_stream("[[error:503]]")
    if res.status != 200:
        ctx.check(res.status >= 400, "an HTTP error status", expected=">= 400", actual=res.status)
        return
    terminal = [t for t in res.types if t in TERMINAL_EVENTS]
    ctx.check_eq(terminal, ["response.failed"], "terminal events for a failing backend")


@case(
    "responses.stream.errors.malformed-fails",
    Level.MUST,
    tier=Tier.SCRIPTED,
    provokes_backend_failure=True,
    source=f"{EV}.ResponseFailedEvent",
)
async def malformed_fails(ctx: CaseContext) -> None:
    """A backend stream that is not JSON ends with response.failed carrying an error

    response.failed: An event that is emitted when a response fails. error: An error object returned when the
    model fails to generate a Response.
    """
    await ctx.require_scripted()
    res = await ctx.create_stream("[[malformed]]")
    if res.status != 200:
        ctx.check(res.status >= 500, "an HTTP 5xx status", expected=">= 500", actual=res.status)
        return
    terminal = [t for t in res.types if t in TERMINAL_EVENTS]
    ctx.check_eq(terminal, ["response.failed"], "terminal events for a garbled backend stream")
    error = (res.of_type("response.failed")[0].get("response") or {}).get("error")
    ctx.check(
        isinstance(error, dict) and isinstance(error.get("message"), str),
        "response.error is an object with a message",
        expected="error object",
        actual=error,
    )


@case("responses.stream.items.text-done-order", Level.MUST, source=f"{EV}.ResponseTextDoneEvent")
async def text_done_order(ctx: CaseContext) -> None:
    """output_text.done, then content_part.done, then output_item.done close a message

    response.output_text.done: Emitted when text content is finalized. response.content_part.done: Emitted
    when a content part is done. response.output_item.done: Emitted when an output item is marked done.
    """
    res = await _stream_200(ctx)
    closing = ("response.output_text.done", "response.content_part.done", "response.output_item.done")
    order = [t for t in res.types if t in closing]
    ctx.check_eq(order, list(closing), "order of the closing events of the message")


@case(
    "responses.stream.items.added-item-in-progress",
    Level.SHOULD,
    source=f"{EV}.ResponseOutputItemAddedEvent",
)
async def added_item_in_progress(ctx: CaseContext) -> None:
    """The item in output_item.added is in_progress with no content yet

    response.output_item.added item: The output item that was added. status: The status of the message input.
    One of `in_progress`, `completed`, or `incomplete`.
    """
    res = await _stream_200(ctx)
    items = [p.get("item") or {} for p in res.of_type("response.output_item.added")]
    ctx.check(items, "at least one output_item.added", expected=">= 1", actual=res.types)
    ctx.check_eq(
        [(i.get("type"), i.get("status"), i.get("content")) for i in items],
        [("message", "in_progress", [])],
        "(type, status, content) of the added message item",
    )
