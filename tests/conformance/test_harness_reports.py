"""Report writers: JUnit XML parses, JSON index shape, HTML is self-contained, terminal summary."""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from rich.console import Console

from conformance import reports
from conformance.events import CaseFinished, Event, RunFinished, RunStarted
from conformance.model import Level, Verdict
from conformance.runner import CaseResult, RunResult

EXCHANGE = {
    "method": "POST",
    "url": "http://gw/v1/responses",
    "request_headers": {"content-type": "application/json"},
    "request_body": '{"model": "m", "input": "<script>alert(1)</script>"}',
    "curl": "curl -sS -X POST http://gw/v1/responses --data-raw '{}'",
    "status": 200,
    "response_headers": {"content-type": "text/event-stream"},
    "response_body": "event: x\ndata: {}\n\n",
    "sse_frames": [{"event": "response.created", "data": '{"type":"response.created"}', "t_ms": 1.0}],
    "sse_discarded_tail": None,
    "elapsed_ms": 3.2,
    "error": None,
}


def _run(strict: bool = False) -> RunResult:
    results = []
    for i, v in enumerate(Verdict):
        level = Level.SHOULD if v is Verdict.NON_STRICT else Level.MUST
        results.append(
            CaseResult(
                case_id=f"area{i % 2}.case-{v.value.lower()}",
                level=level,
                tier="structural",
                area=f"area{i % 2}",
                title=f"title {v.value}",
                spec="the spec <sentence>",
                verdict=v,
                message="" if v is Verdict.PASS else f"why {v.value}",
                duration=0.01,
                expected=200 if v in (Verdict.FAIL, Verdict.NON_STRICT) else None,
                actual=404 if v in (Verdict.FAIL, Verdict.NON_STRICT) else None,
                transcript=[EXCHANGE],
                checks=[{"what": "c", "ok": v is Verdict.PASS, "expected": 1, "actual": 1}],
                traceback="Traceback: boom" if v is Verdict.ERROR else None,
            )
        )
    return RunResult(results=results, target="fake", base_url="http://gw/v1", profile="openai", strict=strict)


def test_json_index_shape(tmp_path: Path) -> None:
    path = reports.write_json(_run(), tmp_path / "sub" / "report.json")
    data = json.loads(path.read_text())
    assert set(data) == {r.case_id for r in _run().results}  # {case_id: {...}}
    summary = json.loads((tmp_path / "sub" / "report.summary.json").read_text())
    assert summary["target"] == "fake" and summary["profile"] == "openai" and summary["exit_code"] == 1
    assert summary["counts"] == {v.value: 1 for v in Verdict}
    entry = data["area1.case-fail"]
    for key in (
        "verdict",
        "level",
        "duration",
        "transcript",
        "expected",
        "actual",
        "spec",
        "title",
        "message",
    ):
        assert key in entry
    assert entry["verdict"] == "FAIL" and entry["expected"] == 200 and entry["actual"] == 404
    assert entry["transcript"][0]["curl"].startswith("curl ")


@pytest.mark.parametrize("strict", [False, True])
def test_junit_parses_and_maps_verdicts(tmp_path: Path, strict: bool) -> None:
    path = reports.write_junit(_run(strict), tmp_path / "junit.xml")
    root = ET.parse(path).getroot()
    suite = root.find("testsuite")
    assert suite is not None
    cases = {tc.get("name"): tc for tc in suite.iter("testcase")}
    assert len(cases) == len(Verdict)
    assert cases["area1.case-fail"].find("failure") is not None
    assert cases["area1.case-error"].find("error") is not None
    assert cases["area0.case-skipped"].find("skipped") is not None
    assert cases["area1.case-unimplemented"].find("skipped") is not None
    assert (cases["area0.case-non_strict"].find("failure") is not None) is strict
    assert suite.get("failures") == ("2" if strict else "1")
    # SKIPPED, UNIMPLEMENTED and BLOCKED (not run: its probe's failure carries the finding)
    assert cases["area0.case-blocked"].find("skipped") is not None
    assert suite.get("errors") == "1" and suite.get("skipped") == "3"
    failure = cases["area1.case-fail"].find("failure")
    assert failure is not None and "expected: 200" in (failure.text or "") and "curl" in (failure.text or "")


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.external: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if tag in ("link", "img", "script", "iframe") and (a.get("href") or a.get("src")):
            self.external.append(f"{tag} {a}")


def test_html_is_self_contained_and_escaped(tmp_path: Path) -> None:
    path = reports.write_html(_run(), tmp_path / "report.html")
    text = path.read_text()
    parser = _Assets()
    parser.feed(text)
    assert parser.external == [] and parser.scripts == 0
    assert not re.search(r"url\(|@import|https?://(?!gw/)", text)
    assert "<style>" in text and ".verdict.FAIL" in text  # CSS inline
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text  # transcripts are escaped
    for v in Verdict:  # legend
        assert f"<span class='verdict {v.value}'>{v.value}</span>" in text
    for needle in (
        "curl -sS -X POST",
        "response.created",
        "text/event-stream",
        "the spec &lt;sentence&gt;",
        "expected",
        "actual",
        "Traceback: boom",
    ):
        assert needle in text


def test_terminal_summary_by_area() -> None:
    out = io.StringIO()
    console = Console(file=out, width=160, color_system=None)
    run = _run()
    for i, r in enumerate(run.results, 1):
        reports.progress_line(console, r, i, len(run.results))
    reports.print_summary(console, run)
    text = out.getvalue()
    assert "area0" in text and "area1" in text and "total" in text
    assert "NOT CONFORMANT" in text
    assert "why FAIL" in text


def test_markdown_summary_counts_areas_and_lists_what_did_not_pass(tmp_path: Path) -> None:
    path = reports.write_markdown(_run(), tmp_path / "summary.md")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("## Responses API conformance: fake")
    assert "**NOT conformant**" in text
    header = next(ln for ln in text.splitlines() if ln.startswith("| area |"))
    assert header.split("|")[2:-1] == [f" {v.value} " for v in Verdict]
    assert any(ln.startswith("| area0 |") for ln in text.splitlines())
    assert "| FAIL | MUST | `area1.case-fail` | why FAIL |" in text or "`area0.case-fail`" in text
    assert "case-pass" not in text  # only what did not pass is listed


def test_reporters_consume_run_events(tmp_path: Path) -> None:
    run = _run()
    out = io.StringIO()
    console = reports.ConsoleReporter(Console(file=out, width=160, color_system=None))
    quiet_out = io.StringIO()
    quiet = reports.ConsoleReporter(Console(file=quiet_out, width=160, color_system=None), progress=False)
    files = [
        reports.json_reporter(tmp_path / "r.json"),
        reports.junit_reporter(tmp_path / "j.xml"),
        reports.html_reporter(tmp_path / "r.html"),
        reports.markdown_reporter(tmp_path / "r.md"),
    ]
    events: list[Event] = [RunStarted(run.target, run.base_url, run.profile, cases=())]
    events += [CaseFinished(r, i, len(run.results)) for i, r in enumerate(run.results, 1)]
    for event in events:
        for reporter in (console, quiet, *files):
            reporter.handle(event)
    assert all(f.written is None for f in files), "files are written when the run finishes"
    assert f"[  1/{len(Verdict)}]" in out.getvalue() and "total" not in out.getvalue()
    for reporter in (console, quiet, *files):
        reporter.handle(RunFinished(run))
    assert [f.written for f in files] == [f.path for f in files]
    assert json.loads((tmp_path / "r.json").read_text())  # the same writers as before
    assert (tmp_path / "r.summary.json").exists()
    ET.parse(tmp_path / "j.xml")
    assert "total" in out.getvalue() and "NOT CONFORMANT" in out.getvalue()
    assert f"[  1/{len(Verdict)}]" not in quiet_out.getvalue() and "total" in quiet_out.getvalue()
