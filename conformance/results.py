"""What a run produced: one ``CaseResult`` per case, the ``RunResult``, and the exit-code rule."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from conformance.context import _jsonable
from conformance.model import Level, Verdict


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
    blocked_by: str | None = None  # the probe whose failure kept this case from running
    rate_limit_retries: int = 0  # requests repeated after a 429 (not part of the verdict)
    hint: str = ""  # a probe that did not pass: what the target needs for its area to work
    source: str = ""  # where ``spec`` is: the specification of the run's profile that sets ``level``

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "level": self.level.value,
            "tier": self.tier,
            "area": self.area,
            "title": self.title,
            "spec": self.spec,
            "source": self.source,
            "message": self.message,
            "duration": round(self.duration, 4),
            "expected": _jsonable(self.expected),
            "actual": _jsonable(self.actual),
            "checks": self.checks,
            "notes": self.notes,
            "transcript": self.transcript,
            "traceback": self.traceback,
            "blocked_by": self.blocked_by,
            "rate_limit_retries": self.rate_limit_retries,
            "hint": self.hint,
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

    @property
    def rate_limit_retries(self) -> int:
        return sum(r.rate_limit_retries for r in self.results)


@dataclass
class RootCause:
    """Cases that failed the same way: same verdict, same failing check, same HTTP status."""

    verdict: Verdict
    check: str
    status: int | None
    case_ids: list[str]


def last_status(result: CaseResult) -> int | None:
    """The status of the last answer the case received (None when it got no HTTP answer)."""
    for ex in reversed(result.transcript):
        if ex.get("status") is not None:
            return int(ex["status"])
    return None


def root_causes(results: Iterable[CaseResult]) -> list[RootCause]:
    """FAIL, NON_STRICT and ERROR results grouped by (verdict, failing check, last status),
    largest group first: one line per root cause instead of one per case."""
    groups: dict[tuple[Verdict, str, int | None], list[str]] = {}
    for r in results:
        if r.verdict not in (Verdict.FAIL, Verdict.NON_STRICT, Verdict.ERROR):
            continue
        groups.setdefault((r.verdict, r.message, last_status(r)), []).append(r.case_id)
    order = {Verdict.FAIL: 0, Verdict.ERROR: 1, Verdict.NON_STRICT: 2}
    causes = [RootCause(v, m, s, ids) for (v, m, s), ids in groups.items()]
    return sorted(causes, key=lambda c: (order[c.verdict], -len(c.case_ids), c.check))


def hints(results: Iterable[CaseResult]) -> list[str]:
    """One line per probe that did not pass: what the target needs, and how many cases waited."""
    results = list(results)
    out = []
    for r in results:
        if r.hint:
            waiting = sum(1 for x in results if x.blocked_by == r.case_id)
            gated = f"; {waiting} case(s) not run because of it" if waiting else ""
            out.append(f"{r.case_id} ({r.verdict.value}): {r.hint}{gated}")
    return out


def exit_code(results: Iterable[CaseResult], *, strict: bool = False) -> int:
    """0 only when no MUST case failed, errored or was blocked; with ``strict`` the same for
    SHOULD cases.

    A SHOULD case that is not met is NON_STRICT (never FAIL), so strict mode also counts
    NON_STRICT verdicts of SHOULD cases. A BLOCKED case was never checked, so it never counts as
    met. INFO cases never change the exit code."""
    for r in results:
        if r.level is Level.MUST and r.verdict in (Verdict.FAIL, Verdict.ERROR, Verdict.BLOCKED):
            return 1
        if (
            strict
            and r.level is Level.SHOULD
            and r.verdict in (Verdict.NON_STRICT, Verdict.FAIL, Verdict.ERROR, Verdict.BLOCKED)
        ):
            return 1
    return 0
