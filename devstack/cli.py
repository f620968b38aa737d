"""`responses-gateway`: the reference gateway and its dev stack.

    responses-gateway serve [--backend-url URL] --http-port 8080 --db PATH ...   (reference.cli)
    responses-gateway up [--envoy-port P] [--admin-port P] ...                     (devstack.stack)

Without `--backend-url`, `serve` starts the scripted backend (`python -m fixtures.backend`) on a
free port and uses it, so the quick start needs no model server.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from devstack.stack import add_up_arguments, up_command
from reference.cli import (
    add_backend_api_argument,
    add_embedding_arguments,
    add_log_format_argument,
    add_serve_arguments,
    configure_logging,
    serve_command,
)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="responses-gateway", description="The reference Responses gateway.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the Responses API over HTTP (and ext_proc when asked)")
    add_serve_arguments(serve, backend_url_help="OpenAI-compatible model server, e.g. "
                        "http://127.0.0.1:11434 (default: start the scripted fixtures.backend on a "
                        "free port)")
    up = sub.add_parser(
        "up", help="the gateway, a real Envoy in front of it and (without --backend-url) the scripted "
        "backend, all on localhost; Ctrl-C stops everything",
    )
    add_up_arguments(up)
    add_backend_api_argument(up)
    add_log_format_argument(up)
    add_embedding_arguments(up)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if args.command == "up":
        configure_logging("WARNING", args.log_format)  # `up` itself; --log-level is the gateway's
        return up_command(args)
    configure_logging(args.log_level, args.log_format)
    if args.backend_url is not None:
        return serve_command(args, args.backend_url)
    # Imported here: `serve --backend-url` (what the harness runs) need not load the backend.
    from fixtures.backend.server import start_subprocess as start_scripted_backend

    scripted = start_scripted_backend(port=0, host="127.0.0.1")
    try:
        print("responses-gateway: no --backend-url given: started the scripted backend "
              f"(fixtures.backend) at {scripted.url}", flush=True)
        return serve_command(args, scripted.url)
    finally:
        scripted.stop()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
