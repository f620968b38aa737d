"""`responses-gateway up` (devstack.stack): starts backend + gateway + Envoy, prints the lines
the harness parses, serves through Envoy, streams its children's logs, supervises them (a
crashed gateway is restarted or `up` exits 1; no child outlives `up`, even on `kill -9`),
refuses a port in use, and stops everything on SIGTERM / Ctrl-C."""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from devstack.stack import Stack, StackConfig

pytestmark = [pytest.mark.envoy, pytest.mark.slow]

BANNER = [
    ("envoy", re.compile(r"^envoy: http://127\.0\.0\.1:(\d+)$")),
    ("admin", re.compile(r"^admin: http://127\.0\.0\.1:(\d+)$")),
    ("extproc", re.compile(r"^extproc: 127\.0\.0\.1:(\d+)$")),
    ("http", re.compile(r"^http: http://127\.0\.0\.1:(\d+)$")),
    ("backend", re.compile(r"^backend: (http://127\.0\.0\.1:(\d+))$")),
]
# Tests run side by side: every port is a free one, and the database a temporary one.
FREE_PORTS = ["--envoy-port", "auto", "--admin-port", "auto", "--http-port", "auto", "--extproc-port", "auto"]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _alive(pid: int) -> bool:
    """Running (a zombie, exited but not yet reaped, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _children(pid: int) -> dict[int, str]:
    """PID -> command name of the processes whose parent is `pid`."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        name, rest = stat.split("(", 1)[1].rsplit(")", 1)
        if int(rest.split()[1]) == pid and rest.split()[0] != "Z":
            found[int(entry)] = name
    return found


def _wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


class Up:
    """`python -m devstack.stack ARGS` with stderr to a file; its banner read off stdout."""

    def __init__(self, args: list[str], stderr: Path, cwd: Path) -> None:
        self.stderr_path = stderr
        self._stderr = open(stderr, "w")  # noqa: SIM115 - closed in close()
        # Run from a temporary directory: a default database file lands there, not in the repo.
        self.proc = subprocess.Popen([sys.executable, "-m", "devstack.stack", *args], stdout=subprocess.PIPE,
                                     stderr=self._stderr, text=True, cwd=cwd,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1", "TMPDIR": str(cwd),
                                          "PYTHONPATH": os.pathsep.join(sys.path)})
        self.children: dict[int, str] = {}
        """Children the test saw (killed at the end if still running, whoever their parent is)."""

    def banner(self) -> list[str]:
        assert self.proc.stdout is not None
        lines: list[str] = []
        while not lines or not lines[-1].startswith("try: "):
            line = self.proc.stdout.readline()
            assert line, f"up ended before its banner: {lines}\n{self.stderr}"
            lines.append(line.rstrip("\n"))
        return lines

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for pid in {**self.children, **_children(self.proc.pid)}:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        self._stderr.close()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def start_up(tmp_path: Path) -> Iterator[Callable[..., Up]]:
    started: list[Up] = []

    def start(*args: str) -> Up:
        up = Up(list(args), tmp_path / f"up{len(started)}.stderr", tmp_path)
        started.append(up)
        return up

    yield start
    for up in started:
        up.close()


def _ports(banner: list[str]) -> dict[str, int]:
    ports = {}
    for (name, pattern), line in zip(BANNER, banner, strict=False):
        match = pattern.match(line)
        assert match, (name, banner)
        ports[name] = int(match.groups()[-1])
    return ports


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_up_prints_banner_serves_and_stops_everything(sig: signal.Signals, start_up: Callable[..., Up],
                                                      tmp_path: Path) -> None:
    # SIGTERM: logs to the terminal (and a second `up` on a taken port); SIGINT: with --log-dir.
    logs = tmp_path / "logs"
    log_args = ["--log-dir", str(logs)] if sig == signal.SIGINT else []
    up = start_up(*FREE_PORTS, "--ephemeral", *log_args)
    lines = up.banner()
    ports = _ports(lines)
    assert re.match(r"^store: /\S+/responses\.sqlite3 \(temporary: removed on stop\)$", lines[len(BANNER)])
    assert lines[-1].startswith("try: curl ") and f":{ports['envoy']}/v1/responses" in lines[-1]
    envoy = f"http://127.0.0.1:{ports['envoy']}"
    assert httpx.get(f"http://127.0.0.1:{ports['admin']}/ready", timeout=5).status_code == 200
    r = httpx.post(f"{envoy}/v1/responses", json={"model": "m", "input": "[[text:up works]]"}, timeout=10)
    assert r.status_code == 200
    assert r.json()["output"][0]["content"][0]["text"] == "up works"
    assert httpx.get(f"{envoy}/v1/responses/{r.json()['id']}", timeout=5).status_code == 200
    if sig == signal.SIGTERM:
        # A second `up` asking for a port the first holds refuses it in one line, starting nothing.
        second = start_up("--envoy-port", str(ports["envoy"]), *FREE_PORTS[2:], "--ephemeral")
        assert second.proc.wait(30) == 1
        assert second.stderr.splitlines() == [
            f"responses-gateway up: error: port {ports['envoy']} (--envoy-port) is already in use on "
            f"127.0.0.1; stop what holds it or choose another port (--envoy-port auto: a free one)"]
    up.proc.send_signal(sig)
    assert up.proc.wait(30) == 0
    assert _wait_until(lambda: not any(_port_open(p) for p in ports.values()), 30), ports
    assert not list(tmp_path.glob("*.sqlite3"))  # --ephemeral: nothing left in the working directory
    if sig == signal.SIGINT:
        assert f"logs: {logs}" in lines
        assert sorted(p.name for p in logs.iterdir()) == ["backend.log", "envoy.log", "gateway.log"]
        gateway_log = (logs / "gateway.log").read_text()
        assert f"responses-gateway: HTTP on http://127.0.0.1:{ports['http']}/v1" in gateway_log
        assert "fixtures.backend listening on " in (logs / "backend.log").read_text()
        assert "caught ENVOY_SIGTERM" in (logs / "envoy.log").read_text()
        assert " | " not in up.stderr  # nothing relayed to the terminal
        return
    # Every child's output reached the terminal, prefixed with its name; the gateway's at INFO.
    err = up.stderr
    assert f"backend | fixtures.backend listening on http://127.0.0.1:{ports['backend']}" in err
    assert f"gateway | responses-gateway: HTTP on http://127.0.0.1:{ports['http']}/v1" in err
    assert re.search(r"^gateway \| .* INFO ", err, re.MULTILINE), err
    assert "envoy   | " in err and "caught ENVOY_SIGTERM" in err


def test_a_killed_gateway_is_restarted_and_nothing_outlives_a_kill_9_of_up(start_up: Callable[..., Up],
                                                                          tmp_path: Path) -> None:
    up = start_up(*FREE_PORTS)
    lines = up.banner()
    ports = _ports(lines)
    # Persistent by default: a file in the working directory, named at start.
    assert f"store: {tmp_path / 'responses-gateway.sqlite3'}" in lines
    envoy = f"http://127.0.0.1:{ports['envoy']}"
    created = httpx.post(f"{envoy}/v1/responses", json={"model": "m", "input": "[[text:kept]]"}, timeout=10)
    assert created.status_code == 200
    children = up.children = _children(up.proc.pid)
    assert len(children) == 3 and list(children.values()).count("envoy") == 1, children
    gateway = next(pid for pid in children if "reference.cli" in Path(f"/proc/{pid}/cmdline").read_text())

    os.kill(gateway, signal.SIGKILL)
    assert _wait_until(lambda: "the gateway is back" in up.stderr, 30), up.stderr
    assert ("responses-gateway up: the gateway exited with code -9; restarting it (restart 1 of at most 3 "
            "within 60 s)") in up.stderr
    # Same ports (Envoy's config names them), same database: what was stored is still there.
    again = httpx.get(f"{envoy}/v1/responses/{created.json()['id']}", timeout=10)
    assert again.status_code == 200 and again.json()["output"][0]["content"][0]["text"] == "kept"
    assert httpx.post(f"http://127.0.0.1:{ports['http']}/v1/responses",
                      json={"model": "m", "input": "hi"}, timeout=10).status_code == 200
    children = up.children = _children(up.proc.pid)
    assert gateway not in children and len(children) == 3, children

    up.proc.send_signal(signal.SIGKILL)  # no cleanup code of `up` runs
    up.proc.wait(10)
    assert _wait_until(lambda: not [pid for pid in children if _alive(pid)], 15), \
        {pid: name for pid, name in children.items() if _alive(pid)}
    assert (tmp_path / "responses-gateway.sqlite3").stat().st_size > 0


def test_a_chatty_gateway_costs_up_a_bounded_buffer_and_a_crashing_one_ends_the_stack() -> None:
    # `up` used to keep every line its gateway printed (~4 KB per failing request, for ever).
    # Now it keeps the last `kept_lines` and hands every line on to the terminal.
    sink = io.StringIO()
    said: list[str] = []
    config = StackConfig(log_stream=sink, gateway_log_level="DEBUG", kept_lines=20, max_restarts=1)
    with Stack(config, say=said.append) as stack, \
            httpx.Client(base_url=stack.envoy_url, timeout=10) as client:
        assert stack.gateway is not None
        kept = []
        for _ in range(3):
            for _ in range(20):
                assert client.post("/v1/responses", json={"model": "scripted-error:500", "input": "x"}
                                   ).status_code == 502
            time.sleep(0.2)
            kept.append((len(stack.gateway.lines), stack.gateway.line_count))
        relayed = sink.getvalue().count("\ngateway | ") + sink.getvalue().startswith("gateway | ")
        assert kept[-1][1] >= 3 * 20, kept  # it did print more than it kept
        assert [n for n, _ in kept] == [20, 20, 20], kept
        assert relayed == stack.gateway.line_count

        # Past its restart budget, a crashing gateway ends the stack (`up` then exits 1).
        assert stack.supervise() is None
        for attempt in range(2):
            os.kill(stack.gateway.pid, signal.SIGKILL)
            stack.gateway.wait(10)
            verdict = stack.supervise()
            if attempt == 0:
                assert verdict is None and said[0].startswith("the gateway exited with code -9; restarting")
                assert client.post("/v1/responses", json={"model": "m", "input": "x"}).status_code == 200
        assert verdict == "the gateway exited with code -9, after 1 restarts within 60 s: giving up"


def test_starting_a_running_stack_again_starts_nothing_new() -> None:
    # `with Stack(...).start() as s:` once orphaned a whole stack: __enter__ started a second.
    with Stack(StackConfig()).start() as stack:
        first = (stack.gateway, stack.envoy, stack.backend)
        assert stack.start() is stack
        assert (stack.gateway, stack.envoy, stack.backend) == first
    assert stack.gateway is None or stack.gateway.poll() is not None
