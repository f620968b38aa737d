"""Every stateful-API case (files, vector stores, conversations, prompts, connectors, hosted tool
flows) PASSes through the mutant HTTP proxy with no fault and is caught with its fault on (the
`proof.stateful.*` faults of fixtures/mutants/proofs.py): each imitates one plausible gateway
bug (an ignored parameter, a no-op delete, a dropped field, a wrong status), and the case must
FAIL (MUST) or be NON_STRICT (SHOULD/INFO). The rig is configured as the mutant runner's
`stateful` rig: the reference with the MCP fixture server, no ext_proc."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

import conformance.cases  # noqa: F401  (registers the cases)
from conformance.context import RunConfig
from conformance.model import REGISTRY, Verdict
from conformance.profiles import PROFILES
from conformance.runner import run_cases
from conformance.sse import SSEParser
from conformance.targets import RunningTarget
from fixtures.mutants.catalog import get_mutant
from fixtures.mutants.hooks import rx
from fixtures.mutants.proofs import PROOFS
from fixtures.mutants.proxy import ThreadedProxy
from fixtures.mutants.vocabulary import Answer, Exchange, HttpFault, Mutant

# the case modules whose cases are proven here
_NAMES = ["files", "vector_stores", "conversations", "prompts", "connectors", "tool_flows"]
MODULES = {f"conformance.cases.{m}" for m in _NAMES}
PAIRS = [(c, f) for c, faults in PROOFS.items() for f in faults if f.startswith("proof.stateful.")]


def _config(proxy: ThreadedProxy, target: RunningTarget) -> RunConfig:
    return RunConfig(
        base_url=proxy.url,
        profile=PROFILES["openai"],
        model="scripted",
        timeout=30,
        mcp_server_url=target.mcp_server_url,
    )


def test_every_case_has_a_proof() -> None:
    own = {c.id for c in REGISTRY.all() if c.module in MODULES}
    proven = {c for c, _ in PAIRS}
    assert own == proven, (sorted(own - proven), sorted(proven - own))
    assert len(own) >= 120


def test_the_sse_parser_is_the_harness_one() -> None:
    frames = list(SSEParser().feed(b'event: x\ndata: {"a": 1}\n\n'))
    assert [f.data for f in frames] == ['{"a": 1}']


def test_mcp_server_is_started_with_the_reference_target(reference_target: RunningTarget) -> None:
    assert reference_target.mcp_server_url and reference_target.mcp_server_url.endswith("/mcp")


@pytest.mark.parametrize(("case_id", "fault_id"), PAIRS)
async def test_case_passes_on_reference_and_is_caught_when_broken(
    proxy: ThreadedProxy,
    reference_target: RunningTarget,
    prove: Callable[..., Awaitable[None]],
    case_id: str,
    fault_id: str,
) -> None:
    await prove(case_id, _config(proxy, reference_target), lambda: proxy.set_mutant(get_mutant(fault_id)))


async def test_without_mcp_server_the_mcp_cases_are_unimplemented(
    proxy: ThreadedProxy, reference_target: RunningTarget
) -> None:
    config = _config(proxy, reference_target)
    config.mcp_server_url = None
    cases = [REGISTRY.get("tool_flows.mcp.call-item"), REGISTRY.get("connectors.use.mcp-by-connector-id")]
    results = (await run_cases(cases, config)).results
    assert [r.verdict for r in results] == [Verdict.UNIMPLEMENTED] * 2
    assert all("--mcp-server-url" in r.message for r in results)


# --------------------------------------------------------------------------- gateways without these APIs

_STATEFUL_ROUTES = rx(r"/(files|vector_stores|conversations|prompts|connectors)(/.*)?")


def _no_stateful_apis(ex: Exchange, a: Answer) -> Answer | None:
    """A gateway that serves only /responses: every other route is an unknown route."""
    if not _STATEFUL_ROUTES.match(ex.path):
        return None
    error = {
        "message": f"Unknown route {ex.path}",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    return Answer.of_json(404, {"error": error})


# not a case's proof fault: not registered in the catalog
NO_APIS = Mutant(
    "test.no-stateful-apis",
    "only /responses",
    "",
    "state",
    http=lambda: HttpFault(response=_no_stateful_apis),
)


async def test_a_gateway_without_these_apis_is_unimplemented_never_fail(
    proxy: ThreadedProxy, reference_target: RunningTarget
) -> None:
    proxy.set_mutant(NO_APIS)
    cases = [c for c in REGISTRY.all() if c.module in MODULES]
    results = (await run_cases(cases, _config(proxy, reference_target))).results
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


async def test_an_area_not_set_up_is_one_fail_and_the_rest_blocked(
    proxy: ThreadedProxy, reference_target: RunningTarget
) -> None:
    """A gateway whose file storage is not configured (POST /files answers 500): the probe FAILs
    once with the status and message, every other files case is BLOCKED, none FAILs."""
    proxy.set_mutant(get_mutant("proof.stateful.files-not-configured-500"))
    cases = [c for c in REGISTRY.all() if c.module == "conformance.cases.files"]
    run = await run_cases(cases, _config(proxy, reference_target))
    verdicts = {r.case_id: r for r in run.results}
    probe = verdicts.pop("files.probe.upload")
    assert probe.verdict is Verdict.FAIL and "HTTP 500: storage is not configured" in str(probe.actual)
    assert {r.verdict for r in verdicts.values()} == {Verdict.BLOCKED}
    assert all(r.message.startswith("blocked by files.probe.upload: FAIL") for r in verdicts.values())
    assert run.exit_code == 1
