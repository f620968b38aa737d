"""The pytest plugin: inert by default, one test item per case with --gateway-url."""

from __future__ import annotations

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
            "responses.create.openapi-valid",  # SKIPPED (no --gateway-openapi) -> skipped
        ]
    )
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "--gateway-url", gw.base_url, "--gateway-cases", selected, "-rA"
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
