"""`responses-gateway up`: the gateway, a real Envoy and (without a backend URL) the scripted
backend, all on localhost: the no-Docker equivalent of the seed's `docker-compose up`.

    with Stack(StackConfig()) as stack:     # or stack.start() / stack.stop()
        print(stack.envoy_url)

`run_up(config)` is the CLI hook: it checks that the fixed ports are free (one line naming a
taken one, exit 1, nothing started), starts the stack, prints the lines below on stdout (flushed)
and supervises it until Ctrl-C / SIGTERM, then stops everything it started, by PID:

    envoy: http://127.0.0.1:PORT
    admin: http://127.0.0.1:PORT
    extproc: 127.0.0.1:PORT
    http: http://127.0.0.1:PORT
    backend: URL
    store: PATH (or "temporary ...")
    logs: DIR                      (with --log-dir only)
    replica 2: http http://127.0.0.1:PORT, extproc 127.0.0.1:PORT      (with --replicas 2)
    try: curl ...

`--replicas N` (`StackConfig.replicas`) starts N gateway processes on one PostgreSQL database
(`--db postgresql://...`) and one shared files directory, all behind the one Envoy, which checks
their health and takes a dead one out of rotation (`gateway_envoy.launcher.render`).

Every part is a child process (`childproc.ChildProcess`; the gateway is `python -m reference.cli
serve`), so tests can kill one part (the ext_proc server, the backend) to check the error paths.
The stack is their supervisor:

- Output: every child's lines go to stderr prefixed with its name (`gateway | ...`), or with
  `log_dir` to `DIR/gateway.log`, `DIR/envoy.log`, `DIR/backend.log`; `up` keeps only each
  child's last lines (for error messages), so a long run costs no memory for logs.
- Crashes: a gateway that exits is restarted on the same ports (Envoy's config names them), at
  most `max_restarts` times within `restart_window` seconds, each with a message; past that, or
  when Envoy or the scripted backend exits, `up` stops everything and exits 1.
- Parent death: every child is spawned with PR_SET_PDEATHSIG (`die_with_parent`), so even a
  `kill -9` of `up` takes them down. The signal follows the *thread* that spawned a child: start
  and supervise a stack from one long-lived thread (the main thread in `up` and in tests).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import re
import signal
import socket
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO
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

from childproc import ChildFailed, ChildProcess
from fixtures.backend.server import LISTENING_PREFIX as BACKEND_LISTENING_PREFIX
from fixtures.backend.server import SubprocessHandle
from reference.cli import add_backend_api_argument
from reference.config import DEFAULT_BACKEND_TIMEOUT, DEFAULT_DB, DEFAULT_EXTPROC_PORT, PROFILES

_HTTP_RE = re.compile(r"HTTP on (http://\S+?)(?:/v1)?\s*$")
_EXTPROC_RE = re.compile(r"ext_proc gRPC on \[?([^\]\s]+?)\]?:(\d+)\s*$")
_BACKEND_RE = re.compile(re.escape(BACKEND_LISTENING_PREFIX) + r"(\S+)")

# `responses-gateway up`'s fixed ports (a user running it plainly gets the same addresses every
# time; tests pass 0 / `auto`). StackConfig's own defaults stay 0: free ports.
DEFAULT_UP_ENVOY_PORT = 8080
DEFAULT_UP_ADMIN_PORT = 9901
DEFAULT_UP_HTTP_PORT = 8081
DEFAULT_UP_EXTPROC_PORT = DEFAULT_EXTPROC_PORT  # 10000, as `serve`
# How many of a child's last output lines `up` keeps for error messages.
KEPT_LINES = 200


@dataclass
class StackConfig:
    backend_url: str | None = None
    """None: start the scripted backend (python -m fixtures.backend) on a free port."""
    envoy_port: int = 0
    admin_port: int = 0
    http_port: int = 0
    extproc_port: int = 0
    db: str | None = None
    """SQLite file; None: a temporary file removed on stop (`up` defaults to a file in the
    working directory, `--ephemeral` for this)."""
    mode: Mode = "streamed"
    request_mode: RequestMode = "buffered"
    max_body_bytes: int = DEFAULT_REQUEST_BUFFER_LIMIT
    """Envoy's request buffer limit, given to the gateway too: a too-large body is a 413 on both
    paths."""
    backend_timeout: float = DEFAULT_BACKEND_TIMEOUT
    backend_api_key_env: str | None = None
    backend_api: str = "chat"
    """What the model backend speaks (`responses-gateway serve --backend-api`)."""
    envoy_log_level: str = "warning"
    startup_timeout: float = 30.0
    extra_gateway_args: list[str] = field(default_factory=list)
    profile: str = "openai"
    """Streaming dialect where the specs disagree (see `responses-gateway serve --profile`)."""
    gateway_log_level: str = "INFO"
    log_dir: str | None = None
    """Each child's output to `DIR/NAME.log` (created if missing); None: to `log_stream`."""
    log_stream: IO[str] | None = None
    """Where prefixed child lines go without `log_dir`; None: the current `sys.stderr`."""
    kept_lines: int = KEPT_LINES
    """How many of each child's last output lines are kept in memory (for error messages)."""
    replicas: int = 1
    """Gateway processes behind Envoy; more than one needs a shared database (postgresql://)."""
    max_restarts: int = 3
    restart_window: float = 60.0
    """A gateway that exits is restarted at most `max_restarts` times within this many seconds."""

    def __post_init__(self) -> None:
        if self.replicas < 1:
            raise ValueError("replicas must be at least 1")
        if self.replicas > 1 and not (self.db or "").startswith(("postgresql://", "postgres://")):
            raise ValueError("--replicas above 1 needs a shared database: --db postgresql://...")


class PortInUse(OSError):
    """A fixed port of the stack is taken; `str()` is the one line `up` prints."""

    def __init__(self, port: int, option: str) -> None:
        super().__init__(errno.EADDRINUSE, f"port {port} ({option}) is already in use on 127.0.0.1; "
                         f"stop what holds it or choose another port ({option} auto: a free one)")
        self.port = port
        self.option = option

    def __str__(self) -> str:
        return str(self.strerror)


def check_ports_free(ports: dict[str, int], host: str = "127.0.0.1") -> None:
    """Raise `PortInUse` for the first fixed (non-zero) port another socket is listening on, or
    that two options name. Probes bind without SO_REUSEPORT, so a holder that set it still
    counts as taken; SO_REUSEADDR keeps closed connections (TIME_WAIT) from counting."""
    with contextlib.ExitStack() as held:
        for option, port in ports.items():
            if not port:
                continue
            probe = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
                probe.listen(1)
            except OSError as exc:
                if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                    raise PortInUse(port, option) from None
                raise


class RestartBudget:
    """At most `limit` restarts within any `window` seconds (sans-IO: the caller gives the time)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._times: deque[float] = deque()

    def take(self, now: float) -> bool:
        """Record a restart at `now` if the budget allows one; False once it is spent."""
        while self._times and self._times[0] <= now - self.window:
            self._times.popleft()
        if len(self._times) >= self.limit:
            return False
        self._times.append(now)
        return True

    @property
    def used(self) -> int:
        return len(self._times)


class LogRelay:
    """Child output lines to a terminal stream with a name prefix (`gateway | ...`), or to one
    file per child under a directory. Lines from several reader threads never interleave."""

    def __init__(self, log_dir: str | None = None, stream: IO[str] | None = None) -> None:
        self.log_dir = Path(log_dir) if log_dir else None
        self._stream = stream
        self._lock = threading.Lock()
        self._files: list[IO[str]] = []
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path | None:
        return self.log_dir / f"{name}.log" if self.log_dir is not None else None

    def sink(self, name: str) -> Callable[[str], None]:
        path = self.path(name)
        if path is not None:
            fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()
            self._files.append(fh)

            def to_file(line: str) -> None:
                with self._lock:
                    fh.write(line + "\n")
                    fh.flush()

            return to_file
        prefix = f"{name:<7} | "

        def to_stream(line: str) -> None:
            stream = self._stream or sys.stderr
            with self._lock, contextlib.suppress(ValueError, OSError):  # closed at exit
                stream.write(prefix + line + "\n")
                stream.flush()

        return to_stream

    def close(self) -> None:
        with self._lock:
            for fh in self._files:
                fh.close()
            self._files.clear()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _without_password(db: str) -> str:
    """A database URL as it may be printed (a password in it replaced by ***)."""
    parts = urlsplit(db)
    if "://" not in db or parts.password is None:
        return db
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)).geturl()


def _say(line: str) -> None:
    print(f"responses-gateway up: {line}", file=sys.stderr, flush=True)


class Stack:
    """Scripted backend (optional) + gateway (HTTP and ext_proc) + Envoy, started in that order,
    and their supervisor (`supervise`)."""

    def __init__(self, config: StackConfig | None = None, *, say: Callable[[str], None] = _say) -> None:
        self.config = config or StackConfig()
        self.say = say
        """Where the supervisor's own messages (restarts, exits) go."""
        self.backend: SubprocessHandle | None = None
        self.backend_url = self.config.backend_url or ""
        self.gateway: ChildProcess | None = None
        """The first replica."""
        self.more_gateways: list[ChildProcess] = []
        """Replicas 2..N (`--replicas`)."""
        self.more_addresses: list[tuple[int, int]] = []
        """(HTTP port, ext_proc port) of replicas 2..N on 127.0.0.1."""
        self._shared_args: list[str] = []
        self.envoy: EnvoyProcess | None = None
        self.http_url = ""
        self.extproc_host = "127.0.0.1"
        self.extproc_port = 0
        self.db_path = ""
        self.restarts = RestartBudget(self.config.max_restarts, self.config.restart_window)
        self.logs = LogRelay(self.config.log_dir, self.config.log_stream)
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
        store = _without_password(self.db_path)
        if self._tmp is not None:
            store += " (temporary: removed on stop)"
        return [
            f"envoy: {self.envoy_url}",
            f"admin: {self.admin_url}",
            f"extproc: {self.extproc_host}:{self.extproc_port}",
            f"http: {self.http_url}",
            f"backend: {self.backend_url}",
            f"store: {store}",
            *([f"logs: {self.logs.log_dir}"] if self.logs.log_dir is not None else []),
            *(f"replica {n}: http http://127.0.0.1:{http}, extproc {self.extproc_host}:{extproc}"
              for n, (http, extproc) in enumerate(self.more_addresses, 2)),
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

    def fixed_ports(self) -> dict[str, int]:
        """The ports asked for, by `up` option (0: a free one is picked)."""
        cfg = self.config
        return {"--envoy-port": cfg.envoy_port, "--admin-port": cfg.admin_port,
                "--http-port": cfg.http_port, "--extproc-port": cfg.extproc_port}

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Stack:
        """Start every part; `PortInUse` (before anything starts) when a fixed port is taken."""
        if self.gateway is not None and self.gateway.poll() is None:
            # Already running (`with stack.start():` enters after start): a second start would
            # orphan the first set of processes.
            return self
        check_ports_free(self.fixed_ports())
        try:
            self._start_backend()
            self._start_gateway()
            self._start_envoy()
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, name: str, cmd: list[str]) -> ChildProcess:
        return ChildProcess.spawn(name, cmd, keep_lines=self.config.kept_lines, on_line=self.logs.sink(name),
                                  die_with_parent=True)

    def _start_backend(self) -> None:
        if self.config.backend_url:
            return
        cmd = [sys.executable, "-m", "fixtures.backend", "--port", "0", "--host", "127.0.0.1"]
        child = self._spawn("backend", cmd)
        self.backend = SubprocessHandle(child, "")
        url = child.wait_for(_BACKEND_RE, self.config.startup_timeout).group(1)
        self.backend.url = self.backend_url = url

    def _gateway_command(self, http_port: int, extproc_port: int) -> list[str]:
        cfg = self.config
        cmd = [
            sys.executable, "-m", "reference.cli", "serve",
            "--backend-url", self.backend_url,
            "--http-port", str(http_port),
            "--extproc-port", str(extproc_port),
            "--host", "127.0.0.1",
            "--db", self.db_path,
            "--max-body-bytes", str(cfg.max_body_bytes),
            "--backend-timeout", f"{cfg.backend_timeout:g}",
            "--log-level", cfg.gateway_log_level,
            "--profile", cfg.profile,
            "--backend-api", cfg.backend_api,
            *cfg.extra_gateway_args,
            *self._shared_args,
        ]
        if cfg.backend_api_key_env:
            cmd += ["--backend-api-key-env", cfg.backend_api_key_env]
        return cmd

    def _start_gateway(self) -> None:
        cfg = self.config
        if cfg.db is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="responses-gateway-up-")
            self.db_path = os.path.join(self._tmp.name, "responses.sqlite3")
        else:
            # A file is printed with its full path (the banner's `store:` line); a database URL
            # (`postgresql://...`) is passed on as given.
            self.db_path = cfg.db if "://" in cfg.db else os.path.abspath(cfg.db)
        if cfg.replicas > 1:
            # Uploaded file bytes live on local disk: every replica must see the same ones.
            if self._tmp is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="responses-gateway-up-")
            self._shared_args = ["--files-dir", os.path.join(self._tmp.name, "files")]
        # The issue text reserves `--extproc-port 0` for "disabled", so a free port is picked
        # here rather than asked of the gateway.
        self._run_gateway(cfg.http_port, cfg.extproc_port or _free_port())
        for _ in range(cfg.replicas - 1):
            self.more_gateways.append(self._run_replica(len(self.more_gateways), 0, _free_port()))

    def _run_replica(self, index: int, http_port: int, extproc_port: int) -> ChildProcess:
        """Start replica `index + 2` (HTTP port 0: a free one); record its ports."""
        child = self._spawn(f"gateway-{index + 2}", self._gateway_command(http_port, extproc_port))
        found = child.wait_for_all({"extproc": _EXTPROC_RE, "http": _HTTP_RE},
                                   timeout=self.config.startup_timeout)
        ports = (urlsplit(found["http"].group(1)).port or 80, int(found["extproc"].group(2)))
        if index < len(self.more_addresses):
            self.more_addresses[index] = ports
        else:
            self.more_addresses.append(ports)
        return child

    def _run_gateway(self, http_port: int, extproc_port: int) -> None:
        self.gateway = self._spawn("gateway", self._gateway_command(http_port, extproc_port))
        found = self.gateway.wait_for_all({"extproc": _EXTPROC_RE, "http": _HTTP_RE},
                                          timeout=self.config.startup_timeout)
        self.extproc_host, self.extproc_port = found["extproc"].group(1), int(found["extproc"].group(2))
        self.http_url = found["http"].group(1)

    def restart_gateway(self) -> None:
        """Start the gateway again on the ports Envoy was configured with."""
        if self.gateway is not None:
            self.gateway.stop()
        self._run_gateway(urlsplit(self.http_url).port or 0, self.extproc_port)

    def envoy_process(self, config: str) -> EnvoyProcess:
        """An Envoy for `config` that logs where the stack's children log and dies with it."""
        log_path = self.logs.path("envoy")
        return EnvoyProcess(config, log_level=self.config.envoy_log_level,
                            ready_timeout=self.config.startup_timeout, log_path=log_path,
                            on_line=None if log_path else self.logs.sink("envoy"), die_with_parent=True)

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
            more_replicas=self.more_addresses,
            backend_api=cfg.backend_api,
        )
        self.envoy = self.envoy_process(config)
        self.envoy.start()

    def supervise(self, now: float | None = None) -> str | None:
        """One supervision step: restart a gateway that exited (within the restart budget);
        return why the stack cannot go on (a message), or None while it runs."""
        if self.backend is not None and (code := self.backend.child.poll()) is not None:
            return f"the scripted backend exited with code {code}"
        envoy = self.envoy.child if self.envoy is not None else None
        if envoy is not None and (code := envoy.poll()) is not None:
            return f"envoy exited with code {code}"
        for index, replica in enumerate(self.more_gateways):
            if (code := replica.poll()) is not None:
                # Envoy keeps the dead one out of rotation meanwhile; it comes back on its ports.
                now = time.monotonic() if now is None else now
                if not self.restarts.take(now):
                    return f"gateway replica {index + 2} exited with code {code}: giving up"
                self.say(f"gateway replica {index + 2} exited with code {code}; restarting it")
                try:
                    self.more_gateways[index] = self._run_replica(index, *self.more_addresses[index])
                except ChildFailed as exc:
                    return f"gateway replica {index + 2} could not be restarted: {exc}"
        if self.gateway is None or (code := self.gateway.poll()) is None:
            return None
        now = time.monotonic() if now is None else now
        if not self.restarts.take(now):
            return (f"the gateway exited with code {code}, after {self.restarts.limit} restarts within "
                    f"{self.restarts.window:g} s: giving up")
        self.say(f"the gateway exited with code {code}; restarting it (restart {self.restarts.used} of at "
                 f"most {self.restarts.limit} within {self.restarts.window:g} s)")
        try:
            self.restart_gateway()
        except ChildFailed as exc:
            return f"the gateway could not be restarted: {exc}"
        self.say(f"the gateway is back: HTTP on {self.http_url}, ext_proc on "
                 f"{self.extproc_host}:{self.extproc_port}")
        return None

    def pids(self) -> dict[str, int]:
        """The PIDs of the running children, by name."""
        children = {"backend": self.backend.child if self.backend else None, "gateway": self.gateway,
                    "envoy": self.envoy.child if self.envoy else None}
        children.update({f"gateway-{n}": child for n, child in enumerate(self.more_gateways, 2)})
        return {name: child.pid for name, child in children.items() if child is not None}

    def stop(self) -> None:
        """Stop what was started, in reverse order, each by PID."""
        if self.envoy is not None:
            self.envoy.stop()
        for replica in reversed(self.more_gateways):
            replica.stop()
        self.more_gateways.clear()
        if self.gateway is not None:
            self.gateway.stop()
        if self.backend is not None:
            self.backend.stop()
        self.logs.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    def _on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_up(config: StackConfig | None = None, *, poll_interval: float = 0.5) -> int:
    """The `responses-gateway up` hook: start, print the banner, supervise until Ctrl-C /
    SIGTERM (exit 0) or a part that cannot go on (exit 1)."""
    stop = threading.Event()
    stack = Stack(config)
    with _stop_on_signals(stop):
        try:
            try:
                stack.start()
            except (OSError, RuntimeError) as exc:
                _say(f"error: {exc}")
                return 1
            for line in stack.banner():
                print(line, flush=True)
            while not stop.is_set():
                failure = stack.supervise()
                if failure is not None:
                    _say(f"{failure}; stopping everything")
                    return 1
                stop.wait(poll_interval)
            return 0
        finally:
            stack.stop()


def _port_or_auto(text: str) -> int:
    if text == "auto":
        return 0
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number or 'auto', got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is out of range")
    return port


def add_up_arguments(parser: argparse.ArgumentParser) -> None:
    """The `up` subcommand's options (cli.py: `add_up_arguments(sub.add_parser("up"))`)."""
    parser.add_argument(
        "--backend-url",
        help="OpenAI-compatible model server (default: start the scripted fixtures.backend on a free port)",
    )
    parser.add_argument("--envoy-port", type=_port_or_auto, default=DEFAULT_UP_ENVOY_PORT,
                        help="Envoy listener port, what clients call (default %(default)s; 'auto' or 0: "
                        "a free one)")
    parser.add_argument("--admin-port", type=_port_or_auto, default=DEFAULT_UP_ADMIN_PORT,
                        help="Envoy admin port (default %(default)s; 'auto' or 0: a free one)")
    parser.add_argument("--http-port", type=_port_or_auto, default=DEFAULT_UP_HTTP_PORT,
                        help="gateway HTTP port, Envoy's upstream for every route but create "
                        "(default %(default)s; 'auto' or 0: a free one)")
    parser.add_argument("--extproc-port", type=_port_or_auto, default=DEFAULT_UP_EXTPROC_PORT,
                        help="gateway ext_proc gRPC port (default %(default)s; 'auto' or 0: a free one)")
    parser.add_argument("--profile", choices=PROFILES, default="openai",
                        help="streaming dialect where the specs disagree (default %(default)s)")
    store = parser.add_mutually_exclusive_group()
    store.add_argument("--db", default=DEFAULT_DB,
                       help="SQLite file, kept across runs (default %(default)s in the working directory)")
    store.add_argument("--ephemeral", action="store_true",
                       help="use a temporary database, removed when `up` stops")
    parser.add_argument("--log-dir", metavar="DIR", default=None,
                        help="write each child's output to DIR/gateway.log, DIR/envoy.log, DIR/backend.log "
                        "(default: to stderr, each line prefixed with the child's name)")
    parser.add_argument("--log-level", default="INFO", help="the gateway's log level (default %(default)s)")
    parser.add_argument("--max-restarts", type=int, default=3, metavar="N",
                        help="restart a gateway that exits at most N times within 60 s, then stop "
                        "everything and exit 1 (default %(default)s; 0: exit on the first crash)")
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
    parser.add_argument("--replicas", type=int, default=1,
                        help="gateway processes behind the one Envoy (default 1; more need --db "
                        "postgresql://...)")


def up_command(args: argparse.Namespace) -> int:
    """Run `up` from parsed arguments (cli.py: `return up_command(args)`)."""
    refusal = request_mode_refusal(args.request_mode)
    if refusal is not None:
        # Refused before anything starts: the rendered config could not stream.
        print(f"responses-gateway up: error: {refusal}", file=sys.stderr, flush=True)
        return 2
    try:
        config = StackConfig(
            backend_url=args.backend_url,
            envoy_port=args.envoy_port,
            admin_port=args.admin_port,
            http_port=args.http_port,
            extproc_port=args.extproc_port,
            db=None if args.ephemeral else args.db,
            mode=args.mode,
            request_mode=args.request_mode,
            max_body_bytes=args.max_body_bytes,
            backend_timeout=args.backend_timeout,
            backend_api_key_env=args.backend_api_key_env,
            backend_api=getattr(args, "backend_api", "chat"),
            envoy_log_level=args.envoy_log_level,
            profile=args.profile,
            gateway_log_level=args.log_level,
            max_restarts=args.max_restarts,
            log_dir=args.log_dir,
            replicas=args.replicas,
            extra_gateway_args=[arg for url in args.mcp_allow_url for arg in ("--mcp-allow-url", url)]
            + (["--api-keys", args.api_keys] if args.api_keys else [])
            + ["--log-format", getattr(args, "log_format", "text")]
            + [arg for name in ("embedding_url", "embedding_api_key_env", "embedding_model",
                                "embedding_dimensions")
               if getattr(args, name, None) is not None
               for arg in ("--" + name.replace("_", "-"), str(getattr(args, name)))],
        )
    except ValueError as exc:
        print(f"responses-gateway up: error: {exc}", file=sys.stderr, flush=True)
        return 2
    return run_up(config)


def main(argv: list[str] | None = None) -> int:
    """`python -m devstack.stack [options]`: the same as `responses-gateway up`."""
    parser = argparse.ArgumentParser(prog="responses-gateway up", description=__doc__.split("\n\n")[0])
    add_up_arguments(parser)
    add_backend_api_argument(parser)
    return up_command(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
