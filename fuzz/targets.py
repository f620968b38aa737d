"""The gateways the fuzzer runs against, each started (and stopped, by PID) by the fuzzer itself.

- `direct`: the scripted backend (`python -m fixtures.backend --port 0`) and, in front of it,
  `responses-gateway serve --backend-url URL --http-port 0 --extproc-port 0 --db TMP`.
- `envoy`: `devstack.stack.Stack` (what `responses-gateway up` runs): scripted backend, the
  gateway with ext_proc, and a real Envoy in front; the fuzzer talks to Envoy only.

The scripted backend answers any `model`, so fuzzed model names cost nothing.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

TARGETS = ("direct", "envoy")


@dataclass(frozen=True)
class Target:
    name: str
    base_url: str
    """`http://HOST:PORT`: the reference's paths (and the OpenAI ones after filtering) start with /v1."""


@contextlib.contextmanager
def direct(workdir: Path) -> Iterator[Target]:
    from devstack.gateway_process import start_subprocess as start_gateway
    from fixtures.backend.server import start_subprocess as start_backend

    with start_backend(port=0, host="127.0.0.1") as backend:
        args = [
            "--backend-url", backend.url, "--http-port", "0", "--extproc-port", "0",
            "--db", str(workdir / "direct.sqlite3"), "--log-level", "WARNING",
        ]
        with start_gateway(args) as gateway:
            yield Target("direct", gateway.base_url)


@contextlib.contextmanager
def envoy(workdir: Path) -> Iterator[Target]:
    from devstack.stack import Stack, StackConfig

    with Stack(StackConfig(db=str(workdir / "envoy.sqlite3"))) as stack:
        yield Target("envoy", stack.envoy_url.rstrip("/"))


@contextlib.contextmanager
def start(name: str, workdir: Path | None = None) -> Iterator[Target]:
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fuzz-")))
        factory = {"direct": direct, "envoy": envoy}[name]
        yield stack.enter_context(factory(workdir))
