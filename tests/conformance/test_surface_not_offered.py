"""A gateway that offers create, stream and the stateful APIs but not WebSocket mode, compaction
or token counts (the reference behind the mutant proxy answering 404 there) gets UNIMPLEMENTED
from those cases, never a wall of FAILs."""

from __future__ import annotations

import pytest

import conformance.cases  # noqa: F401  (registers the cases)
from conformance.context import RunConfig
from conformance.model import REGISTRY, Verdict
from conformance.profiles import PROFILES
from conformance.runner import run_cases
from fixtures.mutants.proxy import ThreadedProxy
from fixtures.mutants.vocabulary import Answer, Exchange, HttpFault, Mutant, WebSocketFault

AREAS = ("responses.websocket", "responses.compact", "responses.input_tokens")


def _not_offered(ex: Exchange) -> Answer | None:
    if ex.route.rstrip("/") in ("/responses/compact", "/responses/input_tokens"):
        return Answer.of_json(404, {"error": {"message": f"Invalid URL (POST {ex.path})", "type":
                                              "invalid_request_error", "param": None, "code": None}})
    return None


WITHOUT_SURFACE = Mutant(
    "test.surface-not-offered", "no WebSocket mode, compact or input_tokens", "", "test",
    http=lambda: HttpFault(request=_not_offered, websocket=WebSocketFault(offered=False)),
)


@pytest.mark.parametrize("profile", ["openai", "openresponses"])
async def test_missing_surfaces_are_unimplemented(proxy: ThreadedProxy, profile: str) -> None:
    proxy.set_mutant(WITHOUT_SURFACE)
    cases = [c for c in REGISTRY.all() if c.area in AREAS and profile in c.profiles]
    config = RunConfig(base_url=proxy.url, profile=PROFILES[profile], model="scripted", timeout=30)
    results = {r.case_id: r for r in (await run_cases(cases, config)).results}
    verdicts = {cid: r.verdict for cid, r in results.items()}
    # An upgrade refused with a 404 is an honest answer: that one case passes.
    assert verdicts.pop("responses.websocket.upgrade-answered") is Verdict.PASS
    assert verdicts and set(verdicts.values()) == {Verdict.UNIMPLEMENTED}, {
        cid: (v, results[cid].message) for cid, v in verdicts.items() if v is not Verdict.UNIMPLEMENTED}
