"""`childproc.ChildProcess`: bounded output for long-running children, lines handed on as read,
and children that die with their parent even when it is SIGKILLed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from childproc import ChildProcess, die_with_parent_supported


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by init) counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_keep_lines_bounds_memory_while_every_line_is_handed_on() -> None:
    # A chatty child (5,000 lines of 4 KB, ~20 MB in all: what a failing request's traceback
    # costs, many times over) must cost its parent a bounded buffer, not its whole output.
    script = "import sys\nfor i in range(5000): print(f'{i:05d} ' + 'x' * 4000)\nprint('done')"
    handed: list[int] = []
    with ChildProcess.spawn("chatty", [sys.executable, "-c", script], keep_lines=50,
                            on_line=lambda line: handed.append(len(line))) as child:
        child.wait_for(re.compile(r"^done$"), timeout=60)
        assert child.wait(30) == 0
    assert len(handed) == 5001 and child.line_count == 5001
    assert len(child.lines) == 50
    assert sum(len(line) for line in child.lines) < 50 * 4010
    assert child.lines[-1] == "done" and child.lines[0].startswith("04951 ")


def test_wait_for_still_finds_a_ready_line_among_kept_lines() -> None:
    script = "print('noise'); print('ready on 42', flush=True); import time; time.sleep(30)"
    with ChildProcess.spawn("ready", [sys.executable, "-c", script], keep_lines=2) as child:
        assert child.wait_for(re.compile(r"ready on (\d+)"), timeout=20).group(1) == "42"


@pytest.mark.skipif(not die_with_parent_supported(), reason="PR_SET_PDEATHSIG is Linux-only")
@pytest.mark.parametrize("die_with_parent", [True, False])
def test_a_child_spawned_to_die_with_its_parent_dies_on_kill_9_of_the_parent(die_with_parent: bool) -> None:
    # The parent spawns a sleeper, prints its PID and waits; we SIGKILL the parent (no cleanup
    # code can run) and the sleeper must go too -- and, as a control, stays without the flag.
    parent_code = textwrap.dedent(f"""
        import sys, time
        from childproc import ChildProcess
        child = ChildProcess.spawn("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"],
                                   die_with_parent={die_with_parent})
        print(child.pid, flush=True)
        time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    sleeper = int(parent.stdout.readline())
    try:
        assert _alive(sleeper)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        # The signal is immediate; the control case only needs a moment to show it stays.
        deadline = time.monotonic() + (10 if die_with_parent else 1)
        while time.monotonic() < deadline and _alive(sleeper):
            time.sleep(0.05)
        assert _alive(sleeper) is not die_with_parent
    finally:
        if _alive(sleeper):
            os.kill(sleeper, signal.SIGKILL)
        parent.stdout.close()
