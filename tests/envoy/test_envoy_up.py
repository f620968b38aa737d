"""`responses-gateway up` (devstack.stack): starts backend + gateway + Envoy, prints the lines
the harness parses, serves through Envoy, and stops everything on SIGTERM / Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

pytestmark = [pytest.mark.envoy, pytest.mark.slow]

BANNER = [
    ("envoy", re.compile(r"^envoy: http://127\.0\.0\.1:(\d+)$")),
    ("admin", re.compile(r"^admin: http://127\.0\.0\.1:(\d+)$")),
    ("extproc", re.compile(r"^extproc: 127\.0\.0\.1:(\d+)$")),
    ("http", re.compile(r"^http: http://127\.0\.0\.1:(\d+)$")),
    ("backend", re.compile(r"^backend: (http://127\.0\.0\.1:(\d+))$")),
]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_up_prints_banner_serves_and_stops_everything(sig: signal.Signals) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "devstack.stack"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().rstrip("\n") for _ in range(len(BANNER) + 1)]
        ports: dict[str, int] = {}
        for (name, pattern), line in zip(BANNER, lines, strict=False):
            match = pattern.match(line)
            assert match, (name, lines)
            ports[name] = int(match.groups()[-1])
        assert lines[-1].startswith("try: curl ") and f":{ports['envoy']}/v1/responses" in lines[-1]
        envoy = f"http://127.0.0.1:{ports['envoy']}"
        assert httpx.get(f"http://127.0.0.1:{ports['admin']}/ready", timeout=5).status_code == 200
        r = httpx.post(f"{envoy}/v1/responses", json={"model": "m", "input": "[[text:up works]]"}, timeout=10)
        assert r.status_code == 200
        assert r.json()["output"][0]["content"][0]["text"] == "up works"
        assert httpx.get(f"{envoy}/v1/responses/{r.json()['id']}", timeout=5).status_code == 200
        proc.send_signal(sig)
        assert proc.wait(30) == 0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_port_open(p) for p in ports.values()):
            time.sleep(0.1)
        assert not [n for n, p in ports.items() if _port_open(p)]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_starting_a_running_stack_again_starts_nothing_new() -> None:
    # `with Stack(...).start() as s:` once orphaned a whole stack: __enter__ started a second.
    from devstack.stack import Stack, StackConfig

    with Stack(StackConfig()).start() as stack:
        first = (stack.gateway, stack.envoy, stack.backend)
        assert stack.start() is stack
        assert (stack.gateway, stack.envoy, stack.backend) == first
    assert stack.gateway is None or stack.gateway.poll() is not None
