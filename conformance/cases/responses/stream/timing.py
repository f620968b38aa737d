"""Streaming timing: the events reach the client as they are generated, not held to the end.

Event counts and contents cannot tell a streaming gateway from one that holds the stream and
sends it whole at the end; arrival times can. The scripted cases pace the scripted backend with
``[[slow:MS]]`` (MS milliseconds between its chunks) and compare the arrival times the harness
records (``StreamResult.arrivals_ms``) with that pacing. Every bound is a fraction or a multiple
of the requested pacing with a generous margin, so a loaded machine (late, never early chunks)
does not fail a streaming gateway, while holding everything to the end always fails. Coalescing
a few chunks into one write is allowed; holding a chunk for longer than ``MAX_HOLD`` chunk
intervals is not (see conformance/README.md, "Streaming timing").

The structural case (``not-held``) holds for real models too: it reports the time to the
first delta and the spread of arrival times, and fails only the unmistakable shape of a held
stream (every event within a few milliseconds, at the end of a long response).
"""

from __future__ import annotations

import json
from typing import Any

from conformance import timing
from conformance.cases import _openresponses as ors
from conformance.cases._stateful import attach, create_store, require_mcp, upload_ok, wait_file
from conformance.context import CaseContext, StreamResult
from conformance.model import Level, Tier, case
from conformance.profiles import TERMINAL_EVENTS
from conformance.websocket import responses_socket

STREAM_SPEC = (
    "stream: If set to true, the model response data will be streamed to the client as it is generated "
    "using server-sent events."
)
OAI_STREAM = "openai-openapi.yaml components.schemas.CreateResponse.stream"
DELTA_SPEC = (
    "Open Responses, Streaming: A delta event represents a change to an object since its last update. "
    "This mechanism allows updates to be communicated incrementally as they happen, making streamed "
    "responses possible and efficient."
)

#: Pacing asked of the scripted backend between chunks, and the words it streams (one chunk each).
SPACING_MS = 250
WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]
#: The first text delta must arrive at least this fraction of the backend's generation time
#: before the stream ends (a held stream: about 0).
LEAD_FRACTION = 0.5
#: The text deltas must spread over at least this fraction of the backend's pacing span.
SPAN_FRACTION = 0.5
#: No silence between two consecutive deltas longer than this many chunk intervals: a gateway may
#: coalesce a few chunks; one that holds a chunk longer is buffering. A stall of the machine of
#: up to (MAX_HOLD - 1) intervals (1250 ms) still passes.
MAX_HOLD = 6.0
#: The first backend chunk with text is due this long after its first (role) chunk; the
#: response.created event must come at least CREATED_LEAD_FRACTION of it before the first delta.
CREATED_SPACING_MS = 600
CREATED_LEAD_FRACTION = 0.25


def _text(words: list[str], spacing_ms: int = SPACING_MS) -> str:
    return f"[[slow:{spacing_ms}]] [[text:{' '.join(words)}]]"


def _escaped(text: str) -> str:
    """``text`` with its brackets as JSON escapes, to carry directives inside a tool argument (the
    backend's directive syntax ends at the first ``]]``)."""
    return text.replace("[", "\\u005b").replace("]", "\\u005d")


async def _timed_stream(ctx: CaseContext, input: Any, **extra: Any) -> StreamResult:
    res = await ctx.create_stream(input, **extra)
    ctx.check_eq(res.status, 200, "status of the streaming request")
    ctx.check(
        any(p.get("type") in TERMINAL_EVENTS for p in res.payloads),
        "the stream ends with a terminal event",
        expected=list(TERMINAL_EVENTS),
        actual=res.types[-5:],
    )
    return res


Timed = list[tuple[float, dict[str, Any]]]


def _arrivals(timed: Timed, event_type: str) -> list[float]:
    return [t for t, p in timed if p.get("type") == event_type]


def _terminal_ms(timed: Timed) -> float:
    return [t for t, p in timed if p.get("type") in TERMINAL_EVENTS][-1]


def _report(ctx: CaseContext, timed: Timed, deltas: list[float]) -> dict[str, Any]:
    summary = timing.summarize([t for t, _ in timed], deltas).as_dict()
    note = "arrival times (ms since the request): " + json.dumps(summary)
    if note not in ctx.notes:
        ctx.note(note)
    return summary


def _check_lead(ctx: CaseContext, timed: Timed, deltas: list[float], chunks: int, what: str) -> None:
    """The first delta arrives well before the end: at least LEAD_FRACTION of the backend's
    generation time (``chunks`` paced chunks after it) before the terminal event."""
    summary = _report(ctx, timed, deltas)
    types = [p.get("type") for _, p in timed]
    ctx.check(deltas, f"the stream carries {what}", expected=">= 1 delta", actual=types)
    lead = _terminal_ms(timed) - deltas[0]
    want = LEAD_FRACTION * chunks * SPACING_MS
    ctx.check(
        lead >= want,
        f"the first {what} arrives at least {want:.0f} ms before the terminal event (the backend still "
        f"had {chunks} chunks {SPACING_MS} ms apart to send); a held stream sends it at the end",
        expected=f">= {want:.0f} ms between the first delta and the terminal event",
        actual={"lead_ms": round(lead, 1), **summary},
    )


def _check_spacing(ctx: CaseContext, timed: Timed, deltas: list[float], chunks: int, what: str) -> None:
    """The deltas keep the backend's pacing: spread over at least SPAN_FRACTION of it, and no
    silence longer than MAX_HOLD chunk intervals between two of them."""
    summary = _report(ctx, timed, deltas)
    want_span = SPAN_FRACTION * (chunks - 1) * SPACING_MS
    ctx.check(
        timing.span(deltas) >= want_span,
        f"the {what} arrive spread over at least {want_span:.0f} ms (the backend sent {chunks} chunks "
        f"{SPACING_MS} ms apart)",
        expected=f"span >= {want_span:.0f} ms",
        actual=summary,
    )
    limit = MAX_HOLD * SPACING_MS
    ctx.check(
        timing.max_gap(deltas) <= limit,
        f"no silence longer than {limit:.0f} ms ({MAX_HOLD:g} chunk intervals) between two {what}: "
        "chunks are passed on as they come, not held back and flushed in batches",
        expected=f"longest gap <= {limit:.0f} ms",
        actual=summary,
    )


def _check_paced(ctx: CaseContext, timed: Timed, event_type: str, chunks: int, what: str) -> None:
    deltas = _arrivals(timed, event_type)
    _check_lead(ctx, timed, deltas, chunks, what)
    _check_spacing(ctx, timed, deltas, chunks, what + "s")


# --------------------------------------------------------------------------- text


@case(
    "responses.stream.timing.first-delta-early",
    level=Level.MUST,
    title="The first text delta arrives while the backend is still generating, not at the end",
    spec=STREAM_SPEC,
    source=OAI_STREAM,
    tier=Tier.SCRIPTED,
)
async def first_delta_early(ctx: CaseContext) -> None:
    await ctx.require_scripted()
    res = await _timed_stream(ctx, _text(WORDS))
    timed = res.timed_payloads()
    _check_lead(ctx, timed, _arrivals(timed, "response.output_text.delta"), len(WORDS), "text delta")


@case(
    "responses.stream.timing.delta-spacing",
    level=Level.MUST,
    title="Text deltas keep the backend's pacing (a few coalesced chunks allowed, batches are not)",
    spec=STREAM_SPEC + " " + DELTA_SPEC,
    source=OAI_STREAM + "; openresponses-spec-2026-04-24.md Streaming",
    tier=Tier.SCRIPTED,
)
async def delta_spacing(ctx: CaseContext) -> None:
    await ctx.require_scripted()
    res = await _timed_stream(ctx, _text(WORDS))
    timed = res.timed_payloads()
    _check_spacing(ctx, timed, _arrivals(timed, "response.output_text.delta"), len(WORDS), "text deltas")


@case(
    "responses.stream.timing.created-early",
    level=Level.SHOULD,
    title="response.created arrives before the backend's first text chunk is due",
    spec="response.created: An event that is emitted when a response is created. " + STREAM_SPEC,
    source="openai-openapi.yaml components.schemas.ResponseCreatedEvent",
    tier=Tier.SCRIPTED,
)
async def created_early(ctx: CaseContext) -> None:
    await ctx.require_scripted()
    res = await _timed_stream(ctx, _text(["first", "second"], CREATED_SPACING_MS))
    timed = res.timed_payloads()
    created = _arrivals(timed, "response.created")
    deltas = _arrivals(timed, "response.output_text.delta")
    summary = _report(ctx, timed, deltas)
    ctx.check(created and deltas, "the stream has response.created and a text delta", actual=res.types)
    lead = deltas[0] - created[0]
    want = CREATED_LEAD_FRACTION * CREATED_SPACING_MS
    ctx.check(
        lead >= want,
        f"response.created arrives at least {want:.0f} ms before the first text delta (the backend's first "
        f"text chunk comes {CREATED_SPACING_MS} ms after its first chunk): the response is announced when "
        "it is created, not held until there is text",
        expected=f">= {want:.0f} ms",
        actual={"created_ms": created[0], "first_delta_ms": deltas[0], **summary},
    )


@case(
    "responses.stream.timing.function-call-arguments",
    level=Level.MUST,
    title="Function-call argument deltas arrive as the backend streams them",
    spec=STREAM_SPEC + " response.function_call_arguments.delta: Emitted when there is a partial "
    "function-call arguments delta.",
    source=OAI_STREAM + "; components.schemas.ResponseFunctionCallArgumentsDeltaEvent",
    tier=Tier.SCRIPTED,
)
async def function_call_arguments(ctx: CaseContext) -> None:
    await ctx.require_scripted()
    # The backend streams arguments in pieces of at most 4 characters: 32 characters, 8 chunks.
    args = json.dumps({"city": "Rio de Janeiro, Brazil"}, separators=(",", ":"))
    pieces = -(-len(args) // 4)
    tool = {
        "type": "function",
        "name": "get_weather",
        "description": "Current weather of a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
    res = await _timed_stream(ctx, f"[[slow:{SPACING_MS}]] [[tool:get_weather:{args}]]", tools=[tool])
    _check_paced(ctx, res.timed_payloads(), "response.function_call_arguments.delta", pieces,
                 "function-call arguments delta")


# --------------------------------------------------------------------------- hosted tools


@case(
    "responses.stream.timing.hosted-mcp",
    level=Level.MUST,
    title="A hosted MCP tool loop streams: the answer after the tool call arrives as it is generated",
    spec=STREAM_SPEC,
    source=OAI_STREAM,
    tier=Tier.SCRIPTED,
)
async def hosted_mcp(ctx: CaseContext) -> None:
    await ctx.require_scripted()
    url = require_mcp(ctx)
    # The fixture server's `echo` returns its text; the model reads it as the tool result, so the
    # directives in it pace the model's second (answering) call.
    echoed = _escaped(_text(WORDS))
    tool = {
        "type": "mcp",
        "server_label": "fixture",
        "server_url": url,
        "require_approval": "never",
        "allowed_tools": ["echo"],
    }
    res = await _timed_stream(ctx, '[[tool::{"text":"' + echoed + '"}]]', tools=[tool])
    ctx.check(
        res.of_type("response.mcp_call.completed"),
        "the stream reports the MCP call",
        expected="response.mcp_call.completed",
        actual=res.types,
    )
    # the answer after the tool ran is the stream's only text
    timed = res.timed_payloads()
    _check_paced(ctx, timed, "response.output_text.delta", len(WORDS), "text delta of the answer")


@case(
    "responses.stream.timing.hosted-file-search",
    level=Level.MUST,
    title="A hosted file_search loop streams: the answer after the search arrives as it is generated",
    spec=STREAM_SPEC,
    source=OAI_STREAM,
    tier=Tier.SCRIPTED,
)
async def hosted_file_search(ctx: CaseContext) -> None:
    await ctx.require_scripted()
    # The document's text reaches the model as the search result; its directives pace the
    # model's answering call.
    store = await create_store(ctx)
    vs_id = str(store.get("id"))
    uploaded = await upload_ok(ctx, "paced.txt", (_text(WORDS) + "\n").encode())
    file_id = str(uploaded.get("id"))
    await attach(ctx, vs_id, file_id)
    got = await wait_file(ctx, vs_id, file_id)
    ctx.check_eq(got.get("status"), "completed", "ingestion of the document")
    tools = [{"type": "file_search", "vector_store_ids": [vs_id]}]
    res = await _timed_stream(ctx, '[[tool::{"query":"alpha bravo charlie"}]]', tools=tools)
    ctx.check(
        res.of_type("response.file_search_call.completed"),
        "the stream reports the search",
        expected="response.file_search_call.completed",
        actual=res.types,
    )
    # the answer after the tool ran is the stream's only text
    timed = res.timed_payloads()
    _check_paced(ctx, timed, "response.output_text.delta", len(WORDS), "text delta of the answer")


# --------------------------------------------------------------------------- WebSocket mode


@case(
    "responses.stream.timing.websocket",
    level=Level.MUST,
    title="WebSocket mode: text deltas arrive as they are generated, not held until the turn ends",
    spec="ResponsesServerEvent: Server events emitted by the Responses WebSocket server. " + STREAM_SPEC,
    source="openai-openapi.yaml components.schemas.ResponsesServerEvent; " + OAI_STREAM,
    tier=Tier.SCRIPTED, levels={"openresponses": ors.WS_SAME_EVENTS.level()},
)
async def websocket(ctx: CaseContext) -> None:
    await ctx.require_scripted()
    async with responses_socket(ctx) as sock:
        events = await sock.turn(input=_text(WORDS))
        received = [f["t_ms"] for f in sock.frames if f.get("direction") == "received"]
    ctx.check(
        len(received) == len(events) and events[-1].get("type") in TERMINAL_EVENTS,
        "the turn ends with a terminal event",
        expected=list(TERMINAL_EVENTS),
        actual=[e.get("type") for e in events][-5:],
    )
    timed = list(zip(received, events, strict=True))
    _check_paced(ctx, timed, "response.output_text.delta", len(WORDS), "text delta")


# --------------------------------------------------------------------------- any backend

#: A long answer from any model; with the scripted backend the directive paces the echo (a real
#: model reads it as noise in the prompt).
LONG_PROMPT = (
    "[[slow:40]] Count from one to thirty in English words, separated by single spaces, "
    "and write nothing else at all please."
)
#: "A long response": the exchange took at least this long.
LONG_MS = 400.0
#: "All events within a few milliseconds at the end": their span and where they came.
HELD_WITHIN_MS = 15.0
HELD_TAIL = 0.2


@case(
    "responses.stream.timing.not-held",
    level=Level.MUST,
    title="A long streamed answer is not held and sent at once at the end (reports TTFB and spread)",
    spec=STREAM_SPEC,
    source=OAI_STREAM,
)
async def not_held(ctx: CaseContext) -> None:
    res = await _timed_stream(ctx, LONG_PROMPT)
    timed = res.timed_payloads()
    events = [t for t, _ in timed]
    deltas = _arrivals(timed, "response.output_text.delta")
    summary = _report(ctx, timed, deltas)
    total = res.end_ms or 0.0
    if total < LONG_MS or len(events) < 5:
        ctx.note(
            f"the answer took {total:.0f} ms with {len(events)} events: too short to tell streaming "
            "from holding (only TTFB and spread are reported)"
        )
        return
    ctx.check(
        not timing.held_to_the_end(events, total, within_ms=HELD_WITHIN_MS, tail=HELD_TAIL),
        f"the events do not all arrive within {HELD_WITHIN_MS:g} ms in the last {HELD_TAIL:.0%} of a "
        f"{total:.0f} ms exchange (a held stream)",
        expected="events spread over the generation",
        actual={"total_ms": total, **summary},
    )
