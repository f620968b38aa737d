"""The `responses-conformance` CLI, exit codes, report files, and built-in target plumbing."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.cli import main, target_slug
from conformance.model import REGISTRY
from conformance.targets import (
    BACKEND_RE,
    EXTPROC_RE,
    SERVE_HTTP_RE,
    UP_ADMIN_RE,
    UP_ENVOY_RE,
    TargetError,
    spawn,
)
from tests.support.fake_gateway import RunningFake

CLI = Path(sys.executable).with_name("responses-conformance")


def test_list_prints_every_case_with_level_and_tier(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    import conformance.cases  # noqa: F401

    for case in REGISTRY.all():
        line = next(ln for ln in out.splitlines() if ln.startswith(case.id + " "))
        assert case.level.value in line and case.tier.value in line
    assert f"{len(REGISTRY)} cases" in out


def test_console_script_is_installed() -> None:
    out = subprocess.run(
        [str(CLI), "list", "--cases", "errors.*"], capture_output=True, text=True, check=True
    ).stdout
    assert "errors.invalid-json" in out and "responses.stream" not in out


def _run(running: RunningFake, tmp_path: Path, *extra: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    code = main(
        [
            "run",
            "--base-url",
            running.base_url,
            "--report-dir",
            str(tmp_path),
            "--quiet",
            "--timeout",
            "10",
            *extra,
        ]
    )
    return code, json.loads((tmp_path / "report.json").read_text())


def _own_case_ids() -> list[str]:
    """The cases this harness's fake gateway is written for (other modules test other features)."""
    import conformance.cases  # noqa: F401  (registers them)

    own = {"errors", "responses.create", "responses.stream", "state", "state.probe"}
    return [c.id for c in REGISTRY.all() if c.area in own]


def test_run_against_a_correct_gateway_exits_0_and_writes_reports(gw: RunningFake, tmp_path: Path) -> None:
    own = _own_case_ids()
    code, index = _run(gw, tmp_path, "--cases", ",".join(own))
    assert code == 0
    verdicts = {k: v["verdict"] for k, v in index.items()}
    assert set(verdicts) == set(own)
    bad = {k: v for k, v in verdicts.items() if v not in ("PASS", "SKIPPED", "UNIMPLEMENTED")}
    assert bad == {}
    assert verdicts["responses.create.scripted-exact-text"] == "UNIMPLEMENTED"  # fake is not scripted
    assert (tmp_path / "junit.xml").exists() and (tmp_path / "report.html").exists()


def test_must_failure_exits_1(gw: RunningFake, tmp_path: Path) -> None:
    gw.gateway.broken = {"object"}
    code, index = _run(gw, tmp_path, "--cases", "responses.create.object-type,responses.create.id-*")
    assert code == 1
    assert index["responses.create.object-type"]["verdict"] == "FAIL"
    assert set(index) == {
        "responses.create.object-type",
        "responses.create.id-prefix",
        "responses.create.id-unique",
    }


def test_objects_are_validated_against_the_shipped_schemas_unless_told_otherwise(
    gw: RunningFake, tmp_path: Path
) -> None:
    gw.gateway.broken = {"missing-field"}
    code, index = _run(gw, tmp_path / "a", "--cases", "responses.create.openapi-valid")
    assert code == 1 and index["responses.create.openapi-valid"]["verdict"] == "FAIL"
    assert "the shipped openai schemas" in index["responses.create.openapi-valid"]["message"]
    code, index = _run(gw, tmp_path / "b", "--cases", "responses.create.openapi-valid", "--no-openapi")
    assert code == 0 and index["responses.create.openapi-valid"]["verdict"] == "SKIPPED"


def test_should_failure_only_fails_with_strict(gw: RunningFake, tmp_path: Path) -> None:
    gw.gateway.broken = {"id-prefix"}
    code, index = _run(gw, tmp_path / "a", "--cases", "responses.create.id-*")
    assert code == 0
    assert index["responses.create.id-prefix"]["verdict"] == "NON_STRICT"
    code, _ = _run(gw, tmp_path / "b", "--cases", "responses.create.id-*", "--strict")
    assert code == 1


def test_explicit_report_paths_and_exclude(gw: RunningFake, tmp_path: Path) -> None:
    code = main(
        [
            "run",
            "--base-url",
            gw.base_url,
            "--quiet",
            "--cases",
            "state.get-after-create,state.store-false-*,state.delete-*",
            "--exclude",
            "state.delete-*",
            "--json",
            str(tmp_path / "x.json"),
            "--junit",
            str(tmp_path / "x.xml"),
            "--html",
            str(tmp_path / "x.html"),
            "--report-dir",
            str(tmp_path / "dir"),
        ]
    )
    assert code == 0
    index = json.loads((tmp_path / "x.json").read_text())
    # the stored-responses probe comes with the case it gates
    want = {"state.get-after-create", "state.store-false-not-retrievable", "state.probe.retrieve"}
    assert set(index) == want
    assert (tmp_path / "x.xml").exists() and (tmp_path / "x.html").exists()


def _closed_port() -> int:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return int(port)


def test_an_unreachable_gateway_is_one_preflight_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    code = main(["run", "--base-url", url, "--report-dir", str(tmp_path), "--quiet"])
    assert code == 2
    out = capsys.readouterr().out
    assert out.startswith("pre-flight: cannot reach") and len(out.strip().splitlines()) == 1
    assert not (tmp_path / "report.json").exists()


def test_without_preflight_an_unreachable_gateway_is_error_and_exit_1(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    code = main(
        ["run", "--base-url", url, "--report-dir", str(tmp_path), "--quiet", "--cases", "errors.invalid-json",
         "--no-preflight"]
    )
    assert code == 1
    index = json.loads((tmp_path / "report.json").read_text())
    assert index["errors.invalid-json"]["verdict"] == "ERROR"


@contextlib.contextmanager
def _answering(status: int) -> Iterator[str]:
    """A loopback HTTP server answering every request with ``status`` and an error object."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            body = b'{"error": {"message": "no", "type": "x", "param": null, "code": null}}'
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_DELETE = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("status", "path", "said"),
    [
        (404, "", "the API root usually ends in /v1: try --base-url http://"),
        (404, "/v1", "answers 404: is this the gateway's API root?"),
        (405, "/api", "answers 405; the API root usually ends in /v1"),
        (401, "/v1", "the target needs an API key (401 on POST /responses): give --api-key"),
    ],
)
def test_preflight_names_the_mistake(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, status: int,
    path: str, said: str,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with _answering(status) as root:
        code = main(["run", "--base-url", root + path, "--report-dir", str(tmp_path), "--quiet"])
    out = capsys.readouterr().out
    assert code == 2 and said in out, out
    assert len(out.strip().splitlines()) == 1


@pytest.mark.parametrize(("status", "path"), [(400, ""), (422, "/api"), (429, "/v1")])
def test_preflight_lets_through_a_root_that_answers_the_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], status: int, path: str
) -> None:
    """A gateway that serves POST /responses at its own root (no /v1, as open-responses-server
    does) and refuses the empty body, or rate-limits it, is a Responses API root: the run goes on
    (and its cases judge it), never exit 2."""
    with _answering(status) as root:
        code = main(["run", "--base-url", root + path, "--report-dir", str(tmp_path), "--quiet",
                     "--cases", "errors.missing-model"])
    assert code != 2, capsys.readouterr().out


def test_preflight_says_when_the_key_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GW_KEY", "sk-wrong")
    with _answering(401) as root:
        argv = ["run", "--base-url", root + "/v1", "--api-key-env", "GW_KEY", "--report-dir", str(tmp_path)]
        code = main(argv)
    assert code == 2 and "refuses the API key from $GW_KEY" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--base-url", "127.0.0.1:8080/v1"], "is not an http:// or https:// URL"),
        (["--base-url", "ftp://127.0.0.1/v1"], "is not an http:// or https:// URL"),
        (["--base-url", "http://127.0.0.1:8080/v1", "--extproc", "127.0.0.1"], "is not HOST:PORT"),
        (["--base-url", "http://127.0.0.1:8080/v1", "--extproc", "127.0.0.1:99999"], "is not HOST:PORT"),
        (["--base-url", "http://127.0.0.1:8080/v1", "--extproc", "http://h:1"], "is not HOST:PORT"),
    ],
)
def test_malformed_addresses_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], said: str
) -> None:
    assert main(["run", *argv, "--report-dir", str(tmp_path), "--quiet"]) == 2
    out = capsys.readouterr().out
    assert said in out and len(out.strip().splitlines()) == 1


def test_a_dead_extproc_address_fails_the_preflight(
    gw: RunningFake, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extproc = f"127.0.0.1:{_closed_port()}"
    code = main(["run", "--base-url", gw.base_url, "--extproc", extproc, "--report-dir", str(tmp_path)])
    assert code == 2 and f"cannot connect to --extproc {extproc}" in capsys.readouterr().out


def test_extproc_addresses_parse_strictly() -> None:
    from conformance.preflight import parse_hostport

    assert parse_hostport("127.0.0.1:10000") == ("127.0.0.1", 10000)
    assert parse_hostport("[::1]:1") == ("::1", 1)
    assert parse_hostport("envoy-ext.local:65535") == ("envoy-ext.local", 65535)


def test_base_url_and_key_fall_back_to_the_openai_environment(
    gw: RunningFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []

    @gw.gateway.app.before_request
    async def record() -> None:
        from quart import request

        seen.append(request.headers.get("authorization", ""))

    monkeypatch.setenv("OPENAI_BASE_URL", gw.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    code = main(["run", "--cases", "responses.create.object-type", "--report-dir", str(tmp_path), "--quiet"])
    assert code == 0 and "Bearer sk-from-env" in seen
    assert "sk-from-env" not in (tmp_path / "report.json").read_text()
    assert "$OPENAI_API_KEY" in (tmp_path / "report.html").read_text()
    seen.clear()
    code = main(["run", "--cases", "responses.create.object-type", "--api-key", "sk-given",
                 "--report-dir", str(tmp_path), "--quiet"])
    assert code == 0 and seen and set(seen) == {"Bearer sk-given"}


def test_list_is_one_line_per_case_when_piped() -> None:
    out = subprocess.run(
        [str(CLI), "list", "--cases", "files"], capture_output=True, text=True, check=True,
        env={**os.environ, "COLUMNS": "40"},
    ).stdout
    lines = out.splitlines()
    assert all(ln.startswith("files.") for ln in lines[:-1]), lines[:3]


def test_a_cases_glob_matching_nothing_is_an_error_listing_the_areas(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["list", "--cases", "file.*"]) == 2
    out = capsys.readouterr().out
    assert "--cases file.* matches no case" in out and "vector_stores" in out and "responses.stream" in out


def test_usage_errors_exit_2(gw: RunningFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    assert (
        main(
            [
                "run",
                "--base-url",
                gw.base_url,
                "--api-key-env",
                "NO_SUCH_KEY_VAR",
                "--report-dir",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert (
        main(["run", "--base-url", gw.base_url, "--cases", "nothing.matches", "--report-dir", str(tmp_path)])
        == 2
    )
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert main(["run"]) == 2  # a target is required


def test_api_key_is_sent(gw: RunningFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    @gw.gateway.app.before_request
    async def record() -> None:
        from quart import request

        seen.append(request.headers.get("authorization", ""))

    monkeypatch.setenv("GW_KEY", "sk-test")
    code, _ = _run(gw, tmp_path, "--cases", "responses.create.object-type", "--api-key-env", "GW_KEY")
    assert code == 0
    assert "Bearer sk-test" in seen
    assert "sk-test" not in (tmp_path / "report.json").read_text()
    assert "$GW_KEY" in (tmp_path / "report.html").read_text()


def test_target_slug() -> None:
    assert target_slug("http://127.0.0.1:8080/v1") == "127.0.0.1_8080"
    assert target_slug("https://gw.example.com/v1") == "gw.example.com"


# ---------------------------------------------------------------------- built-in target plumbing


@pytest.mark.parametrize(
    ("line", "rx", "value"),
    [
        ("fixtures.backend listening on http://127.0.0.1:4321", BACKEND_RE, "http://127.0.0.1:4321"),
        ("responses-gateway: HTTP on http://127.0.0.1:5555/v1", SERVE_HTTP_RE, "http://127.0.0.1:5555/v1"),
        ("responses-gateway: ext_proc gRPC on 127.0.0.1:6666", EXTPROC_RE, "127.0.0.1:6666"),
        ("extproc: 127.0.0.1:10000", EXTPROC_RE, "127.0.0.1:10000"),
        ("  ExtProc = [::1]:99", EXTPROC_RE, "[::1]:99"),
        ("envoy: http://127.0.0.1:10001", UP_ENVOY_RE, "http://127.0.0.1:10001"),
        ("responses-gateway: Envoy: http://127.0.0.1:10001/v1", UP_ENVOY_RE, "http://127.0.0.1:10001/v1"),
        ("admin: http://127.0.0.1:9901", UP_ADMIN_RE, "http://127.0.0.1:9901"),
    ],
)
def test_ready_line_patterns(line: str, rx, value: str) -> None:  # type: ignore[no-untyped-def]
    m = rx.search(line)
    assert m is not None
    assert next(v for v in m.groupdict().values() if v) == value


def test_spawned_process_lines_are_parsed_and_process_is_stopped(tmp_path: Path) -> None:
    script = (
        "import time\nprint('starting')\nprint('envoy: http://127.0.0.1:1')\n"
        "print('admin: http://127.0.0.1:2')\nprint('extproc: 127.0.0.1:3', flush=True)\ntime.sleep(60)\n"
    )
    proc = spawn("demo", [sys.executable, "-c", script], tmp_path / "demo.log")
    try:
        found = proc.wait_for(
            {"envoy": UP_ENVOY_RE, "admin": UP_ADMIN_RE, "extproc": EXTPROC_RE},
            ["envoy", "admin", "extproc"],
            20,
        )
        assert found == {
            "envoy": "http://127.0.0.1:1",
            "admin": "http://127.0.0.1:2",
            "extproc": "127.0.0.1:3",
        }
    finally:
        proc.stop(5)
    assert proc.popen.poll() is not None


def test_a_target_that_exits_early_gives_a_clear_error(tmp_path: Path) -> None:
    proc = spawn(
        "broken",
        [
            sys.executable,
            "-c",
            "import sys; print('starting'); print('error: no such option --envoy-port', "
            "file=sys.stderr); raise SystemExit(2)",
        ],
        tmp_path / "b.log",
    )
    with pytest.raises(TargetError) as info:
        proc.wait_for({"envoy": UP_ENVOY_RE}, ["envoy"], 20)
    msg = str(info.value)
    assert "exited with code 2" in msg and "['envoy']" in msg
    assert "starting" in msg  # stdout tail
    assert "last stderr" in msg and "no such option --envoy-port" in msg  # stderr (log file) tail


@pytest.mark.slow
def test_builtin_reference_target_runs_and_stops(tmp_path: Path) -> None:
    """`--target reference` starts fixtures.backend + `responses-gateway serve` and cleans up."""
    from conformance.targets import builtin_target, gateway_command

    try:
        gateway_command()
    except TargetError:
        pytest.skip("responses-gateway is not installed")
    with builtin_target("reference", timeout=60, workdir=tmp_path / "ref") as target:
        assert target.base_url.startswith("http://127.0.0.1:") and target.base_url.endswith("/v1")
        procs = [p.popen for p in target.processes]
        code = main(
            [
                "run",
                "--base-url",
                target.base_url,
                "--report-dir",
                str(tmp_path / "r"),
                "--quiet",
                "--cases",
                "responses.create.scripted-exact-text,state.delete-twice-404",
            ]
        )
    assert all(p.poll() is not None for p in procs)
    index = json.loads((tmp_path / "r" / "report.json").read_text())
    assert {k: v["verdict"] for k, v in index.items()} == {
        "responses.create.scripted-exact-text": "PASS",  # the probe detects fixtures.backend
        "state.delete-twice-404": "PASS",
        "state.probe.retrieve": "PASS",  # the probe that gates it comes with it
    }
    assert code == 0


def test_list_areas_prints_the_index_of_areas(capsys: pytest.CaptureFixture[str]) -> None:
    from conformance.cases import AREAS, area_of

    assert main(["list", "--areas"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {ln.split()[0]: ln.split()[1] for ln in lines[:-1]}
    assert list(rows) == list(AREAS)
    assert all(AREAS[a] and AREAS[a] in ln for a, ln in zip(AREAS, lines, strict=False))
    counts = {a: sum(1 for c in REGISTRY.all() if area_of(c) == a) for a in AREAS}
    assert rows == {a: str(n) for a, n in counts.items()}
    assert lines[-1] == f"{len(AREAS)} areas, {len(REGISTRY)} cases"

    assert main(["list", "--areas", "--cases", "errors"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split()[0] for ln in lines[:-1]] == ["errors"]
    assert lines[-1] == f"1 areas, {counts['errors']} cases"


def test_the_module_path_is_the_area() -> None:
    """Each case is written in the module of its area: its id starts with the module's area."""
    from conformance.cases import AREAS, area_of

    for case in REGISTRY.all():
        area = area_of(case)
        assert area in AREAS, (case.id, case.module)
        assert case.id.startswith(area + "."), (case.id, case.module)


def test_cases_cite_a_spec_sentence_and_no_document_outside_the_repository() -> None:
    """Every case quotes the sentence it enforces and names where it comes from: a published
    specification or a document of this repository, never a URL, an issue or a path elsewhere."""
    import re

    import conformance.cases  # noqa: F401

    # (URLs on the reserved example domains are sample values, not citations)
    outside = re.compile(
        r"https?://(?![\w.-]*example[./])|\bissue\s*#?\d|/work/|\.\./shared|shared/|DESIGN\.md|ENVOY-NOTES",
        re.I,
    )
    for case in REGISTRY.all():
        assert case.spec.strip() and case.source.strip(), case.id
        for text in (case.title, case.spec, case.source, case.func.__doc__ or ""):
            assert not outside.search(text), (case.id, text)


@pytest.mark.parametrize("flag", ["--waivers", "--openapi"])
def test_an_option_file_that_cannot_be_loaded_is_a_usage_error(
    flag: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.file"
    bad.write_text("[waivers]\nx = 1\n" if flag == "--waivers" else "{not json or yaml: [", encoding="utf-8")
    missing = str(tmp_path / "missing.file")
    for path in (str(bad), missing):
        code = main(["run", "--base-url", "http://127.0.0.1:9/v1", flag, path, "--report-dir", str(tmp_path)])
        assert code == 2
        # the console wraps long lines at spaces: compare without whitespace
        out = "".join(capsys.readouterr().out.split())
        assert "".join(f"cannot load {flag} {path}".split()) in out
