"""The auth.* cases: PASS against a gateway that needs keys, FAIL against one that ignores them
(the proof that they catch the bug), UNIMPLEMENTED when the run has no key."""

from __future__ import annotations

from pathlib import Path

import httpx
import respx

from conformance.context import RunConfig
from conformance.model import REGISTRY, Verdict
from conformance.runner import run_cases
from fixtures.backend.respx_routes import mount
from reference.auth import parse_api_keys
from reference.backend import Backend
from reference.gateway import build_gateway
from reference.store import SQLiteStore

BACKEND = "http://backend.test"
KEY = "sk-conformance-key-0001"


async def _verdicts(tmp_path: Path, *, keys: bool, run_key: str | None) -> dict[str, Verdict]:
    import conformance.cases  # noqa: F401 - registers the cases

    with respx.mock(assert_all_called=False) as router:
        mount(router, BACKEND)
        gateway = build_gateway(SQLiteStore(tmp_path / "db.sqlite"), Backend(BACKEND, timeout=5),
                                api_keys=parse_api_keys(f"{KEY} conformance") if keys else None)
        try:
            config = RunConfig(base_url="http://gateway.test/v1", api_key=run_key,
                               transport=httpx.ASGITransport(app=gateway.http_app()))
            cases = REGISTRY.select(["auth.*"])
            result = await run_cases(cases, config)
        finally:
            await gateway.aclose()
    return {r.case_id: r.verdict for r in result.results}


async def test_pass_on_a_keyed_gateway(tmp_path: Path) -> None:
    verdicts = await _verdicts(tmp_path, keys=True, run_key=KEY)
    assert verdicts and set(verdicts.values()) == {Verdict.PASS}, verdicts


async def test_fail_on_a_gateway_that_ignores_keys(tmp_path: Path) -> None:
    verdicts = await _verdicts(tmp_path, keys=False, run_key=KEY)
    assert verdicts["auth.api-key.missing-401"] != Verdict.PASS
    assert verdicts["auth.api-key.wrong-401"] != Verdict.PASS
    assert verdicts["auth.api-key.accepted"] == Verdict.PASS


async def test_unimplemented_without_a_run_key(tmp_path: Path) -> None:
    verdicts = await _verdicts(tmp_path, keys=False, run_key=None)
    assert set(verdicts.values()) == {Verdict.UNIMPLEMENTED}, verdicts
