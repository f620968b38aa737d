"""Reporters: terminal (rich), JSON index, JUnit XML, self-contained HTML, Markdown.

Each is a ``conformance.events.Reporter`` fed by the runner's events (``*Reporter`` classes at
the end); the ``write_*`` functions render a finished ``RunResult`` and serve them."""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from collections import defaultdict
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from conformance.events import CaseFinished, Event, RunFinished
from conformance.model import VERDICT_LEGEND, Verdict
from conformance.results import CaseResult, RootCause, RunResult, hints, root_causes

VERDICT_STYLE = {
    Verdict.PASS: "green",
    Verdict.FAIL: "bold red",
    Verdict.NON_STRICT: "yellow",
    Verdict.UNIMPLEMENTED: "cyan",
    Verdict.SKIPPED: "dim",
    Verdict.BLOCKED: "bold yellow",
    Verdict.ERROR: "bold magenta",
}


# --------------------------------------------------------------------------- terminal


def progress_line(console: Console, result: CaseResult, index: int, total: int) -> None:
    style = VERDICT_STYLE[result.verdict]
    msg = f" - {result.message}" if result.message and result.verdict is not Verdict.PASS else ""
    console.print(
        f"[{index:>3}/{total}] [{style}]{result.verdict.value:<13}[/] {result.level.value:<6} "
        f"{escape(result.case_id)}[dim]{escape(msg[:160])}[/]",
        highlight=False,
        markup=True,
        soft_wrap=True,
    )


def summary_table(run: RunResult) -> Table:
    table = Table(title=f"Conformance of {run.target} ({run.base_url}) - profile {run.profile}")
    table.add_column("area", no_wrap=True, min_width=18)
    for v in Verdict:
        table.add_column(v.value, justify="right", style=VERDICT_STYLE[v])
    by_area: dict[str, dict[Verdict, int]] = defaultdict(lambda: dict.fromkeys(Verdict, 0))
    for r in run.results:
        by_area[r.area][r.verdict] += 1
    for area in sorted(by_area):
        table.add_row(escape(area), *(str(by_area[area][v] or "") for v in Verdict))
    totals = run.counts()
    table.add_row("[bold]total[/]", *(f"[bold]{totals[v.value]}[/]" for v in Verdict))
    return table


def cause_line(cause: RootCause, max_ids: int = 6) -> str:
    """``FAIL x12 [HTTP 500] POST /files answers 200: files.a, files.b, ... (+6 more)``."""
    status = f" [HTTP {cause.status}]" if cause.status is not None else ""
    ids = ", ".join(cause.case_ids[:max_ids])
    more = f", ... (+{len(cause.case_ids) - max_ids} more)" if len(cause.case_ids) > max_ids else ""
    return f"{cause.verdict.value} x{len(cause.case_ids)}{status} {cause.check[:200]}: {ids}{more}"


def print_summary(console: Console, run: RunResult) -> None:
    console.print(summary_table(run))
    causes = root_causes(run.results)
    if causes:
        console.print("[bold]by root cause[/] (same verdict, failing check and status):")
        for cause in causes:
            console.print(
                f"  [{VERDICT_STYLE[cause.verdict]}]{escape(cause_line(cause))}[/]",
                highlight=False,
                soft_wrap=True,
            )
    failed = [r.case_id for r in run.results if r.verdict is Verdict.FAIL]
    if failed:
        console.print(f"[bold red]FAIL[/] ({len(failed)}): {escape(' '.join(failed))}", soft_wrap=True)
    for line in hints(run.results):
        console.print(f"[bold]hint[/]: {escape(line)}", soft_wrap=True)
    if run.rate_limit_retries:
        console.print(
            f"rate limits: {run.rate_limit_retries} request(s) answered 429 were retried "
            "(not counted against any case)"
        )
    code = run.exit_code
    strict = " (strict: SHOULD cases too)" if run.strict else ""
    rule = "no MUST case failed, errored or was blocked" + strict
    console.print(
        ("[green]OK[/]: " if code == 0 else "[red]NOT CONFORMANT[/]: ")
        + (
            rule
            if code == 0
            else "a " + ("MUST/SHOULD" if run.strict else "MUST") + " case failed, errored or was blocked"
        )
    )


# --------------------------------------------------------------------------- JSON


def json_index(run: RunResult) -> dict[str, Any]:
    """``{case_id: {verdict, level, duration, message, expected, actual, checks, transcript, ...}}``."""
    return {r.case_id: r.as_dict() for r in run.results}


def run_summary(run: RunResult) -> dict[str, Any]:
    return {
        "target": run.target,
        "base_url": run.base_url,
        "profile": run.profile,
        "strict": run.strict,
        "started_at": run.started_at,
        "duration": round(run.duration, 3),
        "counts": run.counts(),
        "exit_code": run.exit_code,
        "rate_limit_retries": run.rate_limit_retries,
        "root_causes": [
            {"verdict": c.verdict.value, "check": c.check, "status": c.status, "cases": c.case_ids}
            for c in root_causes(run.results)
        ],
        "hints": hints(run.results),
    }


def summary_path(index_path: str | Path) -> Path:
    p = Path(index_path)
    return p.with_name(p.stem + ".summary.json")


def write_json(run: RunResult, path: str | Path) -> Path:
    """Write the index to ``path`` and the run summary beside it (``<stem>.summary.json``)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(json_index(run), indent=2, ensure_ascii=False, default=repr), encoding="utf-8")
    summary_path(p).write_text(json.dumps(run_summary(run), indent=2), encoding="utf-8")
    return p


# --------------------------------------------------------------------------- JUnit


def _details(r: CaseResult) -> str:
    spec = f"spec: {r.spec}" + (f" ({r.source})" if r.source else "")
    lines = [f"{r.level.value} {r.case_id}: {r.title}", spec, f"verdict: {r.verdict.value}"]
    if r.message:
        lines.append(f"message: {r.message}")
    if r.expected is not None or r.actual is not None:
        lines.append(f"expected: {json.dumps(r.expected, default=repr)}")
        lines.append(f"actual:   {json.dumps(r.actual, default=repr)}")
    for ex in r.transcript:
        lines.append(f"$ {ex['curl']}")
        lines.append(f"-> {ex.get('status')} {(ex.get('response_body') or '')[:2000]}")
    if r.traceback:
        lines.append(r.traceback)
    return "\n".join(lines)


def junit_tree(run: RunResult) -> ET.ElementTree:
    """JUnit XML: FAIL -> <failure>, ERROR -> <error>, SKIPPED/UNIMPLEMENTED/BLOCKED -> <skipped>
    (a BLOCKED case was not run; its probe's <failure> carries the finding); NON_STRICT is a
    <failure> only in strict mode (otherwise a passing test with a note)."""
    suite = ET.Element(
        "testsuite",
        name=f"responses-conformance[{run.target}:{run.profile}]",
        tests=str(len(run.results)),
        time=f"{run.duration:.3f}",
        timestamp=run.started_at,
    )
    counts: dict[str, int] = {"failures": 0, "errors": 0, "skipped": 0}
    for r in run.results:
        tc = ET.SubElement(suite, "testcase", classname=r.area, name=r.case_id, time=f"{r.duration:.3f}")
        ET.SubElement(tc, "properties")
        props = tc.find("properties")
        assert props is not None
        for k, v in (("level", r.level.value), ("verdict", r.verdict.value), ("tier", r.tier)):
            ET.SubElement(props, "property", name=k, value=v)
        details = _details(r)
        if r.verdict is Verdict.FAIL or (r.verdict is Verdict.NON_STRICT and run.strict):
            ET.SubElement(
                tc, "failure", message=f"{r.verdict.value}: {r.message}", type=r.verdict.value
            ).text = details
            counts["failures"] += 1
        elif r.verdict is Verdict.ERROR:
            ET.SubElement(tc, "error", message=r.message, type="ERROR").text = details
            counts["errors"] += 1
        elif r.verdict in (Verdict.SKIPPED, Verdict.UNIMPLEMENTED, Verdict.BLOCKED):
            ET.SubElement(tc, "skipped", message=f"{r.verdict.value}: {r.message}", type=r.verdict.value)
            counts["skipped"] += 1
        else:
            ET.SubElement(tc, "system-out").text = details
    for key, count in counts.items():
        suite.set(key, str(count))
    root = ET.Element("testsuites")
    root.append(suite)
    return ET.ElementTree(root)


def write_junit(run: RunResult, path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tree = junit_tree(run)
    ET.indent(tree)
    tree.write(p, encoding="utf-8", xml_declaration=True)
    return p


# --------------------------------------------------------------------------- HTML


def _css() -> str:
    return resources.files("conformance").joinpath("templates/report.css").read_text(encoding="utf-8")


def _e(value: Any) -> str:
    if not isinstance(value, str):
        value = json.dumps(value, indent=2, ensure_ascii=False, default=repr)
    return html.escape(value)


def _exchange_html(ex: dict[str, Any]) -> str:
    parts = [f"<div class='exchange'><div class='req'><b>{_e(ex['method'])}</b> {_e(ex['url'])}"]
    if ex.get("elapsed_ms") is not None:
        parts.append(f" <span class='dim'>({ex['elapsed_ms']} ms)</span>")
    parts.append("</div>")
    parts.append(
        f"<details><summary>request headers</summary><pre>{_e(ex['request_headers'])}</pre></details>"
    )
    if ex.get("request_body") is not None:
        parts.append(f"<div class='label'>request body</div><pre>{_e(ex['request_body'])}</pre>")
    parts.append(f"<div class='label'>curl</div><pre class='curl'>{_e(ex['curl'])}</pre>")
    if ex.get("error"):
        parts.append(f"<div class='label'>transport error</div><pre class='bad'>{_e(ex['error'])}</pre>")
    parts.append(f"<div class='label'>response status</div><pre>{_e(str(ex.get('status')))}</pre>")
    parts.append(
        f"<details><summary>response headers</summary><pre>{_e(ex.get('response_headers') or {})}"
        "</pre></details>"
    )
    frames = ex.get("sse_frames")
    if frames:
        rows = "".join(
            f"<tr><td>{_e(str(f.get('t_ms', '')))}</td><td>{_e(f['event'])}</td>"
            f"<td><pre>{_e(f['data'])}</pre></td></tr>"
            for f in frames
        )
        parts.append(
            f"<details open><summary>SSE frames ({len(frames)})</summary><table class='frames'>"
            f"<tr><th>ms</th><th>event</th><th>data</th></tr>{rows}</table></details>"
        )
        if ex.get("sse_discarded_tail"):
            parts.append(
                f"<div class='label'>discarded unterminated tail</div><pre class='bad'>"
                f"{_e(ex['sse_discarded_tail'])}</pre>"
            )
    elif ex.get("ws_frames") is not None:
        ws_frames = ex["ws_frames"]
        rows = "".join(
            f"<tr><td>{_e(str(f.get('t_ms', '')))}</td><td>{_e(str(f.get('direction', '')))}</td>"
            f"<td><pre>{_e(str(f.get('data', '')))}</pre></td></tr>"
            for f in ws_frames
        )
        parts.append(
            f"<details open><summary>WebSocket frames ({len(ws_frames)})</summary><table class='frames'>"
            f"<tr><th>ms</th><th>direction</th><th>data</th></tr>{rows}</table></details>"
        )
        if ex.get("response_body"):
            parts.append(f"<div class='label'>response body</div><pre>{_e(ex['response_body'])}</pre>")
    elif ex.get("response_body") is not None:
        parts.append(f"<div class='label'>response body</div><pre>{_e(ex['response_body'])}</pre>")
    parts.append("</div>")
    return "".join(parts)


def _case_html(r: CaseResult) -> str:
    v = r.verdict.value
    opened = " open" if r.verdict in (Verdict.FAIL, Verdict.ERROR) else ""
    out = [
        f"<details class='case {v}' id='{_e(r.case_id)}'{opened}>",
        f"<summary><span class='verdict {v}'>{v}</span> <span class='level'>{r.level.value}</span> "
        f"<code>{_e(r.case_id)}</code> {_e(r.title)} "
        f"<span class='dim'>{r.duration * 1000:.0f} ms</span></summary>",
        f"<blockquote>{_e(r.spec)}</blockquote>",
    ]
    if r.source:
        out.append(f"<div class='dim'>{_e(r.source)}</div>")
    if r.message:
        out.append(f"<div class='label'>message</div><pre>{_e(r.message)}</pre>")
    if r.verdict in (Verdict.FAIL, Verdict.NON_STRICT):
        out.append(
            f"<div class='expect'><div><div class='label'>expected</div><pre>{_e(r.expected)}</pre></div>"
            f"<div><div class='label'>actual</div><pre class='bad'>{_e(r.actual)}</pre></div></div>"
        )
    if r.notes:
        out.append("<ul>" + "".join(f"<li>{_e(n)}</li>" for n in r.notes) + "</ul>")
    if r.checks:
        out.append(
            "<details><summary>checks</summary><ul class='checks'>"
            + "".join(
                f"<li class='{'ok' if c['ok'] else 'bad'}'>{'&#10003;' if c['ok'] else '&#10007;'} "
                f"{_e(c['what'])}</li>"
                for c in r.checks
            )
            + "</ul></details>"
        )
    for ex in r.transcript:
        out.append(_exchange_html(ex))
    if r.traceback:
        out.append(f"<div class='label'>traceback</div><pre class='bad'>{_e(r.traceback)}</pre>")
    out.append("</details>")
    return "".join(out)


def html_report(run: RunResult) -> str:
    counts = run.counts()
    legend = "".join(
        f"<tr><td><span class='verdict {v.value}'>{v.value}</span></td><td>{_e(text)}</td>"
        f"<td>{counts[v.value]}</td></tr>"
        for v, text in VERDICT_LEGEND.items()
    )
    by_area: dict[str, list[CaseResult]] = defaultdict(list)
    for r in run.results:
        by_area[r.area].append(r)
    sections = "".join(
        f"<section><h2>{_e(area)}</h2>{''.join(_case_html(r) for r in rs)}</section>"
        for area, rs in sorted(by_area.items())
    )
    status = "conformant" if run.exit_code == 0 else "NOT conformant"
    causes = "".join(f"<li>{_e(cause_line(c, max_ids=20))}</li>" for c in root_causes(run.results))
    hint_items = "".join(f"<li>{_e(h)}</li>" for h in hints(run.results))
    extra = (f"<h2>By root cause</h2><ul>{causes}</ul>" if causes else "") + (
        f"<h2>Hints</h2><ul>{hint_items}</ul>" if hint_items else ""
    )
    if run.rate_limit_retries:
        extra += f"<p>{run.rate_limit_retries} request(s) answered 429 were retried.</p>"
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Conformance report - {_e(run.target)}</title><style>{_css()}</style></head><body>"
        f"<h1>Responses API conformance: {_e(run.target)}</h1>"
        f"<p>Target <code>{_e(run.base_url)}</code>, profile <b>{_e(run.profile)}</b>, "
        f"{'strict, ' if run.strict else ''}started {_e(run.started_at)}, {run.duration:.1f} s. "
        f"Result: <b class='{'ok' if run.exit_code == 0 else 'bad'}'>{status}</b> "
        f"(exit code {run.exit_code}).</p>"
        f"<table class='legend'><tr><th>verdict</th><th>meaning</th><th>cases</th></tr>{legend}</table>"
        f"{extra}{sections}</body></html>"
    )


def write_html(run: RunResult, path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(html_report(run), encoding="utf-8")
    return p


# --------------------------------------------------------------------------- Markdown


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_report(run: RunResult) -> str:
    """A CI summary: verdict counts per area, then every case that is not PASS/SKIPPED."""
    status = "conformant" if run.exit_code == 0 else "**NOT conformant**"
    lines = [
        f"## Responses API conformance: {_md(run.target)}",
        "",
        f"Target `{run.base_url}`, profile `{run.profile}`{', strict' if run.strict else ''}: {status} "
        f"(exit code {run.exit_code}), {len(run.results)} cases in {run.duration:.1f} s.",
        "",
        "| area | " + " | ".join(v.value for v in Verdict) + " |",
        "|---|" + "---:|" * len(Verdict),
    ]
    by_area: dict[str, dict[Verdict, int]] = defaultdict(lambda: dict.fromkeys(Verdict, 0))
    for r in run.results:
        by_area[r.area][r.verdict] += 1
    for area in sorted(by_area):
        lines.append(f"| {_md(area)} | " + " | ".join(str(by_area[area][v] or "") for v in Verdict) + " |")
    counts = run.counts()
    lines.append("| **total** | " + " | ".join(f"**{counts[v.value]}**" for v in Verdict) + " |")
    causes = root_causes(run.results)
    if causes:
        lines += ["", "### By root cause", ""]
        lines += [f"- {_md(cause_line(c))}" for c in causes]
    failed = [r.case_id for r in run.results if r.verdict is Verdict.FAIL]
    if failed:
        lines += ["", f"**FAIL** ({len(failed)}): " + " ".join(f"`{i}`" for i in failed)]
    run_hints = hints(run.results)
    if run_hints:
        lines += ["", "### Hints", ""] + [f"- {_md(h)}" for h in run_hints]
    if run.rate_limit_retries:
        lines += ["", f"{run.rate_limit_retries} request(s) answered 429 were retried (no verdict changed)."]
    notable = [
        r for r in run.results if r.verdict not in (Verdict.PASS, Verdict.SKIPPED, Verdict.BLOCKED)
    ]
    if notable:
        lines += ["", "| verdict | level | case | message |", "|---|---|---|---|"]
        lines += [
            f"| {r.verdict.value} | {r.level.value} | `{r.case_id}` | {_md(r.message[:300])} |"
            for r in notable
        ]
    return "\n".join(lines) + "\n"


def write_markdown(run: RunResult, path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(markdown_report(run), encoding="utf-8")
    return p


# --------------------------------------------------------------------------- reporters


class ConsoleReporter:
    """A progress line per finished case (unless ``progress`` is off), the summary at the end."""

    def __init__(self, console: Console, *, progress: bool = True) -> None:
        self.console = console
        self.progress = progress

    def handle(self, event: Event) -> None:
        if isinstance(event, CaseFinished) and self.progress:
            progress_line(self.console, event.result, event.index, event.total)
        elif isinstance(event, RunFinished):
            print_summary(self.console, event.run)


class _Writer(Protocol):
    def __call__(self, run: RunResult, path: str | Path) -> Path: ...


class FileReporter:
    """Writes one report file when the run finishes; ``written`` is its path afterwards."""

    def __init__(self, kind: str, write: _Writer, path: str | Path) -> None:
        self.kind = kind
        self.path = Path(path)
        self._write = write
        self.written: Path | None = None

    def handle(self, event: Event) -> None:
        if isinstance(event, RunFinished):
            self.written = self._write(event.run, self.path)


def json_reporter(path: str | Path) -> FileReporter:
    """``path`` and the run summary beside it (``<stem>.summary.json``)."""
    return FileReporter("json", write_json, path)


def junit_reporter(path: str | Path) -> FileReporter:
    return FileReporter("junit", write_junit, path)


def html_reporter(path: str | Path) -> FileReporter:
    return FileReporter("html", write_html, path)


def markdown_reporter(path: str | Path) -> FileReporter:
    return FileReporter("markdown", write_markdown, path)


# --------------------------------------------------------------------------- GitHub Actions


def _annotation_text(text: str) -> str:
    """Escape a workflow-command message (``%``, CR, LF) as GitHub's runner expects."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def github_annotations(run: RunResult) -> list[str]:
    """One ``::error`` (FAIL, ERROR) or ``::warning`` (NON_STRICT) command per root cause."""
    out = []
    for c in root_causes(run.results):
        kind = "warning" if c.verdict is Verdict.NON_STRICT else "error"
        title = _annotation_text(f"conformance {c.verdict.value} x{len(c.case_ids)}").replace(",", "%2C")
        out.append(f"::{kind} title={title}::{_annotation_text(cause_line(c))}")
    return out


class GitHubReporter:
    """In GitHub Actions (``GITHUB_ACTIONS=true``): appends the Markdown report to the job's step
    summary (the file ``GITHUB_STEP_SUMMARY`` names) and prints one annotation per root cause."""

    def __init__(self, console: Console, env: dict[str, str]) -> None:
        self.console = console
        self.summary = env.get("GITHUB_STEP_SUMMARY")

    @staticmethod
    def wanted(env: dict[str, str]) -> bool:
        return env.get("GITHUB_ACTIONS") == "true"

    def handle(self, event: Event) -> None:
        if not isinstance(event, RunFinished):
            return
        if self.summary:
            with open(self.summary, "a", encoding="utf-8") as fh:
                fh.write(markdown_report(event.run))
        for line in github_annotations(event.run):
            # plain stdout: the runner reads workflow commands from whole lines
            print(line, flush=True)
