"""Targets: a gateway given by URL, or a built-in one the harness starts as subprocesses.

The harness never imports ``reference``: the built-in targets are started with their command
lines (``python -m fixtures.backend``, ``responses-gateway serve|up``) and found by the lines
those commands print.

How a built-in target is started and found: the harness reads each subprocess's **stdout** line
by line (stderr goes to a log file) and matches the lines below (any prefix such as
``responses-gateway: `` is allowed; matching is case-insensitive). It stops each process with
SIGINT, then SIGTERM/SIGKILL after 10 s.

- ``--target reference``: ``python -m fixtures.backend --port 0`` (prints ``fixtures.backend
  listening on http://127.0.0.1:PORT``), then ``responses-gateway serve --backend-url <that>
  --http-port 0 --extproc-port auto --db <tmp> --profile <openai|openresponses>`` (prints ``HTTP
  on http://HOST:PORT/v1``; when ext_proc runs also ``ext_proc gRPC on HOST:PORT``). ``serve``'s
  ``--extproc-port`` defaults to 10000; ``0`` disables ext_proc and ``auto`` picks a free port.
- ``--target reference-envoy``: ``responses-gateway up --envoy-port 0 --admin-port 0 --http-port
  0 --extproc-port auto --db <tmp> --profile <openai|openresponses>`` (0 = a free port). Once
  Envoy's ``/ready`` answers 200 it prints, flushed, one line each: ``envoy:
  http://127.0.0.1:PORT`` (the API root is that URL + ``/v1``), ``admin: http://127.0.0.1:PORT``,
  ``extproc: 127.0.0.1:PORT``. SIGINT stops all of it.
- ``--target reference-responses-upstream`` / ``reference-envoy-responses-upstream``: the same
  as ``reference`` / ``reference-envoy`` with ``--backend-api responses`` (the gateway sends its
  model calls to the scripted backend's stateless ``POST /v1/responses``).
- MCP server: the built-in targets also start ``python -m fixtures.mcp_server --port 0``
  (``fixtures.mcp_server listening on http://127.0.0.1:PORT/mcp``; optional: when it cannot
  start, the MCP cases are UNIMPLEMENTED) and pass its URL to the cases as
  ``RunConfig.mcp_server_url``. For any other gateway, ``responses-conformance run
  --mcp-server-url URL`` names an MCP server the *gateway* can reach; without it the MCP cases
  (``tool_flows.mcp.*``, ``connectors.use.mcp-by-connector-id``) are UNIMPLEMENTED.
- Scripted-tier detection: the harness sends ``[[probe:NONCE]]`` through the gateway (model from
  ``--model``, default ``scripted``) and expects the output text ``fixtures.backend/1 `` +
  ``sha256(NONCE).hexdigest()[:16]``; otherwise the scripted cases are UNIMPLEMENTED.
- Container targets (``conformance.container_targets``): ``reference-docker`` is
  ``reference-envoy`` with each part a container (the backend image for the scripted backend and
  the MCP server, the gateway image, an Envoy image with the config from ``python -m
  gateway_envoy.launcher --print-config`` with ``up``'s body limit and backend timeout). Host
  network and free loopback ports when the engine has no ``bridge`` network, else a
  testcontainers ``Network`` with aliases ``backend``, ``mcp``, ``gateway``, ``envoy`` and
  published loopback ports. Ready = the backend's, MCP server's and gateway's ready lines in
  their logs, then Envoy's admin ``/ready`` (host) or ``/health`` through Envoy (bridge).
  ``TargetUnavailable`` (a ``TargetError``) means "cannot run here": the CLI prints one
  ``skipped:`` line and exits 3, no report. Containers carry
  ``org.responses-conformance.run=<id>``; the target removes them (and their anonymous volumes)
  on exit, SIGTERM unwinding like Ctrl-C.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import tempfile
from collections.abc import Iterator, Sequence
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
BUILTIN_TARGETS = ("reference", "reference-envoy", "reference-docker", "reference-ollama",
                   "reference-responses-upstream", "reference-envoy-responses-upstream")

#: The `*-responses-upstream` targets: the same gateway with `--backend-api responses`, so every
#: model call goes to the scripted backend's stateless `POST /v1/responses`.
RESPONSES_UPSTREAM_ARGS = ("--backend-api", "responses")

def _start_reference(workdir: Path, timeout: float, profile: str,
                     gateway_args: Sequence[str] = ()) -> RunningTarget:
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
                *gateway_args,
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


def _start_reference_envoy(workdir: Path, timeout: float, profile: str,
                           up_args: Sequence[str] = (), name: str = "reference-envoy") -> RunningTarget:
    target = RunningTarget(name, base_url="", workdir=workdir)
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
                *up_args,
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
            "'admin: http://127.0.0.1:PORT' and 'extproc: 127.0.0.1:PORT' "
            "(see the docstring of conformance/targets.py)"
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
    name: str, *, timeout: float = 60.0, workdir: Path | None = None, profile: str = "openai",
    gateway_args: Sequence[str] = (),
) -> Iterator[RunningTarget]:
    """Start a built-in target, yield it, and stop every process it started. `gateway_args` are
    extra `serve` options for the `reference` target (e.g. `--api-keys FILE`)."""
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
        if importlib.util.find_spec("quart") is None:
            # the harness installed alone: the reference gateway's dependencies are an extra
            raise TargetError(
                f"target {name} runs the reference gateway, whose dependencies are not installed: "
                "pip install -e '.[reference]' in a checkout of this repository"
            )
        # the gateway is told which profile to speak (e.g. `[DONE]` only for Open Responses)
        if name == "reference":
            target = _start_reference(workdir, timeout, profile, gateway_args)
        elif name == "reference-responses-upstream":
            target = _start_reference(workdir, timeout, profile, [*RESPONSES_UPSTREAM_ARGS, *gateway_args])
            target.name = name
        else:
            assert not gateway_args, "gateway_args are for the reference targets"
            up_args = RESPONSES_UPSTREAM_ARGS if name == "reference-envoy-responses-upstream" else ()
            target = _start_reference_envoy(workdir, timeout, profile, up_args, name)
        try:
            target.mcp_server_url = _start_mcp_server(target, workdir, timeout)
            yield target
        finally:
            target.stop()
