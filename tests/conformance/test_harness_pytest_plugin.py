"""The pytest plugin: inert by default, one test item per case with --gateway-url."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from tests.support.fake_gateway import RunningFake

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _quiet_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")


def test_plugin_is_inert_without_gateway_url(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_one():\n    assert True\n")
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_each_case_is_a_test_item(pytester: pytest.Pytester, gw: RunningFake) -> None:
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "--gateway-url", gw.base_url, "--collect-only", "-q"
    )
    out = result.stdout.str()
    assert "responses.stream.sequence-monotonic" in out
    assert "state.delete-twice-404" in out


def test_verdicts_map_to_pytest_outcomes(pytester: pytest.Pytester, gw: RunningFake) -> None:
    gw.gateway.broken = {"object", "id-prefix"}
    selected = ",".join(
        [
            "responses.create.object-type",  # MUST, broken -> failed
            "responses.create.id-prefix",  # SHOULD, broken -> passed with a warning
            "responses.create.status-enum",  # MUST, fine -> passed
            "responses.create.scripted-exact-text",  # UNIMPLEMENTED (fake is not scripted) -> skipped
            "responses.create.openapi-valid",  # SKIPPED (--gateway-no-openapi) -> skipped
        ]
    )
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "--gateway-url", gw.base_url, "--gateway-cases", selected, "-rA",
        "--gateway-no-openapi",
    )
    result.assert_outcomes(failed=1, passed=2, skipped=2, warnings=1)
    out = result.stdout.str()
    assert "FAIL [MUST] responses.create.object-type" in out
    assert "curl -sS -X POST" in out
    strict = pytester.runpytest_inprocess(
        "-p",
        "no:cacheprovider",
        "--gateway-url",
        gw.base_url,
        "--gateway-cases",
        "responses.create.id-*",
        "--gateway-strict",
    )
    strict.assert_outcomes(failed=1, passed=1)


def test_keyword_selection_works_on_case_items(pytester: pytest.Pytester, gw: RunningFake) -> None:
    result = pytester.runpytest_inprocess(
        "-p",
        "no:cacheprovider",
        "--gateway-url",
        gw.base_url,
        "--gateway-cases",
        "state.*",
        "--gateway-exclude",
        "state.chain.*",
        "-k",
        "delete and not unknown",
        "-m",
        "conformance",
    )
    result.assert_outcomes(passed=2)  # state.delete-then-get-404, state.delete-twice-404


def test_only_conformance_items_run_without_paths(pytester: pytest.Pytester, gw: RunningFake) -> None:
    """`pytest --gateway-url URL` from a project root runs the cases, not the project's tests (which
    may need extras the harness does not)."""
    pytester.makepyfile("import not_installed_anywhere\n\ndef test_x():\n    assert False\n")
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "--gateway-url", gw.base_url,
        "--gateway-cases", "responses.create.status-enum",
    )
    result.assert_outcomes(passed=1)


def test_a_failed_probe_blocks_its_cases_as_in_the_cli(pytester: pytest.Pytester, gw: RunningFake) -> None:
    @gw.gateway.app.before_request
    async def storage_not_configured() -> Any:
        from quart import request

        if request.method == "POST" and request.path == "/v1/files":
            error = {"message": "not configured", "type": "server_error", "param": None, "code": None}
            return {"error": error}, 500
        return None

    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "--gateway-url", gw.base_url, "--gateway-cases", "files.list.shape", "-rs"
    )
    result.assert_outcomes(failed=1, skipped=1)  # the probe (brought in), the case BLOCKED
    out = result.stdout.str()
    assert "BLOCKED: blocked by files.probe.upload: FAIL POST /files succeeds" in out
    waivers = pytester.makefile(".toml", waivers='[waivers]\n"files.probe.upload" = "storage is off here"\n')
    waived = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "--gateway-url", gw.base_url, "--gateway-cases", "files.list.shape",
        "--gateway-waivers", str(waivers), "-rs",
    )
    waived.assert_outcomes(skipped=2)
    assert "waived: storage is off here" in waived.stdout.str()


def test_every_cli_option_has_a_plugin_twin(
    pytester: pytest.Pytester, gw: RunningFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conformance.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    run = sub.choices["run"]
    cli = {opt for action in run._actions for opt in action.option_strings if opt.startswith("--")}
    # reports and built-in targets are pytest's and the CLI's own business
    own = {"--help", "--target", "--report-dir", "--junit", "--json", "--html", "--markdown", "--quiet"}
    twins = {"--base-url": "--gateway-url"}
    help_text = pytester.runpytest_inprocess("--help").stdout.str()
    missing = [o for o in sorted(cli - own) if twins.get(o, "--gateway-" + o[2:]) not in help_text]
    assert not missing

    seen: list[str] = []

    @gw.gateway.app.before_request
    async def record() -> None:
        from quart import request

        seen.append(request.headers.get("authorization", ""))

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "--gateway-url", gw.base_url,
        "--gateway-cases", "responses.create.status-enum", "--gateway-api-key", "sk-plugin",
    )
    result.assert_outcomes(passed=1)
    assert "Bearer sk-plugin" in seen


def test_an_unreachable_gateway_is_one_usage_error(pytester: pytest.Pytester) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--gateway-url", f"http://127.0.0.1:{port}/v1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "pre-flight: cannot reach" in result.stderr.str()
    # collecting sends nothing to the gateway: no pre-flight, the cases are listed
    listed = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "--collect-only", "-q", "--gateway-url", f"http://127.0.0.1:{port}/v1"
    )
    assert listed.ret == pytest.ExitCode.OK
    assert "responses.stream.sequence-monotonic" in listed.stdout.str()


def test_the_level_is_the_one_of_gateway_profile(pytester: pytest.Pytester, gw: RunningFake) -> None:
    """The SSE event field that does not match the payload type is a SHOULD under the OpenAI
    profile (NON_STRICT: passes with a warning) and a MUST under Open Responses (fails)."""
    gw.gateway.broken = {"stream-event-field"}
    args = ["-p", "no:cacheprovider", "--gateway-url", gw.base_url, "--gateway-no-openapi", "-rA",
            "--gateway-cases", "responses.stream.event-field-matches-type"]
    pytester.runpytest_inprocess(*args, "--gateway-profile", "openai").assert_outcomes(passed=1, warnings=1)
    strict = pytester.runpytest_inprocess(*args, "--gateway-profile", "openresponses")
    strict.assert_outcomes(failed=1)
    assert "FAIL [MUST] responses.stream.event-field-matches-type" in strict.stdout.str()
