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
