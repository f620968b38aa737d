"""The events a run emits, and the reporter interface that consumes them.

``run_cases`` sends every reporter, in order: one ``RunStarted``, then per case a ``CaseStarted``
and a ``CaseFinished`` (carrying the verdict after waivers), then one ``RunFinished`` with the
whole ``RunResult``. A reporter (console progress, JSON, JUnit, HTML, Markdown, a CI summary) is
any object with ``handle(event)``: adding one needs no change to the runner."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from conformance.model import Case
from conformance.results import CaseResult, RunResult


@dataclass(frozen=True)
class RunStarted:
    target: str
    base_url: str
    profile: str
    cases: tuple[Case, ...]
    strict: bool = False

    @property
    def total(self) -> int:
        return len(self.cases)


@dataclass(frozen=True)
class CaseStarted:
    case: Case
    index: int  # 1-based position in the run
    total: int


@dataclass(frozen=True)
class CaseFinished:
    result: CaseResult
    index: int
    total: int


@dataclass(frozen=True)
class RunFinished:
    run: RunResult


Event = RunStarted | CaseStarted | CaseFinished | RunFinished


class Reporter(Protocol):
    def handle(self, event: Event) -> None: ...
