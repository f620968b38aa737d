"""`responses-gateway up`: the gateway, a real Envoy and (without a backend URL) the scripted
backend, all on localhost: the no-Docker equivalent of the seed's `docker-compose up`.

    with Stack(StackConfig()) as stack:     # or stack.start() / stack.stop()
        print(stack.envoy_url)

`run_up(config)` is the CLI hook: it starts the stack, prints the lines below (flushed) and
holds it until Ctrl-C / SIGTERM, then stops everything it started, by PID:

    envoy: http://127.0.0.1:PORT
    admin: http://127.0.0.1:PORT
    extproc: 127.0.0.1:PORT
    http: http://127.0.0.1:PORT
    backend: URL
    try: curl ...

Every part is a child process (`childproc.ChildProcess`; the gateway is `python -m reference.cli
serve`): Envoy sets
PR_SET_PDEATHSIG, so it must be the child of a process that stays alive, and separate processes
let tests kill one part (the ext_proc server, the backend) to check the error paths.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from gateway_envoy.launcher import (
    DEFAULT_REQUEST_BUFFER_LIMIT,
    REQUEST_MODES,
    EnvoyProcess,
    Mode,
    RequestMode,
    render,
    request_mode_refusal,
)

from childproc import ChildProcess
from fixtures.backend.server import start_subprocess as start_scripted_backend
from reference.config import DEFAULT_BACKEND_TIMEOUT, PROFILES

_HTTP_RE = re.compile(r"HTTP on (http://\S+?)(?:/v1)?\s*$")
_EXTPROC_RE = re.compile(r"ext_proc gRPC on \[?([^\]\s]+?)\]?:(\d+)\s*$")


@dataclass
class StackConfig:
    backend_url: str | None = None
    """None: start the scripted backend (python -m fixtures.backend) on a free port."""
    envoy_port: int = 0
    admin_port: int = 0
    http_port: int = 0
    extproc_port: int = 0
    db: str | None = None
    """SQLite file; None: a temporary file removed on stop."""
    mode: Mode = "streamed"
    request_mode: RequestMode = "buffered"
    max_body_bytes: int = DEFAULT_REQUEST_BUFFER_LIMIT
    """Envoy's request buffer limit, given to the gateway too: a too-large body is a 413 on both
    paths."""
    backend_timeout: float = DEFAULT_BACKEND_TIMEOUT
    backend_api_key_env: str | None = None
    envoy_log_level: str = "warning"
    startup_timeout: float = 30.0
    extra_gateway_args: list[str] = field(default_factory=list)
    profile: str = "openai"
    """Streaming dialect where the specs disagree (see `responses-gateway serve --profile`)."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Stack:
    """Scripted backend (optional) + gateway (HTTP and ext_proc) + Envoy, started in that order."""

    def __init__(self, config: StackConfig | None = None) -> None:
        self.config = config or StackConfig()
        self.backend: Any = None  # fixtures.backend.server.SubprocessHandle
        self.backend_url = self.config.backend_url or ""
        self.gateway: ChildProcess | None = None
        self.envoy: EnvoyProcess | None = None
        self.http_url = ""
        self.extproc_host = "127.0.0.1"
        self.extproc_port = 0
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    # --- addresses -----------------------------------------------------------------------------

    @property
    def envoy_url(self) -> str:
        assert self.envoy is not None
        return self.envoy.url

    @property
    def admin_url(self) -> str:
        assert self.envoy is not None
        return self.envoy.admin_url

    def banner(self) -> list[str]:
        """The lines `up` prints (the harness parses them)."""
        return [
            f"envoy: {self.envoy_url}",
            f"admin: {self.admin_url}",
            f"extproc: {self.extproc_host}:{self.extproc_port}",
            f"http: {self.http_url}",
            f"backend: {self.backend_url}",
            f"try: curl -s {self.envoy_url}/v1/responses -H 'content-type: application/json' "
            f'-d \'{{"model": "{self.served_model()}", "input": "Say hello"}}\'',
        ]

    def served_model(self) -> str:
        """A model the backend lists (GET /v1/models through Envoy), for the curl line."""
        import httpx

        try:
            listed = httpx.get(f"{self.envoy_url}/v1/models", timeout=5).json()["data"]
            return str(listed[0]["id"])
        except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError):
            return "MODEL"

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Stack:
        if self.gateway is not None and self.gateway.poll() is None:
            # Already running (`with stack.start():` enters after start): a second start would
            # orphan the first set of processes.
            return self
        try:
            self._start_backend()
            self._start_gateway()
            self._start_envoy()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_backend(self) -> None:
        if self.config.backend_url:
            return
        self.backend = start_scripted_backend(port=0, host="127.0.0.1", timeout=self.config.startup_timeout)
        self.backend_url = self.backend.url

    def _start_gateway(self) -> None:
        cfg = self.config
        db = cfg.db
        if db is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="responses-gateway-up-")
            db = os.path.join(self._tmp.name, "responses.sqlite3")
        # The issue text reserves `--extproc-port 0` for "disabled", so a free port is picked
        # here rather than asked of the gateway.
        extproc_port = cfg.extproc_port or _free_port()
        cmd = [
            sys.executable,
            "-m",
            "reference.cli",
            "serve",
            "--backend-url",
            self.backend_url,
            "--http-port",
            str(cfg.http_port),
            "--extproc-port",
            str(extproc_port),
            "--host",
            "127.0.0.1",
            "--db",
            db,
            "--max-body-bytes",
            str(cfg.max_body_bytes),
            "--backend-timeout",
            f"{cfg.backend_timeout:g}",
            "--log-level",
            "WARNING",
            "--profile",
            cfg.profile,
            *cfg.extra_gateway_args,
        ]
        if cfg.backend_api_key_env:
            cmd += ["--backend-api-key-env", cfg.backend_api_key_env]
        self.gateway = ChildProcess.spawn("responses-gateway serve", cmd)
        found = self.gateway.wait_for_all({"extproc": _EXTPROC_RE, "http": _HTTP_RE},
                                          timeout=cfg.startup_timeout)
        self.extproc_host, self.extproc_port = found["extproc"].group(1), int(found["extproc"].group(2))
        self.http_url = found["http"].group(1)

    def _start_envoy(self) -> None:
        cfg = self.config
        backend = urlsplit(self.backend_url)
        http = urlsplit(self.http_url)
        tls = backend.scheme == "https"
        config = render(
            listen_port=cfg.envoy_port,
            admin_port=cfg.admin_port,
            http_host=http.hostname or "127.0.0.1",
            http_port=http.port or 80,
            extproc_host=self.extproc_host,
            extproc_port=self.extproc_port,
            backend_host=backend.hostname or "127.0.0.1",
            backend_port=backend.port or (443 if tls else 80),
            backend_tls=tls,
            mode=cfg.mode,
            request_mode=cfg.request_mode,
            request_buffer_limit=cfg.max_body_bytes,
            backend_timeout_s=cfg.backend_timeout,
        )
        self.envoy = EnvoyProcess(config, log_level=cfg.envoy_log_level, ready_timeout=cfg.startup_timeout)
        self.envoy.start()

    def stop(self) -> None:
        """Stop what was started, in reverse order, each by PID."""
        if self.envoy is not None:
            self.envoy.stop()
        if self.gateway is not None:
            self.gateway.stop()
        if self.backend is not None:
            self.backend.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def run_up(config: StackConfig | None = None) -> int:
    """The `responses-gateway up` hook: start, print the banner, hold until Ctrl-C / SIGTERM."""
    stop = threading.Event()

    def _on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    stack = Stack(config)
    try:
        try:
            stack.start()
        except (OSError, RuntimeError) as exc:
            print(f"responses-gateway up: error: {exc}", file=sys.stderr, flush=True)
            return 1
        for line in stack.banner():
            print(line, flush=True)
        while not stop.is_set():
            if stack.gateway is not None and stack.gateway.poll() is not None:
                print("responses-gateway up: the gateway exited", file=sys.stderr, flush=True)
                return 1
            if (
                stack.envoy is not None
                and stack.envoy.process is not None
                and stack.envoy.process.poll() is not None
            ):
                print("responses-gateway up: envoy exited", file=sys.stderr, flush=True)
                return 1
            stop.wait(0.5)
        return 0
    finally:
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _port_or_auto(text: str) -> int:
    return 0 if text == "auto" else int(text)


def add_up_arguments(parser: argparse.ArgumentParser) -> None:
    """The `up` subcommand's options (cli.py: `add_up_arguments(sub.add_parser("up"))`)."""
    parser.add_argument(
        "--backend-url",
        help="OpenAI-compatible model server (default: start the scripted fixtures.backend on a free port)",
    )
    parser.add_argument("--envoy-port", type=int, default=0, help="Envoy listener port (0: a free one)")
    parser.add_argument("--admin-port", type=int, default=0, help="Envoy admin port (0: a free one)")
    parser.add_argument("--http-port", type=int, default=0, help="gateway HTTP port (0: a free one)")
    parser.add_argument("--extproc-port", type=_port_or_auto, default=0,
                        help="gateway ext_proc port (0 or 'auto': a free one)")
    parser.add_argument("--profile", choices=PROFILES, default="openai",
                        help="streaming dialect where the specs disagree (default %(default)s)")
    parser.add_argument("--db", default=None, help="SQLite file (default: a temporary one)")
    parser.add_argument(
        "--mode",
        choices=("streamed", "full_duplex"),
        default="streamed",
        help="Envoy response body mode for streams (default %(default)s)",
    )
    parser.add_argument(
        "--request-mode",
        choices=REQUEST_MODES,
        default="buffered",
        help="ext_proc request phases (default %(default)s); full_duplex is refused with the reason: "
        "Envoy 1.40 would hold every event stream to its end (envoy/README.md)",
    )
    parser.add_argument(
        "--max-body-bytes",
        type=int,
        default=DEFAULT_REQUEST_BUFFER_LIMIT,
        help="request body limit for Envoy and the gateway alike (default %(default)s)",
    )
    parser.add_argument("--backend-timeout", type=float, default=DEFAULT_BACKEND_TIMEOUT)
    parser.add_argument("--backend-api-key-env", metavar="VAR", default=None)
    parser.add_argument("--envoy-log-level", default="warning")
    parser.add_argument(
        "--mcp-allow-url", action="append", default=[], metavar="URL",
        help="only MCP servers under this URL prefix may be used (passed to `serve`); repeatable")
    parser.add_argument(
        "--api-keys", metavar="FILE", default=None,
        help="'KEY TENANT' lines: every route but /health needs a key, objects are per tenant "
        "(passed to `serve`)")


def up_command(args: argparse.Namespace) -> int:
    """Run `up` from parsed arguments (cli.py: `return up_command(args)`)."""
    refusal = request_mode_refusal(args.request_mode)
    if refusal is not None:
        # Refused before anything starts: the rendered config could not stream.
        print(f"responses-gateway up: error: {refusal}", file=sys.stderr, flush=True)
        return 2
    return run_up(
        StackConfig(
            backend_url=args.backend_url,
            envoy_port=args.envoy_port,
            admin_port=args.admin_port,
            http_port=args.http_port,
            extproc_port=args.extproc_port,
            db=args.db,
            mode=args.mode,
            request_mode=args.request_mode,
            max_body_bytes=args.max_body_bytes,
            backend_timeout=args.backend_timeout,
            backend_api_key_env=args.backend_api_key_env,
            envoy_log_level=args.envoy_log_level,
            profile=args.profile,
            extra_gateway_args=[arg for url in args.mcp_allow_url for arg in ("--mcp-allow-url", url)]
            + (["--api-keys", args.api_keys] if args.api_keys else [])
            + ["--log-format", getattr(args, "log_format", "text")]
            + [arg for name in ("embedding_url", "embedding_api_key_env", "embedding_model",
                                "embedding_dimensions")
               if getattr(args, name, None) is not None
               for arg in ("--" + name.replace("_", "-"), str(getattr(args, name)))],
        )
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m devstack.stack [options]`: the same as `responses-gateway up`."""
    parser = argparse.ArgumentParser(prog="responses-gateway up", description=__doc__.split("\n\n")[0])
    add_up_arguments(parser)
    return up_command(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
