"""The auth.* cases: PASS against a gateway that needs keys, FAIL against one that ignores them or
refuses a missing key with anything but 401 and an error object (the proofs that they catch the
bug), UNIMPLEMENTED when the run has no key, SKIPPED when the key only came from OPENAI_API_KEY
and the target does not need one."""

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


class _Rewrite(httpx.AsyncBaseTransport):
    """In front of the gateway: turns its 401 answers into what a broken gateway sends."""

    def __init__(self, inner: httpx.AsyncBaseTransport, status: int, body: bytes, ctype: str) -> None:
        self.inner, self.status, self.body, self.ctype = inner, status, body, ctype

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        resp = await self.inner.handle_async_request(request)
        if resp.status_code != 401:
            return resp
        await resp.aread()
        return httpx.Response(self.status, content=self.body, headers={"content-type": self.ctype})


async def _verdicts(
    tmp_path: Path,
    *,
    keys: bool,
    run_key: str | None,
    explicit: bool = True,
    rewrite: tuple[int, bytes, str] | None = None,
) -> dict[str, Verdict]:
    import conformance.cases  # noqa: F401 - registers the cases

    with respx.mock(assert_all_called=False) as router:
        mount(router, BACKEND)
        gateway = build_gateway(SQLiteStore(tmp_path / "db.sqlite"), Backend(BACKEND, timeout=5),
                                api_keys=parse_api_keys(f"{KEY} conformance") if keys else None)
        try:
            transport: httpx.AsyncBaseTransport = httpx.ASGITransport(app=gateway.http_app())
            if rewrite is not None:
                transport = _Rewrite(transport, *rewrite)
            config = RunConfig(base_url="http://gateway.test/v1", api_key=run_key,
                               api_key_explicit=explicit, transport=transport)
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


async def test_a_400_for_a_missing_key_is_a_fail(tmp_path: Path) -> None:
    body = (b'{"error": {"message": "No connected db.", "type": "invalid_request_error", '
            b'"param": null, "code": null}}')
    verdicts = await _verdicts(tmp_path, keys=True, run_key=KEY, rewrite=(400, body, "application/json"))
    assert verdicts["auth.api-key.missing-401"] is Verdict.FAIL
    assert verdicts["auth.api-key.wrong-401"] is Verdict.FAIL
    assert verdicts["auth.api-key.accepted"] is Verdict.PASS


async def test_a_401_without_an_error_object_is_a_fail(tmp_path: Path) -> None:
    verdicts = await _verdicts(tmp_path, keys=True, run_key=KEY, rewrite=(401, b"Unauthorized", "text/plain"))
    assert verdicts["auth.api-key.missing-401"] is Verdict.FAIL
    assert verdicts["auth.api-key.error-code"] is Verdict.NON_STRICT


async def test_another_error_code_is_non_strict_only(tmp_path: Path) -> None:
    body = b'{"error": {"message": "bad key", "type": "invalid_request_error", "param": null, "code": "k"}}'
    verdicts = await _verdicts(tmp_path, keys=True, run_key=KEY, rewrite=(401, body, "application/json"))
    assert verdicts["auth.api-key.missing-401"] is Verdict.PASS
    assert verdicts["auth.api-key.error-code"] is Verdict.NON_STRICT


async def test_a_key_only_from_openai_api_key_does_not_make_an_open_gateway_fail(tmp_path: Path) -> None:
    verdicts = await _verdicts(tmp_path, keys=False, run_key=KEY, explicit=False)
    assert verdicts["auth.api-key.missing-401"] is Verdict.SKIPPED
    assert verdicts["auth.api-key.wrong-401"] is Verdict.SKIPPED
    assert verdicts["auth.api-key.accepted"] is Verdict.PASS
