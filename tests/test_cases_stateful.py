"""Every stateful-API case (files, vector stores, conversations, prompts, connectors, hosted tool
flows) PASSes on the reference and is caught on a broken gateway.

The broken gateways are the reference (with the scripted backend and ``fixtures.mcp_server``,
started like ``--target reference``) behind ``StatefulProxy``, a ``MutatingProxy``
with its own mutation table (both in fixtures/mutants: stateful.py, mutproxy.py, where the mutation
runner promotes each mutation into the catalog): each mutation imitates one plausible
gateway bug (an ignored parameter, a no-op delete, a dropped field, a wrong status). Each case
names the mutation that must make it FAIL (MUST) or NON_STRICT (SHOULD/INFO)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from conformance.model import REGISTRY, Level, Verdict
from conformance.runner import run_cases
from conformance.sse import SSEParser
from conformance.targets import builtin_target
from fixtures.mutants.mutproxy import Exchange, RunningProxy
from fixtures.mutants.stateful import (
    BREAKS,
    MODULES,
    SMUT,
    Proxied,
    SMutation,
    StatefulProxy,
    rx,
)


@pytest.fixture(scope="module")
def stateful_reference() -> Iterator[Proxied]:
    with builtin_target("reference") as target:
        root = target.base_url.rstrip("/").removesuffix("/v1")
        running = RunningProxy(StatefulProxy(root)).start()
        try:
            yield Proxied(running, target.mcp_server_url)
        finally:
            running.stop()


@pytest.fixture
def sp(stateful_reference: Proxied) -> Iterator[Proxied]:
    stateful_reference.proxy.active = set()
    yield stateful_reference
    stateful_reference.proxy.active = set()


def test_every_case_has_a_break() -> None:
    own = {c.id for c in REGISTRY.all() if c.func.__module__ in MODULES}
    assert own == set(BREAKS), (sorted(own - set(BREAKS)), sorted(set(BREAKS) - own))
    assert len(own) >= 120
    assert set(BREAKS.values()) == set(SMUT), sorted(set(SMUT) ^ set(BREAKS.values()))


def test_the_sse_parser_is_the_harness_one() -> None:
    # the proxy re-frames streams with the harness's parser; a sanity check of that round trip
    frames = list(SSEParser().feed(b'event: x\ndata: {"a": 1}\n\n'))
    assert [f.data for f in frames] == ['{"a": 1}']


def test_mcp_server_is_started_with_the_reference_target(stateful_reference: Proxied) -> None:
    assert stateful_reference.mcp_server_url and stateful_reference.mcp_server_url.endswith("/mcp")


@pytest.mark.parametrize("case_id", sorted(BREAKS))
async def test_case_passes_on_reference_and_is_caught_when_broken(sp: Proxied, case_id: str) -> None:
    case = REGISTRY.get(case_id)
    good = (await run_cases([case], sp.config())).results[0]
    assert good.verdict is Verdict.PASS, (good.message, good.expected, good.actual, good.traceback)

    sp.proxy.active = {BREAKS[case_id]}
    bad = (await run_cases([case], sp.config())).results[0]
    expected = Verdict.FAIL if case.level is Level.MUST else Verdict.NON_STRICT
    assert bad.verdict is expected, (bad.verdict, bad.message, bad.expected, bad.actual, bad.traceback)
    assert bad.message
    assert bad.transcript


async def test_without_mcp_server_the_mcp_cases_are_unimplemented(sp: Proxied) -> None:
    config = sp.config()
    config.mcp_server_url = None
    cases = [REGISTRY.get("tool_flows.mcp.call-item"), REGISTRY.get("connectors.use.mcp-by-connector-id")]
    results = (await run_cases(cases, config)).results
    assert [r.verdict for r in results] == [Verdict.UNIMPLEMENTED] * 2
    assert all("--mcp-server-url" in r.message for r in results)


# --------------------------------------------------------------------------- gateways without these APIs

_STATEFUL_ROUTES = rx(r"/(files|vector_stores|conversations|prompts|connectors)(/.*)?")


async def _no_stateful_apis(ex: Exchange, status: int, body: Any) -> tuple[int, Any]:
    """A gateway that serves only /responses: every other route is an unknown route."""
    if _STATEFUL_ROUTES.match(ex.path):
        return 404, {
            "error": {
                "message": f"Unknown route {ex.path}",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        }
    return status, body


# not a case's break: kept out of SMUT's one-to-one check above
NO_APIS = "no-stateful-apis"


async def test_a_gateway_without_these_apis_is_unimplemented_never_fail(sp: Proxied) -> None:
    SMUT[NO_APIS] = SMutation(response=_no_stateful_apis)
    try:
        sp.proxy.active = {NO_APIS}
        cases = [c for c in REGISTRY.all() if c.func.__module__ in MODULES]
        results = (await run_cases(cases, sp.config())).results
    finally:
        del SMUT[NO_APIS]
    verdicts = {r.case_id: r.verdict for r in results}
    ok = (Verdict.UNIMPLEMENTED, Verdict.PASS)
    bad = {r.case_id: (r.verdict, r.message) for r in results if r.verdict not in ok}
    assert not bad
    resource_cases = [k for k in verdicts if not k.startswith("tool_flows.")]
    assert all(verdicts[k] is Verdict.UNIMPLEMENTED for k in resource_cases), [
        k for k in resource_cases if verdicts[k] is not Verdict.UNIMPLEMENTED
    ]
    # the hosted-tool cases that need a vector store cannot run either
    assert verdicts["tool_flows.file_search.output-items"] is Verdict.UNIMPLEMENTED


def test_cli_takes_an_mcp_server_url() -> None:
    from conformance.cli import build_parser

    args = build_parser().parse_args(
        ["run", "--base-url", "http://127.0.0.1:1/v1", "--mcp-server-url", "http://127.0.0.1:2/mcp"]
    )
    assert args.mcp_server_url == "http://127.0.0.1:2/mcp"
    assert build_parser().parse_args(["run", "--target", "reference"]).mcp_server_url is None
