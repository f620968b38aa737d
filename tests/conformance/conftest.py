"""Fixtures shared by the tests of this folder."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator

import pytest

from conformance.context import RunConfig
from conformance.model import REGISTRY, Level, Verdict
from conformance.runner import run_cases
from conformance.targets import RunningTarget, builtin_target
from fixtures.mutants.proxy import ThreadedProxy
from tests.support.fake_gateway import FakeGateway, RunningFake


@pytest.fixture(scope="module")
def fake() -> Iterator[RunningFake]:
    running = RunningFake(FakeGateway()).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def gw(fake: RunningFake) -> Iterator[RunningFake]:
    """The module's fake gateway, reset to correct behaviour for each test."""
    fake.gateway.broken = set()
    fake.gateway.scripted = False
    fake.gateway.profile = "openai"
    fake.gateway.requests = []
    yield fake
    fake.gateway.broken = set()


# --------------------------------------------------------------------------- the mutant rigs


@pytest.fixture(scope="module")
def reference_target() -> Iterator[RunningTarget]:
    """The built-in reference target (scripted backend + gateway with ext_proc + MCP server)."""
    with builtin_target("reference", timeout=60) as target:
        assert target.extproc, "the reference target must print its ext_proc address"
        yield target


@pytest.fixture(scope="module")
def mutating_proxy(reference_target: RunningTarget) -> Iterator[ThreadedProxy]:
    """The HTTP/SSE mutant proxy (fixtures/mutants/proxy.py) in front of the reference."""
    proxy = ThreadedProxy(reference_target.base_url)
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def proxy(mutating_proxy: ThreadedProxy) -> Iterator[ThreadedProxy]:
    """The mutant proxy with no fault on; a test switches one on with `set_mutant`."""
    mutating_proxy.set_mutant(None)
    yield mutating_proxy
    mutating_proxy.set_mutant(None)


@pytest.fixture
def prove() -> Callable[..., Awaitable[None]]:
    """``await prove(case_id, config, switch)``: the case PASSes on the healthy rig, then
    ``switch()`` breaks it and the case FAILs (NON_STRICT for a SHOULD case), with a message
    and the transcript that shows it."""

    async def check(case_id: str, config: RunConfig, switch: Callable[[], object]) -> None:
        case = REGISTRY.get(case_id)
        good = (await run_cases([case], config)).results[0]
        assert good.verdict is Verdict.PASS, (good.message, good.expected, good.actual, good.traceback)
        switch()
        bad = (await run_cases([case], config)).results[0]
        # judged at the level the run's profile gives the case
        expected = Verdict.FAIL if case.level_for(config.profile.name) is Level.MUST else Verdict.NON_STRICT
        assert bad.verdict is expected, (bad.verdict, bad.message, bad.expected, bad.actual, bad.traceback)
        assert bad.message
        assert bad.transcript, "a caught fault comes with the transcript that shows it"

    return check
