"""`responses-gateway`: run the reference gateway.

    responses-gateway serve --backend-url URL --http-port 8080 --db PATH [--host 127.0.0.1]
        [--max-body-bytes N] [--backend-timeout S] [--backend-api-key-env VAR] [--extproc-port P]

Without `--backend-url`, `serve` starts the scripted backend (`python -m fixtures.backend`) on a
free port and uses it, so the quick start needs no model server. `--http-port 0` picks a free
port; the printed `HTTP on` line always shows the real one (tests parse it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

from reference import logredact
from reference.config import (
    DEFAULT_BACKEND_TIMEOUT,
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_DB,
    DEFAULT_EXTPROC_PORT,
    DEFAULT_MAX_BODY_BYTES,
    PROFILES,
    GatewayConfig,
)

log = logging.getLogger("reference.cli")

READY_PREFIX = "responses-gateway: HTTP on "


def _say(line: str) -> None:
    # Flushed at once: tests and launchers read these lines from a pipe while we keep running.
    print(f"responses-gateway: {line}", flush=True)


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: a free one), SO_REUSEADDR set."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


async def serve(config: GatewayConfig, *, shutdown: asyncio.Event | None = None) -> None:
    """Serve until `shutdown` is set (or SIGINT/SIGTERM), then stop gracefully."""
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config as HypercornConfig

    from reference.auth import load_api_keys
    from reference.backend import Backend
    from reference.gateway import build_gateway
    from reference.mcp_client import MCPToolCache
    from reference.store import open_store

    shutdown = shutdown or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, shutdown.set)

    backend = Backend(config.backend_url, api_key=config.backend_api_key, timeout=config.backend_timeout)
    api_keys = load_api_keys(config.api_keys_file) if config.api_keys_file else None
    gateway = build_gateway(open_store(config.db), backend,
                            mcp_cache=MCPToolCache(allowed_urls=config.mcp_allowed_urls),
                            api_keys=api_keys)
    for response_id in await gateway.start():
        log.warning("background response %s was interrupted by a restart; marked failed", response_id)
    app = gateway.http_app(max_body_bytes=config.max_body_bytes, body_timeout=config.body_timeout,
                           stream_done_marker=config.stream_done_marker)

    sock = bind_socket(config.host, config.http_port)
    port = sock.getsockname()[1]
    hc = HypercornConfig()
    # Hypercorn adopts the already-listening socket: the port is known (and printed) before
    # it serves, and there is no window in which another process could take a port 0 pick.
    hc.bind = [f"fd://{sock.detach()}"]
    hc.graceful_timeout = 5.0
    hc.accesslog = None
    hc.errorlog = logging.getLogger("hypercorn.error")

    extproc = None
    try:
        if config.extproc_port is not None:
            extproc = await gateway.serve_extproc(config.host, config.extproc_port,
                                                  done_marker=config.stream_done_marker)
            _say(f"ext_proc gRPC on {_url_host(config.host)}:{extproc.port}")
        base = f"http://{_url_host(config.host)}:{port}/v1"
        print(f"{READY_PREFIX}{base}", flush=True)
        _say(f"backend {backend.url}; store {config.db}")
        _say(f"try: curl -s {base}/responses -H 'content-type: application/json' "
             "-d '{\"model\": \"any\", \"input\": \"Say hello\"}'")
        await hypercorn_serve(app, hc, shutdown_trigger=shutdown.wait)  # type: ignore[arg-type]
    finally:
        if extproc is not None:
            await extproc.stop(2.0)
        await gateway.aclose()
        _say("stopped")


def _extproc_port(text: str) -> int | None:
    """`--extproc-port`: a port number, `0` for "no ext_proc server", `auto` for a free port.

    The issue's interface reserves 0 for "disabled" (unlike --http-port, where 0 picks a free
    port), so picking a free port has its own spelling.
    """
    if text == "auto":
        return 0
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, 0 or 'auto', got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is out of range")
    return None if port == 0 else port


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="responses-gateway", description="The reference Responses gateway.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="serve the Responses API over HTTP (and ext_proc when asked)")
    p.add_argument("--backend-url", help="OpenAI-compatible model server, e.g. http://127.0.0.1:11434 "
                   "(default: start the scripted fixtures.backend on a free port)")
    p.add_argument("--http-port", type=int, default=8080, help="HTTP port (0: pick a free one)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--db", default=DEFAULT_DB, help=f"SQLite file (default {DEFAULT_DB}; ':memory:' for none)",
    )
    p.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES,
                   help="larger request bodies get 413 (default %(default)s)")
    p.add_argument("--body-timeout", type=float, default=DEFAULT_BODY_TIMEOUT,
                   help="seconds a client may take to send its request body (each chunk of an "
                   "upload); exceeded -> 408 and the connection closes (default %(default)s)")
    p.add_argument("--backend-timeout", type=float, default=DEFAULT_BACKEND_TIMEOUT,
                   help="seconds to wait for the backend (connect, and between stream chunks); "
                   "exceeded -> 504 (default %(default)s)")
    p.add_argument("--backend-api-key-env", metavar="VAR",
                   help="environment variable holding the backend API key")
    p.add_argument("--extproc-port", type=_extproc_port, default=DEFAULT_EXTPROC_PORT, metavar="PORT",
                   help="Envoy ext_proc gRPC port beside the HTTP server (default %(default)s; "
                   "0 disables it; 'auto' picks a free one)")
    p.add_argument("--profile", choices=PROFILES, default="openai",
                   help="streaming dialect where the specs disagree: openresponses ends streams with "
                   "data: [DONE] (default %(default)s)")
    p.add_argument("--log-level", default="INFO")
    add_security_arguments(p)

    from reference.stack import add_up_arguments

    up = sub.add_parser(
        "up", help="the gateway, a real Envoy in front of it and (without --backend-url) the scripted "
        "backend, all on localhost; Ctrl-C stops everything",
    )
    add_up_arguments(up)
    up.add_argument("--log-level", default="WARNING")
    return parser


def add_security_arguments(parser: argparse.ArgumentParser) -> None:
    """Options `serve` and `up` share."""
    parser.add_argument(
        "--api-keys", metavar="FILE", default=None,
        help="require 'Authorization: Bearer KEY' on every route but /health; FILE has one "
        "'KEY TENANT' pair per line ('#' comments); each tenant sees only its own objects. "
        "Default: no authentication")
    parser.add_argument(
        "--mcp-allow-url", action="append", default=[], metavar="URL",
        help="only MCP servers (mcp tools, connectors) under this URL prefix (scheme, host, port, "
        "path prefix) may be used; repeatable. Default: any server a request names")


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every backend request at INFO: noise next to Hypercorn's own log.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))
    # URLs clients send (MCP servers) may carry credentials; HTTP clients log them at INFO.
    logredact.install()
    if args.command == "serve":
        return _serve_command(args)
    if args.command == "up":
        from reference.stack import up_command

        return up_command(args)
    return 2  # pragma: no cover - argparse enforces the subcommand


def _serve_command(args: argparse.Namespace) -> int:
    fixture = None
    backend_url = args.backend_url
    if backend_url is None:
        from fixtures.backend.server import start_subprocess

        fixture = start_subprocess(port=0, host="127.0.0.1")
        backend_url = fixture.url
        _say(f"no --backend-url given: started the scripted backend (fixtures.backend) at {backend_url}")
    try:
        config = GatewayConfig(
            backend_url=backend_url,
            db=args.db,
            host=args.host,
            http_port=args.http_port,
            extproc_port=args.extproc_port,
            max_body_bytes=args.max_body_bytes,
            body_timeout=args.body_timeout,
            backend_timeout=args.backend_timeout,
            backend_api_key_env=args.backend_api_key_env,
            profile=args.profile,
            mcp_allowed_urls=tuple(args.mcp_allow_url),
            api_keys_file=args.api_keys,
        )
        asyncio.run(serve(config))
    except (ValueError, OSError) as exc:
        print(f"responses-gateway: error: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        if fixture is not None:
            fixture.stop()
    return 0


# --- running `serve` as a child process (tests, launchers) ------------------------------------

_READY_RE = re.compile(re.escape(READY_PREFIX) + r"(\S+)")


@dataclass
class GatewayProcess:
    """`responses-gateway serve` running as a child process (see :func:`start_subprocess`).

    Its output (stdout and stderr merged) is drained continuously into `lines`, so a chatty
    gateway can never block on a full pipe.
    """

    process: subprocess.Popen[str]
    url: str
    """The API base, `http://HOST:PORT/v1` (what an OpenAI SDK takes as base_url)."""
    lines: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        """`http://HOST:PORT` without `/v1` (for /health, /openapi.json)."""
        return self.url.removesuffix("/v1")

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Signal the child by PID and wait for it (SIGKILL after `timeout`); return its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        if self._reader is not None:
            self._reader.join(timeout)
        return self.process.returncode

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_subprocess(args: Sequence[str], *, timeout: float = 20.0) -> GatewayProcess:
    """Spawn `python -m reference.cli serve ARGS...` and wait for its `HTTP on` line."""
    if "--extproc-port" not in args:
        # Tests run gateways side by side: never let them fight over the default 10000.
        args = [*args, "--extproc-port", "0"]
    cmd = [sys.executable, "-m", "reference.cli", "serve", *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: list[str] = []
    ready = threading.Event()
    found: list[str] = []

    def drain() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            match = _READY_RE.search(line)
            if match and not found:
                found.append(match.group(1))
                ready.set()
        ready.set()

    reader = threading.Thread(target=drain, name="responses-gateway output", daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    while not ready.wait(0.05):
        if time.monotonic() > deadline:
            break
    if not found:
        if process.poll() is None:
            process.kill()
        process.wait()
        reader.join(5)
        raise RuntimeError(f"responses-gateway did not report its URL within {timeout}s:\n{''.join(lines)}")
    return GatewayProcess(process, found[0], lines, reader)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
