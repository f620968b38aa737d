"""Verdict logic, exit codes, --strict, selection globs, the registry and the case context."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from conformance.context import CaseContext, RunConfig, RunState, probe_expected
from conformance.events import CaseFinished, Event, RunFinished, RunStarted
from conformance.model import Case, Level, Registry, Row, Tier, Verdict, select
from conformance.runner import CaseResult, exit_code, run_cases


def _ok_handler(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith("/responses") and request.method == "POST":
        body = json.loads(request.content)
        return httpx.Response(200, json={"id": "resp_1", "object": "response", "echo": body})
    return httpx.Response(
        404, json={"error": {"message": "nope", "type": "invalid_request_error", "param": None, "code": None}}
    )


def _config(handler=_ok_handler, **kw) -> RunConfig:  # type: ignore[no-untyped-def]
    return RunConfig(base_url="http://gw.test/v1", transport=httpx.MockTransport(handler), timeout=2, **kw)


def _registry() -> Registry:
    reg = Registry()

    @reg.case("t.pass", level=Level.MUST, title="passes", spec="s")
    async def passes(ctx: CaseContext) -> None:
        ctx.check(True, "fine")

    @reg.case("t.fail-must", level=Level.MUST, title="fails", spec="s")
    async def fail_must(ctx: CaseContext) -> None:
        r = await ctx.get("/nothing")
        ctx.check_eq(r.status_code, 200, "status")

    @reg.case("t.fail-should", level=Level.SHOULD, title="should", spec="s")
    async def fail_should(ctx: CaseContext) -> None:
        ctx.check(False, "x", expected=1, actual=2)

    @reg.case("t.fail-info", level=Level.INFO, title="info", spec="s")
    async def fail_info(ctx: CaseContext) -> None:
        ctx.check(False, "x")

    @reg.case("t.unimpl", level=Level.MUST, title="u", spec="s")
    async def unimpl(ctx: CaseContext) -> None:
        ctx.unimplemented("no such feature")

    @reg.case("t.skip", level=Level.MUST, title="k", spec="s")
    async def skip(ctx: CaseContext) -> None:
        ctx.skip("not here")

    @reg.case("t.bug", level=Level.MUST, title="b", spec="s")
    async def bug(ctx: CaseContext) -> None:
        raise KeyError("oops")

    return reg


async def test_each_verdict() -> None:
    run = await run_cases(_registry().all(), _config())
    v = {r.case_id: r for r in run.results}
    assert v["t.pass"].verdict is Verdict.PASS
    assert v["t.fail-must"].verdict is Verdict.FAIL
    assert v["t.fail-must"].expected == 200 and v["t.fail-must"].actual == 404
    assert v["t.fail-must"].transcript[0]["status"] == 404
    assert v["t.fail-should"].verdict is Verdict.NON_STRICT
    assert (v["t.fail-should"].expected, v["t.fail-should"].actual) == (1, 2)
    assert v["t.fail-info"].verdict is Verdict.NON_STRICT
    assert v["t.unimpl"].verdict is Verdict.UNIMPLEMENTED and v["t.unimpl"].message == "no such feature"
    assert v["t.skip"].verdict is Verdict.SKIPPED
    assert v["t.bug"].verdict is Verdict.ERROR and "KeyError" in (v["t.bug"].traceback or "")
    assert run.counts()["FAIL"] == 1


async def test_transport_fault_is_error_not_fail() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    reg = _registry()
    run = await run_cases([reg.get("t.fail-must")], _config(refuse))
    r = run.results[0]
    assert r.verdict is Verdict.ERROR
    assert "ConnectError" in r.message
    assert r.transcript[0]["error"].startswith("ConnectError")


async def test_a_hanging_case_is_an_error_within_the_timeout() -> None:
    reg = Registry()

    @reg.case("t.hang", level=Level.MUST, title="h", spec="s")
    async def hang(ctx: CaseContext) -> None:
        await asyncio.sleep(60)

    cfg = _config()
    cfg.timeout = 0.05
    r = (await run_cases(reg.all(), cfg)).results[0]
    assert r.verdict is Verdict.ERROR and "did not finish" in r.message


def _result(level: Level, verdict: Verdict) -> CaseResult:
    return CaseResult("a.b", level, "structural", "a", "t", "s", verdict)


@pytest.mark.parametrize(
    ("level", "verdict", "normal", "strict"),
    [
        (Level.MUST, Verdict.PASS, 0, 0),
        (Level.MUST, Verdict.FAIL, 1, 1),
        (Level.MUST, Verdict.ERROR, 1, 1),
        (Level.MUST, Verdict.UNIMPLEMENTED, 0, 0),
        (Level.MUST, Verdict.SKIPPED, 0, 0),
        (Level.SHOULD, Verdict.NON_STRICT, 0, 1),
        (Level.SHOULD, Verdict.ERROR, 0, 1),
        (Level.SHOULD, Verdict.PASS, 0, 0),
        (Level.INFO, Verdict.NON_STRICT, 0, 0),
        (Level.INFO, Verdict.ERROR, 0, 0),
    ],
)
def test_exit_codes(level: Level, verdict: Verdict, normal: int, strict: int) -> None:
    results = [_result(Level.MUST, Verdict.PASS), _result(level, verdict)]
    assert exit_code(results) == normal
    assert exit_code(results, strict=True) == strict


def test_registry_rejects_reused_and_malformed_ids() -> None:
    reg = Registry()

    async def f(ctx: CaseContext) -> None:
        return None

    async def g(ctx: CaseContext) -> None:
        return None

    reg.add(Case("a.b", Level.MUST, "t", "s", f))
    reg.add(Case("a.b", Level.MUST, "t", "s", f))  # the same function again: a module re-import
    assert len(reg) == 1
    with pytest.raises(ValueError, match="duplicate"):
        reg.add(Case("a.b", Level.SHOULD, "t2", "s", g))
    with pytest.raises(ValueError, match="bad case id"):
        reg.add(Case("NoDots", Level.MUST, "t", "s", f))
    with pytest.raises(ValueError, match="unknown profiles"):
        reg.add(Case("a.c", Level.MUST, "t", "s", f, profiles=("azure",)))
    assert Case("responses.stream.sequence-monotonic", Level.MUST, "t", "s", f).area == "responses.stream"


def test_selection_globs() -> None:
    ids = ["responses.create.a", "responses.stream.b", "responses.stream.c", "errors.x", "state.y"]

    async def f(ctx: CaseContext) -> None:
        return None

    cases = [Case(i, Level.MUST, "t", "s", f) for i in ids]

    def sel(inc: list[str], exc: list[str] = []) -> list[str]:  # noqa: B006
        return [c.id for c in select(cases, inc, exc)]

    assert sel([]) == ids
    assert sel(["responses.stream.*"]) == ["responses.stream.b", "responses.stream.c"]
    assert sel(["responses.stream"]) == ["responses.stream.b", "responses.stream.c"]  # area prefix
    assert sel(["responses"]) == ids[:3]
    assert sel(["errors.*,state.*"]) == ["errors.x", "state.y"]
    assert sel(["*"], ["responses.*"]) == ["errors.x", "state.y"]
    assert sel(["responses.*"], ["*.c"]) == ["responses.create.a", "responses.stream.b"]
    assert sel(["respon"]) == []  # a prefix matches on dot boundaries only
    assert sel(["*.?"]) == ids


async def test_require_scripted_probe() -> None:
    def scripted(request: httpx.Request) -> httpx.Response:
        text = json.loads(request.content)["input"]
        nonce = text[len("[[probe:") : -2]
        return httpx.Response(
            200,
            json={
                "id": "resp_1",
                "object": "response",
                "output": [
                    {
                        "type": "message",
                        "role": "assistant",
                        "content": [
                            {"type": "output_text", "text": probe_expected(nonce), "annotations": []}
                        ],
                    }
                ],
            },
        )

    reg = Registry()

    @reg.case("t.scripted", level=Level.MUST, title="s", spec="s", tier=Tier.SCRIPTED)
    async def needs(ctx: CaseContext) -> None:
        await ctx.require_scripted()

    assert (await run_cases(reg.all(), _config(scripted))).results[0].verdict is Verdict.PASS
    r = (await run_cases(reg.all(), _config())).results[0]
    assert r.verdict is Verdict.UNIMPLEMENTED
    assert "expected 'fixtures.backend/1 " in r.message


def test_probe_expected_is_sha256_prefix() -> None:
    assert probe_expected("abc") == "fixtures.backend/1 ba7816bf8f01cfea"


async def test_transcript_records_request_response_and_curl() -> None:
    cfg = _config(api_key="sk-secret", api_key_env="MY_KEY")
    reg = Registry()

    @reg.case("t.t", level=Level.MUST, title="t", spec="s")
    async def t(ctx: CaseContext) -> None:
        await ctx.create("it's")

    r = (await run_cases(reg.all(), cfg)).results[0]
    ex = r.transcript[0]
    assert ex["method"] == "POST" and ex["url"] == "http://gw.test/v1/responses"
    assert json.loads(ex["request_body"]) == {"model": "scripted", "input": "it's"}
    assert ex["request_headers"]["authorization"] == "Bearer ***"
    assert ex["status"] == 200 and json.loads(ex["response_body"])["id"] == "resp_1"
    assert "sk-secret" not in json.dumps(r.as_dict())
    assert "$MY_KEY" in ex["curl"] and "curl -sS -X POST http://gw.test/v1/responses" in ex["curl"]
    import shlex

    argv = shlex.split(ex["curl"])
    assert json.loads(argv[argv.index("--data-raw") + 1]) == {"model": "scripted", "input": "it's"}


async def test_stream_helper_parses_events_and_reports_unterminated_tail() -> None:
    def sse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            headers={"content-type": "text/event-stream"},
            content=b'event: a\ndata: {"type":"a","sequence_number":0}\n\ndata: [DONE]',
        )

    state = RunState()
    cfg = _config(sse)
    async with httpx.AsyncClient(transport=cfg.transport) as client:
        ctx = CaseContext(Case("t.s", Level.MUST, "t", "s", lambda c: None), cfg, state, client)  # type: ignore[arg-type,return-value]
        res = await ctx.create_stream()
    assert res.types == ["a"]
    assert res.done_marker is False  # the unterminated [DONE] frame is discarded, per WHATWG
    assert res.discarded_tail is not None and "[DONE]" in res.discarded_tail
    assert ctx.transcript[0].sse_frames and ctx.transcript[0].sse_frames[0]["event"] == "a"
    assert ctx.transcript[0].sse_discarded_tail == res.discarded_tail


async def test_grpc_channel_is_skipped_without_extproc_and_opened_with_it() -> None:
    reg = Registry()
    seen: list[object] = []

    @reg.case("t.grpc", level=Level.MUST, title="g", spec="s")
    async def uses_grpc(ctx: CaseContext) -> None:
        channel = ctx.grpc_channel()
        assert ctx.grpc_channel() is channel  # one channel per case
        seen.append(channel)

    r = (await run_cases(reg.all(), _config())).results[0]
    assert r.verdict is Verdict.SKIPPED and "--extproc" in r.message
    r = (await run_cases(reg.all(), _config(extproc="127.0.0.1:1"))).results[0]
    assert r.verdict is Verdict.PASS
    import grpc

    assert isinstance(seen[0], grpc.aio.Channel)


async def test_waivers_turn_only_fail_and_error_into_skipped_with_the_reason() -> None:
    waivers = {"t.fail-must": "Envoy resets the stream", "t.pass": "never needed", "t.bug": "known"}
    run = await run_cases(_registry().all(), _config(waivers=waivers))
    v = {r.case_id: r for r in run.results}
    assert v["t.fail-must"].verdict is Verdict.SKIPPED
    assert v["t.fail-must"].message.startswith("waived: Envoy resets the stream (observed FAIL")
    assert v["t.bug"].verdict is Verdict.SKIPPED and "observed ERROR" in v["t.bug"].message
    assert v["t.pass"].verdict is Verdict.PASS  # a waiver never makes anything pass or fail
    assert v["t.fail-should"].verdict is Verdict.NON_STRICT  # not waived: unchanged
    assert exit_code(run.results) == 0


def test_waiver_file_must_give_a_reason_per_case(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from conformance.runner import load_waivers

    good = tmp_path / "w.toml"
    good.write_text('[waivers]\n"a.b" = "because"\n')
    assert load_waivers(good) == {"a.b": "because"}
    bad = tmp_path / "bad.toml"
    bad.write_text('[waivers]\n"a.b" = ""\n')
    with pytest.raises(ValueError, match="reason"):
        load_waivers(bad)


def test_a_family_registers_one_case_per_row_with_its_params() -> None:
    reg = Registry()
    rows = [
        Row("fam.one", Level.MUST, "first", "spec one", params=1, source="src"),
        Row("fam.two", Level.SHOULD, "second", "spec two", params=2, tier=Tier.SCRIPTED),
    ]
    seen: list[int] = []

    @reg.family(rows)
    async def check(ctx: CaseContext, n: int) -> None:
        seen.append(n)

    reg.family(rows)(check)  # a module re-import registers the same rows again
    assert [c.id for c in reg.all()] == ["fam.one", "fam.two"]
    one, two = reg.all()
    assert (one.level, one.title, one.spec, one.source, two.tier) == (
        Level.MUST,
        "first",
        "spec one",
        "src",
        Tier.SCRIPTED,
    )
    assert one.module == __name__ and one.origin.endswith("check[fam.one]")
    asyncio.run(two.func(None))  # type: ignore[arg-type]  # the check gets the row's params
    assert seen == [2]


def test_a_family_cannot_reuse_an_id_and_a_shared_family_names_its_module() -> None:
    reg = Registry()

    async def check(ctx: CaseContext, n: int) -> None:
        return None

    with pytest.raises(ValueError, match=r"duplicate case id 'fam\.one' in family"):
        reg.family([Row("fam.one", Level.MUST, "t", "s", 1), Row("fam.one", Level.MUST, "t", "s", 2)])(check)

    async def other(ctx: CaseContext, n: int) -> None:
        return None

    reg2 = Registry()
    reg2.family([Row("fam.x", Level.MUST, "t", "s", 1)], module="pkg.area")(check)
    assert reg2.get("fam.x").module == "pkg.area"
    with pytest.raises(ValueError, match=r"duplicate case id 'fam\.x'"):
        reg2.family([Row("fam.x", Level.MUST, "t", "s", 1)], module="pkg.area")(other)


async def test_the_runner_emits_events_in_order_to_every_reporter() -> None:
    reg = _registry()
    cases = reg.select(["t.pass", "t.fail-must"])

    class Recorder:
        def __init__(self) -> None:
            self.events: list[Event] = []

        def handle(self, event: Event) -> None:
            self.events.append(event)

    first, second = Recorder(), Recorder()
    run = await run_cases(cases, _config(), reporters=[first, second])
    assert first.events == second.events
    kinds = [type(e).__name__ for e in first.events]
    assert kinds == [
        "RunStarted",
        "CaseStarted",
        "CaseFinished",
        "CaseStarted",
        "CaseFinished",
        "RunFinished",
    ]
    started = first.events[0]
    assert isinstance(started, RunStarted) and started.total == 2 and started.profile == "openai"
    finished = [e for e in first.events if isinstance(e, CaseFinished)]
    assert [(e.result.case_id, e.result.verdict, e.index, e.total) for e in finished] == [
        ("t.fail-must", Verdict.FAIL, 1, 2),
        ("t.pass", Verdict.PASS, 2, 2),
    ]
    last = first.events[-1]
    assert isinstance(last, RunFinished) and last.run is run


async def test_case_finished_carries_the_verdict_after_waivers() -> None:
    seen: list[CaseFinished] = []

    class Recorder:
        def handle(self, event: Event) -> None:
            if isinstance(event, CaseFinished):
                seen.append(event)

    cases = _registry().select(["t.fail-must"])
    await run_cases(cases, _config(waivers={"t.fail-must": "known gap"}), reporters=[Recorder()])
    assert [e.result.verdict for e in seen] == [Verdict.SKIPPED]


def test_a_case_takes_its_title_and_spec_sentence_from_its_docstring() -> None:
    reg = Registry()

    @reg.case("doc.one", Level.SHOULD, source="src")
    async def one(ctx: CaseContext) -> None:
        """The title, wrapped
        over two lines

        temperature: What sampling temperature to use,
        between 0 and 2.
        """

    @reg.case("doc.two", Level.MUST, spec="a shared sentence.")
    async def two(ctx: CaseContext) -> None:
        """Only a title"""

    got = {c.id: (c.level, c.title, c.spec) for c in reg.all()}
    assert got == {
        "doc.one": (
            Level.SHOULD,
            "The title, wrapped over two lines",
            "temperature: What sampling temperature to use, between 0 and 2.",
        ),
        "doc.two": (Level.MUST, "Only a title", "a shared sentence."),
    }
    with pytest.raises(ValueError, match="spec sentence"):

        @reg.case("doc.three", Level.MUST)
        async def three(ctx: CaseContext) -> None:
            """A title but no sentence"""
