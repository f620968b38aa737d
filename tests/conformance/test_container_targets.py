"""The reference-docker target: it serves the suite from containers and removes every container
it started, also when the run fails or is interrupted (Ctrl-C unwinds as KeyboardInterrupt).
The whole suite and the verdict comparison with reference-envoy are `nox -s conformance-docker`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.request

import pytest

from conformance.cli import load_cases, select
from conformance.container_targets import RUN_LABEL, ollama_unavailable_reason
from conformance.profiles import PROFILES
from conformance.runner import RunConfig, load_waivers, run_cases
from conformance.targets import TargetUnavailable, builtin_target
from tests.docker_support import ROOT, built_images, require_docker

pytestmark = pytest.mark.docker


@pytest.fixture
def images(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    require_docker()
    found = built_images()
    for key in ("GATEWAY_IMAGE", "BACKEND_IMAGE", "ENVOY_IMAGE"):
        monkeypatch.setenv(key, found[key])
    return found


def _labelled_containers() -> list[str]:
    out = subprocess.run(["docker", "ps", "-aq", "--filter", f"label={RUN_LABEL}"],
                         capture_output=True, text=True, check=True).stdout
    return out.split()


def _health_by_part() -> dict[str, str]:
    ids = _labelled_containers()
    part = f'{{{{index .Config.Labels "{RUN_LABEL}.part"}}}}'
    status = "{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}"
    out = subprocess.run(
        ["docker", "inspect", "--format", f"{part} {status}", *ids],
        capture_output=True, text=True, check=True,
    ).stdout
    return dict(line.split() for line in out.splitlines() if line.strip())


def _wait_healthy(parts: set[str], timeout: float = 60) -> None:
    """The images' healthchecks follow the ports the target chose (HEALTH_URL)."""
    deadline = time.monotonic() + timeout
    while True:
        health = _health_by_part()
        if all(health.get(part) == "healthy" for part in parts):
            return
        assert time.monotonic() < deadline, health
        time.sleep(1)


def test_reference_docker_serves_the_suite_and_cleans_up(images: dict[str, str], tmp_path) -> None:
    before = set(_labelled_containers())
    with builtin_target("reference-docker", workdir=tmp_path, timeout=90) as target:
        assert set(_labelled_containers()) - before, "the parts run as labelled containers"
        with urllib.request.urlopen(f"{target.admin_url}/ready", timeout=5) as resp:
            assert resp.status == 200  # a real Envoy in front
        _wait_healthy({"gateway", "backend"})
        cases = select(load_cases(), ["responses.create", "responses.stream", "extproc.protocol"], [])
        # What Envoy decides is waived as for reference-envoy (envoy/conformance-waivers.toml).
        waivers = load_waivers(str(ROOT / "envoy" / "conformance-waivers.toml"))
        config = RunConfig(base_url=target.base_url, profile=PROFILES["openai"], extproc=target.extproc,
                           target_name="reference-docker", mcp_server_url=target.mcp_server_url,
                           waivers=waivers)
        run = asyncio.run(run_cases(cases, config))
        verdicts = {r.case_id: r.verdict.value for r in run.results}
        assert run.exit_code == 0, {k: v for k, v in verdicts.items() if v != "PASS"}
        assert list(verdicts.values()).count("PASS") > 20, verdicts
    assert set(_labelled_containers()) <= before


@pytest.mark.parametrize("interruption", [RuntimeError("a failing run"), KeyboardInterrupt()])
def test_every_container_is_removed_on_failure_and_interrupt(
    images: dict[str, str], tmp_path, interruption: BaseException
) -> None:
    before = set(_labelled_containers())
    with pytest.raises(type(interruption)), builtin_target("reference-docker", workdir=tmp_path, timeout=90):
        assert set(_labelled_containers()) - before
        raise interruption
    assert set(_labelled_containers()) <= before


def test_reference_ollama_is_skipped_with_its_reason_when_the_image_cannot_be_pulled(tmp_path) -> None:
    require_docker()
    reason = ollama_unavailable_reason()
    if reason is None:
        pytest.skip("the Ollama image is available here: nox -s conformance-ollama runs it")
    with pytest.raises(TargetUnavailable, match="cannot be pulled"), builtin_target(
        "reference-ollama", workdir=tmp_path
    ):
        pass
    # The command line says so in one line, exits 3 and writes no report.
    report_dir = tmp_path / "reports"
    result = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", "--target", "reference-ollama",
         "--report-dir", str(report_dir)],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ, "COLUMNS": "400"},
    )
    assert result.returncode == 3, result.stdout + result.stderr
    skipped = [line for line in result.stdout.splitlines() if line.startswith("skipped:")]
    assert len(skipped) == 1 and "cannot be pulled" in skipped[0], result.stdout
    assert not report_dir.exists()
    assert "PASS" not in result.stdout

