"""Run cases against a target and turn what happened into verdicts and an exit code."""

from __future__ import annotations

import asyncio
import time
import tomllib
import traceback
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import httpx

from conformance.context import (
    BlockedByProbe,
    CaseContext,
    CheckFailed,
    RateLimited,
    RunConfig,
    RunState,
    Skipped,
    Unimplemented,
)
from conformance.events import CaseFinished, CaseStarted, Event, Reporter, RunFinished, RunStarted
from conformance.model import Case, Level, Verdict, run_order
from conformance.results import CaseResult, RunResult, exit_code

__all__ = [
    "CaseResult",
    "RunResult",
    "apply_waiver",
    "blocked_result",
    "exit_code",
    "load_waivers",
    "new_client",
    "probe_stops",
    "run_case",
    "run_cases",
]


def _failed_verdict(level: Level) -> Verdict:
    return Verdict.FAIL if level is Level.MUST else Verdict.NON_STRICT


def new_client(config: RunConfig) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(config.timeout),
        transport=config.transport,
        follow_redirects=False,
    )


async def run_case(case: Case, config: RunConfig, state: RunState, client: httpx.AsyncClient) -> CaseResult:
    # judged at the level the run's profile gives it, citing that profile's sentence
    level = case.level_for(config.profile.name)
    result = CaseResult(
        case_id=case.id,
        level=level,
        tier=case.tier.value,
        area=case.area,
        title=case.title,
        spec=case.spec_for(config.profile.name),
        verdict=Verdict.PASS,
        source=case.source_for(config.profile.name),
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
        result.verdict = _failed_verdict(level)
        result.message = exc.what
        result.expected, result.actual = exc.expected, exc.actual
    except Unimplemented as exc:
        result.verdict = Verdict.UNIMPLEMENTED
        result.message = exc.reason
    except Skipped as exc:
        result.verdict = Verdict.SKIPPED
        result.message = exc.reason
    except BlockedByProbe as exc:
        blocked = blocked_result(case, state.probe_results[exc.probe_id], profile=config.profile.name)
        result.verdict, result.message = blocked.verdict, blocked.message
        result.blocked_by = blocked.blocked_by
    except RateLimited as exc:
        # the target's rate limit, not the case's requirement: never a conformance verdict
        result.verdict = Verdict.ERROR
        result.message = str(exc)
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
        result.rate_limit_retries = ctx.rate_limit_retries
        if case.hint and result.verdict not in (Verdict.PASS, Verdict.SKIPPED):
            result.hint = case.hint
        await ctx.aclose()
    return result


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def probe_finding(result: CaseResult) -> str:
    """One line saying why a probe did not pass (its message and what it saw)."""
    seen = "" if result.actual is None else f" (got {result.actual!r})"
    return _one_line(f"{result.verdict.value} {result.message}{seen}")


def blocked_result(case: Case, probe: CaseResult, *, profile: str) -> CaseResult:
    """The verdict of a case gated by ``probe`` when the probe did not pass: BLOCKED after a
    failed probe, UNIMPLEMENTED when the probe found the API not offered (404/405). The case keeps
    the level it has under ``profile``."""
    if probe.verdict is Verdict.UNIMPLEMENTED:
        verdict, message = Verdict.UNIMPLEMENTED, f"not offered ({probe.case_id}: {_one_line(probe.message)})"
    else:
        verdict, message = Verdict.BLOCKED, f"blocked by {probe.case_id}: {probe_finding(probe)}"
    return CaseResult(
        case_id=case.id,
        level=case.level_for(profile),
        tier=case.tier.value,
        area=case.area,
        title=case.title,
        spec=case.spec_for(profile),
        verdict=verdict,
        message=message,
        blocked_by=probe.case_id,
        source=case.source_for(profile),
    )


#: probe verdicts that keep the cases they gate from running
_PROBE_STOPS = (Verdict.FAIL, Verdict.NON_STRICT, Verdict.ERROR, Verdict.UNIMPLEMENTED)


def probe_stops() -> tuple[Verdict, ...]:
    """The verdicts of a probe that keep the cases it gates from running (judged before waivers)."""
    return _PROBE_STOPS


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
        raise ValueError(f'{path}: expected a [waivers] table of "case.id" = "reason" strings')
    return dict(table)


async def run_cases(
    cases: list[Case],
    config: RunConfig,
    *,
    strict: bool = False,
    reporters: Sequence[Reporter] = (),
) -> RunResult:
    """Run cases one after another (deterministic transcripts, gentle on small gateways).

    Order: probes first, cases that provoke backend failures last (``model.run_order``). A case
    gated by a probe of this run that did not pass is not run: BLOCKED (or UNIMPLEMENTED when the
    probe found the API not offered), judged on the probe's verdict before waivers.

    Every reporter gets the run's events in order: ``RunStarted``, then ``CaseStarted`` and
    ``CaseFinished`` (with the verdict, after waivers) per case, then ``RunFinished``."""

    def emit(event: Event) -> None:
        for reporter in reporters:
            reporter.handle(event)

    state = RunState()
    cases = run_order(cases)
    total = len(cases)
    emit(
        RunStarted(
            target=config.target_name,
            base_url=config.base_url,
            profile=config.profile.name,
            cases=tuple(cases),
            strict=strict,
        )
    )
    start = time.perf_counter()
    results: list[CaseResult] = []
    stopped: list[tuple[Case, CaseResult]] = []  # probes that did not pass, with their raw result
    async with new_client(config) as client:
        for i, case in enumerate(cases, 1):
            emit(CaseStarted(case=case, index=i, total=total))
            probe = next((r for p, r in stopped if case.gated_by(p)), None)
            if probe is not None and config.profile.name in case.profiles:
                raw = blocked_result(case, probe, profile=config.profile.name)
            else:
                raw = await run_case(case, config, state, client)
                if case.is_probe and raw.verdict in _PROBE_STOPS:
                    stopped.append((case, replace(raw)))
                    state.probe_results[case.id] = replace(raw)
                    state.probe_failures[case.id] = (raw.expected, raw.actual)
            res = apply_waiver(raw, config.waivers)
            results.append(res)
            emit(CaseFinished(result=res, index=i, total=total))
    run = RunResult(
        results=results,
        target=config.target_name,
        base_url=config.base_url,
        profile=config.profile.name,
        strict=strict,
        duration=time.perf_counter() - start,
    )
    emit(RunFinished(run=run))
    return run
