"""Build the gateway, harness and scripted-backend images from this checkout.

    python docker/build_images.py [--tag TAG] [--local-base | --python-image IMG --envoy-image IMG]

Prints one `NAME=VALUE` line per image (GATEWAY_IMAGE, HARNESS_IMAGE, BACKEND_IMAGE, ENVOY_IMAGE,
PYTHON_IMAGE): the form `docker compose --env-file` and the testcontainers target read.

Base images: the official ones (python:3.11-slim, envoyproxy/envoy:v1.40-latest) when they are
present or can be pulled; otherwise (or with --local-base) the stand-ins that
docker/build-base-images.sh builds from Debian packages and caches.

pip inside the build installs from a wheelhouse the host fills once per pyproject.toml (cached
beside the base images, ~/.cache/responses-gateway-images/wheelhouse-KEY) and serves on a
loopback port for the duration of the build: the build then needs no index, no proxy settings
and no certificates from the host, and a rebuild after a source change takes seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import http.server
import os
import shutil
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "docker" / "Dockerfile"
BASE_SCRIPT = ROOT / "docker" / "build-base-images.sh"
OFFICIAL_PYTHON = "python:3.11-slim"
OFFICIAL_ENVOY = "envoyproxy/envoy:v1.40-latest"
TARGETS = {"gateway": "GATEWAY_IMAGE", "harness": "HARNESS_IMAGE", "backend": "BACKEND_IMAGE"}
# setuptools and wheel build the project itself inside the image (pyproject's build-system).
BUILD_REQUIREMENTS = ["setuptools>=68", "wheel"]


class BuildError(RuntimeError):
    pass


def cache_root() -> Path:
    configured = os.environ.get("RESPONSES_GATEWAY_IMAGE_CACHE")
    if configured:
        return Path(configured)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "responses-gateway-images"


def _log(message: str) -> None:
    print(f"build_images: {message}", file=sys.stderr, flush=True)


def _run(cmd: list[str], *, show_stderr: bool = False) -> str:
    """Run a command; its stdout, or BuildError with the end of its output."""
    result = subprocess.run(
        cmd, text=True, stdout=subprocess.PIPE, stderr=None if show_stderr else subprocess.PIPE
    )
    if result.returncode != 0:
        raise BuildError(f"{' '.join(cmd[:4])} ... failed ({result.returncode}):\n{result.stdout[-3000:]}"
                         f"{(result.stderr or '')[-3000:]}")
    return result.stdout


def _have_image(name: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", name], capture_output=True).returncode == 0


def _available(name: str) -> bool:
    """Present in the engine, or pulled now (fails within a second where no registry resolves)."""
    if _have_image(name):
        return True
    return subprocess.run(["docker", "pull", "-q", name], capture_output=True).returncode == 0


def base_images(local: bool) -> tuple[str, str]:
    if not local and _available(OFFICIAL_PYTHON) and _available(OFFICIAL_ENVOY):
        return OFFICIAL_PYTHON, OFFICIAL_ENVOY
    if not local:
        _log(f"{OFFICIAL_PYTHON} / {OFFICIAL_ENVOY} cannot be pulled: using the locally built base images")
    out = _run(["bash", str(BASE_SCRIPT)], show_stderr=True)
    found = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return found["PYTHON_IMAGE"], found["ENVOY_IMAGE"]


def requirements() -> list[str]:
    """The images' run-time dependencies (pyproject.toml): the harness's and the `reference`
    extra's (the images hold the reference gateway)."""
    with (ROOT / "pyproject.toml").open("rb") as f:
        project = tomllib.load(f)["project"]
    return [*project["dependencies"], *project["optional-dependencies"]["reference"]]


def wheelhouse() -> Path:
    """Every wheel `pip install ".[reference]"` needs, for these dependencies (filled once, then
    reused)."""
    key = hashlib.sha256("\n".join([*BUILD_REQUIREMENTS, *requirements()]).encode()).hexdigest()[:12]
    house = cache_root() / f"wheelhouse-{key}"
    if (house / ".complete").exists():
        return house
    _log(f"filling the wheelhouse {house}")
    house.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    _run([*pip, "wheel", "--quiet", "--wheel-dir", str(house), f"{ROOT}[reference]"])
    _run([*pip, "download", "--quiet", "--only-binary=:all:", "--dest", str(house), *BUILD_REQUIREMENTS])
    for own in house.glob("responses_gateway_conformance-*.whl"):
        own.unlink()  # the project itself is built from the checkout in the image
    (house / ".complete").touch()
    # Other checkouts (other dependency lists) may be building right now: only week-old
    # wheelhouses go.
    for stale in cache_root().glob("wheelhouse-*"):
        if stale != house and time.time() - stale.stat().st_mtime > 7 * 86400:
            shutil.rmtree(stale, ignore_errors=True)
    return house


@contextlib.contextmanager
def served(directory: Path) -> Iterator[str]:
    """Serve a directory on loopback (pip reads its listing as --find-links).

    The URL is a build argument, and a build argument that changes invalidates the layers after
    it: the port is derived from the wheelhouse's name, so it is the same from build to build,
    and only when that port is taken does a free one (and one rebuild of those layers) follow."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    preferred = 49152 + int(hashlib.sha256(directory.name.encode()).hexdigest(), 16) % 8000
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", preferred), handler)
    except OSError:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def build(tag: str, python_image: str, *, use_wheelhouse: bool = True) -> dict[str, str]:
    # The build's RUN steps use the host's network where the engine has no default bridge
    # (dockerd --bridge=none): that is also how they reach the loopback wheelhouse.
    bridge = subprocess.run(["docker", "network", "inspect", "bridge"], capture_output=True).returncode == 0
    images: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        pip_args: list[str] = []
        if use_wheelhouse:
            url = stack.enter_context(served(wheelhouse()))
            if bridge:  # a container on a bridge reaches the host's loopback only through the gateway
                raise BuildError("the wheelhouse needs host networking; pass --no-wheelhouse")
            pip_args = ["--build-arg", "PIP_NO_INDEX=1", "--build-arg", f"PIP_FIND_LINKS={url}"]
        for target, var in TARGETS.items():
            name = f"responses-gateway/{target}:{tag}"
            started = time.monotonic()
            _run([
                "docker", "build", "--quiet", *([] if bridge else ["--network", "host"]),
                "-f", str(DOCKERFILE), "--target", target, "-t", name,
                "--build-arg", f"PYTHON_IMAGE={python_image}",
                "--build-arg", f"REQUIREMENTS={' '.join(r.replace(' ', '') for r in requirements())}",
                *pip_args, str(ROOT),
            ])
            _log(f"{name} built in {time.monotonic() - started:.0f} s")
            images[var] = name
    return images


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python docker/build_images.py",
                                     description=__doc__.split("\n\n")[0])
    # One tag per checkout, so two checkouts on one engine never run each other's images.
    default_tag = "dev-" + hashlib.sha256(str(ROOT).encode()).hexdigest()[:8]
    parser.add_argument("--tag", default=default_tag,
                        help="tag of the three images (default: dev-<hash of the checkout's path>)")
    parser.add_argument("--local-base", action="store_true",
                        help="use the Debian-built base images even where the official ones can be pulled")
    parser.add_argument("--python-image", help="base image for the three images (skips the detection)")
    parser.add_argument("--envoy-image", help="Envoy image to report (skips the detection)")
    parser.add_argument("--no-wheelhouse", action="store_true",
                        help="let pip inside the build use its index (PyPI) directly")
    args = parser.parse_args(argv)
    if shutil.which("docker") is None:
        print("build_images: error: the docker command is not installed", file=sys.stderr)
        return 1
    try:
        if args.python_image and args.envoy_image:
            python_image, envoy_image = args.python_image, args.envoy_image
        else:
            python_image, envoy_image = base_images(args.local_base)
        images = build(args.tag, args.python_image or python_image, use_wheelhouse=not args.no_wheelhouse)
    except BuildError as exc:
        print(f"build_images: error: {exc}", file=sys.stderr)
        return 1
    images.update(ENVOY_IMAGE=envoy_image, PYTHON_IMAGE=python_image)
    for var, name in images.items():
        print(f"{var}={name}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
