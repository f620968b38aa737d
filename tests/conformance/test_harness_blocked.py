"""Probes and BLOCKED, run order, 429 retries, root causes and hints: the verdict machinery that
keeps one cause to one verdict."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from conformance import reports
from conformance.context import CaseContext, RunConfig, retry_delay
from conformance.model import Level, Registry, Verdict, run_order, unmatched_patterns, with_probes
from conformance.results import hints, root_causes
from conformance.runner import run_cases

ERROR = {"error": {"message": "not configured", "type": "server_error", "param": None, "code": None}}


def _handler(store_status: int):  # type: ignore[no-untyped-def]
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/stores":
            return httpx.Response(store_status, json=ERROR if store_status >= 400 else {"id": "s1"})
        return httpx.Response(200, json={"ok": True})

    return handle


def _config(handler, **kw) -> RunConfig:  # type: ignore[no-untyped-def]
    return RunConfig(base_url="http://gw.test/v1", transport=httpx.MockTransport(handler), timeout=2, **kw)


def _registry() -> Registry:
    reg = Registry()

    @reg.case("stores.probe.create", Level.MUST, title="p", spec="s", gates=("stores",), hint="configure it")
    async def probe(ctx: CaseContext) -> None:
        resp = await ctx.post("/stores", json={})
        if resp.status_code in (404, 405):
            ctx.unimplemented("not offered")
        ctx.check(resp.status_code == 200, "POST /stores succeeds", expected=200, actual=resp.status_code)

    for name in ("a", "b"):

        @reg.case(f"stores.use.{name}", Level.MUST, title=name, spec="s")
        async def use(ctx: CaseContext) -> None:
            resp = await ctx.post("/stores", json={})
            ctx.check(resp.status_code == 200, "POST /stores succeeds", expected=200, actual=resp.status_code)

    @reg.case("other.one", Level.MUST, title="o", spec="s")
    async def other(ctx: CaseContext) -> None:
        ctx.check((await ctx.get("/x")).status_code == 200, "fine")

    @reg.case("aaa.breaks-backend", Level.MUST, title="x", spec="s", provokes_backend_failure=True)
    async def breaks(ctx: CaseContext) -> None:
        ctx.check(True, "fine")

    return reg


async def test_a_failed_probe_blocks_the_cases_it_gates_and_carries_the_finding_once() -> None:
    reg = _registry()
    run = await run_cases(reg.all(), _config(_handler(500)))
    got = {r.case_id: r for r in run.results}
    assert got["stores.probe.create"].verdict is Verdict.FAIL
    for cid in ("stores.use.a", "stores.use.b"):
        assert got[cid].verdict is Verdict.BLOCKED
        assert got[cid].message.startswith("blocked by stores.probe.create: FAIL POST /stores succeeds")
        assert got[cid].blocked_by == "stores.probe.create"
        assert not got[cid].transcript, "a blocked case sends nothing"
    assert got["other.one"].verdict is Verdict.PASS
    assert run.counts()["FAIL"] == 1 and run.counts()["BLOCKED"] == 2
    assert run.exit_code == 1
    assert hints(run.results) == ["stores.probe.create (FAIL): configure it; 2 case(s) not run because of it"]


async def test_a_passing_probe_lets_its_cases_run_and_a_missing_api_stays_unimplemented() -> None:
    reg = _registry()
    run = await run_cases(reg.all(), _config(_handler(200)))
    assert {r.verdict for r in run.results} == {Verdict.PASS}
    run = await run_cases(reg.all(), _config(_handler(404)))
    got = {r.case_id: r for r in run.results}
    assert got["stores.probe.create"].verdict is Verdict.UNIMPLEMENTED
    assert got["stores.use.a"].verdict is Verdict.UNIMPLEMENTED
    assert "not offered (stores.probe.create" in got["stores.use.a"].message
    assert run.exit_code == 0


async def test_a_waived_probe_still_blocks_and_blocked_must_cases_fail_the_run() -> None:
    reg = _registry()
    config = _config(_handler(500), waivers={"stores.probe.create": "known"})
    run = await run_cases(reg.all(), config)
    got = {r.case_id: r.verdict for r in run.results}
    assert got["stores.probe.create"] is Verdict.SKIPPED
    assert got["stores.use.a"] is Verdict.BLOCKED
    assert run.exit_code == 1, "a blocked MUST case was never checked: it never counts as met"


def test_run_order_probes_first_backend_failures_last() -> None:
    order = [c.id for c in run_order(_registry().all())]
    assert order[0] == "stores.probe.create"
    assert order[-1] == "aaa.breaks-backend"


def test_a_case_selected_alone_brings_its_probe() -> None:
    reg = _registry()
    chosen = with_probes(reg.select(["stores.use.a"]), reg.all())
    assert [c.id for c in chosen] == ["stores.probe.create", "stores.use.a"]
    assert [c.id for c in with_probes(reg.select(["other"]), reg.all())] == ["other.one"]


def test_a_cases_glob_that_matches_nothing_is_reported() -> None:
    assert unmatched_patterns(_registry().all(), ["stores", "nope.*,other.one"]) == ["nope.*"]


async def test_every_report_shows_blocked_and_never_as_pass(tmp_path) -> None:  # type: ignore[no-untyped-def]
    run = await run_cases(_registry().all(), _config(_handler(500)))
    data = json.loads(reports.write_json(run, tmp_path / "r.json").read_text())
    assert data["stores.use.a"]["verdict"] == "BLOCKED"
    summary = json.loads((tmp_path / "r.summary.json").read_text())
    assert summary["counts"]["BLOCKED"] == 2 and summary["exit_code"] == 1
    assert summary["root_causes"][0]["cases"] == ["stores.probe.create"]
    junit = reports.write_junit(run, tmp_path / "j.xml").read_text()
    assert junit.count('type="BLOCKED"') == 2
    assert 'skipped="2"' in junit and 'failures="1"' in junit
    html = reports.html_report(run)
    assert "BLOCKED" in html and "configure it" in html and "NOT conformant" in html
    md = reports.markdown_report(run)
    assert "| BLOCKED |" in md.splitlines()[4]
    assert "configure it" in md and "**FAIL** (1): `stores.probe.create`" in md


async def test_failures_are_grouped_by_root_cause() -> None:
    reg = Registry()
    for name in ("a", "b", "c"):

        @reg.case(f"x.{name}", Level.MUST, title=name, spec="s")
        async def fails(ctx: CaseContext) -> None:
            resp = await ctx.get("/y")
            ctx.check(resp.status_code == 200, "GET /y answers 200", expected=200, actual=resp.status_code)

    run = await run_cases(reg.all(), _config(lambda r: httpx.Response(500, json=ERROR)))
    causes = root_causes(run.results)
    assert len(causes) == 1
    got = (causes[0].check, causes[0].status, causes[0].case_ids)
    assert got == ("GET /y answers 200", 500, ["x.a", "x.b", "x.c"])
    assert reports.cause_line(causes[0]) == "FAIL x3 [HTTP 500] GET /y answers 200: x.a, x.b, x.c"
    lines = reports.github_annotations(run)
    want = "::error title=conformance FAIL x3::FAIL x3 [HTTP 500] GET /y answers 200: x.a, x.b, x.c"
    assert lines == [want]


async def test_github_reporter_writes_the_step_summary(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    summary = tmp_path / "summary.md"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    assert reports.GitHubReporter.wanted(env) and not reports.GitHubReporter.wanted({})
    from rich.console import Console

    reporter = reports.GitHubReporter(Console(), env)
    run = await run_cases(_registry().all(), _config(_handler(500)), reporters=[reporter])
    assert "## Responses API conformance" in summary.read_text()
    assert run.exit_code == 1
    assert "::error title=conformance FAIL x1::" in capsys.readouterr().out


# --------------------------------------------------------------------------- 429


def _rate_limited(times: int, retry_after: str | None = "0"):  # type: ignore[no-untyped-def]
    seen = {"n": 0}

    def handle(request: httpx.Request) -> httpx.Response:
        seen["n"] += 1
        if seen["n"] <= times:
            headers = {"retry-after": retry_after} if retry_after is not None else {}
            return httpx.Response(429, json=ERROR, headers=headers)
        return httpx.Response(200, json={"ok": True})

    return handle, seen


def _one_get() -> Registry:
    reg = Registry()

    @reg.case("r.get", Level.MUST, title="g", spec="s")
    async def get(ctx: CaseContext) -> None:
        ctx.check((await ctx.get("/x")).status_code == 200, "GET /x answers 200")

    @reg.case("r.stream", Level.MUST, title="s", spec="s")
    async def stream(ctx: CaseContext) -> None:
        ctx.check((await ctx.stream("GET", "/x")).status == 200, "GET /x answers 200")

    return reg


async def test_a_429_is_retried_counted_and_never_a_verdict() -> None:
    handler, seen = _rate_limited(2)
    run = await run_cases(_one_get().select(["r.get"]), _config(handler, max_retry_after=0.01))
    (res,) = run.results
    assert res.verdict is Verdict.PASS and seen["n"] == 3
    assert res.rate_limit_retries == 2 and run.rate_limit_retries == 2
    assert reports.run_summary(run)["rate_limit_retries"] == 2
    assert "answered 429 were retried" in reports.markdown_report(run)


async def test_a_streamed_429_is_retried_too() -> None:
    handler, _seen = _rate_limited(1)
    run = await run_cases(_one_get().select(["r.stream"]), _config(handler, max_retry_after=0.01))
    assert run.results[0].verdict is Verdict.PASS and run.rate_limit_retries == 1


async def test_a_lasting_429_is_an_error_not_a_fail() -> None:
    handler, seen = _rate_limited(100)
    config = _config(handler, max_retry_after=0.01, rate_limit_retries=2)
    (res,) = (await run_cases(_one_get().select(["r.get"]), config)).results
    assert res.verdict is Verdict.ERROR and seen["n"] == 3
    assert "rate limited" in res.message and "not this case's requirement" in res.message


@pytest.mark.parametrize(
    ("value", "attempt", "want"),
    [("2", 0, 2.0), ("120", 0, 10.0), (None, 0, 0.5), (None, 2, 2.0), ("soon", 1, 1.0), ("-3", 0, 0.0)],
)
def test_retry_delay_honours_retry_after_within_the_cap(value: str | None, attempt: int, want: float) -> None:
    headers = httpx.Headers({"retry-after": value} if value is not None else {})
    assert retry_delay(headers, attempt, cap=10.0) == want


def test_retry_delay_reads_an_http_date() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 < retry_delay(httpx.Headers({"retry-after": when}), 0, cap=60.0) <= 30


def test_every_case_that_makes_the_backend_fail_runs_last() -> None:
    """A case written with a scripted backend failure (an error status, a dropped connection,
    garbage) is marked ``provokes_backend_failure`` so that the runner puts it after the others."""
    import inspect
    import re

    import conformance.cases  # noqa: F401  (registers the cases)
    from conformance.model import REGISTRY

    failing = re.compile(r"\[\[(error|drop|malformed)\b|scripted-error")
    unmarked = []
    for case in REGISTRY.all():
        if hasattr(case.func, "__wrapped__"):  # a family row: its data is not in the source
            continue
        if failing.search(inspect.getsource(case.func)) and not case.provokes_backend_failure:
            unmarked.append(case.id)
    assert not unmarked


# --------------------------------------------------------------------------- the create probe


def _create_answers(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    if "temperature" in body:  # this gateway refuses the parameter: a finding of its own
        return httpx.Response(400, json=ERROR)
    return httpx.Response(200, content=b"null", headers={"content-type": "application/json"})


def _create_users() -> Registry:
    from conformance.context import CREATE_PROBE

    reg = Registry()

    @reg.case(CREATE_PROBE, Level.MUST, title="p", spec="s", probe=True)
    async def probe(ctx: CaseContext) -> None:
        await ctx.create_ok()

    @reg.case("uses.plain", Level.MUST, title="a", spec="s")
    async def plain(ctx: CaseContext) -> None:
        await ctx.create_ok("Something else.")

    @reg.case("uses.temperature", Level.MUST, title="b", spec="s")
    async def temperature(ctx: CaseContext) -> None:
        await ctx.create_ok(temperature=0.5)

    return reg


async def test_a_create_failing_as_the_create_probe_did_is_blocked_any_other_failure_judged() -> None:
    run = await run_cases(_create_users().all(), _config(_create_answers))
    verdicts = {r.case_id: r for r in run.results}
    assert run.results[0].case_id == "responses.create.probe"  # probes first
    assert verdicts["responses.create.probe"].verdict is Verdict.FAIL
    assert verdicts["uses.plain"].verdict is Verdict.BLOCKED
    assert verdicts["uses.plain"].blocked_by == "responses.create.probe"
    assert verdicts["uses.temperature"].verdict is Verdict.FAIL  # a 400, not the probe's null


async def test_without_the_create_probe_in_the_run_a_failing_create_fails() -> None:
    run = await run_cases(_create_users().select(["uses.plain"]), _config(_create_answers))
    assert [r.verdict for r in run.results] == [Verdict.FAIL]
