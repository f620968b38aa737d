"""What every target launcher shares: the lines built-in targets print, the errors, the child
processes and the running-target record. `conformance.targets` (subprocess targets) and
`conformance.container_targets` (Docker) both build on it, so neither imports the other at
module level."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from childproc import ChildFailed, ChildProcess

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
    def lines(self) -> Sequence[str]:
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
