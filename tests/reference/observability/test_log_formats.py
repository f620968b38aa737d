"""`serve --log-format text|json`: a real gateway process, its output read line by line."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import httpx
import pytest

from devstack.gateway_process import start_subprocess
from fixtures.backend.server import run_in_thread
from reference.observability import logs


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_access_line_and_request_id_in_the_gateways_output(tmp_path: Path, log_format: str) -> None:
    with run_in_thread() as backend, start_subprocess(
        ["--backend-url", backend.url, "--http-port", "0", "--db", str(tmp_path / "gw.sqlite3"),
         "--log-format", log_format]
    ) as gw:
        resp = httpx.post(gw.url + "/responses", json={"model": "m", "input": "hello"},
                          headers={"x-request-id": f"req-{log_format}-42"}, timeout=20)
        assert resp.status_code == 200
        assert resp.headers["x-request-id"] == f"req-{log_format}-42"
        # Sent to the model server too.
        assert backend.engine.recorder.requests[-1]["headers"]["x-request-id"] == f"req-{log_format}-42"
        if log_format == "text":
            line = gw.child.wait_for(re.compile(r".*reference\.access \[req-text-42\]: POST .*"))
            assert re.search(r" INFO reference\.access \[req-text-42\]: POST /v1/responses 200 \d+\.\d+ms$",
                             line.group(0).rstrip())
        else:
            line = gw.child.wait_for(re.compile(r"\{.*\"req-json-42\".*"))
            record = json.loads(line.group(0))
            keys = ("level", "logger", "request_id", "method", "path", "status", "via")
            assert {k: record[k] for k in keys} == {
                "level": "INFO", "logger": "reference.access", "request_id": "req-json-42", "method": "POST",
                "path": "/v1/responses", "status": 200, "via": "http"}
            assert record["duration_ms"] >= 0 and record["time"]


def test_every_line_of_a_request_carries_its_id(capsys: pytest.CaptureFixture[str]) -> None:
    handler = logging.StreamHandler()
    logs.install("text", [handler])
    log = logging.getLogger("tests.observability.any")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("outside")
        token = logs.REQUEST_ID.set("rid-7")
        log.warning("inside")
        logs.REQUEST_ID.reset(token)
    finally:
        log.removeHandler(handler)
    err = capsys.readouterr().err.splitlines()
    assert err[0].endswith("tests.observability.any [-]: outside")
    assert err[1].endswith("tests.observability.any [rid-7]: inside")


def test_unknown_log_format_is_refused() -> None:
    with pytest.raises(ValueError, match="text, json"):
        logs.formatter("xml")
