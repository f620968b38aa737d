"""pytest plugin (entry point ``pytest11: responses_conformance``): ``pytest --gateway-url URL``
collects every conformance case as a test item (marker ``conformance``).

Inert unless ``--gateway-url`` is given: it only adds command-line options.
Verdicts map to outcomes: PASS passes; FAIL and ERROR fail; UNIMPLEMENTED and SKIPPED skip;
NON_STRICT passes with a warning (fails with ``--gateway-strict``).
"""

from __future__ import annotations

import asyncio
import os
import warnings
from typing import Any

import pytest

from conformance.context import RunConfig, RunState
from conformance.model import REGISTRY, Case, Verdict, select
from conformance.profiles import PROFILES
from conformance.runner import CaseResult, new_client, run_case

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
    group.addoption("--gateway-api-key-env", default=None, metavar="VAR")
    group.addoption("--gateway-cases", action="append", default=[], metavar="GLOB")
    group.addoption("--gateway-exclude", action="append", default=[], metavar="GLOB")
    group.addoption("--gateway-timeout", type=float, default=30.0)
    group.addoption("--gateway-strict", action="store_true", default=False)
    group.addoption("--gateway-openapi", default=None, metavar="PATH")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--gateway-url", default=None):
        config.addinivalue_line(
            "markers", "conformance: a responses-conformance case run against --gateway-url"
        )
        config.addinivalue_line("markers", "conformance_level(level): MUST, SHOULD or INFO")


class ConformanceFailure(Exception):
    def __init__(self, result: CaseResult) -> None:
        super().__init__(result.message)
        self.result = result


class ConformanceItem(pytest.Item):
    def __init__(self, *, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.add_marker("conformance")
        self.add_marker(pytest.mark.conformance_level(case.level.value))

    def _run_config(self) -> tuple[RunConfig, RunState]:
        stash = self.config.stash.setdefault(_STATE_KEY, {})
        if "config" not in stash:
            opt = self.config.getoption
            api_key_env = opt("--gateway-api-key-env")
            validator = None
            if opt("--gateway-openapi"):
                from conformance.schema import SchemaValidator

                validator = SchemaValidator(opt("--gateway-openapi"))
            stash["config"] = RunConfig(
                base_url=opt("--gateway-url"),
                profile=PROFILES[opt("--gateway-profile")],
                model=opt("--gateway-model"),
                api_key=os.environ.get(api_key_env) if api_key_env else None,
                api_key_env=api_key_env,
                timeout=opt("--gateway-timeout"),
                target_name="pytest",
                validator=validator,
            )
            stash["state"] = RunState()
        state: RunState = stash["state"]
        state.lock = asyncio.Lock()  # each item runs in its own event loop
        return stash["config"], state

    def runtest(self) -> None:
        config, state = self._run_config()

        async def go() -> CaseResult:
            async with new_client(config) as client:
                return await run_case(self.case, config, state, client)

        result = asyncio.run(go())
        self.user_properties.append(("verdict", result.verdict.value))
        if result.verdict is Verdict.PASS:
            return
        if result.verdict in (Verdict.SKIPPED, Verdict.UNIMPLEMENTED):
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
        return "conformance", None, f"{self.case.level.value} {self.case.id}"


@pytest.hookimpl(tryfirst=True)  # before -k / -m deselection sees the items
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    url = config.getoption("--gateway-url", default=None)
    if not url:
        return
    import conformance.cases  # noqa: F401  (registers the built-in cases)

    cases = select(REGISTRY.all(), config.getoption("--gateway-cases"), config.getoption("--gateway-exclude"))
    for case in cases:
        items.append(ConformanceItem.from_parent(session, name=case.id, case=case))
