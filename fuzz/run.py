"""Fuzz the reference gateway with schemathesis, directly and through Envoy.

    python -m fuzz.run                                   # reference schema, direct + envoy
    python -m fuzz.run --openapi ../shared/specs/openai-openapi.yaml   # + the official document
    python -m fuzz.run --target direct --max-examples 200 --budget 600  # a long local run

For every target (started here, stopped by PID at the end) and every schema profile:

1. fetch the target's own `/openapi.json`;
2. build the schema: `reference` = that document plus OpenAPI links (stateful create -> get ->
   delete chains); `openai` = the official document filtered to the operations the target's
   document declares, its known pitfalls repaired (`fuzz.schemas`);
3. run `st run` on it (all four phases: examples, coverage, fuzzing, stateful) with the checks
   below, the allow-listed status-code check from `fuzz.hooks`, and JSON + NDJSON + JUnit
   reports under `--report-dir`;
4. print one summary: operations covered, test cases, run time, allow-listed statuses seen,
   known findings and accepted divergences (`fuzz.known`) one line each, and every new failure
   with the request that triggered it and the answer.

Why the `st` CLI in a subprocess rather than schemathesis' Python engine: in 4.x the CLI (its
options, its reports and the hooks module) is the documented, stable interface, while
`schemathesis.engine` is internal; the CLI also gives the four phases, a wall-clock budget
(`--max-time`) and replayable reports for free. The schema is written to a temporary file
(never into the repository: the OpenAI document must not be copied in).

Exit status: 0 when every failure is a known finding or an accepted divergence, 1 on any new
failure or error (including a target that did not start).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

# PROFILE_ENV from the allow-list, not from fuzz.hooks: importing the hooks module registers a
# schemathesis check in whatever process imports it; only `st run` should.
from fuzz import known as findings
from fuzz import schemas, targets
from fuzz.allowlist import PROFILE_ENV, reason_for

ROOT = Path(__file__).resolve().parent.parent
ST = [sys.executable, "-m", "schemathesis.cli"]

# `status_code_allowlisted` (fuzz.hooks) replaces schemathesis' status_code_conformance.
# ensure_resource_availability is left out on purpose: a create with `store: false` is, by the
# Responses API's definition, not retrievable afterwards, and that check would flag the 404.
CHECKS: dict[str, tuple[str, ...]] = {
    "reference": (
        "not_a_server_error", "status_code_allowlisted", "content_type_conformance",
        "response_schema_conformance", "negative_data_rejection", "use_after_free",
    ),
    # The official document describes the OpenAI service, not this gateway: its response
    # schemas are checked too (that is what "OpenAI-compatible" means), but status codes go
    # through the allow-list because the document barely declares any error.
    "openai": (
        "not_a_server_error", "status_code_allowlisted", "content_type_conformance",
        "response_schema_conformance", "negative_data_rejection", "use_after_free",
    ),
}

DEFAULT_MAX_EXAMPLES = 10
DEFAULT_BUDGET = 12.0
# The official document's request schemas are far larger than the reference's (CreateResponse,
# the conversation Item union): generating the first cases costs seconds per operation, so its
# runs get this multiple of --budget unless --openai-budget says otherwise.
OPENAI_BUDGET_FACTOR = 2.0


@dataclass
class Failure:
    profile: str
    target: str
    code: str
    title: str
    operation: str
    message: str
    request: str
    response: str
    known: findings.Match | None = None
    accepted: findings.Match | None = None


@dataclass
class Outcome:
    target: str
    profile: str
    operations: list[str] = field(default_factory=list)
    generated: int = 0
    seconds: float = 0.0
    exit_code: int = 0
    failures: list[Failure] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    report_dir: Path | None = None
    skipped: str | None = None

    @property
    def new_failures(self) -> list[Failure]:
        return [f for f in self.failures if f.known is None and f.accepted is None]


# --- building schemas --------------------------------------------------------------------------


def fetch_reference_document(base_url: str) -> dict[str, Any]:
    resp = httpx.get(f"{base_url}/openapi.json", timeout=10.0)
    resp.raise_for_status()
    doc: dict[str, Any] = resp.json()
    return doc


def build_schema(
    profile: str, reference_doc: dict[str, Any], openai_doc: dict[str, Any] | None
) -> dict[str, Any]:
    if profile == "reference":
        return schemas.reference_schema(reference_doc)
    if openai_doc is None:
        raise ValueError("the openai profile needs --openapi PATH")
    return schemas.openai_schema(openai_doc, schemas.implemented_operations(reference_doc))


# --- running schemathesis ----------------------------------------------------------------------


def st_command(
    schema_file: Path, base_url: str, profile: str, report_dir: Path, *,
    max_examples: int, budget: float | None, seed: int | None, workers: int, extra: Sequence[str] = (),
) -> list[str]:
    cmd = [
        *ST, "run", str(schema_file), "--url", base_url,
        "--checks", ",".join(CHECKS[profile]),
        "--max-examples", str(max_examples),
        "--workers", str(workers),
        "--report", "json,ndjson,junit",
        "--report-dir", str(report_dir),
        "--report-json-path", str(report_dir / "report.json"),
        "--report-ndjson-path", str(report_dir / "events.ndjson"),
        "--report-junit-path", str(report_dir / "junit.xml"),
        "--request-timeout", "30",
        "--no-color",
        # Keep hypothesis' example database out of the repository.
        "--generation-database", "none",
    ]
    if budget is not None:
        cmd += ["--max-time", str(max(1, round(budget)))]
    if seed is not None:
        cmd += ["--seed", str(seed)]
    return [*cmd, *extra]


def _decode(body: Any, limit: int = 1500) -> str:
    if body is None:
        return ""
    if isinstance(body, dict) and "$base64" in body:
        raw = base64.b64decode(body["$base64"])
        text = raw.decode("utf-8", "replace")
    else:
        text = body if isinstance(body, str) else json.dumps(body)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def _interaction_text(interaction: dict[str, Any]) -> tuple[str, str]:
    req = interaction.get("request", {})
    resp = interaction.get("response") or {}
    request = f"{req.get('method')} {req.get('uri')}"
    body = _decode(req.get("body"))
    if body:
        request += f"\n  body: {body}"
    if not resp:
        return request, "(no response)"
    return request, f"{resp.get('status_code')} {_decode(resp.get('content'))}"


def parse_events(path: Path, profile: str, target: str) -> tuple[list[Failure], Counter[tuple[str, int]]]:
    """Unique failures (by code + operation, first occurrence) and per-operation status counts."""
    failures: dict[tuple[str, str, str], Failure] = {}
    statuses: Counter[tuple[str, int]] = Counter()
    if not path.exists():
        return [], statuses
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            event = json.loads(line)
            scenario = event.get("ScenarioFinished")
            if not scenario:
                continue
            recorder = scenario.get("recorder", {})
            cases = recorder.get("cases", {})
            interactions = recorder.get("interactions", {})
            for case_id, interaction in interactions.items():
                value = cases.get(case_id, {}).get("value", {})
                label = f"{value.get('method', '?')} {value.get('path', '?')}"
                resp = interaction.get("response") or {}
                if "status_code" in resp:
                    statuses[(label, int(resp["status_code"]))] += 1
            for case_id, checks in recorder.get("checks", {}).items():
                for check in checks:
                    if check.get("status") != "failure":
                        continue
                    info = check.get("failure_info", {}).get("failure", {})
                    code = info.get("code") or check.get("name", "?")
                    operation = info.get("operation") or recorder.get("label", "?")
                    # Same code + operation + first message line: one failure, however often hit.
                    first_line = (info.get("message") or "").partition("\n")[0]
                    key = (code, operation, first_line)
                    if key in failures:
                        continue
                    request, response = _interaction_text(interactions.get(case_id, {}))
                    message = info.get("message", "")
                    failures[key] = Failure(
                        profile=profile, target=target, code=code,
                        title=info.get("title", check.get("name", "")), operation=operation,
                        message=message, request=request, response=response,
                        known=findings.known(profile, code, operation, message,
                                             response=response, target=target),
                        accepted=findings.accepted(profile, code, operation, message,
                                                   response=response, target=target),
                    )
    return list(failures.values()), statuses


def run_profile(
    target: targets.Target, profile: str, schema: dict[str, Any], report_root: Path, *,
    max_examples: int, budget: float | None, seed: int | None, workers: int, extra: Sequence[str] = (),
) -> Outcome:
    report_dir = report_root / f"{target.name}-{profile}"
    report_dir.mkdir(parents=True, exist_ok=True)
    outcome = Outcome(target=target.name, profile=profile, report_dir=report_dir)
    outcome.operations = sorted(
        f"{m.upper()} {p}" for p, item in schema.get("paths", {}).items()
        for m in item if m in schemas.HTTP_METHODS
    )
    if not outcome.operations:
        outcome.skipped = "no operation of the document is implemented by the target"
        return outcome
    with tempfile.TemporaryDirectory(prefix="fuzz-schema-") as tmp:
        schema_file = Path(tmp) / f"{profile}.json"
        # default=str: YAML turns some `example:` values into dates.
        schema_file.write_text(json.dumps(schema, default=str), encoding="utf-8")
        cmd = st_command(schema_file, target.base_url, profile, report_dir, max_examples=max_examples,
                         budget=budget, seed=seed, workers=workers, extra=extra)
        env = {
            **os.environ,
            "SCHEMATHESIS_HOOKS": "fuzz.hooks",
            PROFILE_ENV: profile,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        started = time.monotonic()
        # cwd: st keeps its replay cache (.schemathesis/) in the working directory.
        proc = subprocess.run(cmd, env=env, cwd=report_dir, capture_output=True, text=True, check=False)
        outcome.seconds = time.monotonic() - started
    (report_dir / "st-output.txt").write_text(proc.stdout + proc.stderr, encoding="utf-8")
    outcome.exit_code = proc.returncode
    report_file = report_dir / "report.json"
    if report_file.exists():
        report = json.loads(report_file.read_text(encoding="utf-8"))
        outcome.generated = int(report.get("test_cases", {}).get("generated", 0))
        outcome.errors = [f"{e.get('title')} x{e.get('count')}" for e in report.get("errors", [])]
    else:
        tail = (proc.stdout + proc.stderr)[-3000:]
        outcome.errors = [f"st run exited {proc.returncode} without a report:\n{tail}"]
    outcome.failures, outcome.statuses = parse_events(report_dir / "events.ndjson", profile, target.name)
    return outcome


# --- summary -----------------------------------------------------------------------------------


def _undeclared(schema: dict[str, Any], label: str, status: int) -> bool:
    method, _, path = label.partition(" ")
    op = schema.get("paths", {}).get(path, {}).get(method.lower())
    if not isinstance(op, dict):
        return False
    declared = {str(code) for code in op.get("responses", {})}
    return not ({str(status), f"{str(status)[0]}XX", "default"} & declared)


def _one_line(text: str, limit: int = 600) -> str:
    # Bodies may be multipart or SSE: escape them onto one printable line.
    flat = text.encode("unicode_escape").decode("ascii")
    return flat if len(flat) <= limit else flat[:limit] + "..."


def summarize(outcomes: list[Outcome], schemas_used: dict[tuple[str, str], dict[str, Any]], *,
              max_examples: int, budgets: dict[str, float | None], total_seconds: float) -> str:
    out: list[str] = []
    budget_text = ", ".join(
        f"{profile} {f'{b:g}s' if b is not None else 'none'}" for profile, b in budgets.items()
    )
    out.append(f"fuzz summary: max-examples {max_examples} per operation, time budget per run: "
               f"{budget_text}, wall time {total_seconds:.1f}s")
    for o in outcomes:
        head = f"\n== {o.target} / {o.profile}"
        if o.skipped:
            out.append(f"{head}: skipped ({o.skipped})")
            continue
        out.append(f"{head}: {len(o.operations)} operations, {o.generated} test cases, {o.seconds:.1f}s, "
                   f"st exit {o.exit_code}, reports in {o.report_dir}")
        out.append("  operations: " + ", ".join(o.operations))
        schema = schemas_used.get((o.target, o.profile), {})
        allowed: Counter[int] = Counter()
        for (label, status), count in sorted(o.statuses.items()):
            if _undeclared(schema, label, status) and reason_for(o.profile, label, status):
                allowed[status] += count
        if allowed:
            out.append("  allow-listed undeclared statuses seen: "
                       + ", ".join(f"{s} x{n}" for s, n in sorted(allowed.items())))
        for err in o.errors:
            out.append(f"  ERROR: {err}")
        # Known and accepted failures: one line per entry, with the operations it covered.
        grouped: dict[tuple[str, str], list[str]] = {}
        for f in o.failures:
            if f.known:
                grouped.setdefault(("KNOWN", f"{f.code} {f.known.test}"), []).append(f.operation)
            elif f.accepted:
                grouped.setdefault(("ACCEPTED", f"{f.code} {f.accepted.reason}"), []).append(f.operation)
        for (tag, what), ops in grouped.items():
            unique = sorted(set(ops))
            shown = ", ".join(unique[:4]) + (f" (+{len(unique) - 4} more)" if len(unique) > 4 else "")
            out.append(f"  [{tag}] {what}: {shown}")
        # New failures: everything needed to reproduce and judge them.
        for f in o.new_failures:
            out.append(f"  [NEW] {f.code} {f.title} on {f.operation}")
            for line in f.message.splitlines()[:14]:
                out.append(f"      {line}")
            out.append(f"    request: {_one_line(f.request)}")
            out.append(f"    response: {_one_line(f.response)}")
    new = sum(len(o.new_failures) for o in outcomes)
    errs = sum(len(o.errors) for o in outcomes)
    knowns = sum(1 for o in outcomes for f in o.failures if f.known)
    accepted = sum(1 for o in outcomes for f in o.failures if f.accepted and not f.known)
    out.append(f"\nresult: {new} new failure(s), {knowns} known, {accepted} accepted, {errs} error(s)")
    return "\n".join(out)


# --- CLI ---------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m fuzz.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--target", action="append", choices=targets.TARGETS,
                   help="gateway to fuzz (repeatable; default: direct and envoy)")
    p.add_argument("--schema", action="append", choices=("reference", "openai"),
                   help="schema profile (repeatable; default: reference, plus openai with --openapi)")
    p.add_argument("--openapi", type=Path, help="the official OpenAI document (openai-openapi.yaml)")
    p.add_argument("--max-examples", type=int, default=DEFAULT_MAX_EXAMPLES,
                   help="test cases per operation and phase (default %(default)s)")
    p.add_argument("--budget", type=float, default=DEFAULT_BUDGET,
                   help="wall-clock seconds per schemathesis run (st --max-time); 0 = no limit "
                   "(default %(default)s)")
    p.add_argument("--openai-budget", type=float,
                   help=f"the same for the openai schema (default: {OPENAI_BUDGET_FACTOR:g} x --budget)")
    p.add_argument("--seed", type=int, help="schemathesis seed, for a reproducible run")
    p.add_argument("--workers", type=int, default=1, help="schemathesis workers (default 1: 2-core CI)")
    p.add_argument("--report-dir", type=Path, default=ROOT / "fuzz-reports")
    p.add_argument("--st-arg", action="append", default=[], metavar="ARG",
                   help="extra argument passed to `st run` (repeatable), e.g. --st-arg=--phases=fuzzing")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    target_names = args.target or list(targets.TARGETS)
    profiles = args.schema or (["reference", "openai"] if args.openapi else ["reference"])
    if "openai" in profiles and args.openapi is None:
        print("fuzz: the openai schema needs --openapi PATH", file=sys.stderr)
        return 2
    openai_doc = schemas.load_document(args.openapi) if "openai" in profiles else None
    budget = args.budget if args.budget and args.budget > 0 else None
    openai_budget = args.openai_budget if args.openai_budget is not None else (
        budget * OPENAI_BUDGET_FACTOR if budget is not None else None)
    budgets = {"reference": budget, "openai": openai_budget if openai_budget else None}
    started = time.monotonic()
    outcomes: list[Outcome] = []
    used: dict[tuple[str, str], dict[str, Any]] = {}
    for name in target_names:
        try:
            with targets.start(name) as target:
                print(f"fuzz: {name} target at {target.base_url}", flush=True)
                reference_doc = fetch_reference_document(target.base_url)
                for profile in profiles:
                    schema = build_schema(profile, reference_doc, openai_doc)
                    used[(name, profile)] = schema
                    print(f"fuzz: {name} / {profile}: running schemathesis", flush=True)
                    outcomes.append(run_profile(
                        target, profile, schema, args.report_dir, max_examples=args.max_examples,
                        budget=budgets[profile], seed=args.seed, workers=args.workers, extra=args.st_arg,
                    ))
        except Exception as exc:  # a target that cannot start is reported, the others still run
            outcome = Outcome(target=name, profile="*")
            outcome.errors.append(f"target did not start or failed: {type(exc).__name__}: {exc}")
            outcomes.append(outcome)
    print(summarize(outcomes, used, max_examples=args.max_examples,
                    budgets={p: budgets[p] for p in profiles},
                    total_seconds=time.monotonic() - started), flush=True)
    failed = any(o.new_failures or o.errors for o in outcomes)
    return 1 if failed else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
