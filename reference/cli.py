"""`serve`: run the reference gateway (HTTP, and ext_proc beside it).

    python -m reference.cli serve --backend-url URL --http-port 8080 --db PATH [--host 127.0.0.1]
        [--max-body-bytes N] [--backend-timeout S] [--backend-api-key-env VAR] [--extproc-port P]
        [--backend-api chat|responses]
        [--log-level INFO] [--log-format text|json]

The `responses-gateway` command (`devstack.cli`) adds what needs the dev tooling: `serve`
without `--backend-url` (the scripted backend on a free port) and `up`. This module never
imports it. `--http-port 0` picks a free port; the printed `HTTP on` line always shows the real
one (tests parse it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from reference import logredact
from reference.config import (
    BACKEND_APIS,
    DEFAULT_BACKEND_TIMEOUT,
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_DB,
    DEFAULT_EXTPROC_PORT,
    DEFAULT_MAX_BODY_BYTES,
    PROFILES,
    GatewayConfig,
)
from reference.observability import logs
from reference.store.base import StoreUnavailable
from reference.store.leases import DEFAULT_LEASE_SECONDS

if TYPE_CHECKING:
    from reference.backend import Backend

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
    from reference.observability.metrics import GatewayMetrics
    from reference.store import open_store

    shutdown = shutdown or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, shutdown.set)

    metrics = GatewayMetrics()
    backend = Backend(config.backend_url, api_key=config.backend_api_key, timeout=config.backend_timeout,
                      metrics=metrics, api="responses" if config.backend_api == "responses" else "chat")
    embedder = None
    if config.embedding_url is not None:
        embedder = Backend(config.embedding_url, api_key=config.embedding_api_key,
                           timeout=config.backend_timeout, metrics=metrics)
    elif config.embedding_api_key != config.backend_api_key:
        embedder = Backend(config.backend_url, api_key=config.embedding_api_key,
                           timeout=config.backend_timeout, metrics=metrics)
    api_keys = load_api_keys(config.api_keys_file) if config.api_keys_file else None
    gateway = build_gateway(open_store(config.db), backend, blob_dir=config.files_dir,
                            mcp_cache=MCPToolCache(allowed_urls=config.mcp_allowed_urls),
                            api_keys=api_keys, metrics=metrics, embedding_backend=embedder,
                            embedding_model=config.embedding_model,
                            embedding_dimensions=config.embedding_dimensions,
                            job_lease_seconds=config.job_lease_seconds)
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
        _say(f"backend {backend.url}; store {logredact.redact_url_credentials(config.db)}; "
             f"event loop {type(loop).__module__.split('.')[0]}")
        # Printed once the backend named a model; serving does not wait for that.
        try_line = asyncio.create_task(_say_try_line(base, backend))
        await hypercorn_serve(app, hc, shutdown_trigger=shutdown.wait)  # type: ignore[arg-type]
        try_line.cancel()
    finally:
        if extproc is not None:
            await extproc.stop(2.0)
        await gateway.aclose()
        _say("stopped")


async def _say_try_line(base: str, backend: Backend) -> None:
    model = await _a_served_model(backend)
    _say(f"try: curl -s {base}/responses -H 'content-type: application/json' "
         f"-d '{{\"model\": \"{model}\", \"input\": \"Say hello\"}}'")


async def _a_served_model(backend: Backend) -> str:
    """A model the backend lists (for the printed curl line), `MODEL` when it lists none."""
    from reference.core.errors import APIError

    try:
        listed = await asyncio.wait_for(backend.list_models(), 5.0)
    except (APIError, TimeoutError):
        return "MODEL"
    ids = [m["id"] for m in listed["data"]]
    return ids[0] if ids else "MODEL"


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


def add_serve_arguments(p: argparse.ArgumentParser, *, backend_url_help: str) -> None:
    """The `serve` options (shared with `responses-gateway serve`)."""
    p.add_argument("--backend-url", help=backend_url_help)
    p.add_argument("--http-port", type=int, default=8080, help="HTTP port (0: pick a free one)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--db", default=DEFAULT_DB, help=f"SQLite file (default {DEFAULT_DB}; ':memory:' for none) or "
        "a postgresql://user@host:port/db URL (replicas share one)",
    )
    p.add_argument("--files-dir", default=None, metavar="DIR",
                   help="where uploaded file bytes live (default: <SQLite file>.files; a temporary "
                   "directory for :memory: and PostgreSQL; replicas share one)")
    p.add_argument("--job-lease", type=float, default=DEFAULT_LEASE_SECONDS, metavar="SECONDS",
                   help="a background response or ingestion job is its replica's for this long "
                   "without a renewal (renewed every third of it); a dead replica's jobs are taken "
                   "over by another within about 4/3 of it (default %(default)g)")
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
    add_backend_api_argument(p)
    p.add_argument("--extproc-port", type=_extproc_port, default=DEFAULT_EXTPROC_PORT, metavar="PORT",
                   help="Envoy ext_proc gRPC port beside the HTTP server (default %(default)s; "
                   "0 disables it; 'auto' picks a free one)")
    p.add_argument("--profile", choices=PROFILES, default="openai",
                   help="streaming dialect where the specs disagree: openresponses ends streams with "
                   "data: [DONE] (default %(default)s)")
    p.add_argument("--log-level", default="INFO")
    add_log_format_argument(p)
    add_embedding_arguments(p)
    add_security_arguments(p)


def add_backend_api_argument(parser: argparse.ArgumentParser) -> None:
    """`--backend-api` (shared with `up`)."""
    parser.add_argument("--backend-api", choices=BACKEND_APIS, default="chat",
                        help="what the model backend speaks: chat (POST /v1/chat/completions) or "
                        "responses (POST /v1/responses, e.g. vLLM, OpenAI; sent stateless, store: "
                        "false, the gateway keeping state, background and hosted tools) "
                        "(default %(default)s)")


def add_embedding_arguments(parser: argparse.ArgumentParser) -> None:
    """Where vector stores get their embeddings (shared with `up`)."""
    parser.add_argument("--embedding-url", metavar="URL", default=None,
                        help="OpenAI-compatible server for POST /v1/embeddings (default: the backend; "
                        "vLLM serves one model per server, so point this at the embedding one)")
    parser.add_argument("--embedding-api-key-env", metavar="VAR", default=None,
                        help="environment variable holding its API key (default: the backend's key "
                        "when embeddings go to the backend, none otherwise)")
    parser.add_argument("--embedding-model", metavar="NAME", default="auto",
                        help="embedding model; 'auto' asks the server's GET /v1/models: its only "
                        "model, else text-embedding-3-small if listed, else the first id containing "
                        "'embed' (Ollama: nomic-embed-text, ...) (default %(default)s)")
    parser.add_argument("--embedding-dimensions", metavar="N", type=int, default=None,
                        help="ask for N-dimensional embeddings (`dimensions`; default: not sent, the "
                        "model's own size)")


def add_log_format_argument(parser: argparse.ArgumentParser) -> None:
    """`--log-format` (shared with `up`)."""
    parser.add_argument("--log-format", choices=logs.LOG_FORMATS, default="text",
                        help="text: one readable line per record; json: one JSON object per line "
                        "(time, level, logger, request_id, message, and the access log's method, "
                        "path, status, duration_ms) (default %(default)s)")


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


def configure_logging(level: str, log_format: str = "text") -> None:
    logging.basicConfig(level=level.upper())
    # Every line carries the id of the request it belongs to (`-` outside one).
    logs.install(log_format)
    # httpx logs every backend request at INFO: noise next to Hypercorn's own log.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))
    # URLs clients send (MCP servers) may carry credentials; HTTP clients log them at INFO.
    logredact.install()


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop (a dependency; absent only where it has no wheel), else asyncio's.

    Hypercorn and grpc.aio both run on it: about 15 % less gateway CPU per request on the
    ext_proc path (`nox -s bench`, README "Performance")."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def serve_command(args: argparse.Namespace, backend_url: str) -> int:
    """Run `serve` from parsed arguments against `backend_url`; the exit code."""
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
            backend_api=args.backend_api,
            profile=args.profile,
            mcp_allowed_urls=tuple(args.mcp_allow_url),
            api_keys_file=args.api_keys,
            embedding_url=args.embedding_url,
            embedding_api_key_env=args.embedding_api_key_env,
            embedding_model=args.embedding_model,
            embedding_dimensions=args.embedding_dimensions,
            files_dir=args.files_dir,
            job_lease_seconds=args.job_lease,
        )
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            runner.run(serve(config))
    except StoreUnavailable as exc:
        print(f"responses-gateway: error: {exc.message} ({exc.detail})", file=sys.stderr, flush=True)
        return 1
    except (ValueError, OSError) as exc:
        print(f"responses-gateway: error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m reference.cli serve --backend-url URL ...`."""
    parser = argparse.ArgumentParser(prog="python -m reference.cli",
                                     description="The reference Responses gateway.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve_parser = sub.add_parser("serve", help="serve the Responses API over HTTP (and ext_proc)")
    add_serve_arguments(serve_parser, backend_url_help="OpenAI-compatible model server, e.g. "
                        "http://127.0.0.1:11434 (required; `responses-gateway serve` starts the "
                        "scripted backend without it)")
    args = parser.parse_args(argv)
    if args.backend_url is None:
        serve_parser.error("--backend-url is required")
    configure_logging(args.log_level, args.log_format)
    return serve_command(args, args.backend_url)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
