"""Proving the ``extproc.*`` conformance cases: each PASSes on the reference ext_proc server and
through the mutant ext_proc proxy with no fault, and FAILs (NON_STRICT for a SHOULD) with each
of its faults on (the `proof.extproc.*` faults of fixtures/mutants/proofs.py).

The ext_proc proxy (fixtures/mutants/extproc_proxy.py) relays every ``Process`` stream to the
reference's ext_proc port (``--target reference``) and breaks one protocol rule on the way,
imitating a plausible processor bug: the wrong reply kind, a stale content-length, a header
carrying the request, a 200 for bad input, a masked upstream error, a missing mode_override, a
stream left open...
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

import protos
from conformance import extproc_client as xp
from conformance.context import RunConfig
from conformance.model import REGISTRY, Level, Verdict
from conformance.runner import run_cases
from conformance.targets import RunningTarget, builtin_target
from fixtures.mutants.catalog import get_mutant
from fixtures.mutants.extproc_proxy import serve_extproc_proxy
from fixtures.mutants.faults.extproc import hvo, on_chat
from fixtures.mutants.proofs import PROOFS, proven_by
from fixtures.mutants.vocabulary import ExtProcFault

EXTPROC_CASES = [c for c in REGISTRY.all() if c.id.startswith("extproc.")]
FAULTS = sorted({f for faults in PROOFS.values() for f in faults if f.startswith("proof.extproc.")})

# --------------------------------------------------------------------------- fixtures and helpers


async def _run(
    target: RunningTarget, extproc: str | None, case_ids: list[str], timeout: float = 3.0
) -> dict[str, Any]:
    config = RunConfig(base_url=target.base_url, extproc=extproc, timeout=timeout, target_name="test")
    cases = [REGISTRY.get(i) for i in case_ids]
    result = await run_cases(cases, config)
    return {r.case_id: r for r in result.results}


async def _run_with_fault(target: RunningTarget, fault: str | None, case_ids: list[str]) -> dict[str, Any]:
    assert target.extproc is not None
    proxy = await serve_extproc_proxy(target.extproc, get_mutant(fault).new_extproc if fault else None)
    try:
        return await _run(target, f"127.0.0.1:{proxy.port}", case_ids)
    finally:
        await proxy.stop(0)


def _explain(results: dict[str, Any]) -> str:
    return "\n".join(f"{i}: {r.verdict} {r.message} {r.actual!r}"[:600] for i, r in results.items())


# --------------------------------------------------------------------------- tests


def test_at_least_24_extproc_cases_each_with_a_fault() -> None:
    ids = {c.id for c in EXTPROC_CASES}
    assert len(ids) >= 24
    proven = {c for c, faults in PROOFS.items() if any(f in FAULTS for f in faults)}
    assert ids == proven, f"missing proofs: {ids - proven}, unknown: {proven - ids}"
    for c in EXTPROC_CASES:
        assert c.spec and c.source, c.id


async def test_every_case_passes_on_the_reference(reference_target: RunningTarget) -> None:
    results = await _run(
        reference_target, reference_target.extproc, [c.id for c in EXTPROC_CASES], timeout=10
    )
    assert all(r.verdict is Verdict.PASS for r in results.values()), _explain(results)


async def test_every_case_passes_through_the_transparent_relay(reference_target: RunningTarget) -> None:
    results = await _run_with_fault(reference_target, None, [c.id for c in EXTPROC_CASES])
    assert all(r.verdict is Verdict.PASS for r in results.values()), _explain(results)


@pytest.mark.parametrize("fault", FAULTS)
async def test_each_fault_is_caught(reference_target: RunningTarget, fault: str) -> None:
    """Every case killed by this fault ends FAIL (MUST) or NON_STRICT (SHOULD)."""
    targets = proven_by(fault)
    results = await _run_with_fault(reference_target, fault, targets)
    for cid in targets:
        r = results[cid]
        want = Verdict.FAIL if REGISTRY.get(cid).level is Level.MUST else Verdict.NON_STRICT
        assert r.verdict is want, f"{cid} under fault {fault}: {r.verdict} {r.message} {r.actual!r}"


async def test_without_extproc_the_cases_are_skipped(reference_target: RunningTarget) -> None:
    results = await _run(
        reference_target, None, ["extproc.health.serving-overall", "extproc.stream.event-stream"]
    )
    assert {r.verdict for r in results.values()} == {Verdict.SKIPPED}


async def test_a_dead_processor_is_an_error_not_a_pass(reference_target: RunningTarget) -> None:
    """Nothing listening: the transport fault must not read as PASS."""
    server = grpc.aio.server()
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await server.stop(0)  # the port is now closed
    results = await _run(
        reference_target, f"127.0.0.1:{port}", ["extproc.request-body.reply-kind"], timeout=2
    )
    assert results["extproc.request-body.reply-kind"].verdict in (Verdict.FAIL, Verdict.ERROR)


async def test_cases_pass_on_a_full_duplex_streaming_processor(reference_target: RunningTarget) -> None:
    """The reference servicer switched to FULL_DUPLEX_STREAMED (replies not one per message,
    ``streamed_response`` bodies): the streaming cases follow the mode the server picks."""
    from reference.extproc.server import serve_extproc
    from reference.gateway import build_gateway
    from reference.store import open_store

    gateway = build_gateway(open_store(":memory:"), None)
    handle = await serve_extproc(gateway.engine, "127.0.0.1", 0, sse_mode="full_duplex")
    try:
        ids = [c.id for c in EXTPROC_CASES if c.id != "extproc.store.get-equals-body"]
        results = await _run(reference_target, f"127.0.0.1:{handle.port}", ids)
    finally:
        await handle.stop(0)
        await gateway.aclose()
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
                    set_headers=[hvo(":path", "/v1/chat/completions"), hvo("content-length", "5")],
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


# --------------------------------------------------------------------------- a Responses upstream


@pytest.fixture(scope="module")
def responses_upstream_target() -> Iterator[RunningTarget]:
    """The reference with `--backend-api responses`: its processor sends the model call to a
    stateless `POST .../responses`, a legitimate alternative to Chat Completions."""
    with builtin_target("reference-responses-upstream", timeout=60) as target:
        yield target


async def test_every_case_passes_on_a_responses_upstream(responses_upstream_target: RunningTarget) -> None:
    target = responses_upstream_target
    results = await _run(target, target.extproc, [c.id for c in EXTPROC_CASES], timeout=10)
    assert all(r.verdict is Verdict.PASS for r in results.values()), _explain(results)


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda body: body.pop("store"), id="store-omitted"),
        pytest.param(lambda body: body.update(previous_response_id="resp_upstream"), id="chain-forwarded"),
    ],
)
async def test_a_stateful_responses_upstream_request_fails(
    responses_upstream_target: RunningTarget, edit: Callable[[dict[str, Any]], None]
) -> None:
    """Sending the model server a request it would store (the API stores by default) or one that
    leaves the chain to it is caught by the request-body cases."""
    assert responses_upstream_target.extproc is not None
    proxy = await serve_extproc_proxy(
        responses_upstream_target.extproc, lambda: ExtProcFault(reply=on_chat(edit))
    )
    try:
        results = await _run(
            responses_upstream_target, f"127.0.0.1:{proxy.port}", ["extproc.request-body.chat-request"]
        )
    finally:
        await proxy.stop(0)
    assert results["extproc.request-body.chat-request"].verdict is Verdict.FAIL, _explain(results)
