"""The mutant runner: scoring rules on synthetic reports, and a smoke run of the real thing
(reference + proxies + harness CLI) on three mutants and a small case selection."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from fixtures.mutants.catalog import get_mutant
from fixtures.mutants.run import HarnessRun, MutantResult, Summary, killers_of, read_index

ROOT = Path(__file__).resolve().parents[1]


def run_of(**verdicts: tuple[str, str]) -> HarnessRun:
    """case id (dots written as __) -> (level, verdict)."""
    return HarnessRun(
        {k.replace("__", "."): {"level": lvl, "verdict": v} for k, (lvl, v) in verdicts.items()}, 0, ""
    )


BASE = run_of(
    a__must=("MUST", "PASS"),
    b__must=("MUST", "PASS"),
    c__should=("SHOULD", "PASS"),
    d__info=("INFO", "PASS"),
    e__skipped=("MUST", "SKIPPED"),
)


def test_must_fail_kills_error_does_not() -> None:
    mt = get_mutant("sse.swap-events")  # a MUST-level rule
    assert killers_of(mt, BASE, run_of(a__must=("MUST", "FAIL"), b__must=("MUST", "ERROR"))) == ["a.must"]
    assert killers_of(mt, BASE, run_of(b__must=("MUST", "ERROR"))) == []
    # a case that did not PASS on the healthy baseline proves nothing
    assert killers_of(mt, BASE, run_of(e__skipped=("MUST", "FAIL"))) == []
    # a SHOULD case going NON_STRICT does not kill a mutant of a MUST rule
    assert killers_of(mt, BASE, run_of(c__should=("SHOULD", "NON_STRICT"))) == []


def test_should_and_info_rules() -> None:
    should = get_mutant("sse.event-name-mismatch")
    assert should.level == "SHOULD"
    assert killers_of(should, BASE, run_of(c__should=("SHOULD", "NON_STRICT"))) == ["c.should"]
    assert killers_of(should, BASE, run_of(d__info=("INFO", "NON_STRICT"))) == []
    info = get_mutant("sse.done-spurious")
    assert info.level == "INFO"
    assert killers_of(info, BASE, run_of(d__info=("INFO", "NON_STRICT"))) == ["d.info"]


def test_summary_kill_rate_weak_cases_and_exit() -> None:
    killed = MutantResult(get_mutant("sse.swap-events"), ["a.must"], {})
    survivor = MutantResult(get_mutant("sse.sequence-gap"), [], {})
    s = Summary([killed, survivor], {"openai": BASE}, BASE)
    assert s.kill_rate == 0.5 and [r.mutant.id for r in s.survived] == ["sse.sequence-gap"]
    assert s.weak_cases() == ["b.must"]  # PASSed on the baseline, killed nothing; SHOULD/INFO not listed
    assert s.case_kills()["a.must"] == ["sse.swap-events"]
    assert s.exit_code() == 1
    full = Summary(
        [killed, MutantResult(get_mutant("sse.sequence-gap"), ["b.must"], {})], {"openai": BASE}, BASE
    )
    assert full.kill_rate == 1.0 and full.weak_cases() == [] and full.exit_code() == 0
    # a MUST case failing on the healthy target makes the run fail whatever the kill rate
    sick = run_of(a__must=("MUST", "FAIL"))
    assert Summary(full.results, {"openai": BASE}, sick).exit_code() == 1
    json.dumps(full.as_dict())  # serialisable


def test_read_index_accepts_both_shapes(tmp_path: Path) -> None:
    flat = {"x.y": {"verdict": "PASS", "level": "MUST"}}
    (tmp_path / "a.json").write_text(json.dumps(flat))
    (tmp_path / "b.json").write_text(json.dumps({"target": "t", "cases": flat}))
    assert read_index(tmp_path / "a.json") == flat == read_index(tmp_path / "b.json")


def test_runner_smoke(tmp_path: Path) -> None:
    """Two mutants the selected cases catch, one they cannot (a gap in sequence numbers still
    'strictly increases'): kill rate 2/3, exit 1, and the survivor named."""
    out = tmp_path / "mutants.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "fixtures.mutants",
            "--only",
            "sse.content-type-json,state.delete-not-deleting,sse.sequence-gap",
            "--cases",
            "responses.stream.content-type,responses.stream.sequence-monotonic,state.delete-*",
            "--no-openapi",
            "--json",
            str(out),
            "--workdir",
            str(tmp_path / "work"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=400,
    )
    assert out.exists(), proc.stdout + proc.stderr
    data: dict[str, Any] = json.loads(out.read_text())
    assert proc.returncode == 1, proc.stdout
    assert data["healthy_problems"] == {}, data["healthy_problems"]
    assert sorted(data["killed"]) == ["sse.content-type-json", "state.delete-not-deleting"]
    assert data["survived"] == ["sse.sequence-gap"]
    assert abs(data["kill_rate"] - 2 / 3) < 0.01
    assert "responses.stream.content-type" in data["mutants"]["sse.content-type-json"]["killers"]
    assert "state.delete-then-get-404" in data["mutants"]["state.delete-not-deleting"]["killers"]
    # the kills reproduced on the confirmation re-run
    assert data["mutants"]["state.delete-not-deleting"]["unconfirmed_killers"] == []
    # every selected case killed something (sequence-monotonic reads the stream through the same
    # content-type check), so only the survivor makes the run fail
    assert data["weak_cases"] == []
    assert data["case_kills"]["state.delete-unknown-404"] == ["state.delete-not-deleting"]
    assert "kill rate 2/3" in proc.stdout
