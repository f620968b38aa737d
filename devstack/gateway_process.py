"""`responses-gateway serve` as a child process, for tests and launchers.

    with start_subprocess(["--backend-url", url, "--http-port", "0", "--db", path]) as gw:
        httpx.get(gw.base_url + "/health")
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from childproc import ChildProcess
from reference.cli import READY_PREFIX

_READY_RE = re.compile(re.escape(READY_PREFIX) + r"(\S+)")


@dataclass
class GatewayProcess:
    """`responses-gateway serve` running as a child process (see :func:`start_subprocess`);
    its output (stdout and stderr merged) is collected in `child.lines`."""

    child: ChildProcess
    url: str
    """The API base, `http://HOST:PORT/v1` (what an OpenAI SDK takes as base_url)."""

    @property
    def process(self) -> subprocess.Popen[str]:
        return self.child.popen

    @property
    def base_url(self) -> str:
        """`http://HOST:PORT` without `/v1` (for /health, /openapi.json)."""
        return self.url.removesuffix("/v1")

    @property
    def output(self) -> str:
        return self.child.output

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Signal the child by PID and wait for it (SIGKILL after `timeout`); return its exit code."""
        return self.child.stop((sig,), timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_subprocess(args: Sequence[str], *, timeout: float = 20.0) -> GatewayProcess:
    """Spawn `responses-gateway serve ARGS...` and wait for its
    `HTTP on` line; `RuntimeError` (with its output) when it exits or stays silent."""
    if "--extproc-port" not in args:
        # Tests run gateways side by side: never let them fight over the default 10000.
        args = [*args, "--extproc-port", "0"]
    # With a backend URL the gateway alone starts (faster); without one the dev CLI first
    # starts the scripted backend.
    module = "reference.cli" if "--backend-url" in args else "devstack.cli"
    cmd = [sys.executable, "-m", module, "serve", *args]
    child = ChildProcess.spawn("responses-gateway serve", cmd)
    try:
        url = child.wait_for(_READY_RE, timeout).group(1)
    except BaseException:
        child.stop((), 5)
        raise
    return GatewayProcess(child, url)
