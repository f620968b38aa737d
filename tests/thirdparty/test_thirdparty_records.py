"""The record comparison of `nox -s thirdparty` (thirdparty/run.py), without installing anything."""

from __future__ import annotations

from thirdparty.run import GATEWAYS, Launch, differences, keep_unstable, merge_runs, probe_ids, unrecorded


def test_a_changed_verdict_is_a_difference() -> None:
    assert differences({"a": "PASS", "b": "FAIL"}, {"a": "PASS", "b": "PASS"}) == {"b": ("FAIL", "PASS")}


def test_a_case_added_or_removed_since_the_record_is_reported_not_a_change() -> None:
    assert differences({"a": "PASS"}, {"b": "PASS"}) == {}
    assert unrecorded({"a": "PASS"}, {"b": "PASS"}) == (["b"], ["a"])


def test_an_unstable_case_accepts_each_recorded_verdict() -> None:
    record = merge_runs({"a": "PASS", "b": "ERROR"}, {"a": "PASS", "b": "PASS"})
    assert record == {"a": "PASS", "b": ["ERROR", "PASS"]}
    assert differences(record, {"a": "PASS", "b": "ERROR"}) == {}
    assert differences(record, {"a": "PASS", "b": "FAIL"}) == {"b": (["ERROR", "PASS"], "FAIL")}


def test_every_gateway_is_pinned_and_pointed_at_the_given_backend(tmp_path) -> None:  # type: ignore[no-untyped-def]
    backend = "http://127.0.0.1:9"
    for gateway in GATEWAYS.values():
        assert "==" in gateway.requirement
        launch: Launch = gateway.launch(tmp_path, 1234, backend)
        settings = " ".join(launch.argv) + " " + " ".join(launch.env.values())
        assert backend in settings
        assert "https://" not in settings


def test_a_rerun_brings_every_probe() -> None:
    """A case blocked by a failed probe is BLOCKED again only when the probe runs beside it (the
    create probe gates by what a case's own create answers, so no selection brings it)."""
    assert {"responses.create.probe", "state.probe.retrieve", "files.probe.upload"} <= set(probe_ids())


def test_an_update_keeps_a_case_recorded_unstable_while_it_stays_within_its_verdicts() -> None:
    old = {"a": ["ERROR", "FAIL"], "b": ["ERROR", "PASS"], "c": "FAIL"}
    new = {"a": "ERROR", "b": "FAIL", "c": "PASS"}
    assert keep_unstable(old, new) == {"a": ["ERROR", "FAIL"], "b": "FAIL", "c": "PASS"}
