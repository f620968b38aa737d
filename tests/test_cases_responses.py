"""Every issue-4 Responses case PASSes on the reference and is caught on a broken gateway.

The broken gateways are the reference behind ``MutatingProxy`` (fixtures/mutants/mutproxy.py, the
fixtures in tests/test_cases_mutproxy.py) with one mutation switched on; each case names the
mutation that must make it FAIL (MUST) or NON_STRICT (SHOULD/INFO), in
fixtures/mutants/responses_breaks.py (where the mutation runner promotes each into the catalog)."""

from __future__ import annotations

import pytest
from test_cases_mutproxy import MUTATIONS, ProxiedReference, mp, proxied_reference  # noqa: F401  (fixtures)

import conformance.cases  # noqa: F401  (registers the built-in cases)
from conformance.context import RunConfig
from conformance.model import REGISTRY, Level, Verdict
from conformance.profiles import PROFILES
from conformance.runner import run_cases
from fixtures.mutants.responses_breaks import AREAS, BREAKS


def _config(mp: ProxiedReference, profile: str = "openai") -> RunConfig:  # noqa: F811
    return RunConfig(base_url=mp.base_url, profile=PROFILES[profile], model="scripted", timeout=30)


def test_every_new_case_has_a_break() -> None:
    own = {c.id for c in REGISTRY.all() if c.area in AREAS}
    assert own == set(BREAKS), "add each new case of these areas to BREAKS"
    assert len(own) >= 90


def test_every_mutation_is_used() -> None:
    assert set(BREAKS.values()) == set(MUTATIONS)


@pytest.mark.parametrize("case_id", sorted(BREAKS))
async def test_case_passes_on_reference_and_is_caught_when_broken(mp: ProxiedReference, case_id: str) -> None:  # noqa: F811
    case = REGISTRY.get(case_id)
    good = (await run_cases([case], _config(mp))).results[0]
    assert good.verdict is Verdict.PASS, (good.message, good.expected, good.actual, good.traceback)

    mp.proxy.active = {BREAKS[case_id]}
    bad = (await run_cases([case], _config(mp))).results[0]
    expected = Verdict.FAIL if case.level is Level.MUST else Verdict.NON_STRICT
    assert bad.verdict is expected, (bad.message, bad.expected, bad.actual, bad.traceback)
    assert bad.message
    assert bad.transcript, "a caught fault comes with the transcript that shows it"
