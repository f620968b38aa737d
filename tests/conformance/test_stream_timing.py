"""The streaming timing cases (conformance/cases/responses/stream/timing.py): their arithmetic, the
buffering mutants and valid transforms they are proven against, and the cases themselves on the
reference directly, behind the mutating proxy with each buffering fault (FAIL) and each valid
transform (PASS), and behind the healthy MutatingProxy rig.

`STREAM_TIMING_REPEAT=20 pytest tests/conformance/test_stream_timing.py -k repeated` repeats the verdicts
(default 1 run) to show they do not flicker on a loaded machine (conformance/README.md,
"Streaming timing", says how it was measured)."""

from __future__ import annotations

import json
import os
import time
import tomllib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from conformance import timing
from conformance.context import RunConfig
from conformance.model import REGISTRY, Verdict
from conformance.runner import CaseResult, run_cases
from conformance.targets import RunningTarget, builtin_target
from devstack.stack import Stack, StackConfig
from fixtures import mcp_server
from fixtures.mutants.catalog import ALL, get_mutant
from fixtures.mutants.faults import streaming as m
from fixtures.mutants.proxy import ProxyHandle, start_proxy
from fixtures.mutants.sse import Frame
from fixtures.mutants.valid import VALID, VALID_TRANSFORMS, CoalescePairs, CommentEveryEvent, Rechunk
from fixtures.mutants.vocabulary import Mutant, StreamMutator

TIMING = "responses.stream.timing*"
REPEAT = int(os.environ.get("STREAM_TIMING_REPEAT", "1"))


# --------------------------------------------------------------------------- arithmetic


def test_gap_span_and_bursts() -> None:
    times = [10.0, 210.0, 215.0, 420.0, 1400.0]
    assert timing.max_gap(times) == 980.0
    assert timing.span(times) == 1390.0
    assert timing.bursts(times, join_ms=50) == [1, 2, 1, 1]
    assert timing.max_gap([5.0]) == timing.span([5.0]) == 0.0
    assert timing.bursts([], join_ms=50) == []


def test_summary_reports_ttfb_and_spread() -> None:
    got = timing.summarize([1.0, 200.0, 400.0, 600.0], [200.0, 400.0, 600.0]).as_dict()
    assert got == {
        "events": 4,
        "first_event_ms": 1.0,
        "last_event_ms": 600.0,
        "ttfb_ms": 200.0,
        "deltas": 3,
        "delta_span_ms": 400.0,
        "delta_max_gap_ms": 200.0,
        "delta_median_gap_ms": 200.0,
        "event_span_ms": 599.0,
    }


def test_held_to_the_end_is_only_the_unmistakable_shape() -> None:
    held = [995.0, 996.0, 998.0]
    assert timing.held_to_the_end(held, 1000.0, within_ms=15, tail=0.2)
    assert not timing.held_to_the_end([10.0, 500.0, 998.0], 1000.0, within_ms=15, tail=0.2)
    # everything at once but right at the start (a fast model) is not a held stream
    assert not timing.held_to_the_end([10.0, 11.0, 12.0], 1000.0, within_ms=15, tail=0.2)
    assert not timing.held_to_the_end([998.0], 1000.0, within_ms=15, tail=0.2)


# --------------------------------------------------------------------------- mutations


def _frames(n: int, tool_at: int | None = None) -> list[Frame]:
    out = []
    for i in range(n):
        if i == tool_at:
            payload = {
                "type": "response.output_item.added",
                "sequence_number": i,
                "item": {"type": "function_call"},
            }
        else:
            payload = {"type": "response.output_text.delta", "sequence_number": i, "delta": f"w{i} "}
        out.append(Frame.from_payload(payload))
    return out


def _emitted(mutator: StreamMutator, frames: list[Frame]) -> list[list[int]]:
    """Sequence numbers emitted after each fed frame, then at close."""
    out = [[(f.payload or {}).get("sequence_number", -1) for f in mutator.feed(fr)] for fr in frames]
    return [*out, [(f.payload or {}).get("sequence_number", -1) for f in mutator.close()]]


def test_hold_stream_sends_everything_at_the_end() -> None:
    assert _emitted(m.HoldStream(), _frames(3)) == [[], [], [], [0, 1, 2]]


def test_hold_until_tool_call_streams_after_it() -> None:
    assert _emitted(m.HoldUntilToolCall(), _frames(4, tool_at=1)) == [[], [0, 1], [2], [3], []]
    assert _emitted(m.HoldUntilToolCall(), _frames(2)) == [[], [], [0, 1]]


def test_flush_every_n_sends_batches() -> None:
    assert _emitted(m.FlushEvery(2), _frames(5)) == [[], [0, 1], [], [2, 3], [], [4]]


def test_valid_transforms_keep_every_event_and_delay_at_most_one() -> None:
    frames = _frames(3)
    commented = [f for fr in frames for f in CommentEveryEvent().feed(fr)]
    assert [f.raw for f in commented[::2]] == [b": keep-alive\n\n"] * 3
    assert commented[1::2] == frames
    assert _emitted(CoalescePairs(), frames) == [[], [0, 1], [], [2]]
    raw = b"".join(f.raw for f in frames)
    pieces = Rechunk(7).pieces(raw)
    assert b"".join(pieces) == raw and max(map(len, pieces)) == 7


def test_buffering_mutants_are_targeted_and_valid_transforms_are_not_run() -> None:
    buffering = ("gap.stream-held-whole", "gap.stream-held-until-tool-call", "gap.stream-flush-every-8")
    for mutant in (*buffering, "gap.websocket-turn-held"):
        mt = get_mutant(mutant)
        assert mt.level == "MUST" and "responses.stream.timing.*" in mt.targeted, mt
    assert not {mt.id for mt in ALL} & set(VALID_TRANSFORMS)


# --------------------------------------------------------------------------- the cases, live


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningTarget]:
    """The built-in `reference` target (scripted backend, gateway, MCP fixture server)."""
    with builtin_target("reference", workdir=Path(tmp_path_factory.mktemp("timing"))) as target:
        yield target


async def _verdicts(
    target: RunningTarget, base_url: str | None = None, cases: str = TIMING
) -> dict[str, Verdict]:
    config = RunConfig(
        base_url=base_url or target.base_url,
        model="scripted",
        timeout=30,
        mcp_server_url=target.mcp_server_url,
    )
    run = await run_cases(REGISTRY.select([cases]), config)
    _log(base_url or target.base_url, run.results)
    return {r.case_id: r.verdict for r in run.results}


def _log(where: str, results: list[CaseResult]) -> None:
    """With STREAM_TIMING_LOG=FILE, one JSON line per case: verdict, message, what was measured."""
    path = os.environ.get("STREAM_TIMING_LOG")
    if not path:
        return
    with open(path, "a") as out:
        for r in results:
            row = {"t": time.time(), "target": where, "case": r.case_id, "verdict": r.verdict.value}
            row.update(message=r.message, actual=r.actual, notes=r.notes[-1:])
            out.write(json.dumps(row, default=str) + "\n")


@pytest.fixture
async def proxy_for(reference: RunningTarget) -> AsyncIterator[object]:
    started: list[ProxyHandle] = []

    async def start(mutant: str) -> ProxyHandle:
        chosen: Mutant | str = VALID_TRANSFORMS.get(mutant) or mutant
        handle = await start_proxy(chosen, reference.base_url, quiet=True)
        started.append(handle)
        return handle

    yield start
    for handle in started:
        await handle.stop()


def test_the_timing_cases_exist() -> None:
    ids = {c.id for c in REGISTRY.select([TIMING])}
    assert ids == {
        "responses.stream.timing.first-delta-early",
        "responses.stream.timing.delta-spacing",
        "responses.stream.timing.created-early",
        "responses.stream.timing.function-call-arguments",
        "responses.stream.timing.hosted-mcp",
        "responses.stream.timing.hosted-file-search",
        "responses.stream.timing.not-held",
        "responses.stream.timing.websocket",
    }


async def test_every_timing_case_passes_on_the_reference(reference: RunningTarget) -> None:
    got = await _verdicts(reference)
    assert set(got.values()) == {Verdict.PASS}, got


@pytest.mark.parametrize("valid", [v.id for v in VALID])
async def test_valid_transforms_pass(reference: RunningTarget, proxy_for: object, valid: str) -> None:
    handle = await proxy_for(valid)  # type: ignore[operator]
    got = await _verdicts(reference, handle.url)
    assert set(got.values()) == {Verdict.PASS}, got


# The cases each buffering mutant must FAIL (MUST) or turn NON_STRICT (the SHOULD created-early).
CAUGHT = {
    "gap.stream-held-whole": {
        "responses.stream.timing.first-delta-early": Verdict.FAIL,
        "responses.stream.timing.delta-spacing": Verdict.FAIL,
        "responses.stream.timing.created-early": Verdict.NON_STRICT,
        "responses.stream.timing.function-call-arguments": Verdict.FAIL,
        "responses.stream.timing.hosted-mcp": Verdict.FAIL,
        "responses.stream.timing.hosted-file-search": Verdict.FAIL,
        "responses.stream.timing.not-held": Verdict.FAIL,
    },
    # a plain text answer is held to the end; with a tool call the rest streams
    "gap.stream-held-until-tool-call": {
        "responses.stream.timing.first-delta-early": Verdict.FAIL,
        "responses.stream.timing.delta-spacing": Verdict.FAIL,
        "responses.stream.timing.created-early": Verdict.NON_STRICT,
        "responses.stream.timing.function-call-arguments": Verdict.PASS,
        "responses.stream.timing.hosted-mcp": Verdict.PASS,
        "responses.stream.timing.hosted-file-search": Verdict.PASS,
        "responses.stream.timing.not-held": Verdict.FAIL,
    },
    # WebSocket mode: a turn's events held until it ends; the HTTP streams are untouched
    "gap.websocket-turn-held": {
        "responses.stream.timing.websocket": Verdict.FAIL,
        "responses.stream.timing.first-delta-early": Verdict.PASS,
    },
    # batches of 8 events: the text arrives in bursts 7 chunk intervals apart (the limit is 6)
    "gap.stream-flush-every-8": {
        "responses.stream.timing.delta-spacing": Verdict.FAIL,
    },
}


@pytest.mark.parametrize("mutant", sorted(CAUGHT))
async def test_buffering_mutants_are_caught(reference: RunningTarget, proxy_for: object, mutant: str) -> None:
    handle = await proxy_for(mutant)  # type: ignore[operator]
    got = await _verdicts(reference, handle.url)
    want = CAUGHT[mutant]
    assert {k: got[k] for k in want} == want, got
    assert get_mutant(mutant).level == "MUST"


@pytest.mark.parametrize("run", range(REPEAT))
async def test_repeated_verdicts_do_not_flicker(
    reference: RunningTarget, proxy_for: object, run: int
) -> None:
    """One round: the reference and the valid coalescing transform PASS every timing case, the
    batching mutant FAILs the spacing case (the whole-stream mutant cannot pass by chance: it
    scores 0 ms on every measure)."""
    got = await _verdicts(reference)
    assert set(got.values()) == {Verdict.PASS}, ("reference", got)
    pairs = await proxy_for("valid.stream-coalesced-pairs")  # type: ignore[operator]
    got = await _verdicts(reference, pairs.url)
    assert set(got.values()) == {Verdict.PASS}, ("coalesced pairs", got)
    batches = await proxy_for("gap.stream-flush-every-8")  # type: ignore[operator]
    spacing = "responses.stream.timing.delta-spacing"
    got = await _verdicts(reference, batches.url, spacing)
    assert got == {spacing: Verdict.FAIL}, ("flush every 8", got)


# --------------------------------------------------------------------------- through Envoy

WAIVERS = tomllib.loads((Path(__file__).parents[2] / "envoy" / "conformance-waivers.toml").read_text())[
    "waivers"
]


@pytest.fixture(scope="module", params=["streamed", "full_duplex"])
def envoy_stack(request: pytest.FixtureRequest) -> Iterator[tuple[Stack, str]]:
    """`responses-gateway up` (default request mode) with each response body mode, and the MCP
    fixture server."""
    mcp = mcp_server.start()
    try:
        # a generous start-up time: the point is the timing of streams, on a loaded machine
        with Stack(StackConfig(mode=request.param, startup_timeout=120)) as stack:
            yield stack, mcp.url
    finally:
        mcp.stop()


async def test_envoy_verdicts_do_not_flicker(envoy_stack: tuple[Stack, str]) -> None:
    """Through Envoy every timing case PASSes in every run, the hosted-tool streams included
    (the processor hands them to the gateway's HTTP server, which streams them), with none of
    them waived."""
    stack, mcp_url = envoy_stack
    config = RunConfig(
        base_url=stack.envoy_url + "/v1",
        model="scripted",
        timeout=30,
        mcp_server_url=mcp_url,
        waivers=WAIVERS,
    )
    assert not [case for case in WAIVERS if case.startswith("responses.stream.timing.")]
    for _ in range(REPEAT):
        run = await run_cases(REGISTRY.select([TIMING]), config)
        got = {r.case_id: r.verdict for r in run.results}
        assert got == dict.fromkeys(got, Verdict.PASS), got
        assert len(got) == 8


async def test_envoy_hosted_tool_streams_held_by_a_mutant_fail(envoy_stack: tuple[Stack, str]) -> None:
    """The hosted-tool cases that PASS through Envoy FAIL when a proxy in front of Envoy holds
    the stream: what they see through Envoy is the gateway's live stream, not a fluke."""
    stack, mcp_url = envoy_stack
    handle = await start_proxy("gap.stream-held-whole", stack.envoy_url + "/v1", quiet=True)
    try:
        config = RunConfig(base_url=handle.url, model="scripted", timeout=30, mcp_server_url=mcp_url)
        run = await run_cases(REGISTRY.select(["responses.stream.timing.hosted-*"]), config)
    finally:
        await handle.stop()
    got = {r.case_id: r.verdict for r in run.results}
    assert got == {"responses.stream.timing.hosted-mcp": Verdict.FAIL,
                   "responses.stream.timing.hosted-file-search": Verdict.FAIL}, got
