"""Every issue-4 Responses case PASSes on the reference and is caught on a broken gateway.

The broken gateways are the reference behind ``MutatingProxy`` (fixtures/mutants/mutproxy.py, the
fixtures in tests/test_cases_mutproxy.py) with one mutation switched on; each case names the
mutation that must make it FAIL (MUST) or NON_STRICT (SHOULD/INFO), in
fixtures/mutants/responses_breaks.py (where the mutation runner promotes each into the catalog)."""

from __future__ import annotations

import pytest
from test_cases_mutproxy import MUTATIONS, ProxiedReference, mp, proxied_reference  # noqa: F401  (fixtures)

from conformance.context import RunConfig
from conformance.model import REGISTRY, Level, Verdict
from conformance.profiles import PROFILES
from conformance.runner import run_cases
from fixtures.mutants.responses_breaks import BREAKS, MODULES, REFERENCE_BUGS


def _config(mp: ProxiedReference, profile: str = "openai") -> RunConfig:  # noqa: F811
    return RunConfig(base_url=mp.base_url, profile=PROFILES[profile], model="scripted", timeout=30)


def test_every_new_case_has_a_break() -> None:
    own = {c.id for c in REGISTRY.all() if c.func.__module__ in MODULES}
    assert own == set(BREAKS) | set(REFERENCE_BUGS), "add each new case of these modules to BREAKS"
    assert not set(BREAKS) & set(REFERENCE_BUGS)
    assert len(own) >= 90


def test_every_mutation_is_used() -> None:
    used = set(BREAKS.values()) | {m for pair in REFERENCE_BUGS.values() for m in pair}
    assert used == set(MUTATIONS)


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


@pytest.mark.parametrize("case_id", sorted(REFERENCE_BUGS))
async def test_reference_bug_cases(mp: ProxiedReference, case_id: str) -> None:  # noqa: F811
    """The reference fails these today; a proxy that fixes the bug makes the case PASS, and a
    gateway that ignores the bad parameter is caught."""
    case = REGISTRY.get(case_id)
    fix, broken = REFERENCE_BUGS[case_id]
    expected_bad = Verdict.FAIL if case.level is Level.MUST else Verdict.NON_STRICT
    plain = (await run_cases([case], _config(mp))).results[0]
    assert plain.verdict in (Verdict.PASS, expected_bad), (plain.message, plain.traceback)

    mp.proxy.active = {fix}
    fixed = (await run_cases([case], _config(mp))).results[0]
    assert fixed.verdict is Verdict.PASS, (fixed.message, fixed.expected, fixed.actual, fixed.traceback)

    mp.proxy.active = {broken}
    bad = (await run_cases([case], _config(mp))).results[0]
    assert bad.verdict is expected_bad, (bad.message, bad.traceback)
