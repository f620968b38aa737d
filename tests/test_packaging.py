"""The wheel ships every package: pyproject.toml lists packages explicitly (the Envoy launcher
is installed under another name, which automatic discovery cannot express), so a subpackage
added without a line there would work in an editable checkout and vanish from a real install
(a container image, `pip install .`)."""

from __future__ import annotations

import tomllib
from pathlib import Path

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
