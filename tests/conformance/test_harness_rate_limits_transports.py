"""A rate limit on the WebSocket and ext_proc transports is handled as an HTTP 429 is: retried
with bounded backoff, counted in the summary, and never a verdict on the case that met it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

import protos
from conformance import extproc_client as xp
from conformance.context import CaseContext, RunConfig
from conformance.model import Level, Registry, Verdict
from conformance.runner import run_cases
from conformance.websocket import open_socket

COMPLETED = {"type": "response.completed", "sequence_number": 1,
             "response": {"id": "resp_1", "status": "completed"}}
RATE_LIMITED = {"type": "error", "status": 429,
                "error": {"code": "rate_limit_exceeded", "message": "slow down", "param": None}}


def _ws_cases() -> Registry:
    reg = Registry()

    @reg.case("ws.turn", Level.MUST, title="t", spec="s")
    async def turn(ctx: CaseContext) -> None:
        async with open_socket(ctx) as sock:
            events = await sock.turn(input="hi")
        ctx.check(events[-1]["type"] == "response.completed", "the turn completes", actual=events)

    return reg


class WsServer:
    """Answers the first `refuse` upgrades 429 (Retry-After 0), the first `envelopes` turns with a
    429 error envelope, and closes with `close_code` instead of answering when one is set."""

    def __init__(self, refuse: int = 0, envelopes: int = 0, close_code: int | None = None) -> None:
        self.refuse, self.envelopes, self.close_code = refuse, envelopes, close_code
        self.upgrades = self.creates = 0

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        self.upgrades += 1
        if self.upgrades <= self.refuse:
            body = json.dumps({"error": RATE_LIMITED["error"]}).encode()
            return Response(429, "Too Many Requests", Headers({"retry-after": "0"}), body)
        return None

    async def handler(self, ws: ServerConnection) -> None:
        async for _message in ws:
            self.creates += 1
            if self.close_code is not None:
                await ws.close(self.close_code, "try again later")
                return
            await ws.send(json.dumps(RATE_LIMITED if self.creates <= self.envelopes else COMPLETED))


async def _run_ws(server: WsServer, **config: Any) -> Any:
    async with serve(server.handler, "127.0.0.1", 0, process_request=server.process_request) as srv:
        port = srv.sockets[0].getsockname()[1]
        run_config = RunConfig(base_url=f"http://127.0.0.1:{port}/v1", timeout=5, max_retry_after=0.01,
                               **config)
        return await run_cases(_ws_cases().select(["ws.turn"]), run_config)


async def test_a_websocket_upgrade_answered_429_is_retried_and_counted() -> None:
    server = WsServer(refuse=2)
    run = await _run_ws(server)
    (res,) = run.results
    assert res.verdict is Verdict.PASS, res.message
    assert server.upgrades == 3 and run.rate_limit_retries == 2


async def test_a_websocket_turn_answered_with_a_429_envelope_is_sent_again() -> None:
    server = WsServer(envelopes=1)
    run = await _run_ws(server)
    (res,) = run.results
    assert res.verdict is Verdict.PASS, res.message
    assert server.creates == 2 and run.rate_limit_retries == 1 and server.upgrades == 1


async def test_a_lasting_websocket_rate_limit_is_an_error_not_a_fail() -> None:
    server = WsServer(envelopes=100)
    (res,) = (await _run_ws(server, rate_limit_retries=2)).results
    assert res.verdict is Verdict.ERROR and "rate limited" in res.message
    assert server.creates == 3


async def test_a_websocket_closed_try_again_later_is_an_error_not_a_fail() -> None:
    (res,) = (await _run_ws(WsServer(close_code=1013))).results
    assert res.verdict is Verdict.ERROR and "rate limited" in res.message and "1013" in res.message


async def test_a_websocket_error_envelope_other_than_429_is_still_the_cases_to_judge() -> None:
    """Only a 429 envelope is a rate limit: a 400 envelope ends the turn for the case to judge."""
    server = WsServer()
    server.handler = _answer_400  # type: ignore[method-assign]
    (res,) = (await _run_ws(server)).results
    assert res.verdict is Verdict.FAIL and res.rate_limit_retries == 0


async def _answer_400(ws: ServerConnection) -> None:
    async for _message in ws:
        await ws.send(json.dumps({**RATE_LIMITED, "status": 400}))


# --------------------------------------------------------------------------- ext_proc


class ExhaustedProcessor:
    """An ext_proc server that ends the first `times` streams RESOURCE_EXHAUSTED (with a
    ``grpc-retry-pushback-ms`` trailer), before replying or, with `after_reply`, after one reply;
    other streams get one ``request_body`` reply per message."""

    def __init__(self, times: int, after_reply: bool = False) -> None:
        self.times, self.after_reply = times, after_reply
        self.streams = 0
        self.messages: list[Any] = []

    async def Process(self, request_iterator: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
        self.streams += 1
        limited = self.streams <= self.times
        replied = 0
        async for message in request_iterator:
            self.messages.append(message)
            if limited and (replied or not self.after_reply):
                context.set_trailing_metadata((("grpc-retry-pushback-ms", "5"),))
                context.set_code(grpc.StatusCode.RESOURCE_EXHAUSTED)
                context.set_details("quota")
                return
            replied += 1
            yield protos.ProcessingResponse(request_body=protos.BodyResponse())


def _extproc_cases() -> Registry:
    reg = Registry()

    @reg.case("xp.two", Level.MUST, title="x", spec="s")
    async def two(ctx: CaseContext) -> None:
        s = xp.ExtProcStream(ctx)
        try:
            for body in (b"one", b"two"):
                reply = await s.send(xp.request_body(body, end_of_stream=body == b"two"))
                ctx.check(xp.kind(reply) == "request_body", "a request_body reply", actual=xp.kind(reply))
        except xp.NoReply as exc:
            ctx.check(False, "the server answers", actual=exc.what)
        finally:
            s.cancel()

    return reg


async def _run_extproc(servicer: ExhaustedProcessor, **config: Any) -> Any:
    server = grpc.aio.server()
    protos.ext_proc_pb2_grpc.add_ExternalProcessorServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        run_config = RunConfig(base_url="http://127.0.0.1:9/v1", extproc=f"127.0.0.1:{port}", timeout=5,
                               max_retry_after=0.5, **config)
        return await run_cases(_extproc_cases().select(["xp.two"]), run_config)
    finally:
        await server.stop(0)


async def test_an_extproc_stream_exhausted_before_any_reply_is_opened_again_and_counted() -> None:
    servicer = ExhaustedProcessor(times=2)
    run = await _run_extproc(servicer)
    (res,) = run.results
    assert res.verdict is Verdict.PASS, res.message
    assert servicer.streams == 3 and run.rate_limit_retries == 2
    assert any("retried after 0.005 s" in note for note in res.notes), res.notes  # the pushback


async def test_an_extproc_stream_exhausted_after_a_reply_is_an_error_not_a_fail() -> None:
    """A processor holds per-stream state: the stream is not replayed once it has replied."""
    servicer = ExhaustedProcessor(times=1, after_reply=True)
    (res,) = (await _run_extproc(servicer)).results
    assert res.verdict is Verdict.ERROR and "rate limited" in res.message
    assert servicer.streams == 1


async def test_a_lasting_extproc_rate_limit_is_an_error_not_a_fail() -> None:
    servicer = ExhaustedProcessor(times=100)
    (res,) = (await _run_extproc(servicer, rate_limit_retries=1)).results
    assert res.verdict is Verdict.ERROR and "rate limited" in res.message
    assert servicer.streams == 2
