"""WebSocket mode: `GET /responses` upgraded to a WebSocket (Open Responses 2026-04-24 "WebSocket
Transport"; OpenAI `ResponsesClientEvent`, `ResponsesServerEvent`, `ResponseWsError`).

A gateway whose upgrade answer is a 4xx that says "not here" (400, 403, 404, 405, 426, 501) gets
UNIMPLEMENTED from every case but `responses.websocket.upgrade-answered`, never a FAIL. Frames are
recorded in the transcript with their arrival times (conformance/websocket.py)."""

from __future__ import annotations

from typing import Any

from conformance.cases import _openresponses as ors
from conformance.cases._support import OAI, is_int, parse_json_text
from conformance.context import CaseContext
from conformance.model import Level, Tier, case
from conformance.websocket import UpgradeRefused, open_socket, responses_socket

SPEC = "openresponses-spec-2026-04-24.md, WebSocket Transport"
RFC6455 = "RFC 6455 section 4.2.2"
UNKNOWN_RESPONSE = "resp_conformance_does_not_exist_0000"

# What the OpenAI document says of the WebSocket mode, the sentences these cases cite under the
# OpenAI profile (their Open Responses sentences come from `_openresponses`).
_OAI_EVENTS = (
    "ResponsesServerEvent: Server events emitted by the Responses WebSocket server. (each one of the "
    "Responses stream events, with an optional `stream_id`) ResponsesClientEventResponseCreate: Client "
    "event for creating a response over a persistent WebSocket connection. This payload uses the same "
    "top-level fields as `POST /v1/responses`, plus WebSocket-only envelope metadata."
)
_OAI_EVENTS_SRC = f"{OAI} components.schemas.ResponsesServerEvent / ResponsesClientEventResponseCreate"
_OAI_FIFO = (
    "stream_id: The WebSocket lane for this response. Requests with the same `stream_id` are processed "
    "FIFO, and events for the response echo the same `stream_id`."
)
_OAI_FIFO_SRC = f"{OAI} components.schemas.ResponsesClientEventResponseCreate.stream_id"
_OAI_CONTINUE = (
    "ResponsesClientEventResponseCreate: This payload uses the same top-level fields as "
    "`POST /v1/responses`. previous_response_id: The unique ID of the previous response to the model. Use "
    "this to create multi-turn conversations. (The document says nothing of continuing a store=false "
    "response on the socket.)"
)
_OAI_STORED = (
    "ResponsesClientEventResponseCreate: This payload uses the same top-level fields as "
    "`POST /v1/responses`. store: Whether to store the generated model response for later retrieval via "
    "API."
)


def _types(events: list[dict[str, Any]]) -> list[Any]:
    return [e.get("type") for e in events]


def _check_completed(ctx: CaseContext, events: list[dict[str, Any]], what: str) -> dict[str, Any]:
    last = events[-1] if events else {}
    ctx.check(last.get("type") == "response.completed", f"{what} ends with response.completed",
              expected="response.completed", actual=last if last.get("type") == "error" else _types(events))
    response = last.get("response")
    ctx.check(isinstance(response, dict), f"{what}: response.completed carries the response", actual=last)
    assert isinstance(response, dict)
    return response


def _item_positions(events: list[dict[str, Any]], event_type: str) -> dict[Any, int]:
    return {(e.get("item") or {}).get("id"): n for n, e in enumerate(events) if e.get("type") == event_type}


@case("responses.websocket.upgrade-answered", Level.MUST, source=f"{RFC6455}; {SPEC}")
async def upgrade_answered(ctx: CaseContext) -> None:
    """An upgrade is accepted (101) or refused with an HTTP 4xx error, never a 5xx

    If the server chooses not to accept the connection, it MUST return an appropriate HTTP error code. Servers
    MAY expose the Responses API over a persistent WebSocket connection at the same /v1/responses resource.
    """
    for path, what in (("/responses", "GET /responses"),
                       (f"/responses/{UNKNOWN_RESPONSE}", "GET /responses/{id} (no WebSocket there)")):
        try:
            async with open_socket(ctx, path):
                status = 101
        except UpgradeRefused as refused:
            status = refused.status
        if path == "/responses":
            ctx.check(status == 101 or 400 <= status < 500,
                      f"the upgrade of {what} is answered 101 or a 4xx", expected="101 or 4xx", actual=status)
        else:
            ctx.check(400 <= status < 500, f"the upgrade of {what} is refused with a 4xx",
                      expected="4xx (a resource without WebSocket mode)", actual=status)


@case(
    "responses.websocket.events", Level.MUST, spec=_OAI_EVENTS, source=_OAI_EVENTS_SRC,
    levels={"openresponses": ors.cite(ors.WS_CREATE_IS_REQUEST, ors.WS_SAME_EVENTS)},
)
async def events(ctx: CaseContext) -> None:
    """A response.create runs: response.created first, one terminal event last, increasing sequence_number"""
    async with responses_socket(ctx) as sock:
        got = await sock.turn(input="Say hello.")
    types = _types(got)
    ctx.check(types[:1] == ["response.created"], "the first event is response.created",
              expected="response.created", actual=types[:3])
    _check_completed(ctx, got, "the turn")
    seqs = [e.get("sequence_number") for e in got]
    ints = [s for s in seqs if is_int(s)]
    ctx.check(len(ints) == len(seqs) and ints == sorted(set(ints)), "sequence_number strictly increases",
              expected="increasing integers", actual=seqs)
    added = _item_positions(got, "response.output_item.added")
    done = _item_positions(got, "response.output_item.done")
    ctx.check(set(added) == set(done) and all(added[i] < done[i] for i in added),
              "every output item is added before it is done", expected="added < done per item",
              actual={"added": added, "done": done})


@case(
    "responses.websocket.same-events-as-sse", Level.MUST, spec=_OAI_EVENTS, source=_OAI_EVENTS_SRC,
    tier=Tier.SCRIPTED,
    levels={"openresponses": ors.WS_SAME_EVENTS.level()},
)
async def same_events_as_sse(ctx: CaseContext) -> None:
    """The same request gives the same event types over WebSocket as over SSE (scripted)"""
    await ctx.require_scripted()
    text = "[[text:one two three four]]"
    sse = await ctx.create_stream(text)
    async with responses_socket(ctx) as sock:
        got = await sock.turn(input=text)
    ctx.check_eq(_types(got), sse.types, "WebSocket event types vs the SSE stream's")


@case(
    "responses.websocket.sequential", Level.MUST, spec=_OAI_FIFO, source=_OAI_FIFO_SRC, tier=Tier.SCRIPTED,
    levels={"openresponses": ors.cite(ors.WS_ONE_IN_FLIGHT, ors.WS_SEQUENTIAL, ors.WS_NO_MULTIPLEX)},
)
async def sequential(ctx: CaseContext) -> None:
    """Two response.create sent back to back are answered one after the other, never interleaved"""
    await ctx.require_scripted()
    async with responses_socket(ctx) as sock:
        await sock.send_create(input="[[slow:40]] [[text:first answer in pieces]]")
        await sock.send_create(input="[[slow:10]] [[text:second one]]")
        got = await sock.read_turn() + await sock.read_turn()
    owners = [(e.get("response") or {}).get("id") or e.get("response_id") for e in got]
    created = [(e.get("response") or {}).get("id") for e in got if e.get("type") == "response.created"]
    ctx.check(len(created) == 2 and created[0] != created[1], "two responses were created",
              expected=2, actual=created)
    first_terminal = next(n for n, e in enumerate(got) if e.get("type") in
                          ("response.completed", "response.failed", "response.incomplete"))
    second_created = next(n for n, e in enumerate(got) if e.get("type") == "response.created"
                          and (e.get("response") or {}).get("id") == created[1])
    ctx.check(first_terminal < second_created,
              "the second response starts after the first one's terminal event",
              expected="all events of the first, then all of the second",
              actual=[f"{t}:{o}" for t, o in zip(_types(got), owners, strict=True)])


@case(
    "responses.websocket.store-false-continuation", Level.SHOULD, spec=_OAI_CONTINUE, source=_OAI_EVENTS_SRC,
    levels={"openresponses": ors.WS_CONNECTION_LOCAL_STATE.level()},
)
async def store_false_continuation(ctx: CaseContext) -> None:
    """A store=false response continues on the same socket with previous_response_id"""
    async with responses_socket(ctx) as sock:
        first = _check_completed(ctx, await sock.turn(input="The code word is papaya.", store=False),
                                 "turn 1")
        second = await sock.turn(input="What is the code word?", store=False,
                                 previous_response_id=first.get("id"))
    response = _check_completed(ctx, second, "the continuation")
    ctx.check_eq(response.get("previous_response_id"), first.get("id"),
                 "previous_response_id of the continuation")


@case(
    "responses.websocket.scripted-continuation-history", Level.SHOULD, spec=_OAI_CONTINUE,
    source=_OAI_EVENTS_SRC, tier=Tier.SCRIPTED,
    levels={"openresponses": ors.WS_CONNECTION_LOCAL_STATE.level()},
)
async def continuation_history(ctx: CaseContext) -> None:
    """A store=false continuation on the socket gives the model the earlier turn (scripted)"""
    await ctx.require_scripted()
    async with responses_socket(ctx) as sock:
        first = _check_completed(ctx, await sock.turn(input="[[text:papaya]]", store=False), "turn 1")
        second = await sock.turn(input="[[messages]]", store=False, previous_response_id=first.get("id"))
    response = _check_completed(ctx, second, "the continuation")
    messages = parse_json_text(ctx, ctx.output_text(response), "the scripted [[messages]] reply")
    contents = messages
    if isinstance(messages, list):
        contents = [m.get("content") for m in messages if isinstance(m, dict)]
    ctx.check_eq(contents, ["[[text:papaya]]", "papaya", "[[messages]]"], "the messages the model received")


# The OpenAI document names no error code for a previous response the socket cannot continue
# from, and does not require `status` in its WebSocket error event: under the OpenAI profile these
# two cases are SHOULD, under Open Responses they enforce its MUST sentences.
_OAI_NO_CODE = (
    "ResponsesClientEventResponseCreate: This payload uses the same top-level fields as "
    "`POST /v1/responses`, plus WebSocket-only envelope metadata. (The document names no error code "
    "for a previous response the socket cannot continue from: `previous_response_not_found` is the "
    "Open Responses one.)"
)
_OAI_WS_ERROR = (
    "ResponseWsError: Emitted when an error occurs while processing a Responses WebSocket request. status: "
    "The HTTP status code associated with a WebSocket protocol error. (required: `type`, `error`; `status` "
    "is optional there)"
)


@case(
    "responses.websocket.store-false-not-found-elsewhere",
    Level.SHOULD,
    spec=_OAI_NO_CODE,
    source=f"{OAI} components.schemas.ResponsesClientEventResponseCreate",
    levels={"openresponses": ors.WS_STORE_FALSE_NOT_FOUND.level()},
)
async def store_false_not_found_elsewhere(ctx: CaseContext) -> None:
    """Continuing a store=false response on another socket fails with previous_response_not_found

    With store=false, there is no persisted fallback; if the referenced response is not available from
    connection-local state, the server MUST fail the turn with an error whose code is
    previous_response_not_found.
    """
    async with responses_socket(ctx) as sock:
        first = _check_completed(ctx, await sock.turn(input="Remember papaya.", store=False), "turn 1")
    async with responses_socket(ctx) as other:
        got = await other.turn(input="What did I ask?", store=False, previous_response_id=first.get("id"))
    last = got[-1]
    ctx.check(last.get("type") == "error", "the turn fails with an error event", expected="error",
              actual=_types(got))
    ctx.check_eq((last.get("error") or {}).get("code"), "previous_response_not_found", "error.code")


_OAI_NO_EVICTION = (
    "ResponsesClientEventResponseCreate: This payload uses the same top-level fields as "
    "`POST /v1/responses`, plus WebSocket-only envelope metadata. (The document says nothing of the "
    "socket's state after a continuation fails: eviction is the Open Responses rule.)"
)


@case(
    "responses.websocket.failed-continuation-evicts",
    Level.SHOULD,
    spec=_OAI_NO_EVICTION,
    source=f"{OAI} components.schemas.ResponsesClientEventResponseCreate",
    levels={"openresponses": ors.cite(ors.WS_EVICT, ors.WS_EVICTED_NOT_FOUND)},
)
async def failed_continuation_evicts(ctx: CaseContext) -> None:
    """After a continuation turn fails, continuing from the same store=false response fails too

    If a continuation turn fails with a 4xx or 5xx error, the server MUST evict the referenced
    previous_response_id from the connection-local cache. A later attempt to continue from that evicted
    store=false response ID on the same connection MUST fail with previous_response_not_found.
    """
    async with responses_socket(ctx) as sock:
        first = _check_completed(ctx, await sock.turn(input="Remember papaya.", store=False), "turn 1")
        # temperature is between 0 and 2: the continuation fails with a 4xx before any model call
        failed = await sock.turn(input="What did I ask?", store=False, previous_response_id=first.get("id"),
                                 temperature=5)
        last = failed[-1]
        ctx.check(last.get("type") == "error" or last.get("type") == "response.failed",
                  "the continuation with temperature 5 fails", expected="error", actual=_types(failed))
        again = await sock.turn(input="What did I ask?", store=False, previous_response_id=first.get("id"))
    last = again[-1]
    ctx.check(last.get("type") == "error", "continuing from the evicted response fails with an error event",
              expected="error", actual=_types(again))
    ctx.check_eq((last.get("error") or {}).get("code"), "previous_response_not_found", "error.code")


@case(
    "responses.websocket.error-envelope",
    Level.SHOULD,
    spec=_OAI_WS_ERROR,
    source=f"{OAI} components.schemas.ResponseWsError",
    levels={"openresponses": ors.WS_ERROR_ENVELOPE.level()},
)
async def error_envelope(ctx: CaseContext) -> None:
    """A failed turn is an error envelope with status and error.code; the socket stays usable

    WebSocket failures MUST be sent as a JSON error envelope with a status code and an error.code.
    """
    async with responses_socket(ctx) as sock:
        got = await sock.turn(input="hello", previous_response_id=UNKNOWN_RESPONSE)
        last = got[-1]
        ctx.check_eq(last.get("type"), "error", "type of the answer to an unknown previous_response_id")
        ctx.check(is_int(last.get("status")) and 400 <= last["status"] < 500, "status is a 4xx integer",
                  expected="4xx", actual=last.get("status"))
        error = last.get("error")
        ctx.check(isinstance(error, dict) and isinstance(error.get("code"), str)
                  and isinstance(error.get("message"), str), "error has code and message", actual=error)
        ctx.check_eq((error or {}).get("code"), "previous_response_not_found", "error.code")
        _check_completed(ctx, await sock.turn(input="Say hello."), "a turn after the error")


@case("responses.websocket.stored-retrievable", Level.MUST, spec=_OAI_STORED, source=_OAI_EVENTS_SRC)
async def stored_retrievable(ctx: CaseContext) -> None:
    """A response created over WebSocket (store default) can be retrieved over HTTP"""
    async with responses_socket(ctx) as sock:
        response = _check_completed(ctx, await sock.turn(input="Say hello."), "the turn")
    got = ctx.json_ok(await ctx.get(f"/responses/{response.get('id')}"), "GET /responses/{id}")
    ctx.check_eq(got.get("output"), response.get("output"), "output of the retrieved response")


@case(
    "responses.websocket.stream-id-echo",
    Level.MUST,
    source=f"{OAI} components.schemas.ResponsesServerEvent",
    profiles=("openai",),
)
async def stream_id_echo(ctx: CaseContext) -> None:
    """Events of a response.create with stream_id echo that stream_id

    stream_id: The WebSocket lane that emitted this event. This field is present when the originating
    response.create event supplied a stream_id.
    """
    async with responses_socket(ctx) as sock:
        got = await sock.turn(input="Say hello.", stream_id="conformance_lane.1")
    _check_completed(ctx, got, "the turn")
    ctx.check(all(e.get("stream_id") == "conformance_lane.1" for e in got), "every event echoes stream_id",
              expected="conformance_lane.1", actual=[e.get("stream_id") for e in got])

