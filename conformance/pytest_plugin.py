"""pytest plugin (entry point ``pytest11: responses_conformance``): ``pytest --gateway-url URL``
collects every conformance case as a test item (marker ``conformance``).

Inert unless ``--gateway-url`` is given: it only adds command-line options. With it and no
file or directory arguments, only the conformance cases are collected (so the command works
from this repository's root without the dev extras its own tests need).

Every option of ``responses-conformance run`` has a ``--gateway-*`` twin (ext_proc address,
waivers, MCP server URL, API key; ``OPENAI_API_KEY`` when no key option is given), and the
same pre-flight runs first: a target that cannot be tested is one usage error. Items run
in the CLI's order (area probes first, cases that make the backend fail last), and a failed
probe BLOCKs the cases it gates, as in the CLI.

Verdicts map to outcomes: PASS passes; FAIL and ERROR fail; UNIMPLEMENTED, SKIPPED and BLOCKED
skip (with the verdict and reason); NON_STRICT passes with a warning (fails with
``--gateway-strict``).
"""

from __future__ import annotations

import asyncio
import os
import warnings
from dataclasses import replace
from typing import Any

import pytest

from conformance.context import RunConfig, RunState
from conformance.model import REGISTRY, Case, Verdict, run_order, select, with_probes
from conformance.profiles import PROFILES
from conformance.runner import (
    CaseResult,
    apply_waiver,
    blocked_result,
    load_waivers,
    new_client,
    probe_stops,
    run_case,
)

_STATE_KEY = pytest.StashKey[dict[str, Any]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("responses-conformance", "Responses API conformance cases")
    group.addoption(
        "--gateway-url",
        default=None,
        metavar="URL",
        help="run the conformance cases against this gateway API root (e.g. http://host:8080/v1)",
    )
    group.addoption("--gateway-profile", default="openai", choices=sorted(PROFILES))
    group.addoption("--gateway-model", default="scripted")
    group.addoption("--gateway-api-key-env", default=None, metavar="VAR",
                    help="environment variable holding the bearer token (default: $OPENAI_API_KEY)")
    group.addoption("--gateway-api-key", default=None, metavar="KEY", help="the bearer token")
    group.addoption("--gateway-second-api-key-env", default=None, metavar="VAR",
                    help="environment variable holding a key of a second tenant (tenants.* cases)")
    group.addoption("--gateway-extproc", default=None, metavar="HOST:PORT",
                    help="an Envoy ext_proc gRPC server to drive as Envoy")
    group.addoption("--gateway-waivers", default=None, metavar="FILE",
                    help="TOML [waivers] table of case id = reason (FAIL/ERROR reported as SKIPPED)")
    group.addoption("--gateway-mcp-server-url", default=None, metavar="URL",
                    help="an MCP server the gateway can reach, for the mcp tool cases")
    group.addoption("--gateway-no-preflight", action="store_true", default=False,
                    help="skip the pre-flight check (an unreachable or refusing target is one usage error)")
    group.addoption("--gateway-cases", action="append", default=[], metavar="GLOB")
    group.addoption("--gateway-exclude", action="append", default=[], metavar="GLOB")
    group.addoption("--gateway-timeout", type=float, default=30.0)
    group.addoption("--gateway-strict", action="store_true", default=False)
    group.addoption("--gateway-openapi", default=None, metavar="PATH",
                    help="OpenAPI document to validate against (default: the shipped schemas)")
    group.addoption("--gateway-no-openapi", action="store_true", default=False, help="no schema validation")


def pytest_ignore_collect(collection_path: Any, config: pytest.Config) -> bool | None:
    """With --gateway-url and no paths given, collect the conformance cases only."""
    if config.getoption("--gateway-url", default=None) and not config.option.file_or_dir:
        return True
    return None


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--gateway-url", default=None):
        config.addinivalue_line(
            "markers", "conformance: a responses-conformance case run against --gateway-url"
        )
        config.addinivalue_line("markers", "conformance_level(level): MUST, SHOULD or INFO")


def _run_config(config: pytest.Config) -> RunConfig:
    opt = config.getoption
    api_key_env = opt("--gateway-api-key-env")
    api_key = opt("--gateway-api-key") or (os.environ.get(api_key_env) if api_key_env else None)
    explicit = bool(opt("--gateway-api-key") or api_key_env)
    if api_key_env and not api_key:
        raise pytest.UsageError(f"--gateway-api-key-env: environment variable {api_key_env} is not set")
    if not explicit and os.environ.get("OPENAI_API_KEY"):
        api_key, api_key_env = os.environ["OPENAI_API_KEY"], "OPENAI_API_KEY"
    second_env = opt("--gateway-second-api-key-env")
    second_api_key = os.environ.get(second_env) if second_env else None
    if second_env and not second_api_key:
        raise pytest.UsageError(f"--gateway-second-api-key-env: environment variable {second_env} is not set")
    from conformance.schema import SchemaValidator

    validator: SchemaValidator | None = None
    if opt("--gateway-no-openapi"):
        validator = None
    elif opt("--gateway-openapi"):
        validator = SchemaValidator(opt("--gateway-openapi"))
    else:
        validator = SchemaValidator.for_profile(opt("--gateway-profile"))
    waivers = {}
    if opt("--gateway-waivers"):
        try:
            waivers = load_waivers(opt("--gateway-waivers"))
        except (OSError, ValueError) as exc:
            path = opt("--gateway-waivers")
            raise pytest.UsageError(f"cannot load --gateway-waivers {path}: {exc}") from exc
    return RunConfig(
        base_url=opt("--gateway-url"),
        profile=PROFILES[opt("--gateway-profile")],
        model=opt("--gateway-model"),
        api_key=api_key,
        api_key_env=api_key_env,
        api_key_explicit=explicit,
        second_api_key=second_api_key,
        timeout=opt("--gateway-timeout"),
        extproc=opt("--gateway-extproc"),
        target_name="pytest",
        validator=validator,
        mcp_server_url=opt("--gateway-mcp-server-url"),
        waivers=waivers,
    )


class ConformanceFailure(Exception):
    def __init__(self, result: CaseResult) -> None:
        super().__init__(result.message)
        self.result = result


class ConformanceItem(pytest.Item):
    def __init__(self, *, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        # the level under the profile the gateway is judged against (``-m`` selects on it)
        self.level = case.level_for(self.config.getoption("--gateway-profile"))
        self.add_marker("conformance")
        self.add_marker(pytest.mark.conformance_level(self.level.value))

    def _run_config(self) -> tuple[RunConfig, RunState]:
        stash = self.config.stash[_STATE_KEY]
        state: RunState = stash["state"]
        state.lock = asyncio.Lock()  # each item runs in its own event loop
        return stash["config"], state

    def runtest(self) -> None:
        config, state = self._run_config()
        stopped: list[tuple[Case, CaseResult]] = self.config.stash[_STATE_KEY]["stopped"]
        probe = next((r for p, r in stopped if self.case.gated_by(p)), None)
        if probe is not None and config.profile.name in self.case.profiles:
            result = blocked_result(self.case, probe, profile=config.profile.name)
        else:

            async def go() -> CaseResult:
                async with new_client(config) as client:
                    return await run_case(self.case, config, state, client)

            result = asyncio.run(go())
            if self.case.is_probe and result.verdict in probe_stops():
                stopped.append((self.case, replace(result)))
        result = apply_waiver(result, config.waivers)
        self.user_properties.append(("verdict", result.verdict.value))
        if result.verdict is Verdict.PASS:
            return
        if result.verdict in (Verdict.SKIPPED, Verdict.UNIMPLEMENTED, Verdict.BLOCKED):
            pytest.skip(f"{result.verdict.value}: {result.message}")
        if result.verdict is Verdict.NON_STRICT and not self.config.getoption("--gateway-strict"):
            warnings.warn(f"{self.case.id} NON_STRICT: {result.message}", stacklevel=1)
            return
        raise ConformanceFailure(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ConformanceFailure):
            r = excinfo.value.result
            lines = [
                f"{r.verdict.value} [{r.level.value}] {r.case_id}: {r.title}",
                f"spec: {r.spec}",
                f"{r.message}",
            ]
            if r.expected is not None or r.actual is not None:
                lines += [f"expected: {r.expected!r}", f"actual:   {r.actual!r}"]
            lines += [f"$ {ex['curl']}" for ex in r.transcript]
            if r.traceback:
                lines.append(r.traceback)
            return "\n".join(lines)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[str, int | None, str]:
        return "conformance", None, f"{self.level.value} {self.case.id}"


@pytest.hookimpl(tryfirst=True)  # before -k / -m deselection sees the items
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    url = config.getoption("--gateway-url", default=None)
    if not url:
        return
    import conformance.cases  # noqa: F401  (registers the built-in cases)

    # built here so that a bad option is a usage error, not a failure of the first item
    run_config = _run_config(config)
    # --collect-only sends nothing to the gateway, so there is nothing to check before it
    if not config.getoption("--gateway-no-preflight") and not config.option.collectonly:
        # as in the CLI: a target that cannot be tested is one line, not an ERROR per case
        from conformance.preflight import PreflightError, preflight

        try:
            asyncio.run(preflight(run_config))
        except PreflightError as exc:
            raise pytest.UsageError(f"pre-flight: {exc}") from exc
    config.stash[_STATE_KEY] = {
        "config": run_config,
        "state": RunState(),
        "stopped": [],  # (probe case, its result) for the probes that did not pass
    }
    cases = select(REGISTRY.all(), config.getoption("--gateway-cases"), config.getoption("--gateway-exclude"))
    # the CLI's order, with the probes the selected cases need (see conformance.runner.run_cases)
    for case in run_order(with_probes(cases, REGISTRY.all())):
        items.append(ConformanceItem.from_parent(session, name=case.id, case=case))
