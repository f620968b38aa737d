"""The whole conformance suite against `up --replicas N` on a throwaway PostgreSQL.

    python -m devstack.replicas_conformance [--replicas 2] -- [responses-conformance run options]

Starts a throwaway PostgreSQL (`devstack.postgres`), the stack with N gateway replicas on it
behind one Envoy (`devstack.stack`), and the fixture MCP server, then runs `responses-conformance
run --base-url <envoy>/v1 --extproc <replica 1's ext_proc> --mcp-server-url <it>` with the given
options (`nox -s conformance-postgres` passes the Envoy waivers and a report directory); exits
with the harness's status. Everything it started is stopped by PID.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Sequence

from devstack.postgres import ThrowawayPostgres
from devstack.stack import Stack, StackConfig
from fixtures import mcp_server


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    harness_args = args[args.index("--") + 1:] if "--" in args else []
    own = args[:args.index("--")] if "--" in args else args
    parser = argparse.ArgumentParser(prog="python -m devstack.replicas_conformance")
    parser.add_argument("--replicas", type=int, default=2)
    options = parser.parse_args(own)
    started = time.monotonic()
    with ThrowawayPostgres.start() as pg:
        url = pg.create_database("responses")
        mcp = mcp_server.start()
        try:
            with Stack(StackConfig(db=url, replicas=options.replicas, gateway_log_level="WARNING",
                                   startup_timeout=120.0)) as stack:
                print(f"replicas_conformance: {options.replicas} replicas on PostgreSQL behind "
                      f"{stack.envoy_url}", flush=True)
                code = subprocess.run(
                    [sys.executable, "-m", "conformance.cli", "run", "--base-url", f"{stack.envoy_url}/v1",
                     "--extproc", f"{stack.extproc_host}:{stack.extproc_port}",
                     "--mcp-server-url", mcp.url, *harness_args], check=False).returncode
        finally:
            mcp.stop()
    print(f"replicas_conformance: finished in {time.monotonic() - started:.0f} s (exit {code})", flush=True)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
