"""Targets: a gateway given by URL, or a built-in one the harness starts as subprocesses.

The harness never imports ``reference``: the built-in targets are started with their command
lines (``python -m fixtures.backend``, ``responses-gateway serve|up``) and found by the lines
those commands print.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from conformance.target_base import (
    BACKEND_RE,
    EXTPROC_RE,
    MCP_SERVER_RE,
    SERVE_HTTP_RE,
    UP_ADMIN_RE,
    UP_ENVOY_RE,
    Process,
    RunningTarget,
    TargetError,
    TargetUnavailable,
    gateway_command,
    spawn,
)

# The launcher's shared parts are re-exported: callers import them from here.
__all__ = [
    "BACKEND_RE",
    "BUILTIN_TARGETS",
    "EXTPROC_RE",
    "MCP_SERVER_RE",
    "SERVE_HTTP_RE",
    "UP_ADMIN_RE",
    "UP_ENVOY_RE",
    "Process",
    "RunningTarget",
    "TargetError",
    "TargetUnavailable",
    "builtin_target",
    "gateway_command",
    "spawn",
]

# reference-docker and reference-ollama run in containers (conformance.container_targets).
BUILTIN_TARGETS = ("reference", "reference-envoy", "reference-docker", "reference-ollama")

def _start_reference(workdir: Path, timeout: float, profile: str) -> RunningTarget:
    target = RunningTarget("reference", base_url="", workdir=workdir)
    try:
        backend = spawn(
            "fixtures.backend",
            [sys.executable, "-m", "fixtures.backend", "--port", "0"],
            workdir / "backend.log",
        )
        target.processes.append(backend)
        backend_url = backend.wait_for({"url": BACKEND_RE}, ["url"], timeout)["url"]
        gw = spawn(
            "responses-gateway serve",
            [
                *gateway_command(),
                "serve",
                "--backend-url",
                backend_url,
                "--http-port",
                "0",
                "--extproc-port",
                "auto",
                "--db",
                str(workdir / "gateway.sqlite3"),
                "--profile",
                profile,
            ],
            workdir / "gateway.log",
        )
        target.processes.append(gw)
        found = gw.wait_for({"url": SERVE_HTTP_RE, "extproc": EXTPROC_RE}, ["url"], timeout)
        target.base_url = found["url"]
        target.extproc = found.get("extproc")
        return target
    except BaseException:
        target.stop()
        raise


def _start_reference_envoy(workdir: Path, timeout: float, profile: str) -> RunningTarget:
    target = RunningTarget("reference-envoy", base_url="", workdir=workdir)
    try:
        up = spawn(
            "responses-gateway up",
            [
                *gateway_command(),
                "up",
                "--envoy-port",
                "0",
                "--admin-port",
                "0",
                "--http-port",
                "0",
                "--extproc-port",
                "auto",
                "--db",
                str(workdir / "gateway.sqlite3"),
                "--profile",
                profile,
            ],
            workdir / "up.log",
        )
        target.processes.append(up)
        found = up.wait_for(
            {"envoy": UP_ENVOY_RE, "admin": UP_ADMIN_RE, "extproc": EXTPROC_RE},
            ["envoy", "admin", "extproc"],
            timeout,
        )
        envoy = found["envoy"].rstrip("/")
        target.base_url = envoy if envoy.endswith("/v1") else envoy + "/v1"
        target.admin_url = found["admin"]
        target.extproc = found["extproc"]
        return target
    except TargetError as exc:
        target.stop()
        raise TargetError(
            f"{exc}\n  `responses-gateway up` must print lines 'envoy: http://127.0.0.1:PORT', "
            "'admin: http://127.0.0.1:PORT' and 'extproc: 127.0.0.1:PORT' (see ARCHITECTURE.md)"
        ) from None
    except BaseException:
        target.stop()
        raise


def _start_mcp_server(target: RunningTarget, workdir: Path, timeout: float) -> str | None:
    """Start ``fixtures.mcp_server`` beside a built-in target (the gateway reaches it on loopback).

    Optional: when it cannot start (e.g. the ``mcp`` package is missing) the MCP cases are
    UNIMPLEMENTED rather than the whole run failing."""
    try:
        proc = spawn(
            "fixtures.mcp_server",
            [sys.executable, "-m", "fixtures.mcp_server", "--port", "0"],
            workdir / "mcp_server.log",
        )
    except OSError:
        return None
    target.processes.insert(0, proc)  # stopped last, after the gateway
    try:
        return proc.wait_for({"url": MCP_SERVER_RE}, ["url"], timeout)["url"]
    except TargetError:
        proc.stop()
        return None


@contextlib.contextmanager
def builtin_target(
    name: str, *, timeout: float = 60.0, workdir: Path | None = None, profile: str = "openai"
) -> Iterator[RunningTarget]:
    """Start a built-in target, yield it, and stop every process it started."""
    if name not in BUILTIN_TARGETS:
        raise TargetError(f"unknown target {name!r}; choose from {', '.join(BUILTIN_TARGETS)}")
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"conformance-{name}-")))
        workdir.mkdir(parents=True, exist_ok=True)
        if name in ("reference-docker", "reference-ollama"):
            from conformance.container_targets import container_target

            yield stack.enter_context(
                container_target(name, workdir=workdir, timeout=timeout, profile=profile)
            )
            return
        start = _start_reference if name == "reference" else _start_reference_envoy
        # the gateway is told which profile to speak (e.g. `[DONE]` only for Open Responses)
        target = start(workdir, timeout, profile)
        try:
            target.mcp_server_url = _start_mcp_server(target, workdir, timeout)
            yield target
        finally:
            target.stop()
