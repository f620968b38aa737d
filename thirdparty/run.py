"""Run the harness on open-source gateways nobody here wrote, and compare with the recorded verdicts.

    python -m thirdparty.run [--only NAME] [--update] [--cache DIR]

Each gateway of :data:`GATEWAYS` is installed from PyPI at its pinned version into its own venv
under the cache directory (`$RESPONSES_THIRDPARTY_CACHE`, default `.cache/thirdparty/`; an
existing install is reused, so a second run needs no registry), started with every upstream
pointed at a scripted backend on loopback, and run through `responses-conformance run`. The
verdicts are compared with `docs/third-party/verdicts/<name>.json`: a case whose verdict differs
is rerun once beside the probes (timing cases can flake on a loaded machine; a case blocked by
a probe is blocked only beside it) and a difference that stays
makes the exit code 1. `--update` writes the new verdicts instead, from two runs: a case that gave
two verdicts is recorded with both, and either is accepted later (a case recorded unstable
stays so while its verdicts stay within the recorded ones). While a gateway runs, its
sockets are watched (`ss -tnp`): a connection to anything but loopback stops the run with exit
code 3. The full report of the last run is kept as `<cache>/<name>-report.json`. The
third-party code is run beside the project and never copied into it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from childproc import ChildProcess
from fixtures.backend.server import start_subprocess

ROOT = Path(__file__).resolve().parent.parent
RECORDS = ROOT / "docs" / "third-party" / "verdicts"
DEFAULT_CACHE = Path(os.environ.get("RESPONSES_THIRDPARTY_CACHE", ROOT / ".cache" / "thirdparty"))


@dataclass(frozen=True)
class Launch:
    """How one gateway is started: argv and environment, given its venv, port and backend URL."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Gateway:
    name: str
    requirement: str  # pinned: a new release is a new record, not a silent change
    api_root: str  # appended to http://127.0.0.1:PORT for --base-url
    launch: Callable[[Path, int, str], Launch]


def _codex_relay(venv: Path, port: int, backend: str) -> Launch:
    # Its default upstream is a public router: --upstream points it at the scripted backend.
    argv = [str(venv / "bin" / "codex-relay"), "--bind", "127.0.0.1", "--port", str(port),
            "--upstream", f"{backend}/v1", "--api-key", "thirdparty"]
    return Launch(argv)


def _codex_rosetta(venv: Path, port: int, backend: str) -> Launch:
    # Settings come from the environment (and a .env / data/keys.json in the working directory,
    # which is a fresh temporary one). The default upstream is OpenAI's public API; web search
    # (public search engines) stays off.
    env = {"HOST": "127.0.0.1", "PORT": str(port), "UPSTREAM_BASE_URL": f"{backend}/v1",
           "UPSTREAM_API_KEY": "thirdparty", "WEB_SEARCH_ENABLED": "false", "AUDIT_ENABLED": "false"}
    return Launch([str(venv / "bin" / "codex-rosetta")], env)


def _open_responses_server(venv: Path, port: int, backend: str) -> Launch:
    # Serves POST /responses at the root and proxies every other path to the upstream's /v1.
    env = {"OPENAI_BASE_URL_INTERNAL": backend, "OPENAI_BASE_URL": f"http://127.0.0.1:{port}",
           "OPENAI_API_KEY": "thirdparty", "API_ADAPTER_HOST": "127.0.0.1", "API_ADAPTER_PORT": str(port),
           "MCP_SERVERS_CONFIG_PATH": "servers_config.json"}
    argv = [str(venv / "bin" / "python"), "-m", "uvicorn", "open_responses_server.api_controller:app",
            "--host", "127.0.0.1", "--port", str(port)]
    return Launch(argv, env)


GATEWAYS = {
    g.name: g
    for g in (
        Gateway("codex-relay", "codex-relay==0.5.8", "/v1", _codex_relay),
        Gateway("codex-rosetta", "codex-rosetta==0.1.0", "/v1", _codex_rosetta),
        Gateway("open-responses-server", "open-responses-server==0.4.1", "", _open_responses_server),
    )
}


# --------------------------------------------------------------------------- install and start


def install(gateway: Gateway, cache: Path) -> Path:
    """The gateway's venv, created and filled on first use (a marker names what it holds)."""
    venv = cache / gateway.name
    marker = venv / "installed.txt"
    if marker.exists() and marker.read_text().strip() == gateway.requirement:
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", gateway.requirement], check=True)
    marker.write_text(gateway.requirement + "\n")
    return venv


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_listening(port: int, child: ChildProcess, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(child.failure("exited before listening"))
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.2)
    raise RuntimeError(child.failure(f"not listening on 127.0.0.1:{port} after {timeout:.0f} s"))


@contextlib.contextmanager
def running(gateway: Gateway, venv: Path, backend: str, workdir: Path) -> Iterator[tuple[str, ChildProcess]]:
    port = free_port()
    launch = gateway.launch(venv, port, backend)
    log = workdir / "gateway.log"
    with open(log, "ab") as out:
        popen = subprocess.Popen(launch.argv, cwd=workdir, stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT, text=True, env={**os.environ, **launch.env})
    child = ChildProcess(gateway.name, popen, launch.argv, log)
    try:
        wait_listening(port, child)
        yield f"http://127.0.0.1:{port}{gateway.api_root}", child
    finally:
        child.stop()


# --------------------------------------------------------------------------- loopback watch

_LOOPBACK = re.compile(r"^(127\.\d+\.\d+\.\d+|\[?::1\]?|\[::ffff:127\.\d+\.\d+\.\d+\]|\*|0\.0\.0\.0)$")


def foreign_connections(pid: int) -> list[str]:
    """`ss -tnp` lines of `pid`'s TCP sockets whose peer is not on loopback."""
    if shutil.which("ss") is None:
        return []
    out = subprocess.run(["ss", "-tnpH"], capture_output=True, text=True, check=False).stdout
    found = []
    for line in out.splitlines():
        if f"pid={pid}," not in line:
            continue
        cols = line.split()
        peer = cols[4].rsplit(":", 1)[0] if len(cols) > 4 else ""
        if not _LOOPBACK.match(peer):
            found.append(line.strip())
    return found


class LoopbackWatch:
    """Polls the gateway's sockets on a thread while the harness runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.found: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.found += foreign_connections(self.pid)

    def __enter__(self) -> LoopbackWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.found += foreign_connections(self.pid)


# --------------------------------------------------------------------------- harness and records


def probe_ids() -> list[str]:
    """The probes of the harness (run first; a case they block is BLOCKED only beside them)."""
    import conformance.cases  # noqa: F401  (registers the cases)
    from conformance.model import REGISTRY

    return [c.id for c in REGISTRY.all() if c.is_probe]


def run_harness(base_url: str, report: Path, cases: list[str] | None = None) -> dict[str, str]:
    cmd = [sys.executable, "-m", "conformance.cli", "run", "--base-url", base_url, "--quiet",
           "--report-dir", str(report.parent), "--json", str(report)]
    if cases:
        cmd += ["--cases", ",".join(cases)]
    subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL)
    data = json.loads(report.read_text())
    return {case_id: str(result["verdict"]) for case_id, result in sorted(data.items())}


#: A recorded verdict, or the verdicts an unstable case gave in the recording runs (a transport
#: fault of the gateway, a timing case on a loaded machine).
Recorded = str | list[str]


def _matches(recorded: Recorded | None, got: str | None) -> bool:
    return got in recorded if isinstance(recorded, list) else recorded == got


def differences(
    recorded: dict[str, Recorded], got: dict[str, str]
) -> dict[str, tuple[Recorded | None, str | None]]:
    """Cases in both whose verdict changed (a case added or removed since the record is not a
    change of verdict: see :func:`unrecorded`)."""
    return {
        k: (recorded[k], got[k])
        for k in sorted(recorded.keys() & got.keys())
        if not _matches(recorded[k], got[k])
    }


def unrecorded(recorded: dict[str, Recorded], got: dict[str, str]) -> tuple[list[str], list[str]]:
    """(cases run but not in the record, recorded cases not run): cases added to or removed from
    the harness since the record was made."""
    return sorted(got.keys() - recorded.keys()), sorted(recorded.keys() - got.keys())


def merge_runs(first: dict[str, str], second: dict[str, str]) -> dict[str, Recorded]:
    """One record from two runs: a case that gave two verdicts keeps both."""
    return {k: first[k] if first.get(k) == second.get(k) else sorted({first[k], second.get(k, first[k])})
            for k in first}


def keep_unstable(old: dict[str, Recorded], new: dict[str, Recorded]) -> dict[str, Recorded]:
    """A new record that keeps a case recorded unstable as it was while what the new runs saw is
    among its recorded verdicts (two runs rarely show both sides of a flaky transport fault)."""
    out = dict(new)
    for case_id, before in old.items():
        now = new.get(case_id)
        seen = now if isinstance(now, list) else [now]
        if isinstance(before, list) and now is not None and set(seen) <= set(before):
            out[case_id] = before
    return out


def counts(verdicts: dict[str, str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in verdicts.values():
        out[v] = out.get(v, 0) + 1
    return dict(sorted(out.items()))


def check_gateway(gateway: Gateway, cache: Path, update: bool) -> int:
    venv = install(gateway, cache)
    record_path = RECORDS / f"{gateway.name}.json"
    with tempfile.TemporaryDirectory(prefix=f"thirdparty-{gateway.name}-") as tmp:
        workdir = Path(tmp)
        backend = start_subprocess()
        try:
            with (
                running(gateway, venv, backend.url, workdir) as (base_url, child),
                LoopbackWatch(child.pid) as watch,
            ):
                got = run_harness(base_url, workdir / "report.json")
                shutil.copy(workdir / "report.json", cache / f"{gateway.name}-report.json")
                recorded = json.loads(record_path.read_text())["verdicts"] if record_path.exists() else {}
                if update:
                    # a second run finds the unstable cases
                    again = run_harness(base_url, workdir / "again.json")
                    recorded = keep_unstable(recorded, merge_runs(got, again))
                diff = differences(recorded, got)
                if diff and not update and recorded:
                    # rerun the differing cases once, alone but for the probes: a case blocked
                    # by a failed probe must meet that probe again to be blocked again
                    again = run_harness(base_url, workdir / "rerun.json",
                                        [k for k in diff if k in got] + probe_ids())
                    got = {**got, **{k: v for k, v in again.items() if k in diff}}
                    diff = differences(recorded, got)
        finally:
            backend.stop()
    print(f"{gateway.name} ({gateway.requirement}): {counts(got)}")
    if watch.found:
        print(f"{gateway.name}: connections off loopback:\n  " + "\n  ".join(watch.found))
        return 3
    if update:
        record = {"gateway": gateway.name, "requirement": gateway.requirement, "counts": counts(got),
                  "verdicts": recorded}
        record_path.parent.mkdir(parents=True, exist_ok=True)
        record_path.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        print(f"{gateway.name}: recorded in {record_path.relative_to(ROOT)}")
        return 0
    added, removed = unrecorded(recorded, got)
    if added or removed:
        print(f"{gateway.name}: {len(added)} cases not in the record, {len(removed)} recorded cases gone "
              "(--update records them): " + ", ".join(added + removed))
    if diff:
        for case_id, (before, now) in diff.items():
            print(f"  {case_id}: recorded {before}, now {now}")
        print(f"{gateway.name}: {len(diff)} verdicts changed (rerun with --update to record them)")
        return 1
    print(f"{gateway.name}: verdicts as recorded")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m thirdparty.run", description=__doc__.split("\n")[0])
    parser.add_argument("--only", action="append", choices=sorted(GATEWAYS), help="gateway (repeatable)")
    parser.add_argument("--update", action="store_true", help="record the verdicts instead of comparing")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where the gateways are installed")
    args = parser.parse_args(argv)
    args.cache.mkdir(parents=True, exist_ok=True)
    worst = 0
    for name in args.only or sorted(GATEWAYS):
        worst = max(worst, check_gateway(GATEWAYS[name], args.cache.resolve(), args.update))
    return worst


if __name__ == "__main__":
    sys.exit(main())
