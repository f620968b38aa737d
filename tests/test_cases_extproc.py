"""Proving the ``extproc.*`` conformance cases: each PASSes on the reference ext_proc server and
FAILs (NON_STRICT for a SHOULD) on an ext_proc server with one deliberate fault.

``FaultyProcessor`` is a grpc.aio ext_proc servicer that relays every ``Process`` stream to the
reference's ext_proc port (``--target reference``: the reference gateway with the scripted
backend, as subprocesses) and breaks one protocol rule on the way, imitating a plausible
processor bug: the wrong reply kind, a stale content-length, a header carrying the request,
a 200 for bad input, a masked upstream error, a missing mode_override, a stream left open...
With no fault it is transparent, so the cases must PASS through it as they do directly.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

import conformance.cases  # noqa: F401  (registers the cases)
import protos
from conformance import extproc_client as xp
from conformance.context import RunConfig
from conformance.model import REGISTRY, Level, Verdict
from conformance.runner import run_cases
from conformance.targets import RunningTarget, builtin_target

PM = protos.ProcessingMode
EXTPROC_CASES = [c for c in REGISTRY.all() if c.id.startswith("extproc.")]

# case id -> the fault that must break it
KILLS: dict[str, str] = {
    "extproc.health.serving-overall": "no-health",
    "extproc.health.serving-service": "health-overall-only",
    "extproc.request-headers.reply-kind": "wrong-kind",
    "extproc.request.path-chat-completions": "no-path",
    "extproc.request.content-length-headers-mode": "stale-content-length",
    "extproc.request-body.content-length": "stale-content-length",
    "extproc.headers.raw-value": "value-only",
    "extproc.request.no-state-in-headers": "leak-header",
    "extproc.request-body.reply-kind": "wrong-kind",
    "extproc.request-body.chat-request": "pass-request",
    "extproc.request-body.instructions-system": "no-instructions",
    "extproc.request-body.stream-flag": "stream-flag",
    "extproc.request-body.invalid-json-400": "bad-input-continue",
    "extproc.request-body.missing-model-400": "bad-input-continue",
    "extproc.request-body.wrong-type-400": "bad-input-continue",
    "extproc.response-headers.reply-kind": "wrong-kind",
    "extproc.response-headers.sse-mode-override": "no-mode-override",
    "extproc.response-headers.sse-content-length": "stale-content-length",
    "extproc.response-body.reply-kind": "wrong-kind",
    "extproc.response-body.response-object": "raw-passthrough",
    "extproc.response-body.usage": "usage-zero",
    "extproc.response-body.content-length": "stale-content-length",
    "extproc.stream.reply-kind": "wrong-kind",
    "extproc.stream.event-stream": "stream-passthrough",
    "extproc.stream.split-lines": "split-naive",
    "extproc.stream.mutation-kind-matches-mode": "streamed-kind",
    "extproc.stream.incremental": "hold-until-end",
    "extproc.stream.terminal-by-end": "truncate-end",
    "extproc.stream.buffered-fallback": "stream-passthrough",
    "extproc.upstream.5xx-502": "mask-upstream-errors",
    "extproc.upstream.4xx-status": "mask-upstream-errors",
    "extproc.upstream.garbage-502": "mask-upstream-errors",
    "extproc.upstream.stream-garbage-failed": "failed-as-completed",
    "extproc.upstream.stream-error-status": "mask-upstream-errors",
    "extproc.store.get-equals-body": "fresh-id",
    "extproc.protocol.out-of-order": "hang-out-of-order",
    "extproc.protocol.ends-after-half-close": "no-close",
    "extproc.protocol.response-trailers": "trailers-ignored",
    "extproc.protocol.request-trailers": "trailers-ignored",
}

# More faults each case must catch (beyond the one above), to show they are not one-trick.
EXTRA_KILLS: list[tuple[str, str]] = [
    ("extproc.health.serving-service", "no-health"),
    ("extproc.request-body.chat-request", "wrong-kind"),
    ("extproc.response-body.response-object", "wrong-kind"),
    ("extproc.response-body.usage", "raw-passthrough"),
    ("extproc.stream.terminal-by-end", "stream-passthrough"),
    ("extproc.stream.event-stream", "truncate-end"),
    ("extproc.store.get-equals-body", "raw-passthrough"),
    ("extproc.protocol.out-of-order", "pass-out-of-order"),
    ("extproc.request-body.stream-flag", "pass-request"),
    ("extproc.response-body.reply-kind", "drop-stream"),
    ("extproc.stream.reply-kind", "drop-stream"),
    ("extproc.upstream.5xx-502", "drop-stream"),
]

FAULTS = sorted(set(KILLS.values()) | {f for _, f in EXTRA_KILLS})


# --------------------------------------------------------------------------- the faulty processor


def _hvo(key: str, value: str) -> Any:
    return protos.HeaderValueOption(
        header=protos.HeaderValue(key=key, raw_value=value.encode()),
        append_action=protos.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD,
    )


def _common(reply: Any) -> Any:
    return getattr(reply, xp.kind(reply) or "").response


def _set_body(reply: Any, body: bytes) -> None:
    """Replace a body mutation and keep the content-length it set consistent."""
    c = _common(reply)
    c.body_mutation.body = body
    for opt in c.header_mutation.set_headers:
        if opt.header.key.lower() == "content-length":
            opt.header.raw_value = str(len(body)).encode()


def _json_body(reply: Any) -> Any:
    body = xp.body_of(reply)
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


_SWAP = {
    "request_headers": "request_body",
    "request_body": "request_headers",
    "response_headers": "response_body",
    "response_body": "response_headers",
}


class Relay:
    """Per-stream state of the faulty processor."""

    def __init__(self, fault: str) -> None:
        self.fault = fault
        self.sse = False
        self.response_phase = False
        self.held = b""

    def request(self, req: Any) -> Any:
        """The message as forwarded to the reference (faults on the way in)."""
        phase = req.WhichOneof("request")
        if phase == "response_headers":
            self.response_phase = True
            for h in req.response_headers.headers.headers:
                if h.key == "content-type" and xp.header_value(h).startswith("text/event-stream"):
                    self.sse = True
        if self.fault == "split-naive" and phase == "response_body" and self.sse:
            # A processor that parses each chunk on its own: a line cut by the chunk boundary
            # is lost.
            data = bytes(req.response_body.body)
            cut = data.rfind(b"\n") + 1
            req.response_body.body = data[:cut]
        return req

    def replies(self, req: Any, reply: Any) -> list[Any]:
        """The replies as sent to the harness (faults on the way out)."""
        f = self.fault
        k = xp.kind(reply)
        phase = req.WhichOneof("request")
        if f == "wrong-kind" and k in _SWAP:
            swapped = protos.ProcessingResponse()
            getattr(swapped, _SWAP[k]).response.CopyFrom(_common(reply))
            return [swapped]
        if f in ("no-path", "stale-content-length", "value-only") and k in _SWAP:
            hm = _common(reply).header_mutation
            keep = []
            for opt in hm.set_headers:
                key = opt.header.key.lower()
                if (f == "no-path" and key == ":path") or (
                    f == "stale-content-length" and key == "content-length"
                ):
                    continue
                if f == "value-only":
                    opt.header.value = opt.header.raw_value.decode()
                    opt.header.raw_value = b""
                keep.append(opt)
            del hm.set_headers[:]
            hm.set_headers.extend(keep)
            if f == "stale-content-length":
                removed = [h for h in hm.remove_headers if h.lower() != "content-length"]
                del hm.remove_headers[:]
                hm.remove_headers.extend(removed)
        if f == "leak-header" and k == "request_body" and phase == "request_body":
            state = base64.b64encode(bytes(req.request_body.body)).decode()
            _common(reply).header_mutation.set_headers.append(_hvo("x-conversation-state", state))
        if f == "pass-request" and k == "request_body":
            _common(reply).ClearField("body_mutation")
        if f in ("no-instructions", "stream-flag") and k == "request_body":
            chat = _json_body(reply)
            if isinstance(chat, dict):
                if f == "no-instructions":
                    chat["messages"] = [m for m in chat.get("messages", []) if m.get("role") != "system"]
                else:
                    chat["stream"] = False
                    chat.pop("stream_options", None)
                _set_body(reply, json.dumps(chat).encode())
        if f == "bad-input-continue" and k == "immediate_response" and phase == "request_body":
            return [protos.ProcessingResponse(request_body=protos.BodyResponse())]
        if f == "no-mode-override" and k == "response_headers":
            reply.ClearField("mode_override")
        if f == "raw-passthrough" and k == "response_body" and not self.sse:
            reply.response_body.ClearField("response")
        if f in ("usage-zero", "fresh-id") and k == "response_body" and not self.sse:
            obj = _json_body(reply)
            if isinstance(obj, dict):
                if f == "usage-zero":
                    obj["usage"] = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
                else:
                    obj["id"] = "resp_" + secrets.token_hex(12)
                _set_body(reply, json.dumps(obj).encode())
        if self.sse and k == "response_body" and phase == "response_body":
            end = req.response_body.end_of_stream
            if f == "stream-passthrough":
                reply.response_body.ClearField("response")
            elif f == "hold-until-end":
                self.held += xp.body_of(reply) or b""
                _set_body(reply, self.held if end else b"")
            elif f == "truncate-end" and end:
                _set_body(reply, b"")
            elif f == "streamed-kind":
                # FULL_DUPLEX_STREAMED's mutation kind while Envoy is in STREAMED mode.
                bm = _common(reply).body_mutation
                data = bytes(bm.body)
                bm.streamed_response.body = data
                bm.streamed_response.end_of_stream = end
        if f == "failed-as-completed" and k in ("response_body", "immediate_response"):
            body = xp.body_of(reply) if k == "response_body" else bytes(reply.immediate_response.body)
            if body and b"response.failed" in body:
                body = body.replace(b"response.failed", b"response.completed").replace(
                    b'"status":"failed"', b'"status":"completed"'
                )
                if k == "response_body":
                    _set_body(reply, body)
                else:
                    reply.immediate_response.body = body
        if f == "mask-upstream-errors" and k == "immediate_response" and self.response_phase:
            # The seed's bug: a backend error became a completed response.
            masked = json.dumps(
                {
                    "id": "resp_" + secrets.token_hex(8),
                    "object": "response",
                    "status": "completed",
                    "output": [],
                }
            ).encode()
            return [
                protos.ProcessingResponse(
                    response_body=protos.BodyResponse(
                        response=protos.CommonResponse(
                            header_mutation=protos.HeaderMutation(
                                set_headers=[
                                    _hvo(":status", "200"),
                                    _hvo("content-type", "application/json"),
                                    _hvo("content-length", str(len(masked))),
                                ]
                            ),
                            body_mutation=protos.BodyMutation(body=masked),
                        )
                    )
                )
            ]
        return [reply]


class FaultyProcessor(protos.ext_proc_pb2_grpc.ExternalProcessorServicer):  # type: ignore[misc]
    def __init__(self, upstream: grpc.aio.Channel, fault: str) -> None:
        self.stub = protos.ext_proc_pb2_grpc.ExternalProcessorStub(upstream)
        self.fault = fault

    async def Process(self, request_iterator: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
        relay = Relay(self.fault)
        call = self.stub.Process()
        first = True
        try:
            async for req in request_iterator:
                phase = req.WhichOneof("request")
                if first and phase.startswith("response_"):
                    if self.fault == "hang-out-of-order":
                        await asyncio.sleep(3600)
                    if self.fault == "pass-out-of-order":
                        yield protos.ProcessingResponse(response_headers=protos.HeadersResponse())
                        continue
                first = False
                if self.fault == "trailers-ignored" and phase.endswith("_trailers"):
                    continue
                await call.write(relay.request(req))
                reply = await call.read()
                if reply is grpc.aio.EOF:
                    return
                for out in relay.replies(req, reply):
                    yield out
                if self.fault == "drop-stream" and phase == "request_body":
                    # Ends the call cleanly: Envoy then "proceeds without consulting the server",
                    # so the upstream answer would pass untranslated.
                    return
            if self.fault == "no-close":
                await asyncio.sleep(3600)
        finally:
            call.cancel()


async def start_faulty(upstream_addr: str, fault: str) -> tuple[grpc.aio.Server, grpc.aio.Channel, int]:
    channel = grpc.aio.insecure_channel(upstream_addr)
    server = grpc.aio.server()
    protos.ext_proc_pb2_grpc.add_ExternalProcessorServicer_to_server(FaultyProcessor(channel, fault), server)
    if fault != "no-health":
        health = protos.HealthServicer()
        protos.health_pb2_grpc.add_HealthServicer_to_server(health, server)
        services = [""] if fault == "health-overall-only" else ["", protos.EXT_PROC_SERVICE]
        for name in services:
            await health.set(name, protos.health_pb2.HealthCheckResponse.SERVING)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, channel, port


# --------------------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="module")
def reference() -> Iterator[RunningTarget]:
    with builtin_target("reference", timeout=60) as target:
        assert target.extproc, "the reference target must print its ext_proc address"
        yield target


async def _run(
    target: RunningTarget, extproc: str | None, case_ids: list[str], timeout: float = 3.0
) -> dict[str, Any]:
    config = RunConfig(base_url=target.base_url, extproc=extproc, timeout=timeout, target_name="test")
    cases = [REGISTRY.get(i) for i in case_ids]
    result = await run_cases(cases, config)
    return {r.case_id: r for r in result.results}


async def _run_with_fault(target: RunningTarget, fault: str, case_ids: list[str]) -> dict[str, Any]:
    assert target.extproc is not None
    server, channel, port = await start_faulty(target.extproc, fault)
    try:
        return await _run(target, f"127.0.0.1:{port}", case_ids)
    finally:
        await server.stop(0)
        await channel.close()


def _explain(results: dict[str, Any]) -> str:
    return "\n".join(f"{i}: {r.verdict} {r.message} {r.actual!r}"[:600] for i, r in results.items())


# --------------------------------------------------------------------------- tests


def test_at_least_24_extproc_cases_each_with_a_fault() -> None:
    ids = {c.id for c in EXTPROC_CASES}
    assert len(ids) >= 24
    assert ids == set(KILLS), f"missing kills: {ids - set(KILLS)}, unknown: {set(KILLS) - ids}"
    for c in EXTPROC_CASES:
        assert c.spec and c.source, c.id


async def test_every_case_passes_on_the_reference(reference: RunningTarget) -> None:
    results = await _run(reference, reference.extproc, [c.id for c in EXTPROC_CASES], timeout=10)
    assert all(r.verdict is Verdict.PASS for r in results.values()), _explain(results)


async def test_every_case_passes_through_the_transparent_relay(reference: RunningTarget) -> None:
    results = await _run_with_fault(reference, "none", [c.id for c in EXTPROC_CASES])
    assert all(r.verdict is Verdict.PASS for r in results.values()), _explain(results)


@pytest.mark.parametrize("fault", FAULTS)
async def test_each_fault_is_caught(reference: RunningTarget, fault: str) -> None:
    """Every case killed by this fault ends FAIL (MUST) or NON_STRICT (SHOULD)."""
    targets = [cid for cid, f in KILLS.items() if f == fault] + [cid for cid, f in EXTRA_KILLS if f == fault]
    results = await _run_with_fault(reference, fault, targets)
    for cid in targets:
        r = results[cid]
        want = Verdict.FAIL if REGISTRY.get(cid).level is Level.MUST else Verdict.NON_STRICT
        assert r.verdict is want, f"{cid} under fault {fault}: {r.verdict} {r.message} {r.actual!r}"


async def test_without_extproc_the_cases_are_skipped(reference: RunningTarget) -> None:
    results = await _run(reference, None, ["extproc.health.serving-overall", "extproc.stream.event-stream"])
    assert {r.verdict for r in results.values()} == {Verdict.SKIPPED}


async def test_a_dead_processor_is_an_error_not_a_pass(reference: RunningTarget) -> None:
    """Nothing listening: the transport fault must not read as PASS."""
    server = grpc.aio.server()
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await server.stop(0)  # the port is now closed
    results = await _run(reference, f"127.0.0.1:{port}", ["extproc.request-body.reply-kind"], timeout=2)
    assert results["extproc.request-body.reply-kind"].verdict in (Verdict.FAIL, Verdict.ERROR)


async def test_cases_pass_on_a_full_duplex_streaming_processor(reference: RunningTarget) -> None:
    """The reference servicer switched to FULL_DUPLEX_STREAMED (replies not one per message,
    ``streamed_response`` bodies): the streaming cases follow the mode the server picks."""
    from reference.engine import Engine
    from reference.extproc.server import serve_extproc
    from reference.store import open_store

    engine = Engine(open_store(":memory:"), None)
    handle = await serve_extproc(engine, "127.0.0.1", 0, sse_mode="full_duplex")
    try:
        ids = [c.id for c in EXTPROC_CASES if c.id != "extproc.store.get-equals-body"]
        results = await _run(reference, f"127.0.0.1:{handle.port}", ids)
    finally:
        await handle.stop(0)
        await engine.aclose()
    assert all(r.verdict is Verdict.PASS for r in results.values()), _explain(results)
    # the streaming cases really ran in FULL_DUPLEX_STREAMED
    stream_case = results["extproc.stream.buffered-fallback"]  # announced BUFFERED: overridden
    assert any("streamed_response" in (ex["response_body"] or "") for ex in stream_case.transcript)


# --------------------------------------------------------------------------- the helper module


def test_apply_mutations_removes_then_sets() -> None:
    reply = protos.ProcessingResponse(
        request_body=protos.BodyResponse(
            response=protos.CommonResponse(
                header_mutation=protos.HeaderMutation(
                    set_headers=[_hvo(":path", "/v1/chat/completions"), _hvo("content-length", "5")],
                    remove_headers=["content-length", "accept-encoding"],
                )
            )
        )
    )
    got = xp.apply_mutations(
        {":path": "/v1/responses", "content-length": "99", "accept-encoding": "gzip"}, [reply]
    )
    assert got == {":path": "/v1/chat/completions", "content-length": "5"}


def test_body_of_reads_body_and_streamed_response() -> None:
    plain = protos.ProcessingResponse(
        response_body=protos.BodyResponse(
            response=protos.CommonResponse(body_mutation=protos.BodyMutation(body=b"abc"))
        )
    )
    streamed = protos.ProcessingResponse(
        response_body=protos.BodyResponse(
            response=protos.CommonResponse(
                body_mutation=protos.BodyMutation(
                    streamed_response=protos.StreamedBodyResponse(body=b"xyz", end_of_stream=True)
                )
            )
        )
    )
    untouched = protos.ProcessingResponse(response_body=protos.BodyResponse())
    assert xp.body_of(plain) == b"abc"
    assert xp.body_of(streamed) == b"xyz"
    assert xp.body_of(untouched) is None


def test_header_values_are_sent_as_raw_value() -> None:
    msg = xp.request_headers(b"{}")
    assert all(h.raw_value and not h.value for h in msg.request_headers.headers.headers)
    assert xp.header_value(protos.HeaderValue(key="a", value="old")) == "old"


def test_chat_sse_is_a_complete_chat_stream() -> None:
    frames = xp.chat_sse(["a ", "b"])
    assert frames[-1] == b"data: [DONE]\n\n"
    texts = [json.loads(f[6:])["choices"][0]["delta"].get("content", "") for f in frames[:-1]]
    assert "".join(texts) == "a b"


def test_the_harness_never_imports_reference() -> None:
    import conformance.cases.extproc as cases_mod
    import conformance.extproc_client as client_mod

    for mod in (cases_mod, client_mod):
        source = Path(mod.__file__ or "").read_text(encoding="utf-8")
        assert "import reference" not in source and "from reference" not in source
