"""Benchmark the reference gateway through Envoy against the same scripted backend (`nox -s bench`).

One run starts, on loopback only: the scripted backend (`python -m fixtures.backend`), the
reference gateway (`responses-gateway serve`, HTTP and ext_proc in one process) with a real
Envoy in front of it (`devstack.stack.Stack`), and a second Envoy rendered without the ext_proc
filter (`gateway_envoy.launcher.render(extproc=False)`) that proxies straight to the backend.
It then measures side by side, for each path, non-streaming and streaming:

- backend direct            POST /v1/chat/completions to the scripted backend
- Envoy pass-through        POST /v1/chat/completions through Envoy without ext_proc
- reference direct HTTP     POST /v1/responses to `serve`
- reference Envoy+ext_proc  POST /v1/responses through Envoy and the ext_proc servicer

and for each: p50/p99 latency of sequential requests (one keep-alive connection), requests/s
and latency under load with wrk (a C load generator: `apt-get install -y wrk`, or WRK=path;
`benchmarks/wrk/post.lua` posts the body and prints wrk's figures as JSON), and for streams the
time to the first body byte and the spacing of text deltas when the backend is told to pause
`--slow-ms` between chunks (`[[slow:MS]]`). The table ends with PASS/MISS per target (measured
against Envoy pass-through); a MISS never fails the run.

    python benchmarks/gateway.py                      # the default budget (~3 minutes)
    python benchmarks/gateway.py --requests 5 --rounds 1 --duration 1 --wrk-warmup 0
    python benchmarks/gateway.py --only ext_proc --mode json   # A/B runs of one path
    python benchmarks/gateway.py --json out.json      # also write the raw numbers
    python benchmarks/gateway.py --profile DIR        # py-spy flame graphs of the gateway instead
    python benchmarks/gateway.py --replicas 2         # ext_proc path: 1 vs 2 replicas on PostgreSQL

The numbers are for comparing paths on one machine in one run, not absolute figures: wrk,
Envoy, the backend and the gateway all share the machine's cores. So the paths take turns
(request by request for latency, in rounds for throughput) and a busy neighbour slows them
alike; the table also gives each server process's CPU milliseconds per request (utime + stime
deltas of /proc/PID/stat over each round), the steadier figure, and wrk's own CPU per request
and share of a core, which shows the load generator is not the bottleneck. The "capacity by
server CPU" line is the throughput target judged on CPU instead.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python benchmarks/gateway.py` from a checkout
    sys.path.insert(0, str(ROOT))

from gateway_envoy.launcher import EnvoyProcess, find_envoy, render  # noqa: E402

Kind = Literal["chat", "responses"]

# The targets, all relative to Envoy pass-through on the same run.
TARGET_THROUGHPUT_RATIO = 0.30
TARGET_DIRECT_RATIO = 0.20
TARGET_P50_EXTRA_MS = 2.0
TARGET_TTFB_EXTRA_MS = 2.0
# "Chunk spacing kept": the mean gap between text deltas within 10 % of the requested pause (a
# buffering proxy delivers the deltas bunched together: mean ~0). The smallest gap is shown
# too; on a busy machine a client stall makes any path bunch two deltas now and then.
SPACING_TOLERANCE = 0.10
# "Memory flat over 10,000 requests": the fitted RSS growth per 10,000 requests at most this
# (200 bytes a request; the allocator and SQLite's page cache move RSS in steps of this order).
MEMORY_FLAT_MIB_PER_10K = 2.0

PROMPT = "Say hello to the benchmark"

# The server processes each measured path goes through (for the CPU columns).
ROUTES: dict[str, tuple[str, ...]] = {
    "backend direct": ("backend",),
    "Envoy pass-through": ("envoy_plain", "backend"),
    "reference direct HTTP": ("gateway", "backend"),
    "reference Envoy+ext_proc": ("envoy", "gateway", "backend"),
}



@dataclass
class Path_:
    """One measured path: where to send what."""

    label: str
    url: str
    kind: Kind
    stream: bool

    def body(self, text: str) -> dict[str, Any]:
        if self.kind == "chat":
            body: dict[str, Any] = {
                "model": "scripted",
                "messages": [{"role": "user", "content": text}],
                "stream": self.stream,
            }
            if self.stream:
                # What the gateway itself asks of the backend, so both carry the same frames.
                body["stream_options"] = {"include_usage": True}
            return body
        return {"model": "scripted", "input": text, "stream": self.stream}


@dataclass
class Row:
    label: str
    stream: bool
    p50_ms: float = float("nan")
    """Sequential requests, one at a time on one keep-alive connection."""
    p99_ms: float = float("nan")
    rps: float = float("nan")
    """Concurrent phase (wrk): completed requests per second."""
    load_p50_ms: float = float("nan")
    load_p99_ms: float = float("nan")
    requests: int = 0
    errors: int = 0
    wrk_cpu_ms: float = float("nan")
    wrk_core_share: float = float("nan")
    ttfb_ms: float | None = None
    spacing_ms: float | None = None
    min_gap_ms: float | None = None
    cpu_ms: dict[str, float] = field(default_factory=dict)
    """CPU time per completed request of each server process during the concurrent phase."""


# --------------------------------------------------------------------------- measurements


def _check(resp: httpx.Response, path: Path_, body: bytes) -> None:
    """A benchmark of failing requests measures nothing: every answer must be the real one."""
    if resp.status_code != 200:
        raise RuntimeError(f"{path.label}: HTTP {resp.status_code}: {body[:300]!r}")
    if path.stream:
        end = b"[DONE]" if path.kind == "chat" else b"response.completed"
        if end not in body:
            raise RuntimeError(f"{path.label}: the stream did not end with {end!r}: {body[-300:]!r}")
    elif path.kind == "responses" and b'"completed"' not in body:
        raise RuntimeError(f"{path.label}: the response is not completed: {body[:300]!r}")


@dataclass(frozen=True)
class ProcessTree:
    """A server that forks a process per connection (PostgreSQL): its CPU is the root's own,
    its reaped children's (cutime/cstime) and its live children's."""

    pid: int


Watched = int | tuple[int, ...] | ProcessTree
"""What one CPU column charges: a process, several (the replicas), or a process tree."""


def _stat_fields(pid: int) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()


def _tree_cpu_seconds(pid: int) -> float:
    fields = _stat_fields(pid)
    if fields is None:
        return float("nan")
    # Fields 14-17 of proc(5): utime, stime, cutime, cstime (waited-for children).
    total = sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    with contextlib.suppress(OSError):
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            own = _cpu_seconds(int(child))
            total += 0.0 if own != own else own  # a child that has just exited: in cutime soon
    return total


def _watched_cpu(spec: Watched) -> float:
    if isinstance(spec, ProcessTree):
        return _tree_cpu_seconds(spec.pid)
    if isinstance(spec, tuple):
        return sum(_cpu_seconds(pid) for pid in spec)
    return _cpu_seconds(spec)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process (all its threads) has used so far (Linux /proc).

    CPU per request is what the paths cost, and unlike wall-clock throughput it barely moves
    when other work shares the machine's cores."""
    fields = _stat_fields(pid)
    if fields is None:
        return float("nan")
    # Fields 14 and 15 of proc(5) (utime, stime), counted after the ")" that ends the name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Sequential:
    """One path's keep-alive client for sequential requests."""

    def __init__(self, path: Path_) -> None:
        self.path = path
        self.client = httpx.Client(timeout=30.0)
        self.samples: list[float] = []

    def once(self, *, record: bool = True) -> None:
        path, payload = self.path, self.path.body(PROMPT)
        start = time.perf_counter()
        if path.stream:
            with self.client.stream("POST", path.url, json=payload) as resp:
                data = resp.read()
        else:
            resp = self.client.post(path.url, json=payload)
            data = resp.content
        elapsed = (time.perf_counter() - start) * 1000.0
        _check(resp, path, data)
        if record:
            self.samples.append(elapsed)


def sequential(paths: list[Path_], count: int, warmup: int) -> list[list[float]]:
    """Latency in ms of `count` requests per path, one at a time on one keep-alive connection
    per path. The paths take turns request by request, so a noisy neighbour on the machine
    slows them all alike instead of whichever happened to run at that moment."""
    runners = [_Sequential(p) for p in paths]
    try:
        for i in range(warmup + count):
            for runner in runners:
                runner.once(record=i >= warmup)
    finally:
        for runner in runners:
            runner.client.close()
    return [r.samples for r in runners]


WRK_SCRIPT = Path(__file__).resolve().parent / "wrk" / "post.lua"


def find_wrk() -> str:
    wrk = os.environ.get("WRK") or shutil.which("wrk")
    if not wrk:
        raise SystemExit("the bench needs wrk (a C load generator): apt-get install -y wrk, or set WRK")
    return wrk


@dataclass
class Burst:
    """One wrk run against one path."""

    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    wrk_cpu_s: float
    """CPU seconds wrk itself used (its rusage): the load generator's own cost."""


def _wrk(path: Path_, connections: int, seconds: float, body_file: str) -> Burst:
    """Drive `path` with wrk (one thread, `connections` keep-alive connections) for `seconds`."""
    cmd = [find_wrk(), "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "30s",
           "-s", str(WRK_SCRIPT), path.url]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "BENCH_BODY": body_file})
    out, err = proc.communicate()
    # communicate() has reaped wrk; its rusage is in this process's children totals.
    line = next((ln for ln in out.splitlines() if ln.startswith("BENCH ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"{path.label}: wrk failed ({proc.returncode}): {err or out}")
    data = json.loads(line[len("BENCH "):])
    errors = sum(data[k] for k in ("connect", "read", "write", "status", "timeout"))
    return Burst(data["requests"], errors, data["duration_us"] / 1e6, data["p50_us"] / 1000.0,
                 data["p99_us"] / 1000.0, 0.0)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Load:
    """A path's totals over every round of the concurrent phase."""

    rps: float = float("nan")
    errors: int = 0
    requests: int = 0
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    cpu_ms: dict[str, float] = field(default_factory=dict)
    wrk_cpu_ms: float = float("nan")
    wrk_core_share: float = float("nan")
    """wrk's CPU seconds per wall second: near 1.0 would mean the load generator is the limit."""


def throughput(paths: list[Path_], connections: int, duration: float, rounds: int = 4,
               watch: dict[str, Watched] | None = None, warmup: int = 1) -> list[Load]:
    """Per path: completed requests per second with `connections` concurrent keep-alive
    connections (wrk), latency under that load, and CPU ms per request of each `watch`ed
    process and of wrk. Each path gets `duration` seconds in all, in `rounds` turns taken in
    order (a busy neighbour slows every path alike, not whichever ran at that moment)."""
    watch = watch or {}
    loads = [Load(cpu_ms=dict.fromkeys(watch, 0.0)) for _ in paths]
    seconds = [0.0] * len(paths)
    wrk_cpu = [0.0] * len(paths)
    p50s: list[list[float]] = [[] for _ in paths]
    p99s: list[list[float]] = [[] for _ in paths]
    with tempfile.TemporaryDirectory() as tmp:
        bodies = []
        for i, path in enumerate(paths):
            bodies.append(os.path.join(tmp, f"body{i}.json"))
            Path(bodies[-1]).write_text(json.dumps(path.body(PROMPT)))
        for i, path in enumerate(paths):  # warm-up: open connections, fill caches
            if warmup:
                _wrk(path, connections, warmup, bodies[i])
        for _ in range(rounds):
            for i, path in enumerate(paths):
                before = {name: _watched_cpu(spec) for name, spec in watch.items()}
                child_before = _children_cpu()
                burst = _wrk(path, connections, duration / rounds, bodies[i])
                wrk_cpu[i] += _children_cpu() - child_before
                for name, spec in watch.items():
                    loads[i].cpu_ms[name] += _watched_cpu(spec) - before[name]
                loads[i].requests += burst.requests
                loads[i].errors += burst.errors
                seconds[i] += burst.seconds
                p50s[i].append(burst.p50_ms)
                p99s[i].append(burst.p99_ms)
    for i, load in enumerate(loads):
        done = load.requests - load.errors
        load.rps = done / seconds[i] if seconds[i] else float("nan")
        load.cpu_ms = {k: v * 1000.0 / done if done else float("nan") for k, v in load.cpu_ms.items()}
        load.wrk_cpu_ms = wrk_cpu[i] * 1000.0 / done if done else float("nan")
        load.wrk_core_share = wrk_cpu[i] / seconds[i] if seconds[i] else float("nan")
        load.p50_ms = statistics.median(p50s[i])
        load.p99_ms = max(p99s[i])
    return loads


def _delta_text(path: Path_, line: str) -> bool:
    """Whether one SSE line carries generated text (a chat content delta / output_text.delta)."""
    if not line.startswith("data:"):
        return False
    data = line[5:].strip()
    if data == "[DONE]":
        return False
    event = json.loads(data)
    if path.kind == "responses":
        return bool(event.get("type") == "response.output_text.delta" and event.get("delta"))
    choices = event.get("choices") or []
    return bool(choices and (choices[0].get("delta") or {}).get("content"))


def _slow_stream(client: httpx.Client, path: Path_, prompt: str, words: int) -> tuple[float, list[float]]:
    """(ms to the first body byte, arrival times of the text deltas) of one stream."""
    start = time.perf_counter()
    first: float | None = None
    stamps: list[float] = []
    raw = bytearray()
    with client.stream("POST", path.url, json=path.body(prompt)) as resp:
        buffer = ""
        for chunk in resp.iter_raw():
            now = time.perf_counter()
            if first is None and chunk:
                first = now
            raw += chunk
            buffer += chunk.decode("utf-8", "replace")
            *lines, buffer = buffer.split("\n")
            stamps.extend(now for line in lines if _delta_text(path, line))
    _check(resp, path, bytes(raw))
    if first is None or len(stamps) != words:
        raise RuntimeError(f"{path.label}: expected {words} text deltas, saw {len(stamps)}")
    return (first - start) * 1000.0, stamps


def stream_timing(
    paths: list[Path_], count: int, slow_ms: int, words: int
) -> list[tuple[float, list[float]]]:
    """Per path: the median time to the first body byte (ms) and every gap between text deltas
    (ms), for streams whose backend pauses `slow_ms` between chunks (paths take turns)."""
    text = " ".join(f"w{i}" for i in range(words))
    prompt = f"[[slow:{slow_ms}]] [[text:{text}]]"
    clients = [httpx.Client(timeout=30.0) for _ in paths]
    ttfbs: list[list[float]] = [[] for _ in paths]
    gaps: list[list[float]] = [[] for _ in paths]
    try:
        for i in range(count + 1):
            for j, (path, client) in enumerate(zip(paths, clients, strict=True)):
                ttfb, stamps = _slow_stream(client, path, prompt, words)
                if i == 0:
                    continue  # warm-up: connection set-up is not what TTFB is about
                ttfbs[j].append(ttfb)
                gaps[j].extend((b - a) * 1000.0 for a, b in itertools.pairwise(stamps))
    finally:
        for client in clients:
            client.close()
    return [(statistics.median(t), g) for t, g in zip(ttfbs, gaps, strict=True)]


def _percentile(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[int(q) - 1]


def measure(paths: list[Path_], args: argparse.Namespace, watch: dict[str, Watched] | None = None,
            routes: dict[str, tuple[str, ...]] = ROUTES) -> list[Row]:
    """Every measurement for paths of one mode (all streaming or all not); `watch` names the
    server processes whose CPU time is charged to the paths, `routes` which of them each path
    goes through (a name `role@stack` is reported as its role)."""
    rows = [Row(p.label, p.stream) for p in paths]
    for row, samples in zip(rows, sequential(paths, args.requests, args.warmup), strict=True):
        row.p50_ms = statistics.median(samples)
        row.p99_ms = _percentile(samples, 99)
    for row, load in zip(
        rows, throughput(paths, args.concurrency, args.duration, args.rounds, watch=watch,
                              warmup=args.wrk_warmup), strict=True
    ):
        row.rps, row.errors, row.requests = load.rps, load.errors, load.requests
        row.load_p50_ms, row.load_p99_ms = load.p50_ms, load.p99_ms
        row.wrk_cpu_ms, row.wrk_core_share = load.wrk_cpu_ms, load.wrk_core_share
        # Only the processes on this row's path (the others idle meanwhile, up to noise).
        row.cpu_ms = {k.split("@")[0]: v for k, v in load.cpu_ms.items() if k in routes[row.label]}
    if paths[0].stream:
        for row, (ttfb, gaps) in zip(
            rows, stream_timing(paths, args.stream_requests, args.slow_ms, args.words), strict=True
        ):
            row.ttfb_ms = ttfb
            row.spacing_ms = statistics.fmean(gaps) if gaps else float("nan")
            row.min_gap_ms = min(gaps) if gaps else float("nan")
    return rows


# --------------------------------------------------------------------------- report


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _cpu(row: Row) -> str:
    envoy = row.cpu_ms.get("envoy", row.cpu_ms.get("envoy_plain"))
    return " / ".join(_fmt(v, 2) for v in (row.cpu_ms.get("gateway"), envoy, row.cpu_ms.get("backend")))


def table(rows: list[Row], args: argparse.Namespace) -> str:
    base = {r.stream: r for r in rows if r.label == "Envoy pass-through"}
    lines = [
        f"| path | mode | req/s @{args.concurrency} | x pass-through | p50 / p99 ms under load | "
        "sequential p50 ms | p50 added | TTFB added ms | delta spacing ms "
        f"(asked {args.slow_ms}) | CPU ms/req gateway / Envoy / backend | wrk CPU ms/req (core share) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        b = base.get(r.stream)
        ratio = r.rps / b.rps if b and b.rps else float("nan")
        extra = r.p50_ms - b.p50_ms if b else float("nan")
        ttfb = "-" if r.ttfb_ms is None or b is None or b.ttfb_ms is None else f"{r.ttfb_ms - b.ttfb_ms:+.2f}"
        spacing = "-" if r.spacing_ms is None else f"{r.spacing_ms:.1f} (min {_fmt(r.min_gap_ms)})"
        err = f" ({r.errors} errors)" if r.errors else ""
        lines.append(
            f"| {r.label} | {'stream' if r.stream else 'json'} | {r.rps:,.0f}{err} | {ratio:.2f}x | "
            f"{r.load_p50_ms:.1f} / {r.load_p99_ms:.1f} | {r.p50_ms:.2f} | {extra:+.2f} | {ttfb} | "
            f"{spacing} | {_cpu(r)} | {r.wrk_cpu_ms:.3f} ({r.wrk_core_share:.0%}) |"
        )
    return "\n".join(lines)


def verdicts(rows: list[Row], slow_ms: int) -> list[tuple[str, bool, str]]:
    """(target, met, measured) for the ext_proc path against Envoy pass-through."""
    out: list[tuple[str, bool, str]] = []
    by = {(r.label, r.stream): r for r in rows}
    for stream in (False, True):
        direct, base = by.get(("reference direct HTTP", stream)), by.get(("Envoy pass-through", stream))
        if direct is not None and base is not None:
            ratio = direct.rps / base.rps
            out.append((f"direct HTTP throughput >= {TARGET_DIRECT_RATIO}x pass-through "
                        f"({'stream' if stream else 'json'})", ratio >= TARGET_DIRECT_RATIO, f"{ratio:.2f}x"))
    for stream in (False, True):
        mode = "stream" if stream else "json"
        ext, base = by.get(("reference Envoy+ext_proc", stream)), by.get(("Envoy pass-through", stream))
        if ext is None or base is None:
            continue
        ratio = ext.rps / base.rps
        out.append((f"throughput >= {TARGET_THROUGHPUT_RATIO}x pass-through ({mode})",
                    ratio >= TARGET_THROUGHPUT_RATIO, f"{ratio:.2f}x"))
        # The same target by server CPU: what the ratio becomes once the servers, not the load
        # generator, are the bottleneck (capacity on equal cores = inverse CPU per request).
        ext_cpu, base_cpu = sum(ext.cpu_ms.values()), sum(base.cpu_ms.values())
        capacity = f"capacity by server CPU >= {TARGET_THROUGHPUT_RATIO}x pass-through ({mode})"
        if ext_cpu > 0 and base_cpu > 0:
            cap = base_cpu / ext_cpu
            out.append((capacity, cap >= TARGET_THROUGHPUT_RATIO,
                        f"{cap:.2f}x ({ext_cpu:.2f} vs {base_cpu:.2f} CPU ms per request)"))
        else:
            # Too few requests for /proc's CPU clock to register: an unmeasured target is not met.
            out.append((capacity, False, "not measurable in this run (CPU below /proc's resolution)"))
        extra = ext.p50_ms - base.p50_ms
        out.append((f"p50 <= +{TARGET_P50_EXTRA_MS:g} ms over pass-through ({mode})",
                    extra <= TARGET_P50_EXTRA_MS, f"{extra:+.2f} ms"))
        if stream and ext.ttfb_ms is not None and base.ttfb_ms is not None:
            d = ext.ttfb_ms - base.ttfb_ms
            out.append((f"streaming TTFB <= +{TARGET_TTFB_EXTRA_MS:g} ms over pass-through",
                        d <= TARGET_TTFB_EXTRA_MS, f"{d:+.2f} ms"))
        if stream and ext.spacing_ms is not None:
            kept = abs(ext.spacing_ms - slow_ms) <= SPACING_TOLERANCE * slow_ms
            out.append((f"chunk spacing kept ({slow_ms} ms asked)", kept,
                        f"mean {ext.spacing_ms:.1f} ms, min {_fmt(ext.min_gap_ms)} ms"))
    return out


def _envoy_version() -> str:
    with contextlib.suppress(Exception):
        out = subprocess.run([find_envoy(), "--version"], capture_output=True, text=True, timeout=20).stdout
        match = re.search(r"version: \S+?/(\d+\.\d+\.\d+)", out)
        if match:
            return match.group(1)
    return "?"


# --------------------------------------------------------------------------- the run


@contextlib.contextmanager
def passthrough_envoy(backend_url: str) -> Iterator[EnvoyProcess]:
    """Envoy without the ext_proc filter, every route to the backend."""
    backend = urlsplit(backend_url)
    port = backend.port or 80
    # http/extproc ports are unused without the filter (their clusters are never picked).
    config = render(listen_port=0, admin_port=0, http_port=port, extproc_port=port,
                    backend_host=backend.hostname or "127.0.0.1", backend_port=port, extproc=False)
    envoy = EnvoyProcess(config)
    envoy.start()
    try:
        yield envoy
    finally:
        envoy.stop()


def _rss_kib(pid: int) -> int:
    """Resident set size of a process in KiB (/proc/PID/status VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@dataclass
class MemoryTrend:
    """The gateway's resident memory while one path serves `requests` more requests (wrk in
    one-second bursts, RSS read after each), after a warm-up burst."""

    label: str
    stream: bool
    requests: int = 0
    start_kib: int = 0
    end_kib: int = 0
    growth_mib_per_10k: float = float("nan")
    """Slope of the least-squares line through the (requests, RSS) samples, per 10,000
    requests: a steady leak shows here even when the allocator's steps make the end-to-start
    difference jump around."""
    samples: list[tuple[int, int]] = field(default_factory=list)
    """(requests served so far, RSS KiB) after each burst."""


def memory_trend(path: Path_, pid: int, requests: int, connections: int) -> MemoryTrend:
    """Drive `path` with wrk until the gateway (`pid`) has served `requests` more requests."""
    trend = MemoryTrend(path.label, path.stream)
    with tempfile.TemporaryDirectory() as tmp:
        body = os.path.join(tmp, "body.json")
        Path(body).write_text(json.dumps(path.body(PROMPT)))
        _wrk(path, connections, 1, body)  # warm-up: pools, caches and first-use imports
        trend.samples.append((0, _rss_kib(pid)))
        while trend.requests < requests:
            burst = _wrk(path, connections, 1, body)
            if burst.errors:
                raise RuntimeError(f"{path.label}: {burst.errors} errors during the memory run")
            trend.requests += burst.requests
            trend.samples.append((trend.requests, _rss_kib(pid)))
    trend.start_kib, trend.end_kib = trend.samples[0][1], trend.samples[-1][1]
    if len(trend.samples) >= 2:
        xs = [float(n) for n, _ in trend.samples]
        ys = [float(kib) for _, kib in trend.samples]
        slope = statistics.linear_regression(xs, ys).slope if len(set(xs)) > 1 else 0.0
        trend.growth_mib_per_10k = slope * 10_000 / 1024
    return trend


GATEWAY_ROWS = ("reference direct HTTP", "reference Envoy+ext_proc")


@contextlib.contextmanager
def bench_stack() -> Iterator[tuple[Any, EnvoyProcess, dict[str, Watched], list[tuple[str, str, Kind]]]]:
    """The stack, the pass-through Envoy, the PIDs to watch and the four (label, URL, kind)."""
    from devstack.stack import Stack, StackConfig

    # The children's logs (the gateway's access log among them, on by default and measured as
    # such) go to files, not through this process to the terminal.
    with tempfile.TemporaryDirectory() as logs, Stack(StackConfig(log_dir=logs)) as stack, \
            passthrough_envoy(stack.backend_url) as plain:
        chat = "/v1/chat/completions"
        assert stack.gateway is not None and stack.backend is not None
        watch: dict[str, Watched] = {"backend": stack.backend.process.pid, "gateway": stack.gateway.pid,
                 "envoy": stack.envoy.pid if stack.envoy else 0, "envoy_plain": plain.pid}
        http = stack.http_url.rstrip("/")
        paths: list[tuple[str, str, Kind]] = [
            ("backend direct", f"{stack.backend_url}{chat}", "chat"),
            ("Envoy pass-through", f"{plain.url}{chat}", "chat"),
            ("reference direct HTTP", f"{http}/v1/responses", "responses"),
            ("reference Envoy+ext_proc", f"{stack.envoy_url}/v1/responses", "responses"),
        ]
        yield stack, plain, watch, paths


def run(args: argparse.Namespace) -> tuple[list[Row], list[MemoryTrend]]:
    rows: list[Row] = []
    trends: list[MemoryTrend] = []
    modes = (False, True) if args.mode is None else (args.mode == "stream",)
    with bench_stack() as (_stack, _plain, watch, paths):
        selected = [p for p in paths if not args.only or any(word in p[0] for word in args.only)]
        for stream in modes:
            rows.extend(measure([Path_(label, url, kind, stream) for label, url, kind in selected],
                                args, watch))
            kind_ = "streaming" if stream else "non-streaming"
            print(f"  measured the {kind_} paths", file=sys.stderr, flush=True)
        if args.memory_requests:
            gateway = watch["gateway"]
            assert isinstance(gateway, int)
            for stream in modes:
                for label, url, kind in selected:
                    if label in GATEWAY_ROWS:
                        trends.append(memory_trend(Path_(label, url, kind, stream), gateway,
                                                   args.memory_requests, args.concurrency))
            print("  measured the gateway's memory", file=sys.stderr, flush=True)
    return rows, trends


def memory_lines(trends: list[MemoryTrend]) -> list[str]:
    if not trends:
        return []
    out = [f"Gateway memory (RSS) while each path serves {trends[0].requests:,}+ requests "
           "(after a warm-up burst; slope of the least-squares line):", ""]
    for t in trends:
        out.append(f"- {t.label} ({'stream' if t.stream else 'json'}): {t.start_kib / 1024:.1f} -> "
                   f"{t.end_kib / 1024:.1f} MiB over {t.requests:,} requests, "
                   f"slope {t.growth_mib_per_10k:+.2f} MiB per 10,000 requests")
    return [*out, ""]


def memory_verdicts(trends: list[MemoryTrend]) -> list[tuple[str, bool, str]]:
    out: list[tuple[str, bool, str]] = []
    for t in trends:
        out.append((f"gateway memory flat over 10,000 requests, {t.label} "
                    f"({'stream' if t.stream else 'json'}): slope <= {MEMORY_FLAT_MIB_PER_10K:g} MiB",
                    t.growth_mib_per_10k <= MEMORY_FLAT_MIB_PER_10K,
                    f"{t.growth_mib_per_10k:+.2f} MiB per 10,000 requests"))
    return out


def report(rows: list[Row], trends: list[MemoryTrend], args: argparse.Namespace, elapsed: float) -> str:
    out = [
        _heading(args, elapsed),
        "",
        table(rows, args),
        "",
        *memory_lines(trends),
        "Targets (reported, never fatal):",
    ]
    for name, met, measured in [*verdicts(rows, args.slow_ms), *memory_verdicts(trends)]:
        out.append(f"- {'PASS' if met else 'MISS'}  {name}: {measured}")
    return "\n".join(out)


def _heading(args: argparse.Namespace, elapsed: float) -> str:
    load = os.getloadavg()
    return (f"Gateway benchmark: {os.cpu_count()} cores (load average {load[0]:.2f} {load[1]:.2f} "
            f"{load[2]:.2f} at the end), Python {platform.python_version()}, Envoy {_envoy_version()}, "
            f"loopback, scripted backend; {args.requests} sequential requests per row (p50), wrk with "
            f"{args.concurrency} connections for {args.duration:g} s per row in {args.rounds} "
            f"interleaved rounds, {args.stream_requests} streams of {args.words} deltas "
            f"{args.slow_ms} ms apart; {elapsed:.0f} s in all.")


# --------------------------------------------------------------------------- replicas

SQLITE_ONE = "Envoy+ext_proc, SQLite, 1 replica"
POSTGRES_ONE = "Envoy+ext_proc, PostgreSQL, 1 replica"


def _postgres_many(n: int) -> str:
    return f"Envoy+ext_proc, PostgreSQL, {n} replicas"


@contextlib.contextmanager
def replica_stacks(replicas: int) -> Iterator[tuple[dict[str, Watched], list[tuple[str, str, Kind]],
                                                    dict[str, tuple[str, ...]]]]:
    """Three stacks on one scripted backend, all behind their own Envoy: the default one
    (SQLite, one gateway), one gateway on PostgreSQL, and `replicas` gateways on PostgreSQL
    (`up --replicas N`: health checks, outlier detection); plus the pass-through Envoy. Yields
    the processes to watch, the (label, URL, kind) paths and each path's route."""
    from devstack.postgres import ThrowawayPostgres
    from devstack.stack import Stack, StackConfig

    with tempfile.TemporaryDirectory() as logs, contextlib.ExitStack() as stacks:
        pg = stacks.enter_context(ThrowawayPostgres.start())
        postmaster = int((pg.data_dir / "postmaster.pid").read_text().split()[0])
        base = stacks.enter_context(Stack(StackConfig(log_dir=f"{logs}/sqlite")))
        plain = stacks.enter_context(passthrough_envoy(base.backend_url))
        one = stacks.enter_context(Stack(StackConfig(
            backend_url=base.backend_url, db=pg.create_database("one"), log_dir=f"{logs}/pg1",
            startup_timeout=120.0)))
        many = stacks.enter_context(Stack(StackConfig(
            backend_url=base.backend_url, db=pg.create_database("many"), replicas=replicas,
            log_dir=f"{logs}/pg{replicas}", startup_timeout=120.0)))
        assert base.backend is not None and base.envoy and one.envoy and many.envoy
        assert base.gateway and one.gateway and many.gateway
        watch: dict[str, Watched] = {
            "backend": base.backend.process.pid, "envoy_plain": plain.pid,
            "envoy@sqlite": base.envoy.pid, "gateway@sqlite": base.gateway.pid,
            "envoy@pg1": one.envoy.pid, "gateway@pg1": one.gateway.pid,
            "envoy@pgN": many.envoy.pid,
            "gateway@pgN": (many.gateway.pid, *(g.pid for g in many.more_gateways)),
            "postgres": ProcessTree(postmaster),
        }
        chat = "/v1/chat/completions"
        paths: list[tuple[str, str, Kind]] = [
            ("Envoy pass-through", f"{plain.url}{chat}", "chat"),
            (SQLITE_ONE, f"{base.envoy_url}/v1/responses", "responses"),
            (POSTGRES_ONE, f"{one.envoy_url}/v1/responses", "responses"),
            (_postgres_many(replicas), f"{many.envoy_url}/v1/responses", "responses"),
        ]
        routes = {
            "Envoy pass-through": ("envoy_plain", "backend"),
            SQLITE_ONE: ("envoy@sqlite", "gateway@sqlite", "backend"),
            POSTGRES_ONE: ("envoy@pg1", "gateway@pg1", "backend", "postgres"),
            _postgres_many(replicas): ("envoy@pgN", "gateway@pgN", "backend", "postgres"),
        }
        yield watch, paths, routes


def run_replicas(args: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    with replica_stacks(args.replicas) as (watch, paths, routes):
        for stream in (False, True) if args.mode is None else (args.mode == "stream",):
            rows.extend(measure([Path_(label, url, kind, stream) for label, url, kind in paths],
                                args, watch, routes))
            print(f"  measured the {'streaming' if stream else 'non-streaming'} paths",
                  file=sys.stderr, flush=True)
    return rows


def replica_table(rows: list[Row], args: argparse.Namespace) -> str:
    base = {r.stream: r for r in rows if r.label == "Envoy pass-through"}
    single = {r.stream: r for r in rows if r.label == POSTGRES_ONE}
    lines = [
        f"| path | mode | req/s @{args.concurrency} | x pass-through | x 1 replica (PostgreSQL) | "
        "p50 / p99 ms under load | sequential p50 ms | CPU ms/req gateways / Envoy / backend / PostgreSQL "
        "| wrk CPU ms/req (core share) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        b, one = base.get(r.stream), single.get(r.stream)
        ratio = r.rps / b.rps if b and b.rps else float("nan")
        scale = f"{r.rps / one.rps:.2f}x" if one and one.rps and r.label != "Envoy pass-through" else "-"
        cpu = " / ".join(_fmt(r.cpu_ms.get(role, r.cpu_ms.get(f"{role}_plain")), 2)
                         for role in ("gateway", "envoy", "backend", "postgres"))
        err = f" ({r.errors} errors)" if r.errors else ""
        mode = "stream" if r.stream else "json"
        lines.append(
            f"| {r.label} | {mode} | {r.rps:,.0f}{err} | {ratio:.2f}x | {scale} | "
            f"{r.load_p50_ms:.1f} / {r.load_p99_ms:.1f} | {r.p50_ms:.2f} | {cpu} | "
            f"{r.wrk_cpu_ms:.3f} ({r.wrk_core_share:.0%}) |")
    return "\n".join(lines)


def replica_report(rows: list[Row], args: argparse.Namespace, elapsed: float) -> str:
    return "\n".join([
        _heading(args, elapsed),
        f"Replicas: the ext_proc path with 1 gateway on SQLite, 1 on PostgreSQL and {args.replicas} "
        "on PostgreSQL (each behind its own Envoy; the PostgreSQL column is every server process of "
        "the throwaway cluster). On a machine whose cores wrk, Envoy and the backend share, more "
        "replicas add throughput only while a core is idle.",
        "",
        replica_table(rows, args),
    ])


# --------------------------------------------------------------------------- profiling


_LINE_RE = re.compile(r":\d+\)$")


def _top_functions(collapsed: str, limit: int = 30) -> str:
    """Own-time and inclusive-time tables from py-spy's collapsed stacks ("a;b;c COUNT")."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        total += count
        # "fn (path/file.py:LINE)" -> "fn (path/file.py)": a function's lines add up.
        frames = [_LINE_RE.sub(")", frame) for frame in stack.split(";")]
        own[frames[-1]] = own.get(frames[-1], 0) + count
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count
    out = [f"{total} samples", "", "own time:"]
    out += [f"{n * 100 / total:6.1f}%  {f}" for f, n in sorted(own.items(), key=lambda x: -x[1])[:limit]]
    out += ["", "inclusive time:"]
    by_inclusive = sorted(inclusive.items(), key=lambda x: -x[1])[:limit]
    out += [f"{n * 100 / total:6.1f}%  {f}" for f, n in by_inclusive]
    return "\n".join(out) + "\n"


def profile(args: argparse.Namespace) -> None:
    """py-spy the gateway process while wrk drives each gateway path (json and stream): a
    flame graph (SVG) and an own/inclusive time table per path in `args.profile`."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    out_dir = Path(args.profile)
    out_dir.mkdir(parents=True, exist_ok=True)
    with bench_stack() as (_stack, _plain, watch, paths), tempfile.TemporaryDirectory() as tmp:
        for label, url, kind in paths:
            if label not in GATEWAY_ROWS:
                continue
            for stream in (False, True):
                path = Path_(label, url, kind, stream)
                body = os.path.join(tmp, "body.json")
                Path(body).write_text(json.dumps(path.body(PROMPT)))
                _wrk(path, args.concurrency, 1, body)  # warm-up
                name = f"{'extproc' if 'ext_proc' in label else 'direct'}-{'stream' if stream else 'json'}"
                name += "-gil" if args.profile_gil else ""
                outputs = {"flamegraph": out_dir / f"{name}.svg", "raw": Path(tmp) / f"{name}.txt"}
                for fmt, target in outputs.items():
                    spy = subprocess.Popen(
                        [py_spy, "record", "--pid", str(watch["gateway"]), "--format", fmt, "--rate", "250",
                         "--duration", str(round(args.duration)), "--nonblocking", "-o", str(target),
                         *(["--gil"] if args.profile_gil else [])],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    _wrk(path, args.concurrency, args.duration, body)
                    spy.wait(timeout=args.duration + 30)
                (out_dir / f"{name}.txt").write_text(_top_functions(outputs["raw"].read_text()))
                print(f"  profiled {name}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- CLI


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/gateway.py", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--requests", type=int, default=200, help="sequential requests per row (p50/p99)")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured requests before each row")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent connections")
    parser.add_argument("--duration", type=float, default=8.0,
                        help="seconds of wrk load per row, split over the rounds")
    parser.add_argument("--wrk-warmup", type=int, default=1, help="unmeasured wrk seconds per row first")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved wrk rounds per row")
    parser.add_argument("--stream-requests", type=int, default=5, help="slow streams per streaming row")
    parser.add_argument("--slow-ms", type=int, default=50, help="backend pause between stream chunks")
    parser.add_argument("--words", type=int, default=5, help="text deltas per slow stream")
    parser.add_argument("--profile-gil", action="store_true",
                        help="with --profile: only samples holding the GIL (CPU spent in Python; without "
                             "it a thread blocked in C, such as the store's, counts as busy), files *-gil.*")
    parser.add_argument("--replicas", type=int, default=1,
                        help="N >= 2: instead of the main table, compare the ext_proc path with 1 "
                             "gateway on SQLite, 1 on PostgreSQL and N on PostgreSQL (a throwaway "
                             "cluster: PostgreSQL's server binaries must be installed)")
    parser.add_argument("--memory-requests", type=int, default=10_000,
                        help="requests per gateway path and mode while its RSS is sampled (0: skip)")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    parser.add_argument("--only", action="append", metavar="WORD",
                        help="only the paths whose label contains WORD (repeatable; for A/B runs)")
    parser.add_argument("--mode", choices=("json", "stream"), help="only this mode (for A/B runs)")
    parser.add_argument("--profile", metavar="DIR",
                        help="py-spy the gateway under wrk load on its two paths instead of benchmarking; "
                             "write flame graphs (SVG) and top-function tables to DIR")
    args = parser.parse_args(argv)
    if args.words < 2:
        parser.error("--words must be at least 2 (spacing needs two deltas)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.profile:
        profile(args)
        return 0
    start = time.perf_counter()
    if args.replicas > 1:
        replica_rows = run_replicas(args)
        print(replica_report(replica_rows, args, time.perf_counter() - start), flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps({"rows": [asdict(r) for r in replica_rows]}, indent=2))
        return 0
    rows, trends = run(args)
    print(report(rows, trends, args, time.perf_counter() - start), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"rows": [asdict(r) for r in rows], "memory": [asdict(t) for t in trends]}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
