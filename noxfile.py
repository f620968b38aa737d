"""Developer and CI entry points.

`nox -s tests` and `nox -s conformance` are the two commands in the README's quick start; CI
(`.ci/run`) calls the same sessions. Every session installs the project from this checkout, so
a fresh clone needs nothing but Python >= 3.11 and `pip install nox`.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

ROOT = Path(__file__).parent
# The published specifications live beside the repository (../shared/specs) and are never
# copied in; any session that uses them also accepts a path through the environment.
SPECS = Path(os.environ.get("SPECS_DIR", ROOT.parent / "shared" / "specs"))
OPENAI_SPEC = SPECS / "openai-openapi.yaml"
OPENRESPONSES_SPEC = SPECS / "openresponses-openapi.json"
REPORTS = ROOT / "conformance-reports"

nox.options.sessions = ["tests", "conformance", "lint", "typing"]
nox.options.reuse_existing_virtualenvs = True
nox.options.default_venv_backend = "venv"


def _install(session: nox.Session, extras: str = "test") -> None:
    session.install("-e", f".[{extras}]")


@nox.session
def tests(session: nox.Session) -> None:
    """Unit, property, integration and harness self-tests (the fuzz plumbing's tests need schemathesis)."""
    _install(session, "test,fuzz")
    profile = "ci" if os.environ.get("CI") else "dev"
    session.run("python", "-m", "pytest", f"--hypothesis-profile={profile}", *session.posargs)


@nox.session
def conformance(session: nox.Session) -> None:
    """Every conformance case against the built-in `reference` and `reference-envoy` targets.

    Both targets are judged by the OpenAI profile (validated against the official OpenAPI
    document when ../shared/specs is present); the reference is also judged by the Open
    Responses profile, which it claims too.
    """
    _install(session)
    openai_spec = ["--openapi", str(OPENAI_SPEC)] if OPENAI_SPEC.exists() else []
    openresponses_spec = ["--openapi", str(OPENRESPONSES_SPEC)] if OPENRESPONSES_SPEC.exists() else []
    # Behind Envoy a few behaviours are Envoy's to decide; they are listed with reasons in
    # envoy/conformance-waivers.toml and reported as SKIPPED ("waived: ..."), never as PASS.
    envoy_waivers = ["--waivers", str(ROOT / "envoy" / "conformance-waivers.toml")]
    runs = [
        ("reference", "reference", ["--profile", "openai", *openai_spec]),
        ("reference-envoy", "reference-envoy", ["--profile", "openai", *openai_spec, *envoy_waivers]),
        ("reference", "reference-openresponses", ["--profile", "openresponses", *openresponses_spec]),
    ]
    for target, report, options in runs:
        session.run(
            "responses-conformance", "run", "--target", target,
            "--report-dir", str(REPORTS / report), *options, *session.posargs,
        )


@nox.session
def lint(session: nox.Session) -> None:
    """ruff, and the import contracts (the harness never imports the reference; the core is sans-IO)."""
    _install(session, "dev")
    session.run("ruff", "check", ".")
    session.run("lint-imports")


@nox.session
def typing(session: nox.Session) -> None:
    """mypy over every package."""
    _install(session, "dev")
    session.run("mypy")


@nox.session
def fuzz(session: nox.Session) -> None:
    """schemathesis against the reference, directly and through Envoy (see fuzz/README.md).

    CI budget: 10 examples per operation and phase; each schemathesis run stops after 12 s
    (reference schema) or 24 s (OpenAI schema), two targets: about 90 s in all. A longer local
    run is one flag away: `nox -s fuzz -- --max-examples 200 --budget 600`.
    """
    _install(session, "test,fuzz")
    openapi = ["--openapi", str(OPENAI_SPEC)] if OPENAI_SPEC.exists() else []
    # CI replays one fixed seed, so a red run is a regression and reproducible; locally every
    # run explores new inputs (pass `-- --seed N` to replay one).
    seed = ["--seed", "20261126"] if os.environ.get("CI") and "--seed" not in session.posargs else []
    session.run("python", "-m", "fuzz.run", "--report-dir", str(ROOT / "fuzz-reports"), *openapi,
                *seed, *session.posargs)


@nox.session
def mutants(session: nox.Session) -> None:
    """Mutation testing of the harness: every catalog mutant (fixtures/mutants) must be killed.

    Not a default session (about 9 minutes on 2 cores): the 50 hand-written mutants each run the
    whole suite, the promoted per-case proofs run their area (fixtures/mutants/README.md). Extra
    arguments go to `python -m fixtures.mutants`, e.g. `nox -s mutants -- --only 'sse.*'`."""
    _install(session)
    REPORTS.mkdir(parents=True, exist_ok=True)
    session.run(
        "python", "-m", "fixtures.mutants", "--json", str(REPORTS / "mutants.json"), *session.posargs
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmark of the reference gateway through Envoy (a measurement, not a test: it never
    fails on a missed target). One table, side by side: backend direct, Envoy pass-through,
    reference direct HTTP, reference via Envoy + ext_proc; see benchmarks/gateway.py.
    Extra arguments go to the script, e.g. `nox -s bench -- --json bench.json`."""
    _install(session)
    session.run("python", "benchmarks/gateway.py", *session.posargs)
