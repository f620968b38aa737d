"""Levels per profile: a case is judged at the level the specification of the run's profile
gives it, and everything that reads a level (verdict, exit code, reports, ``list``, BLOCKED
results, the mutant scoring) reads that one."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from conformance.cli import main
from conformance.context import CaseContext, RunConfig
from conformance.model import Case, Level, ProfileLevel, Registry, Row, Verdict
from conformance.profiles import PROFILES
from conformance.reports import html_report, json_index, junit_tree, markdown_report
from conformance.results import CaseResult
from conformance.runner import blocked_result, run_cases
from fixtures.mutants.catalog import get_mutant
from fixtures.mutants.run import HarnessRun, MutantResult, Summary, killers_of

OR_SENTENCE = "The `event` field MUST match the `type` in the event body."
OR_SOURCE = "openresponses-spec-2026-04-24.md, Streaming HTTP Responses"


def _registry() -> Registry:
    reg = Registry()

    @reg.case(
        "t.event-type",
        Level.SHOULD,
        title="event equals type",
        spec="the OpenAI examples",
        source="openai-openapi.yaml",
        levels={"openresponses": (Level.MUST, OR_SENTENCE, OR_SOURCE)},
    )
    async def fails(ctx: CaseContext) -> None:
        ctx.check(False, "event field equals data.type", expected="a", actual="b")

    @reg.family(
        [Row("t.row", Level.MUST, "row", "oai", None, levels={"openresponses": (Level.SHOULD, "x", "y")})]
    )
    async def row(ctx: CaseContext, params: None) -> None:
        ctx.check(False, "row check")

    return reg


def _config(profile: str) -> RunConfig:
    transport = httpx.MockTransport(lambda request: httpx.Response(404))
    return RunConfig(base_url="http://gw.test/v1", transport=transport, timeout=2, profile=PROFILES[profile])


def test_the_case_carries_one_level_per_profile() -> None:
    case = _registry().get("t.event-type")
    assert case.level_for("openai") is Level.SHOULD and case.spec_for("openai") == "the OpenAI examples"
    assert case.level_for("openresponses") is Level.MUST
    assert case.spec_for("openresponses") == OR_SENTENCE and case.source_for("openresponses") == OR_SOURCE
    assert case.strongest_level() is Level.MUST
    row = _registry().get("t.row")
    assert (row.level_for("openai"), row.level_for("openresponses")) == (Level.MUST, Level.SHOULD)


@pytest.mark.parametrize(
    ("profile", "level", "verdict", "exit_code"),
    [("openai", Level.SHOULD, Verdict.NON_STRICT, 0), ("openresponses", Level.MUST, Verdict.FAIL, 1)],
)
async def test_a_failure_is_a_must_failure_only_where_the_profile_says_must(
    profile: str, level: Level, verdict: Verdict, exit_code: int
) -> None:
    reg = _registry()
    run = await run_cases([reg.get("t.event-type")], _config(profile))
    (result,) = run.results
    assert (result.level, result.verdict, run.exit_code) == (level, verdict, exit_code)
    case = reg.get("t.event-type")
    assert (result.spec, result.source) == (case.spec_for(profile), case.source_for(profile))
    # the JSON index and the Markdown report show the profile's level and sentence
    entry = json_index(run)["t.event-type"]
    assert (entry["level"], entry["spec"], entry["source"]) == (level.value, result.spec, result.source)
    assert f"| {verdict.value} | {level.value} | `t.event-type` |" in markdown_report(run)
    assert f"<span class='level'>{level.value}</span>" in html_report(run) and result.source in html_report(
        run
    )
    props = {p.get("name"): p.get("value") for p in junit_tree(run).iter("property")}
    assert props["level"] == level.value


def test_a_blocked_case_keeps_the_profiles_level() -> None:
    case = _registry().get("t.event-type")
    probe = CaseResult("p.probe", Level.MUST, "structural", "p", "probe", "s", Verdict.FAIL, message="500")
    for profile in ("openai", "openresponses"):
        r = blocked_result(case, probe, profile=profile)
        assert (r.verdict, r.level, r.spec) == (
            Verdict.BLOCKED,
            case.level_for(profile),
            case.spec_for(profile),
        )


def test_bad_per_profile_levels_are_refused() -> None:
    reg = Registry()

    async def f(ctx: CaseContext) -> None:
        return None

    with pytest.raises(ValueError, match="unknown profile"):
        reg.case("t.a", Level.MUST, title="t", spec="s", levels={"nope": (Level.MUST, "s", "x")})(f)
    with pytest.raises(ValueError, match="sentence and its source"):
        reg.case("t.b", Level.MUST, title="t", spec="s", levels={"openresponses": (Level.MUST, " ", "x")})(f)
    with pytest.raises(ValueError, match="does not run under"):
        reg.case(
            "t.c",
            Level.MUST,
            title="t",
            spec="s",
            profiles=("openai",),
            levels={"openresponses": ProfileLevel(Level.MUST, "s", "x")},
        )(f)


def test_list_shows_the_level_of_the_profile(capsys: pytest.CaptureFixture[str]) -> None:
    import conformance.cases  # noqa: F401
    from conformance.model import REGISTRY

    differing = [c for c in REGISTRY.all() if c.level_for("openai") != c.level_for("openresponses")]
    assert differing, "no case has a level of its own under openresponses"
    case: Case = differing[0]
    for profile in ("openai", "openresponses"):
        assert main(["list", "--cases", case.id, "--profile", profile]) == 0
        line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith(case.id))
        assert line.split()[1] == case.level_for(profile).value


def test_the_sse_event_field_case_is_must_under_openresponses_only() -> None:
    import conformance.cases  # noqa: F401
    from conformance.model import REGISTRY

    case = REGISTRY.get("responses.stream.event-field-matches-type")
    assert case.level_for("openai") is Level.SHOULD
    assert case.level_for("openresponses") is Level.MUST
    assert OR_SENTENCE in case.spec_for("openresponses")


# --------------------------------------------------------------------------- mutant scoring


def _run(level: str, verdict: str) -> HarnessRun:
    return HarnessRun({"t.event-type": {"level": level, "verdict": verdict}})


def test_the_mutant_scoring_reads_the_level_each_run_reported() -> None:
    must_or = get_mutant("gap.sse-event-name-mismatch-openresponses")
    should_oai = get_mutant("sse.event-name-mismatch")
    assert (must_or.profile, must_or.level) == ("openresponses", "MUST")
    assert (should_oai.profile, should_oai.level) == ("openai", "SHOULD")
    # under openresponses the case is a MUST: its FAIL kills the MUST mutant
    assert killers_of(must_or, _run("MUST", "PASS"), _run("MUST", "FAIL")) == ["t.event-type"]
    # under openai the same case is a SHOULD: NON_STRICT kills the SHOULD mutant, never a MUST one
    assert killers_of(should_oai, _run("SHOULD", "PASS"), _run("SHOULD", "NON_STRICT")) == ["t.event-type"]
    assert killers_of(must_or, _run("SHOULD", "PASS"), _run("SHOULD", "NON_STRICT")) == []


def test_a_case_must_under_one_profile_counts_as_a_must_case_for_weakness() -> None:
    baselines = {"http-openai": _run("SHOULD", "PASS"), "http-openresponses": _run("MUST", "PASS")}
    nothing = Summary([MutantResult(get_mutant("sse.swap-events"), [], {})], baselines, None)
    assert nothing.levels() == {"t.event-type": "MUST"}
    assert nothing.weak_cases() == ["t.event-type"]
    killed = Summary(
        [MutantResult(get_mutant("gap.sse-event-name-mismatch-openresponses"), ["t.event-type"], {})],
        baselines,
        None,
    )
    assert killed.weak_cases() == []


def test_proof_mutants_take_the_level_of_their_profile() -> None:
    from conformance.model import REGISTRY
    from fixtures.mutants.catalog import PROOF_MUTANTS

    for mt in PROOF_MUTANTS:
        levels = [REGISTRY.get(c).level_for(mt.profile) for c in mt.expect]
        assert mt.level == min(levels, key=[Level.MUST, Level.SHOULD, Level.INFO].index).value, mt.id


def test_the_report_json_is_serialisable(tmp_path: Path) -> None:
    r = CaseResult("a.b", Level.MUST, "structural", "a", "t", "s", Verdict.PASS, source="src")
    assert json.loads(json.dumps(r.as_dict()))["source"] == "src"
