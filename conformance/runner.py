"""Run cases against a target and turn what happened into verdicts and an exit code."""

from __future__ import annotations

import asyncio
import time
import tomllib
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from conformance.context import (
    CaseContext,
    CheckFailed,
    RunConfig,
    RunState,
    Skipped,
    Unimplemented,
    _jsonable,
)
from conformance.model import Case, Level, Verdict


@dataclass
class CaseResult:
    case_id: str
    level: Level
    tier: str
    area: str
    title: str
    spec: str
    verdict: Verdict
    message: str = ""
    duration: float = 0.0
    expected: Any = None
    actual: Any = None
    transcript: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    traceback: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "level": self.level.value,
            "tier": self.tier,
            "area": self.area,
            "title": self.title,
            "spec": self.spec,
            "message": self.message,
            "duration": round(self.duration, 4),
            "expected": _jsonable(self.expected),
            "actual": _jsonable(self.actual),
            "checks": self.checks,
            "notes": self.notes,
            "transcript": self.transcript,
            "traceback": self.traceback,
        }


@dataclass
class RunResult:
    results: list[CaseResult]
    target: str
    base_url: str
    profile: str
    strict: bool = False
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    duration: float = 0.0

    def counts(self) -> dict[str, int]:
        out = {v.value: 0 for v in Verdict}
        for r in self.results:
            out[r.verdict.value] += 1
        return out

    @property
    def exit_code(self) -> int:
        return exit_code(self.results, strict=self.strict)


def exit_code(results: Iterable[CaseResult], *, strict: bool = False) -> int:
    """0 only when no MUST case failed or errored; with ``strict`` the same for SHOULD cases.

    A SHOULD case that is not met is NON_STRICT (never FAIL), so strict mode also counts
    NON_STRICT verdicts of SHOULD cases. INFO cases never change the exit code."""
    for r in results:
        if r.level is Level.MUST and r.verdict in (Verdict.FAIL, Verdict.ERROR):
            return 1
        if (
            strict
            and r.level is Level.SHOULD
            and r.verdict in (Verdict.NON_STRICT, Verdict.FAIL, Verdict.ERROR)
        ):
            return 1
    return 0


def _failed_verdict(level: Level) -> Verdict:
    return Verdict.FAIL if level is Level.MUST else Verdict.NON_STRICT


def new_client(config: RunConfig) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(config.timeout),
        transport=config.transport,
        follow_redirects=False,
    )


async def run_case(case: Case, config: RunConfig, state: RunState, client: httpx.AsyncClient) -> CaseResult:
    result = CaseResult(
        case_id=case.id,
        level=case.level,
        tier=case.tier.value,
        area=case.area,
        title=case.title,
        spec=case.spec,
        verdict=Verdict.PASS,
    )
    if config.profile.name not in case.profiles:
        result.verdict = Verdict.SKIPPED
        result.message = f"not part of profile {config.profile.name} (applies to {', '.join(case.profiles)})"
        return result
    ctx = CaseContext(case, config, state, client)
    start = time.perf_counter()
    try:
        # a hung stream must not hang the run: bound the whole case
        async with asyncio.timeout(config.timeout * 4):
            await case.func(ctx)
    except CheckFailed as exc:
        result.verdict = _failed_verdict(case.level)
        result.message = exc.what
        result.expected, result.actual = exc.expected, exc.actual
    except Unimplemented as exc:
        result.verdict = Verdict.UNIMPLEMENTED
        result.message = exc.reason
    except Skipped as exc:
        result.verdict = Verdict.SKIPPED
        result.message = exc.reason
    except TimeoutError:
        result.verdict = Verdict.ERROR
        result.message = f"case did not finish within {config.timeout * 4:g}s"
    except httpx.HTTPError as exc:
        result.verdict = Verdict.ERROR
        result.message = f"transport fault: {type(exc).__name__}: {exc}"
    except Exception as exc:  # a bug in the case or the harness
        result.verdict = Verdict.ERROR
        result.message = f"harness error: {type(exc).__name__}: {exc}"
        result.traceback = traceback.format_exc()
    finally:
        result.duration = time.perf_counter() - start
        result.transcript = [ex.as_dict() for ex in ctx.transcript]
        result.checks = [c.as_dict() for c in ctx.checks]
        result.notes = list(ctx.notes)
        await ctx.aclose()
    return result


def apply_waiver(result: CaseResult, waivers: dict[str, str]) -> CaseResult:
    """A FAIL or ERROR of a waived case becomes SKIPPED, naming the waiver and the observation.

    Waivers record limitations the target documents (for example what Envoy cannot do); they
    never turn anything into PASS, and a waived case that passes is reported as PASS.
    """
    reason = waivers.get(result.case_id)
    if reason is None or result.verdict not in (Verdict.FAIL, Verdict.ERROR):
        return result
    result.message = f"waived: {reason} (observed {result.verdict.value}: {result.message})"
    result.verdict = Verdict.SKIPPED
    return result


def load_waivers(path: str | Path) -> dict[str, str]:
    """Read a waiver file: TOML with a `[waivers]` table of `"case.id" = "reason"`."""
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    table = data.get("waivers")
    if not isinstance(table, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in table.items()
    ):
        raise ValueError(f"{path}: expected a [waivers] table of \"case.id\" = \"reason\" strings")
    return dict(table)


ProgressCallback = Callable[[CaseResult, int, int], None]


async def run_cases(
    cases: list[Case],
    config: RunConfig,
    *,
    strict: bool = False,
    progress: ProgressCallback | None = None,
) -> RunResult:
    """Run cases one after another (deterministic transcripts, gentle on small gateways)."""
    state = RunState()
    start = time.perf_counter()
    results: list[CaseResult] = []
    async with new_client(config) as client:
        for i, case in enumerate(cases, 1):
            res = apply_waiver(await run_case(case, config, state, client), config.waivers)
            results.append(res)
            if progress:
                progress(res, i, len(cases))
    return RunResult(
        results=results,
        target=config.target_name,
        base_url=config.base_url,
        profile=config.profile.name,
        strict=strict,
        duration=time.perf_counter() - start,
    )
