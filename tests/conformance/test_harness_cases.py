"""Every built-in case PASSes on a correct gateway and is caught on a deliberately broken one."""

from __future__ import annotations

import pytest

import conformance.cases  # noqa: F401  (registers the built-in cases)
from conformance.context import RunConfig
from conformance.model import REGISTRY, Level, Tier, Verdict
from conformance.profiles import PROFILES
from conformance.runner import run_cases
from tests.support.fake_gateway import FakeGateway, RunningFake

# case id -> (fault that breaks it, profile to run under)
BREAKS: dict[str, tuple[str, str]] = {
    "responses.create.required-fields": ("missing-field", "openai"),
    "responses.create.object-type": ("object", "openai"),
    "responses.create.id-prefix": ("id-prefix", "openai"),
    "responses.create.id-unique": ("id-reuse", "openai"),
    "responses.create.probe": ("create-null", "openai"),
    "responses.create.created-at": ("created-ms", "openai"),
    "responses.create.status-enum": ("status-bogus", "openai"),
    "responses.create.status-completed": ("status-in-progress", "openai"),
    "responses.create.model-echo": ("model-echo", "openai"),
    "responses.create.usage-arithmetic": ("usage-sum", "openai"),
    "responses.create.output-message-shape": ("no-message", "openai"),
    "responses.create.output-text-part-shape": ("part-shape", "openai"),
    "responses.create.content-type-json": ("content-type", "openai"),
    "responses.create.input-message-list": ("input-list-400", "openai"),
    "responses.create.echo-parameters": ("no-echo", "openai"),
    "responses.create.openapi-valid": ("missing-field", "openai"),
    "responses.create.scripted-exact-text": ("scripted-text-mangled", "openai"),
    "responses.stream.content-type": ("stream-ctype", "openai"),
    "responses.stream.json-frames": ("stream-garbage", "openai"),
    "responses.stream.created-first": ("stream-created-late", "openai"),
    "responses.stream.sequence-monotonic": ("stream-seq", "openai"),
    "responses.stream.sequence-contiguous": ("stream-seq-gap", "openai"),
    "responses.stream.event-field-matches-type": ("stream-event-field", "openai"),
    "responses.stream.single-terminal": ("stream-two-terminals", "openai"),
    "responses.stream.completed-status": ("stream-completed-status", "openai"),
    "responses.stream.created-in-progress": ("stream-created-status", "openai"),
    "responses.stream.deltas-concatenate": ("stream-deltas", "openai"),
    "responses.stream.final-equals-get": ("stream-not-stored", "openai"),
    "responses.stream.last-event-terminated": ("stream-unterminated", "openai"),
    "responses.stream.done-terminator": ("stream-done-flip", "openresponses"),
    "responses.stream.no-event-id": ("stream-event-id", "openresponses"),
    "responses.stream.no-done-terminator": ("stream-done-flip", "openai"),
    "responses.stream.scripted-deltas-word-pieces": ("stream-one-delta", "openai"),
    "responses.stream.scripted-backend-drop-fails": ("stream-drop-completed", "openai"),
    "responses.stream.scripted-error-event-shape": ("error-event-shape-flip", "openresponses"),
    "errors.object-shape": ("error-shape", "openai"),
    "errors.invalid-json": ("invalid-json-500", "openai"),
    "errors.missing-model": ("missing-model-200", "openai"),
    "errors.missing-model-param": ("missing-model-no-param", "openai"),
    "errors.unknown-response-404": ("unknown-400", "openai"),
    "errors.content-type-json": ("error-ctype", "openai"),
    "state.get-after-create": ("get-mismatch", "openai"),
    "state.store-false-not-retrievable": ("store-ignored", "openai"),
    "state.delete-then-get-404": ("delete-noop", "openai"),
    "state.delete-twice-404": ("delete-always-200", "openai"),
    "state.delete-unknown-404": ("delete-always-200", "openai"),
}

# the areas (``Case.area``) the fake gateway is written for
OWN_AREAS = {"errors", "responses.create", "responses.stream", "state"}


def _config(running: RunningFake, profile: str, openapi: bool) -> RunConfig:
    validator = None
    if openapi:
        from conformance.schema import SchemaValidator

        validator = SchemaValidator.for_profile(profile)
    return RunConfig(
        base_url=running.base_url,
        profile=PROFILES[profile],
        model="scripted",
        timeout=10,
        validator=validator,
    )


def test_every_built_in_case_has_a_fault() -> None:
    own = {c.id for c in REGISTRY.all() if c.area in OWN_AREAS}
    assert own == set(BREAKS), "add each new case of these modules to BREAKS"
    assert len(own) >= 30


@pytest.mark.parametrize("case_id", sorted(BREAKS))
async def test_case_passes_on_correct_and_is_caught_on_broken(gw: RunningFake, case_id: str) -> None:
    case = REGISTRY.get(case_id)
    fault, profile = BREAKS[case_id]
    gateway: FakeGateway = gw.gateway
    gateway.profile = profile
    gateway.scripted = case.tier is Tier.SCRIPTED
    openapi = case_id == "responses.create.openapi-valid"

    good = (await run_cases([case], _config(gw, profile, openapi))).results[0]
    assert good.verdict is Verdict.PASS, (good.message, good.expected, good.actual, good.traceback)

    gateway.broken = {fault}
    bad = (await run_cases([case], _config(gw, profile, openapi))).results[0]
    expected = Verdict.FAIL if case.level_for(profile) is Level.MUST else Verdict.NON_STRICT
    assert bad.verdict is expected, (bad.message, bad.traceback)
    assert bad.message
    assert bad.transcript, "a caught fault comes with the transcript that shows it"


async def test_scripted_cases_are_unimplemented_without_the_scripted_backend(gw: RunningFake) -> None:
    cases = [c for c in REGISTRY.all() if c.tier is Tier.SCRIPTED]
    assert cases
    run = await run_cases(cases, _config(gw, "openai", False))
    for r in run.results:
        assert r.verdict is Verdict.UNIMPLEMENTED
        assert "fixtures.backend" in r.message and "\n" not in r.message
    # the probe runs once per run, not once per case
    probes = [b for b in gw.gateway.requests if "[[probe:" in str(b.get("input"))]
    assert len(probes) == 1


async def test_profile_specific_cases_are_skipped_under_the_other_profile(gw: RunningFake) -> None:
    case = REGISTRY.get("responses.stream.done-terminator")
    run = await run_cases([case], _config(gw, "openai", False))
    assert run.results[0].verdict is Verdict.SKIPPED
    assert "openresponses" in run.results[0].message


async def test_openresponses_required_fields_catch_a_missing_openresponses_field(gw: RunningFake) -> None:
    case = REGISTRY.get("responses.create.required-fields")
    gw.gateway.broken = set()
    ok = (await run_cases([case], _config(gw, "openresponses", False))).results[0]
    assert ok.verdict is Verdict.PASS
    original = gw.gateway._response

    def without_truncation(*a, **kw):  # type: ignore[no-untyped-def]
        resp = original(*a, **kw)
        resp.pop("truncation")
        return resp

    gw.gateway._response = without_truncation  # type: ignore[method-assign]
    try:
        openai = (await run_cases([case], _config(gw, "openai", False))).results[0]
        orr = (await run_cases([case], _config(gw, "openresponses", False))).results[0]
    finally:
        del gw.gateway._response
    assert openai.verdict is Verdict.PASS  # truncation is not required by OpenAI's Response
    assert orr.verdict is Verdict.FAIL
    assert orr.actual == ["truncation"]


async def test_error_event_shape_is_checked_per_profile(gw: RunningFake) -> None:
    case = REGISTRY.get("responses.stream.scripted-error-event-shape")
    gw.gateway.scripted = True
    for profile in ("openai", "openresponses"):
        gw.gateway.profile = profile
        gw.gateway.broken = set()
        assert (await run_cases([case], _config(gw, profile, False))).results[0].verdict is Verdict.PASS
        gw.gateway.broken = {"error-event-shape-flip"}
        assert (await run_cases([case], _config(gw, profile, False))).results[0].verdict is Verdict.FAIL
    gw.gateway.broken = {"stream-drop-completed"}  # no error event at all: nothing to judge
    r = (await run_cases([case], _config(gw, "openai", False))).results[0]
    assert r.verdict is Verdict.SKIPPED and "no `error` stream event" in r.message
