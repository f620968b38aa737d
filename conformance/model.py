"""The case model: levels, tiers, verdicts, and the registry.

Cases are registered one at a time (``@case(...)`` on an ``async def case(ctx)``) or as a family
(``@family(rows)`` on an ``async def check(ctx, params)``: one case per :class:`Row`, for the
requirements that differ only in their data, e.g. a table of rejected requests)."""

from __future__ import annotations

import enum
import fnmatch
import functools
import inspect
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from conformance.context import CaseContext


class Level(enum.StrEnum):
    """RFC 2119 strength of the sentence a case enforces."""

    MUST = "MUST"
    SHOULD = "SHOULD"
    INFO = "INFO"


#: strongest first
LEVEL_ORDER = (Level.MUST, Level.SHOULD, Level.INFO)


class Tier(enum.StrEnum):
    STRUCTURAL = "structural"  # works against any backend
    SCRIPTED = "scripted"  # needs fixtures.backend behind the gateway (detected by a probe)


class Verdict(enum.StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"  # a MUST was not met
    NON_STRICT = "NON_STRICT"  # a SHOULD (or INFO) was not met
    UNIMPLEMENTED = "UNIMPLEMENTED"  # optional feature the target lacks (detected, not assumed)
    SKIPPED = "SKIPPED"  # not applicable to this run (profile, missing option)
    ERROR = "ERROR"  # harness or transport fault: says nothing about conformance
    BLOCKED = "BLOCKED"  # not run: the probe of its area failed (the probe's verdict has the finding)


VERDICT_LEGEND: dict[Verdict, str] = {
    Verdict.PASS: "the requirement is met",
    Verdict.FAIL: "a MUST requirement is not met",
    Verdict.NON_STRICT: "a SHOULD (or informational) requirement is not met",
    Verdict.UNIMPLEMENTED: "an optional feature the target does not offer (detected by probing)",
    Verdict.SKIPPED: "not applicable to this run (profile, target or options)",
    Verdict.ERROR: "harness or transport fault (timeout, connection reset, bug): not a conformance verdict",
    Verdict.BLOCKED: "not run: the probe of its area failed, so the case could not be set up "
    "(the probe's own verdict carries the finding); never a pass",
}

PROFILES = ("openai", "openresponses")


@dataclass(frozen=True)
class ProfileLevel:
    """A case's level under one profile, with the sentence of that profile's specification that
    sets it (quoted verbatim) and where the sentence is.

    The same behaviour can be a MUST in one specification and a SHOULD in the other (Open
    Responses: "The `event` field MUST match the `type` in the event body."; the OpenAI documents
    only show it in their examples), so a case is judged at the level of the profile it runs
    under."""

    level: Level
    spec: str
    source: str



CaseFunc = Callable[["CaseContext"], Awaitable[None]]
P = TypeVar("P")
FamilyFunc = Callable[["CaseContext", P], Awaitable[None]]

_ID_RE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_-]+)+$")


@dataclass(frozen=True)
class Case:
    id: str
    level: Level
    title: str
    spec: str  # the spec sentence the case enforces, quoted
    func: CaseFunc = field(compare=False, repr=False)
    tier: Tier = Tier.STRUCTURAL
    profiles: tuple[str, ...] = PROFILES
    source: str = ""  # which specification the sentence comes from
    # A probe: the basic operation of an area (upload a file, create a vector store). It runs
    # before the cases it gates (ids matched as by ``select``: globs, or prefixes on a dot
    # boundary); when it fails, they are BLOCKED instead of failing one by one for the same cause.
    gates: tuple[str, ...] = ()
    # A probe that gates no case by id: the probe of creating a response, which nearly every case
    # needs. A case whose own create fails the way the failed probe did is BLOCKED at that point
    # (``CaseContext.create_ok``); one whose create succeeds, or fails differently, is judged.
    probe: bool = False
    # what the target needs for the area to work, shown when the probe does not pass
    hint: str = ""
    # the case makes the model backend fail (errors, dropped connections, timeouts): it runs
    # after the others, so a router's cooldown after backend errors cannot touch unrelated cases
    provokes_backend_failure: bool = False
    # where the case is written, ``module:qualname`` (``module:qualname[case id]`` for a family
    # row); the registry fills it in and tells a re-import from a reused id by it
    origin: str = field(default="", compare=False, repr=False)
    # the level, sentence and source under a profile whose specification sets its own level;
    # ``level``/``spec``/``source`` above hold for every other profile
    levels: dict[str, ProfileLevel] = field(default_factory=dict, compare=False, hash=False)

    def level_for(self, profile: str) -> Level:
        """The level the case is judged at under ``profile``."""
        own = self.levels.get(profile)
        return own.level if own is not None else self.level

    def spec_for(self, profile: str) -> str:
        """The quoted sentence that sets the level under ``profile``."""
        own = self.levels.get(profile)
        return own.spec if own is not None else self.spec

    def source_for(self, profile: str) -> str:
        own = self.levels.get(profile)
        return own.source if own is not None else self.source

    def strongest_level(self) -> Level:
        """The strongest level the case has under any of its profiles."""
        return min((self.level_for(p) for p in self.profiles), key=LEVEL_ORDER.index, default=self.level)

    @property
    def area(self) -> str:
        """``responses.stream.sequence-monotonic`` -> ``responses.stream``."""
        return self.id.rsplit(".", 1)[0]

    @property
    def is_probe(self) -> bool:
        return bool(self.gates) or self.probe

    def gated_by(self, probe: Case) -> bool:
        """Whether ``probe`` gates this case (a probe never gates itself)."""
        return probe.id != self.id and any(_matches(self.id, p) for p in probe.gates)

    @property
    def module(self) -> str:
        """The module the case is written in (``conformance.cases.errors``)."""
        return self.origin.split(":", 1)[0]


@dataclass(frozen=True)
class Row(Generic[P]):
    """One case of a family: what the registry lists, plus the data the family's check gets."""

    id: str
    level: Level
    title: str
    spec: str
    params: P
    source: str = ""
    tier: Tier = Tier.STRUCTURAL
    profiles: tuple[str, ...] = PROFILES
    provokes_backend_failure: bool = False
    # per-profile levels, as ``Registry.case(levels=...)``
    levels: dict[str, ProfileLevel | tuple[Level | str, str, str]] = field(default_factory=dict)


def profile_levels(
    case_id: str, levels: dict[str, ProfileLevel | tuple[Level | str, str, str]] | None
) -> dict[str, ProfileLevel]:
    """``levels=`` normalised: every profile known, every sentence and source given."""
    out: dict[str, ProfileLevel] = {}
    for profile, given in (levels or {}).items():
        if profile not in PROFILES:
            raise ValueError(f"{case_id}: levels for unknown profile {profile!r}")
        own = given if isinstance(given, ProfileLevel) else ProfileLevel(Level(given[0]), given[1], given[2])
        own = ProfileLevel(Level(own.level), " ".join(own.spec.split()), own.source)
        if not own.spec or not own.source:
            raise ValueError(f"{case_id}: the level under {profile} needs its sentence and its source")
        out[profile] = own
    return out


def _bind(func: FamilyFunc[P], params: P) -> CaseFunc:
    @functools.wraps(func)
    async def run(ctx: CaseContext) -> None:
        await func(ctx, params)

    return run


def docstring_parts(func: Callable[..., object]) -> tuple[str, str]:
    """(title, spec) from a docstring: the first paragraph, and the rest, each on one line."""
    doc = inspect.getdoc(func) or ""
    title, _, spec = doc.partition("\n\n")
    return " ".join(title.split()), " ".join(spec.split())


def _origin_of(func: Callable[..., object]) -> str:
    return f"{getattr(func, '__module__', '')}:{getattr(func, '__qualname__', '')}"


class Registry:
    """Cases by id. Ids are stable and never reused: registering one twice is an error."""

    def __init__(self) -> None:
        self._cases: dict[str, Case] = {}

    def add(self, case: Case) -> Case:
        """Register a case; ``case.origin`` defaults to where its function is defined."""
        if not case.origin:
            case = replace(case, origin=_origin_of(case.func))
        if not _ID_RE.match(case.id):
            raise ValueError(f"bad case id {case.id!r}: use dotted lower-case words, e.g. area.sub.name")
        old = self._cases.get(case.id)
        if old is not None and old.origin != case.origin:
            # a re-import of the same module (pytest's pytester does that) re-registers the same
            # function; any other reuse of an id is an error
            raise ValueError(f"duplicate case id {case.id!r}")
        unknown = set(case.profiles) - set(PROFILES)
        if unknown:
            raise ValueError(f"{case.id}: unknown profiles {sorted(unknown)}")
        outside = set(case.levels) - set(case.profiles)
        if outside:
            raise ValueError(f"{case.id}: levels for {sorted(outside)}, a profile it does not run under")
        self._cases[case.id] = case
        return case

    def case(
        self,
        id: str,
        level: Level | str,
        *,
        title: str | None = None,
        spec: str | None = None,
        tier: Tier | str = Tier.STRUCTURAL,
        profiles: Iterable[str] = PROFILES,
        source: str = "",
        gates: Iterable[str] = (),
        probe: bool = False,
        hint: str = "",
        provokes_backend_failure: bool = False,
        levels: dict[str, ProfileLevel | tuple[Level | str, str, str]] | None = None,
    ) -> Callable[[CaseFunc], CaseFunc]:
        """Decorator registering an ``async def case(ctx)`` function.

        The title and the spec sentence default to the function's docstring: its first paragraph
        is the title, the rest the quoted sentence (each joined into one line). A sentence that
        several cases share is given as ``spec=`` instead. ``gates`` makes the case its area's
        probe (see ``Case.gates``), ``hint`` says what the target needs when it does not pass.
        ``levels`` gives the level under a profile whose specification sets another one:
        ``{"openresponses": (Level.MUST, "the sentence, verbatim", "where it is")}``."""

        def decorate(func: CaseFunc) -> CaseFunc:
            doc_title, doc_spec = docstring_parts(func)
            case_title, case_spec = title or doc_title, spec or doc_spec
            if not case_title or not case_spec:
                raise ValueError(f"{id}: give a title and the spec sentence (docstring or title=/spec=)")
            self.add(
                Case(
                    id=id,
                    level=Level(level),
                    title=case_title,
                    spec=case_spec,
                    func=func,
                    tier=Tier(tier),
                    profiles=tuple(profiles),
                    source=source,
                    gates=tuple(gates),
                    probe=probe,
                    hint=hint,
                    provokes_backend_failure=provokes_backend_failure,
                    levels=profile_levels(id, levels),
                )
            )
            return func

        return decorate

    def family(
        self, rows: Iterable[Row[P]], *, module: str | None = None
    ) -> Callable[[FamilyFunc[P]], FamilyFunc[P]]:
        """Decorator registering one case per row of ``rows`` around ``async def check(ctx, params)``.

        ``module`` is the module the cases belong to (their area, see ``conformance.cases``);
        it defaults to the check's own module, and a shared family passes its caller's."""

        def decorate(func: FamilyFunc[P]) -> FamilyFunc[P]:
            where = module or getattr(func, "__module__", "")
            qualname = getattr(func, "__qualname__", "")
            seen: set[str] = set()
            for row in rows:
                if row.id in seen:
                    raise ValueError(f"duplicate case id {row.id!r} in family {qualname}")
                seen.add(row.id)
                self.add(
                    Case(
                        id=row.id,
                        level=Level(row.level),
                        title=row.title,
                        spec=row.spec,
                        func=_bind(func, row.params),
                        tier=Tier(row.tier),
                        profiles=tuple(row.profiles),
                        source=row.source,
                        provokes_backend_failure=row.provokes_backend_failure,
                        levels=profile_levels(row.id, row.levels),
                        origin=f"{where}:{qualname}[{row.id}]",
                    )
                )
            return func

        return decorate

    def all(self) -> list[Case]:
        return sorted(self._cases.values(), key=lambda c: c.id)

    def get(self, case_id: str) -> Case:
        return self._cases[case_id]

    def select(self, include: Iterable[str] = (), exclude: Iterable[str] = ()) -> list[Case]:
        return select(self.all(), include, exclude)

    def __len__(self) -> int:
        return len(self._cases)


def _split_globs(patterns: Iterable[str]) -> list[str]:
    out: list[str] = []
    for p in patterns:
        out.extend(x.strip() for x in p.split(",") if x.strip())
    return out


def select(cases: Iterable[Case], include: Iterable[str] = (), exclude: Iterable[str] = ()) -> list[Case]:
    """Filter by shell-style globs on the id (comma-separated or repeated).

    No include pattern means every case. A pattern without glob characters also matches as an
    id prefix on a dot boundary, so ``--cases responses.stream`` picks the whole area.
    """
    inc = _split_globs(include)
    exc = _split_globs(exclude)
    return [
        c
        for c in cases
        if (not inc or any(_matches(c.id, p) for p in inc)) and not any(_matches(c.id, p) for p in exc)
    ]


def _matches(case_id: str, pattern: str) -> bool:
    if fnmatch.fnmatchcase(case_id, pattern):
        return True
    return not any(ch in pattern for ch in "*?[") and case_id.startswith(pattern + ".")


def unmatched_patterns(cases: Iterable[Case], include: Iterable[str]) -> list[str]:
    """The include patterns that match no case (a typo in ``--cases``)."""
    ids = [c.id for c in cases]
    return [p for p in _split_globs(include) if not any(_matches(i, p) for i in ids)]


def with_probes(selected: Iterable[Case], every: Iterable[Case]) -> list[Case]:
    """``selected`` plus the probes (from ``every``) that gate any of them, sorted by id: a case
    selected alone still gets BLOCKED rather than failing for its area's missing set-up."""
    chosen = {c.id: c for c in selected}
    for probe in every:
        if probe.is_probe and probe.id not in chosen and any(c.gated_by(probe) for c in chosen.values()):
            chosen[probe.id] = probe
    return sorted(chosen.values(), key=lambda c: c.id)


def run_order(cases: Iterable[Case]) -> list[Case]:
    """The order a run uses: probes first, then the other cases, and the cases that provoke
    backend failures last (each group keeps the order it was given in)."""
    cases = list(cases)

    def rank(c: Case) -> int:
        return 0 if c.is_probe else 2 if c.provokes_backend_failure else 1

    return sorted(cases, key=rank)


#: The registry the built-in cases (``conformance.cases``) register into.
REGISTRY = Registry()
case = REGISTRY.case
family = REGISTRY.family
