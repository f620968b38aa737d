"""Every Responses case of the proof table PASSes through the mutant HTTP proxy with no fault
and is caught with its fault on (the `proof.mutproxy.*` faults of fixtures/mutants/proofs.py):
each fault imitates a plausible gateway bug (an ignored parameter, a dropped field, a wrong
status), and the case must FAIL (MUST) or be NON_STRICT (SHOULD/INFO)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest

import conformance.cases  # noqa: F401  (registers the cases)
from conformance.context import RunConfig
from conformance.model import REGISTRY
from conformance.profiles import PROFILES
from conformance.schema import SchemaValidator
from conformance.targets import RunningTarget
from fixtures.mutants.catalog import get_mutant
from fixtures.mutants.proofs import PROOFS
from fixtures.mutants.proxy import ThreadedProxy

# the case areas (``Case.area``) whose cases are proven here
_STREAM = ["stream.errors", "stream.finish", "stream.items", "stream.store", "stream.tools"]
_RESPONSES = [
    "background", "compact", "input", "input_tokens", "output", "params", "tools", "websocket", *_STREAM,
]
AREAS = {"errors.backend", "errors.params", "errors.routes", "state.chain", "state.input-items"}
AREAS |= {"state.probe"}
# cases of other areas proven here too
OTHERS = {"responses.create.probe"}
AREAS |= {f"responses.{a}" for a in _RESPONSES}
AREAS |= {"schemas.stream", "schemas.objects", "schemas.errors", "schemas.lists"}
PAIRS = [(c, f) for c, faults in PROOFS.items() for f in faults if f.startswith("proof.mutproxy.")]


def _config(proxy: ThreadedProxy) -> RunConfig:
    # the shipped schemas, as a harness run uses them by default
    return RunConfig(base_url=proxy.url, profile=PROFILES["openai"], model="scripted", timeout=30,
                     validator=SchemaValidator.for_profile("openai"))


def test_every_case_of_these_modules_has_a_proof() -> None:
    own = {c.id for c in REGISTRY.all() if c.area in AREAS} | OTHERS
    assert own == {c for c, _ in PAIRS}, "add each new case of these areas to proofs.PROOFS"
    assert len(own) >= 90


def test_the_proxy_is_transparent(proxy: ThreadedProxy, reference_target: RunningTarget) -> None:
    body = {"model": "scripted", "input": "[[text:same]]"}
    via = httpx.post(proxy.url + "/responses", json=body, timeout=30)
    direct = httpx.post(reference_target.base_url + "/responses", json=body, timeout=30)
    assert via.status_code == direct.status_code == 200
    strip = ("id", "created_at", "completed_at", "output")
    assert {k: v for k, v in via.json().items() if k not in strip} == {
        k: v for k, v in direct.json().items() if k not in strip
    }
    with httpx.stream("POST", proxy.url + "/responses", json={**body, "stream": True}, timeout=30) as r:
        text = r.read().decode()
    assert r.headers["content-type"].startswith("text/event-stream")
    assert "response.completed" in text


def test_a_fault_changes_the_answer(proxy: ThreadedProxy) -> None:
    proxy.set_mutant(get_mutant("proof.mutproxy.echo-temperature"))
    got = httpx.post(
        proxy.url + "/responses", json={"model": "scripted", "input": "x", "temperature": 0.2}, timeout=30
    )
    assert got.json()["temperature"] == 1.0


@pytest.mark.parametrize(("case_id", "fault_id"), PAIRS)
async def test_case_passes_on_reference_and_is_caught_when_broken(
    proxy: ThreadedProxy, prove: Callable[..., Awaitable[None]], case_id: str, fault_id: str
) -> None:
    await prove(case_id, _config(proxy), lambda: proxy.set_mutant(get_mutant(fault_id)))


async def test_a_gateway_that_keeps_nothing_is_one_fail_and_the_rest_blocked(proxy: ThreadedProxy) -> None:
    """Reading a stored response back answers 404 (a Responses-to-Chat bridge that stores nothing):
    the stored-responses probe FAILs once, every case that needs a stored response is BLOCKED by
    it, and the cases that need none still run."""
    from conformance.model import Verdict
    from conformance.runner import run_cases

    proxy.set_mutant(get_mutant("proof.mutproxy.stored-not-kept-404"))
    probe = REGISTRY.get("state.probe.retrieve")
    gated = [c for c in REGISTRY.all() if c.gated_by(probe)]
    free = [REGISTRY.get(i) for i in ("state.delete-unknown-404", "state.store-false-not-retrievable")]
    run = await run_cases([probe, *gated, *free], _config(proxy))
    verdicts = {r.case_id: r for r in run.results}
    assert verdicts.pop("state.probe.retrieve").verdict is Verdict.FAIL
    assert {verdicts.pop(c.id).verdict for c in free} == {Verdict.PASS}
    assert len(verdicts) == len(gated) >= 25
    assert {r.verdict for r in verdicts.values()} == {Verdict.BLOCKED}
    assert all(r.message.startswith("blocked by state.probe.retrieve: FAIL") for r in verdicts.values())


async def test_a_create_that_answers_null_is_one_fail_and_its_users_blocked(proxy: ThreadedProxy) -> None:
    """A non-streaming create answers 200 `null`: the create probe FAILs once; a case whose own
    create fails the same way is BLOCKED by it, a case that needs no non-streaming create (a
    stream, an invalid request) is still judged."""
    from conformance.model import Verdict
    from conformance.runner import run_cases

    proxy.set_mutant(get_mutant("proof.mutproxy.create-null"))
    users = ["responses.create.required-fields", "state.chain.metadata-persisted",
             "responses.params.temperature-echo", "responses.background.cancel-unknown-404"]
    others = ["responses.stream.sequence-monotonic", "errors.params.temperature-range"]
    ids = ["responses.create.probe", *users, *others]
    run = await run_cases([REGISTRY.get(i) for i in ids], _config(proxy))
    verdicts = {r.case_id: r for r in run.results}
    assert verdicts["responses.create.probe"].verdict is Verdict.FAIL
    for case_id in users:
        assert verdicts[case_id].verdict is Verdict.BLOCKED, (case_id, verdicts[case_id].message)
        assert verdicts[case_id].message.startswith("blocked by responses.create.probe: FAIL")
        assert verdicts[case_id].transcript  # what the case sent is still shown
    assert {verdicts[i].verdict for i in others} == {Verdict.PASS}
