"""Targets: a gateway given by URL, or a built-in one the harness starts as subprocesses.

The harness never imports ``reference``: the built-in targets are started with their command
lines (``python -m fixtures.backend``, ``responses-gateway serve|up``) and found by the lines
those commands print.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from childproc import ChildFailed, ChildProcess

# reference-docker and reference-ollama run in containers (conformance.container_targets).
BUILTIN_TARGETS = ("reference", "reference-envoy", "reference-docker", "reference-ollama")

# Printed by `python -m fixtures.backend --port 0` once it accepts connections.
BACKEND_RE = re.compile(r"fixtures\.backend listening on (?P<url>https?://\S+)")
# Printed by `python -m fixtures.mcp_server --port 0` (the MCP server for the mcp tool cases).
MCP_SERVER_RE = re.compile(r"fixtures\.mcp_server listening on (?P<url>https?://\S+)")
# Printed by `responses-gateway serve`: "responses-gateway: HTTP on http://127.0.0.1:PORT/v1" and,
# with --extproc-port, "responses-gateway: ext_proc gRPC on 127.0.0.1:PORT".
SERVE_HTTP_RE = re.compile(r"HTTP on (?P<url>https?://\S+)")
EXTPROC_RE = re.compile(
    r"\bext_?proc\b(?:\s+gRPC\s+on|\s*[:=])\s*(?:grpc://)?(?P<addr>\[[0-9a-fA-F:.]+\]:\d+|[\w.-]+:\d+)",
    re.IGNORECASE,
)
# Printed by `responses-gateway up` (agreed format; matched tolerantly, case-insensitive, with
# optional prefixes such as "responses-gateway: "):
#   envoy: http://127.0.0.1:PORT      admin: http://127.0.0.1:PORT      extproc: 127.0.0.1:PORT
UP_ENVOY_RE = re.compile(r"\benvoy\b\s*[:=]\s*(?P<url>https?://[^\s,;]+)", re.IGNORECASE)
UP_ADMIN_RE = re.compile(r"\badmin\b\s*[:=]\s*(?P<url>https?://[^\s,;]+)", re.IGNORECASE)


class TargetError(RuntimeError):
    """A built-in target could not be started (the message says why and shows its output)."""


class TargetUnavailable(TargetError):
    """A built-in target cannot run on this machine at all (no Docker engine, an image that cannot
    be pulled): the run is skipped with this one-line reason, never reported as passed."""


@dataclass
class Process:
    """A built-in target's child process (`childproc.ChildProcess`: stdout read line by line
    on a thread, stderr appended to a log file)."""

    child: ChildProcess

    @property
    def name(self) -> str:
        return self.child.name

    @property
    def popen(self) -> subprocess.Popen[str]:
        return self.child.popen

    @property
    def lines(self) -> list[str]:
        return self.child.lines

    def wait_for(
        self, patterns: dict[str, re.Pattern[str]], required: Sequence[str], timeout: float
    ) -> dict[str, str]:
        """Wait until every required pattern matched a stdout line; return the named groups."""
        try:
            found = self.child.wait_for_all(patterns, required, timeout)
        except ChildFailed as exc:
            raise TargetError(str(exc)) from None
        return {key: next(v for v in m.groupdict().values() if v) for key, m in found.items()}

    def stop(self, timeout: float = 10.0) -> None:
        # SIGINT first (Ctrl-C: lets `up` stop its own children), then SIGTERM, then SIGKILL.
        self.child.stop((signal.SIGINT, signal.SIGTERM), timeout)


def spawn(name: str, cmd: Sequence[str], log_path: Path) -> Process:
    return Process(ChildProcess.spawn(name, cmd, stderr=log_path))


def gateway_command() -> list[str]:
    """``responses-gateway`` from this interpreter's environment (else from PATH)."""
    beside = Path(sys.executable).with_name("responses-gateway")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("responses-gateway")
    if found:
        return [found]
    raise TargetError("the `responses-gateway` command is not installed (pip install -e . in this repo)")


@dataclass
class RunningTarget:
    name: str
    base_url: str
    extproc: str | None = None
    admin_url: str | None = None
    mcp_server_url: str | None = None
    workdir: Path | None = None
    processes: list[Process] = field(default_factory=list)

    def stop(self) -> None:
        for proc in reversed(self.processes):
            proc.stop()


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
