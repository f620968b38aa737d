"""envoy/docker-compose.yml runs: brought up with the images built from this checkout and the
scripted backend in Ollama's place (profile "scripted"), healthy, serving a slice of the suite
through Envoy on a free host port, its database on a named volume; then brought down with
nothing left. Once with each compose implementation present (the `docker compose` plugin,
Debian's `docker-compose` 1.29)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

from tests.docker_support import ROOT, built_images, require_docker

pytestmark = pytest.mark.docker

COMPOSE_FILE = ROOT / "envoy" / "docker-compose.yml"


def _compose_commands() -> list[list[str]]:
    found = []
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"],
                                                 capture_output=True).returncode == 0:
        found.append(["docker", "compose"])
    if shutil.which("docker-compose"):
        found.append(["docker-compose"])
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return int(resp.status)
    except OSError:
        return None


def _health(project: str, service: str) -> str:
    out = subprocess.run(
        ["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={project}",
         "--filter", f"label=com.docker.compose.service={service}"],
        capture_output=True, text=True,
    ).stdout.split()
    if not out:
        return "absent"
    state = subprocess.run(["docker", "inspect", "--format", "{{json .State.Health}}", out[0]],
                           capture_output=True, text=True).stdout
    health = json.loads(state or "null")
    return health["Status"] if health else "no healthcheck"


@pytest.mark.parametrize("compose", _compose_commands() or [None], ids=lambda c: " ".join(c or ["none"]))
def test_compose_stack_serves_a_slice_of_the_suite(compose: list[str] | None, tmp_path) -> None:
    require_docker()
    if compose is None:
        pytest.skip("neither the docker compose plugin nor docker-compose is installed")
    images = built_images()
    project = f"rgc{uuid.uuid4().hex[:8]}"
    port = _free_port()
    env = {**os.environ, "ENVOY_PORT": str(port), "ENVOY_BIND": "127.0.0.1",
           **{k: images[k] for k in ("ENVOY_IMAGE", "GATEWAY_IMAGE", "BACKEND_IMAGE", "PYTHON_IMAGE")}}
    base = [*compose, "-p", project, "-f", str(COMPOSE_FILE), "--profile", "scripted"]

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([*base, *args], env=env, capture_output=True, text=True)
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    try:
        run("up", "-d", "--no-build", "envoy", "gateway", "backend")
        deadline = time.monotonic() + 120
        while _health(project, "envoy") != "healthy":
            assert time.monotonic() < deadline, run("logs", "--tail", "30", check=False).stdout
            time.sleep(1)
        assert _health(project, "gateway") == "healthy"
        assert _health(project, "backend") == "healthy"
        assert _health(project, "ollama") == "absent"  # the scripted backend stands in for it
        assert _http_status(f"http://127.0.0.1:{port}/health") == 200  # through Envoy, from the host

        volumes = subprocess.run(["docker", "volume", "ls", "-q", "--filter", f"name={project}"],
                                 capture_output=True, text=True).stdout.split()
        assert f"{project}_gateway-data" in volumes

        reports = tmp_path / "reports"
        result = subprocess.run(
            [sys.executable, "-m", "conformance.cli", "run", "--base-url", f"http://127.0.0.1:{port}/v1",
             "--cases", "responses.create", "--cases", "responses.stream",
             "--cases", "state.get-after-create",
             "--waivers", str(ROOT / "envoy" / "conformance-waivers.toml"),
             "--report-dir", str(reports), "--quiet"],
            capture_output=True, text=True, cwd=tmp_path,
        )
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        verdicts = [r["verdict"] for r in json.loads((reports / "report.json").read_text()).values()]
        assert verdicts.count("PASS") >= 20, verdicts
        assert "FAIL" not in verdicts and "ERROR" not in verdicts
    finally:
        run("down", "--volumes", "--remove-orphans", check=False)
    left = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={project}"],
                          capture_output=True, text=True).stdout.split()
    assert left == []
    volumes = subprocess.run(["docker", "volume", "ls", "-q", "--filter", f"name={project}"],
                             capture_output=True, text=True).stdout.split()
    assert volumes == []
