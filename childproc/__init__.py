"""One way to run a child process: spawn it, read its output lines, wait for its ready lines,
stop it by PID.

Every launcher of the repository uses it (the gateway and the scripted backend as children of
tests, `responses-gateway up`'s stack, the Envoy launcher, the harness's built-in targets, the
benchmarks). It imports only the standard library, so the harness can use it without importing
the reference gateway.

    with ChildProcess.spawn("backend", [sys.executable, "-m", "fixtures.backend", "--port", "0"]) as child:
        url = child.wait_for(re.compile(r"listening on (\\S+)"), timeout=10).group(1)

The output (stdout, and stderr unless it goes to a log file) is drained on a thread into
`lines`, so a chatty child never blocks on a full pipe. A long-running child gets `keep_lines=N`
(only its last N lines are kept, for error messages) and usually `on_line` (each line handed on
as read, e.g. to a prefixed terminal stream), so its output costs no memory however long it runs.
`die_with_parent=True` (Linux) has the kernel SIGTERM the child when the thread that spawned it
ends, so even a `kill -9` of the parent leaves no child behind. `stop` sends the given signals in
turn, waiting `timeout` after each, and SIGKILLs a child that survives them all.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

__all__ = ["ChildFailed", "ChildProcess", "die_with_parent_supported"]

# prctl(2): "PR_SET_PDEATHSIG: set the parent-death signal of the calling process" -- the signal
# arrives when the parent *thread* that created the child exits, whatever killed it. util-linux's
# `setpriv --pdeathsig SIG -- CMD` sets it and execs CMD. It is used rather than a `preexec_fn`
# calling prctl: Python code between fork and exec is unsafe in a process with threads (gRPC's
# event engine in a process that also spawns children aborted the forked child that way).
_SETPRIV = shutil.which("setpriv") if sys.platform.startswith("linux") else None


def die_with_parent_supported() -> bool:
    """Whether `die_with_parent=True` has an effect here (Linux with util-linux's setpriv)."""
    return _SETPRIV is not None


def _dying_with_parent(cmd: Sequence[str], signum: int) -> list[str]:
    assert _SETPRIV is not None
    return [_SETPRIV, "--pdeathsig", signal.Signals(signum).name.removeprefix("SIG"), "--", *cmd]


def _wait_past_setpriv(pid: int, timeout: float = 5.0) -> None:
    """Return once `setpriv` has set the signal and exec'd the command (or the child ended): a
    parent killed before that would leave a child without its parent-death signal."""
    setpriv = os.path.realpath(_SETPRIV or "")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.readlink(f"/proc/{pid}/exe") != setpriv:
                return
        except OSError:  # gone, or not readable: nothing left to wait for
            return
        time.sleep(0.001)


class ChildFailed(RuntimeError):
    """The child exited, or printed no expected line in time; the message shows its output."""


class ChildProcess:
    """A running child process whose output lines are collected on a thread."""

    def __init__(self, name: str, popen: subprocess.Popen[str], cmd: Sequence[str],
                 log_path: Path | None = None, *, keep_lines: int | None = None,
                 on_line: Callable[[str], None] | None = None) -> None:
        self.name = name
        self.popen = popen
        self.cmd = list(cmd)
        self.log_path = log_path
        self.lines: list[str] | deque[str] = [] if keep_lines is None else deque(maxlen=keep_lines)
        """Output lines without their line ends, in order (only the last `keep_lines` if given)."""
        self.line_count = 0
        """How many lines were read in all (more than `len(lines)` once `keep_lines` drops some)."""
        self._on_line = on_line
        self._eof = False
        self._cond = threading.Condition()
        self._reader: threading.Thread | None = None
        if popen.stdout is not None:
            self._reader = threading.Thread(target=self._drain, args=(popen.stdout,),
                                            name=f"{name} output", daemon=True)
            self._reader.start()

    @classmethod
    def spawn(
        cls,
        name: str,
        cmd: Sequence[str],
        *,
        stderr: Path | bool = True,
        stdout: Path | None = None,
        env: Mapping[str, str] | None = None,
        keep_lines: int | None = None,
        on_line: Callable[[str], None] | None = None,
        die_with_parent: bool = False,
    ) -> ChildProcess:
        """Start `cmd` (stdin closed, Python children unbuffered).

        `stdout`: a log file to write the output to instead of reading it. `stderr`: True merges
        it into the lines read, a path appends it to that file, False leaves it to the parent.
        `keep_lines`: keep only that many last lines. `on_line`: called (on the reader thread)
        with every line read. `die_with_parent`: SIGTERM the child when the calling thread ends
        (Linux PR_SET_PDEATHSIG; ignored elsewhere), so spawn long-lived children from a thread
        that lives as long as they should, such as the main thread.
        """
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        log: IO[bytes] | None = None
        out: IO[bytes] | int | None = subprocess.PIPE
        err: IO[bytes] | int | None = None
        if stdout is not None:
            log = open(stdout, "ab")  # noqa: SIM115 - the child holds it; closed below
            out, err = log, subprocess.STDOUT
        elif isinstance(stderr, Path):
            log = open(stderr, "ab")  # noqa: SIM115
            err = log
        elif stderr:
            err = subprocess.STDOUT
        try:
            argv = _dying_with_parent(cmd, signal.SIGTERM) if die_with_parent and _SETPRIV else list(cmd)
            popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                     text=True, bufsize=1, env=full_env)
            if die_with_parent and _SETPRIV:
                _wait_past_setpriv(popen.pid)
        finally:
            if log is not None:
                log.close()  # the child has its own descriptor
        log_path = stdout if stdout is not None else stderr if isinstance(stderr, Path) else None
        return cls(name, popen, cmd, log_path, keep_lines=keep_lines, on_line=on_line)

    # --- output ------------------------------------------------------------------------------

    def _drain(self, stream: IO[str]) -> None:
        for raw in stream:
            line = raw.rstrip("\n")
            if self._on_line is not None:
                self._on_line(line)
            with self._cond:
                self.lines.append(line)
                self.line_count += 1
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    @property
    def output(self) -> str:
        """Everything read so far, one line per line."""
        with self._cond:
            return "".join(line + "\n" for line in self.lines)

    def wait_for_all(self, patterns: Mapping[str, re.Pattern[str]], required: Sequence[str] | None = None,
                     timeout: float = 20.0) -> dict[str, re.Match[str]]:
        """Wait until each `required` pattern (default: all) matched a line; return the first
        match of every pattern seen by then. Raises `ChildFailed` when the child exits or
        the time runs out first."""
        needed = list(patterns) if required is None else list(required)
        found: dict[str, re.Match[str]] = {}
        deadline = time.monotonic() + timeout
        seen = 0  # of line_count: lines dropped by keep_lines before we looked are not searched
        with self._cond:
            while True:
                fresh = min(self.line_count - seen, len(self.lines))
                for line in itertools.islice(self.lines, len(self.lines) - fresh, None):
                    for key, rx in patterns.items():
                        match = rx.search(line)
                        if match and key not in found:
                            found[key] = match
                seen = self.line_count
                if all(key in found for key in needed):
                    return found
                ended = self._eof or (self._reader is None and self.popen.poll() is not None)
                if ended and self.popen.poll() is not None:
                    raise ChildFailed(self.failure(
                        f"exited with code {self.popen.returncode}", [k for k in needed if k not in found]))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ChildFailed(self.failure(
                        f"printed no ready line within {timeout:g}s", [k for k in needed if k not in found]))
                self._cond.wait(min(left, 0.2))

    def wait_for(self, pattern: re.Pattern[str], timeout: float = 20.0) -> re.Match[str]:
        """The first line matching `pattern` (see `wait_for_all`)."""
        return self.wait_for_all({"line": pattern}, timeout=timeout)["line"]

    def failure(self, what: str, missing: Sequence[str] = ()) -> str:
        """A message naming the child, what went wrong, its command and its last output."""
        with self._cond:
            tail = "\n".join("    " + line for line in list(self.lines)[-20:]) or "    (no output)"
        log_tail = ""
        if self.log_path is not None and self.log_path.exists():
            logged = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
            label = "last log lines" if self.popen.stdout is None else "last stderr"
            log_tail = f"\n  {label}:\n" + ("\n".join("    " + ln for ln in logged) or "    (none)")
        expected = f"; still expected lines for {list(missing)}" if missing else ""
        return (f"{self.name} {what}{expected} (command: {shlex.join(self.cmd)})\n"
                f"  last output:\n{tail}{log_tail}")

    # --- process -----------------------------------------------------------------------------

    @property
    def pid(self) -> int:
        return self.popen.pid

    def poll(self) -> int | None:
        return self.popen.poll()

    def wait(self, timeout: float | None = None) -> int:
        return self.popen.wait(timeout)

    def stop(self, signals: Sequence[int] = (signal.SIGTERM,), timeout: float = 10.0) -> int:
        """Send `signals` in turn by PID (waiting `timeout` after each), SIGKILL if the child is
        still running, then close its pipe; return its exit code."""
        for sig in signals:
            if self.popen.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.popen.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout)
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.popen.pid, signal.SIGKILL)
            self.popen.wait(max(timeout, 5.0))  # SIGKILL cannot be ignored: this is quick
        if self._reader is not None:
            self._reader.join(timeout)
        if self.popen.stdout is not None:
            self.popen.stdout.close()
        return self.popen.returncode

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
