"""Gateways that chose differently from the reference, legitimately, PASS the MUST cases, and a
broken variant of the same choice still FAILs: a backend failure answered with the upstream's
503 instead of 502 (the exact 502 is a SHOULD), an upload named ../../etc/passwd refused with
a clean 400 instead of being reduced to a name, vendor extension fields and events (the schema
cases), and a gateway that rate-limits with 429 and Retry-After (retried, never a verdict)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

import conformance.cases  # noqa: F401  (registers the cases)
from conformance.context import RunConfig
from conformance.model import REGISTRY, Verdict
from conformance.profiles import PROFILES
from conformance.runner import run_cases
from conformance.schema import SchemaValidator
from conformance.targets import RunningTarget
from fixtures.mutants.hooks import JSON, events, status_map
from fixtures.mutants.proxy import ThreadedProxy
from fixtures.mutants.vocabulary import Answer, Exchange, HttpFault, Mutant


def _config(proxy: ThreadedProxy) -> RunConfig:
    return RunConfig(base_url=proxy.url, profile=PROFILES["openai"], model="scripted", timeout=30)


def _variant(name: str, response: Callable[[Exchange, Answer], Answer | None]) -> Mutant:
    # not a case's proof fault: not registered in the catalog
    return Mutant(f"test.{name}", name, "", "errors", http=lambda: HttpFault(response=response))


async def _verdicts(proxy: ThreadedProxy, mutant: Mutant, ids: list[str]) -> dict[str, Verdict]:
    proxy.set_mutant(mutant)
    results = (await run_cases([REGISTRY.get(i) for i in ids], _config(proxy))).results
    return {r.case_id: r.verdict for r in results}


BACKEND_5XX = ["errors.backend.unavailable-5xx", "errors.backend.malformed-5xx"]
BACKEND_502 = ["errors.backend.unavailable-502", "errors.backend.malformed-502"]


def _as_503(ex: Exchange, a: Answer) -> None:
    status_map(502, 503)(ex, a)


def _as_200(ex: Exchange, a: Answer) -> None:
    status_map(502, 200)(ex, a)


async def test_a_503_for_a_backend_failure_meets_the_must_and_misses_the_should(
    proxy: ThreadedProxy, reference_target: RunningTarget
) -> None:
    verdicts = await _verdicts(proxy, _variant("backend-503", _as_503), BACKEND_5XX + BACKEND_502)
    assert [verdicts[i] for i in BACKEND_5XX] == [Verdict.PASS] * 2
    assert [verdicts[i] for i in BACKEND_502] == [Verdict.NON_STRICT] * 2


async def test_a_success_for_a_backend_failure_fails_the_must(
    proxy: ThreadedProxy, reference_target: RunningTarget
) -> None:
    verdicts = await _verdicts(proxy, _variant("backend-200", _as_200), BACKEND_5XX)
    assert [verdicts[i] for i in BACKEND_5XX] == [Verdict.FAIL] * 2


def _refuse_path_names(error_object: bool) -> Callable[[Exchange, Answer], Answer | None]:
    def hook(ex: Exchange, a: Answer) -> Answer | None:
        if ex.method != "POST" or not ex.path.endswith("/files") or b"../../etc/passwd" not in ex.raw:
            return None
        if not error_object:
            return Answer.of(400, [("content-type", "text/plain")], b"bad filename")
        err = {"message": "filename must not be a path", "type": "invalid_request_error", "param": "file"}
        return Answer.of_json(400, {"error": {**err, "code": None}})

    return hook


@pytest.mark.parametrize(("error_object", "verdict"), [(True, Verdict.PASS), (False, Verdict.FAIL)])
async def test_a_path_filename_may_be_refused_with_a_clean_400(
    proxy: ThreadedProxy, reference_target: RunningTarget, error_object: bool, verdict: Verdict
) -> None:
    mutant = _variant("refuse-path-filename", _refuse_path_names(error_object))
    verdicts = await _verdicts(proxy, mutant, ["files.upload.filename-not-a-path"])
    assert verdicts == {"files.upload.filename-not-a-path": verdict}


def _upstream_param(ex: Exchange, a: Answer) -> None:
    """A gateway passing its upstream's 400 on: the error names the Chat Completions field."""
    if ex.path.endswith("/responses") and a.status == 400 and isinstance(a.body, dict):
        a.body = {"error": {**a.body["error"], "param": "messages[0].role"}}


async def test_an_upstream_400_naming_the_chat_field_meets_the_must_cases(
    proxy: ThreadedProxy, reference_target: RunningTarget
) -> None:
    ids = [
        "errors.params.input-role",
        "errors.params.temperature-range",
        "errors.params.unknown-parameter-named",
    ]
    verdicts = await _verdicts(proxy, _variant("upstream-param", _upstream_param), ids)
    assert verdicts == {
        "errors.params.input-role": Verdict.PASS,
        "errors.params.temperature-range": Verdict.PASS,
        # naming the Responses parameter is still checked, as the SHOULD it is
        "errors.params.unknown-parameter-named": Verdict.NON_STRICT,
    }


def _fractional_timestamps(ex: Exchange, a: Answer) -> None:
    if ex.method == "POST" and ex.path.endswith("/responses") and isinstance(a.body, dict):
        body = dict(a.body)
        for key in ("created_at", "completed_at"):
            if isinstance(body.get(key), int):
                body[key] = body[key] + 0.25
        a.body = body


async def test_fractional_timestamps_fail_the_type_case_only(
    proxy: ThreadedProxy, reference_target: RunningTarget
) -> None:
    ids = [
        "responses.create.created-at",
        "responses.output.created-at-recent",
        "responses.output.completed-at-after-created",
    ]
    verdicts = await _verdicts(proxy, _variant("fractional-timestamps", _fractional_timestamps), ids)
    assert verdicts == {
        "responses.create.created-at": Verdict.FAIL,
        "responses.output.created-at-recent": Verdict.PASS,
        "responses.output.completed-at-after-created": Verdict.PASS,
    }


def _stream_failure_as_json(ex: Exchange, a: Answer) -> Answer | None:
    """A gateway that waits for the backend's first byte and answers its failure as JSON."""
    original = ex.original if isinstance(ex.original, dict) else {}
    if original.get("stream") is True and "[[error:503]]" in str(original.get("input")):
        error = {"message": "upstream failed", "type": "server_error", "param": None, "code": None}
        return Answer.of_json(502, {"error": error})
    return None


async def test_a_failure_before_the_first_byte_may_be_a_json_error(
    proxy: ThreadedProxy, reference_target: RunningTarget
) -> None:
    ids = [
        "responses.stream.scripted-error-event-shape",
        "responses.stream.errors.backend-error-not-completed",
    ]
    verdicts = await _verdicts(proxy, _variant("stream-failure-json", _stream_failure_as_json), ids)
    assert verdicts == {
        # no stream, so no `error` event to judge (the reference ends a dropped stream with
        # response.failed only): skipped, where a 200 stream was required before
        "responses.stream.scripted-error-event-shape": Verdict.SKIPPED,
        "responses.stream.errors.backend-error-not-completed": Verdict.PASS,
    }


# --------------------------------------------------------------------------- vendor extensions

SCHEMA_CASES = ["schemas.stream.text-events", "schemas.stream.function-call-events",
                "schemas.objects.response", "schemas.errors.error-response", "schemas.lists.input-items"]


def _extended_answer(ex: Exchange, a: Answer) -> None:
    # "Implementors MAY add additional fields specific to their use case" (Open Responses,
    # Extensions): a vendor field on every object and on every error object
    if isinstance(a.body, dict):
        a.body["acme_trace_id"] = "trace-1"
        if isinstance(a.body.get("error"), dict):
            a.body["error"]["acme_hint"] = "see the logs"


def _extended_events(drop_logprobs: bool) -> Callable[[Exchange, list[JSON]], list[JSON]]:
    def edit(ex: Exchange, evs: list[JSON]) -> list[JSON]:
        out: list[JSON] = []
        for ev in evs:
            ev["acme_latency_ms"] = 3
            if drop_logprobs and ev.get("type") == "response.output_text.delta":
                ev.pop("logprobs", None)
            out.append(ev)
            if ev.get("type") == "response.created":
                # "an implementor introduces a custom streaming event type, acme:telemetry_chunk"
                out.append({"type": "acme:telemetry_chunk", "sequence_number": 0, "cache_hit": True})
        return out

    return edit


def _extended(name: str, *, drop_logprobs: bool) -> Mutant:
    return Mutant(f"test.{name}", name, "", "schemas", http=lambda: HttpFault(
        response=_extended_answer, stream=events(_extended_events(drop_logprobs))))


async def _schema_verdicts(proxy: ThreadedProxy, mutant: Mutant) -> dict[str, Verdict]:
    proxy.set_mutant(mutant)
    config = RunConfig(base_url=proxy.url, profile=PROFILES["openai"], model="scripted", timeout=30,
                       validator=SchemaValidator.for_profile("openai"))
    results = (await run_cases([REGISTRY.get(i) for i in SCHEMA_CASES], config)).results
    return {r.case_id: r.verdict for r in results}


async def test_vendor_extension_fields_and_events_pass_the_schema_cases(
    proxy: ThreadedProxy, reference_target: RunningTarget
) -> None:
    verdicts = await _schema_verdicts(proxy, _extended("vendor-extensions", drop_logprobs=False))
    assert verdicts == dict.fromkeys(SCHEMA_CASES, Verdict.PASS)


async def test_vendor_extensions_do_not_hide_a_missing_required_field(
    proxy: ThreadedProxy, reference_target: RunningTarget
) -> None:
    verdicts = await _schema_verdicts(proxy, _extended("vendor-extensions-no-logprobs", drop_logprobs=True))
    assert verdicts["schemas.stream.text-events"] is Verdict.FAIL
    assert verdicts["schemas.objects.response"] is Verdict.PASS


# --------------------------------------------------------------------------- rate limits

RATE_LIMITED_CASES = ["responses.create.required-fields", "responses.stream.sequence-monotonic",
                      "state.get-after-create", "errors.params.temperature-range"]


def _rate_limiter(every_request: bool) -> Callable[[], HttpFault]:
    """A gateway that answers every other request (or every request) 429 with Retry-After: 0."""

    def factory() -> HttpFault:
        seen = {"n": 0}

        def request(ex: Exchange) -> Answer | None:
            seen["n"] += 1
            if every_request or seen["n"] % 2:
                answer = Answer.of_json(429, {"error": {"message": "slow down", "type": "rate_limit_error",
                                                        "param": None, "code": "rate_limit_exceeded"}})
                answer.set_header("retry-after", "0")
                return answer
            return None

        return HttpFault(request=request)

    return factory


async def test_a_gateway_that_rate_limits_passes_with_the_retries_counted(
    proxy: ThreadedProxy, reference_target: RunningTarget
) -> None:
    proxy.set_mutant(Mutant("test.rate-limit-every-other", "", "", "errors", http=_rate_limiter(False)))
    run = await run_cases([REGISTRY.get(i) for i in RATE_LIMITED_CASES], _config(proxy))
    assert {r.case_id: r.verdict for r in run.results} == dict.fromkeys(RATE_LIMITED_CASES, Verdict.PASS)
    assert all(r.rate_limit_retries >= 1 for r in run.results)


async def test_a_gateway_that_always_rate_limits_gets_errors_never_fails_or_passes(
    proxy: ThreadedProxy, reference_target: RunningTarget
) -> None:
    proxy.set_mutant(Mutant("test.rate-limit-always", "", "", "errors", http=_rate_limiter(True)))
    config = _config(proxy)
    config.rate_limit_retries, config.max_retry_after = 1, 0.01
    run = await run_cases([REGISTRY.get(i) for i in RATE_LIMITED_CASES], config)
    assert {r.verdict for r in run.results} == {Verdict.ERROR}
    assert all("rate limited" in r.message for r in run.results)


# --------------------------------------------------------------------------- error schema


def _error_answers(valid: bool, refuse: bool):  # type: ignore[no-untyped-def]
    error = {"message": "no", "type": "invalid_request_error", "param": None, "code": None}
    if not valid:
        error.pop("param")

    def handle(request: httpx.Request) -> httpx.Response:
        if refuse:
            return httpx.Response(400 if request.method == "POST" else 404, json={"error": error})
        return httpx.Response(200, json={"id": "resp_1", "object": "response"})

    return handle


async def _error_schema_verdict(handler) -> Verdict:  # type: ignore[no-untyped-def]
    config = RunConfig(base_url="http://gw.test/v1", transport=httpx.MockTransport(handler), timeout=2,
                       validator=SchemaValidator.for_profile("openai"))
    (result,) = (await run_cases([REGISTRY.get("schemas.errors.error-response")], config)).results
    return result.verdict


async def test_the_error_schema_case_validates_the_errors_it_gets_and_judges_no_refusal() -> None:
    """Whether a request must be refused is the errors.* cases' to judge: a gateway that accepts
    all three gives this case nothing to validate (SKIPPED), never a second FAIL for the same
    finding; error objects it does get are validated (a missing `param` FAILs)."""
    assert await _error_schema_verdict(_error_answers(valid=True, refuse=True)) is Verdict.PASS
    assert await _error_schema_verdict(_error_answers(valid=False, refuse=True)) is Verdict.FAIL
    assert await _error_schema_verdict(_error_answers(valid=True, refuse=False)) is Verdict.SKIPPED
