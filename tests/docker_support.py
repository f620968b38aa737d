"""Shared by the tests that need a Docker engine: skip with the reason when none is reachable,
fail instead when DOCKER_REQUIRED=1 (.ci/run sets it after starting the engine), and the images
built from this checkout by docker/build_images.py (cached: seconds when nothing changed)."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def docker_reason() -> str | None:
    try:
        from conformance.container_targets import docker_unavailable_reason
    except ImportError as exc:
        return f"the docker extra is not installed ({exc})"
    return docker_unavailable_reason()


def require_docker() -> None:
    reason = docker_reason()
    if reason is None:
        return
    if os.environ.get("DOCKER_REQUIRED") == "1":
        pytest.fail(f"DOCKER_REQUIRED=1 but {reason}")
    pytest.skip(reason)


@functools.cache
def built_images() -> dict[str, str]:
    result = subprocess.run(
        [sys.executable, str(ROOT / "docker" / "build_images.py")], stdout=subprocess.PIPE, text=True
    )
    assert result.returncode == 0, "docker/build_images.py failed (its output is above)"
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
