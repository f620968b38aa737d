"""Built-in targets in containers, started with testcontainers: ``reference-docker`` and
``reference-ollama``.

``reference-docker`` is ``reference-envoy`` with every part in a container: the scripted backend
and the MCP fixture server (the backend image), the gateway (the gateway image) and a real Envoy
(the Envoy image) with the configuration ``responses-gateway up`` uses, rendered by
``python -m gateway_envoy.launcher --print-config``. ``reference-ollama`` puts Ollama (testcontainers'
Ollama module, a small chat model and an embedding model) behind the same gateway and Envoy.

Images: ``GATEWAY_IMAGE``, ``BACKEND_IMAGE``, ``ENVOY_IMAGE`` from the environment, else built
from this checkout by ``docker/build_images.py`` (which prints them).

Networking: where the engine has a default bridge, the containers share a Docker network and
Envoy's listener and the gateway's ext_proc port are published on 127.0.0.1; where it has none
(``dockerd --bridge=none``) they use the host's network and free loopback ports.
``RESPONSES_CONFORMANCE_DOCKER_NETWORK=host|bridge`` forces one.

Every container carries the label ``org.responses-conformance.run=<id>`` and is removed when the
target stops, also after a failure, Ctrl-C or SIGTERM. Ryuk (testcontainers' reaper, an image of
its own) is disabled unless ``TESTCONTAINERS_RYUK_DISABLED`` says otherwise.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from conformance.target_base import (
    BACKEND_RE,
    EXTPROC_RE,
    MCP_SERVER_RE,
    SERVE_HTTP_RE,
    RunningTarget,
    TargetError,
    TargetUnavailable,
)

CONTAINER_TARGETS = ("reference-docker", "reference-ollama")
RUN_LABEL = "org.responses-conformance.run"
CHECKOUT = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = CHECKOUT / "docker" / "build_images.py"
# Chosen for size: a 0.5B chat model (~400 MB) and a 23M-parameter embedding model (~46 MB).
OLLAMA_IMAGE = os.environ.get("OLLAMA_IMAGE", "ollama/ollama:latest")
OLLAMA_CHAT_MODEL = os.environ.get("OLLAMA_CHAT_MODEL", "qwen2.5:0.5b")
OLLAMA_EMBEDDING_MODEL = os.environ.get("OLLAMA_EMBEDDING_MODEL", "all-minilm")
# The gateway embeds with this model name (reference.ingest's default); Ollama serves the
# embedding model under it after `ollama cp`.
GATEWAY_EMBEDDING_MODEL = "text-embedding-3-small"
# What `responses-gateway up` gives the gateway and Envoy (devstack.stack, reference.config).
MAX_BODY_BYTES = 8 * 1024 * 1024
BACKEND_TIMEOUT_S = 120.0


def _docker_client() -> Any:
    """The Docker SDK client, or TargetUnavailable saying why there is none."""
    try:
        # (through importlib: mypy would take the checkout's docker/ folder for the package)
        docker: Any = importlib.import_module("docker")
    except ImportError:
        raise TargetUnavailable(
            "the container targets need the docker extra: pip install 'responses-gateway-conformance[docker]'"
        ) from None
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except Exception as exc:  # the SDK raises DockerException, requests errors, OSError ...
        raise TargetUnavailable(f"no Docker engine is reachable ({type(exc).__name__}: {exc})") from None
    return client


def docker_unavailable_reason() -> str | None:
    """None when a Docker engine answers; otherwise one line saying why not."""
    try:
        _docker_client().close()
    except TargetUnavailable as exc:
        return str(exc)
    return None


def ollama_unavailable_reason() -> str | None:
    """None when the Ollama image is present or can be pulled; otherwise one line saying why not."""
    reason = docker_unavailable_reason()
    if reason:
        return reason
    client = _docker_client()
    try:
        try:
            client.images.get(OLLAMA_IMAGE)
            return None
        except Exception:
            pass
        if os.environ.get("RESPONSES_CONFORMANCE_PULL", "1") == "0":
            # No registry on this network: do not even try (a pull would query the resolver).
            return (f"the image {OLLAMA_IMAGE} is not present and cannot be pulled "
                    "(pulling is off: RESPONSES_CONFORMANCE_PULL=0)")
        try:
            client.images.pull(OLLAMA_IMAGE)
            return None
        except Exception as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return f"the image {OLLAMA_IMAGE} is not present and cannot be pulled ({first})"
    finally:
        client.close()


def _use_host_network(client: Any) -> bool:
    forced = os.environ.get("RESPONSES_CONFORMANCE_DOCKER_NETWORK", "").strip().lower()
    if forced in ("host", "bridge"):
        return forced == "host"
    return not client.networks.list(names=["bridge"])


def _images() -> dict[str, str]:
    wanted = ("GATEWAY_IMAGE", "BACKEND_IMAGE", "ENVOY_IMAGE")
    if all(os.environ.get(k) for k in wanted):
        return {k: os.environ[k] for k in wanted}
    if not BUILD_SCRIPT.exists():
        raise TargetError(
            "set GATEWAY_IMAGE, BACKEND_IMAGE and ENVOY_IMAGE, or run from a checkout "
            "(docker/build_images.py builds them)"
        )
    print("building the images (docker/build_images.py) ...", file=sys.stderr, flush=True)
    result = subprocess.run([sys.executable, str(BUILD_SCRIPT)], stdout=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise TargetError(f"docker/build_images.py failed with exit code {result.returncode} (see above)")
    found = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    return {k: os.environ.get(k) or found[k] for k in wanted}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status) == 200
    except (OSError, urllib.error.URLError):
        return False


class _Containers:
    """The containers of one run: started through testcontainers, all removed by ``close``."""

    def __init__(self, client: Any, host_network: bool, timeout: float) -> None:
        self.client = client
        self.host_network = host_network
        self.timeout = timeout
        self.run_id = uuid.uuid4().hex[:12]
        self.started: list[Any] = []
        self.network: Any = None
        if not host_network:
            from testcontainers.core.network import Network

            self.network = Network()
            self.network.create()

    def start(self, name: str, image: str, command: list[str], *, entrypoint: list[str] | None = None,
              env: dict[str, str] | None = None, publish: tuple[int, ...] = (),
              volumes: dict[str, str] | None = None, cls: Any = None, healthcheck: bool = True) -> Any:
        from testcontainers.core.container import DockerContainer

        container = (cls or DockerContainer)(image)
        if command:
            container.with_command(command)
        kwargs: dict[str, Any] = {"labels": {RUN_LABEL: self.run_id, f"{RUN_LABEL}.part": name}}
        if entrypoint is not None:
            kwargs["entrypoint"] = entrypoint
        if not healthcheck:  # the image's healthcheck is another program's
            kwargs["healthcheck"] = {"test": ["NONE"]}
        if self.host_network:
            kwargs["network_mode"] = "host"
            container.ports.clear()  # nothing to publish on the host's own network
        else:
            container.with_network(self.network).with_network_aliases(name)
            for port in publish:  # on loopback only, on a free port the engine picks
                container.ports[f"{port}/tcp"] = ("127.0.0.1", None)  # type: ignore[assignment]
        container.with_kwargs(**kwargs)
        for key, value in (env or {}).items():
            container.with_env(key, value)
        for host_path, container_path in (volumes or {}).items():
            container.with_volume_mapping(host_path, container_path, "ro")
        self.started.append(container)
        container.start()
        return container

    def published(self, container: Any, port: int) -> int:
        return int(container.get_exposed_port(port))

    def wait_for_line(self, container: Any, name: str, pattern: re.Pattern[str]) -> re.Match[str]:
        deadline = time.monotonic() + self.timeout
        while True:
            out, err = container.get_logs()
            text = (out or b"").decode(errors="replace") + (err or b"").decode(errors="replace")
            for line in text.splitlines():
                match = pattern.search(line)
                if match:
                    return match
            container.get_wrapped_container().reload()
            status = container.get_wrapped_container().status
            if status in ("exited", "dead") or time.monotonic() > deadline:
                raise TargetError(f"container {name} ({status}) printed no line matching "
                                  f"{pattern.pattern!r}:\n{self.tail(container)}")
            time.sleep(0.2)

    def wait_until(self, container: Any, name: str, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + self.timeout
        while not ready():
            container.get_wrapped_container().reload()
            status = container.get_wrapped_container().status
            if status in ("exited", "dead") or time.monotonic() > deadline:
                raise TargetError(
                    f"container {name} ({status}): {what} never answered:\n{self.tail(container)}"
                )
            time.sleep(0.2)

    @staticmethod
    def tail(container: Any, lines: int = 20) -> str:
        with contextlib.suppress(Exception):
            out, err = container.get_logs()
            text = (out or b"").decode(errors="replace") + (err or b"").decode(errors="replace")
            return "\n".join("    " + ln for ln in text.splitlines()[-lines:]) or "    (no output)"
        return "    (no logs)"

    def close(self) -> None:
        """Remove every container of this run (with its anonymous volumes), then the network."""
        for container in reversed(self.started):
            with contextlib.suppress(Exception):
                container.stop()
        # Anything labelled with this run that a failed start left behind.
        with contextlib.suppress(Exception):
            labelled = {"label": f"{RUN_LABEL}={self.run_id}"}
            for leftover in self.client.containers.list(all=True, filters=labelled):
                leftover.remove(force=True, v=True)
        if self.network is not None:
            with contextlib.suppress(Exception):
                self.network.remove()


def _render_envoy_config(path: Path, *, host_network: bool, listen_port: int, admin_port: int,
                         http: tuple[str, int], extproc: tuple[str, int], backend: tuple[str, int]) -> None:
    cmd = [
        sys.executable, "-m", "gateway_envoy.launcher", "--print-config",
        "--listen-address", "127.0.0.1" if host_network else "0.0.0.0",
        "--listen-port", str(listen_port), "--admin-port", str(admin_port),
        "--http-host", http[0], "--http-port", str(http[1]),
        "--extproc-host", extproc[0], "--extproc-port", str(extproc[1]),
        "--backend-host", backend[0], "--backend-port", str(backend[1]),
        "--request-buffer-limit", str(MAX_BODY_BYTES), "--backend-timeout", f"{BACKEND_TIMEOUT_S:g}",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise TargetError(f"rendering the Envoy configuration failed:\n{result.stderr[-2000:]}")
    path.write_text(result.stdout)
    path.chmod(0o644)  # Envoy runs as uid 101 in its image
    path.parent.chmod(0o755)


def _start_stack(parts: _Containers, images: dict[str, str], workdir: Path, profile: str,
                 backend: tuple[str, int] | None, target: RunningTarget) -> None:
    """MCP server, (scripted backend,) gateway and Envoy; fills in the target's addresses."""
    host = parts.host_network
    bind = "127.0.0.1" if host else "0.0.0.0"

    mcp = parts.start("mcp", images["BACKEND_IMAGE"], ["--host", bind, "--port", "0" if host else "8765"],
                      entrypoint=["python", "-m", "fixtures.mcp_server"], healthcheck=False)
    mcp_url = parts.wait_for_line(mcp, "mcp", MCP_SERVER_RE).group("url")
    target.mcp_server_url = mcp_url if host else "http://mcp:8765/mcp"

    if backend is None:
        # Host network: the ports are chosen here, so the images' healthchecks (HEALTH_URL) follow.
        backend_port = _free_port() if host else 11434
        scripted = parts.start("backend", images["BACKEND_IMAGE"],
                               ["--host", bind, "--port", str(backend_port)], env={"HEALTH_URL": f"http://127.0.0.1:{backend_port}/_fixture/health"})
        url = parts.wait_for_line(scripted, "backend", BACKEND_RE).group("url")
        backend = ("127.0.0.1", int(url.rsplit(":", 1)[1].split("/")[0])) if host else ("backend", 11434)

    gateway_port = _free_port() if host else 8080
    gateway = parts.start(
        "gateway", images["GATEWAY_IMAGE"],
        ["serve", "--backend-url", f"http://{backend[0]}:{backend[1]}", "--host", bind,
         "--http-port", str(gateway_port), "--extproc-port", "auto" if host else "10000",
         "--db", "/data/responses.sqlite3", "--max-body-bytes", str(MAX_BODY_BYTES),
         "--backend-timeout", f"{BACKEND_TIMEOUT_S:g}", "--log-level", "WARNING", "--profile", profile],
        publish=(10000,), env={"HEALTH_URL": f"http://127.0.0.1:{gateway_port}/health"},
    )
    http_url = parts.wait_for_line(gateway, "gateway", SERVE_HTTP_RE).group("url")
    extproc_addr = parts.wait_for_line(gateway, "gateway", EXTPROC_RE).group("addr")
    if host:
        http_port = int(http_url.split("://", 1)[1].split("/")[0].rsplit(":", 1)[1])
        extproc_port = int(extproc_addr.rsplit(":", 1)[1])
        http, extproc = ("127.0.0.1", http_port), ("127.0.0.1", extproc_port)
        target.extproc = f"127.0.0.1:{extproc_port}"
    else:
        http, extproc = ("gateway", 8080), ("gateway", 10000)
        target.extproc = f"127.0.0.1:{parts.published(gateway, 10000)}"

    listen_port, admin_port = (_free_port(), _free_port()) if host else (8000, 9901)
    config = workdir / "envoy" / "envoy.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    _render_envoy_config(config, host_network=host, listen_port=listen_port, admin_port=admin_port,
                         http=http, extproc=extproc, backend=backend)
    envoy = parts.start(
        "envoy", images["ENVOY_IMAGE"],
        ["envoy", "-c", "/etc/envoy/envoy.yaml", "--log-level", "warning", "--concurrency", "1",
         "--disable-hot-restart"],
        volumes={str(config): "/etc/envoy/envoy.yaml"}, publish=(8000,),
    )
    if host:
        target.admin_url = f"http://127.0.0.1:{admin_port}"
        parts.wait_until(envoy, "envoy", lambda: _http_ok(f"{target.admin_url}/ready"), "admin /ready")
        envoy_url = f"http://127.0.0.1:{listen_port}"
    else:
        # Envoy's admin binds 127.0.0.1 inside its container (it is never published): readiness is
        # the gateway's /health answering through Envoy's listener.
        envoy_url = f"http://127.0.0.1:{parts.published(envoy, 8000)}"
        parts.wait_until(envoy, "envoy", lambda: _http_ok(f"{envoy_url}/health"), "/health through Envoy")
    target.base_url = envoy_url + "/v1"


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so the containers are removed either way."""
    def raise_interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, raise_interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def container_target(
    name: str, *, workdir: Path, timeout: float, profile: str
) -> Iterator[RunningTarget]:
    """Start a container target, yield it, and remove every container it started."""
    if name not in CONTAINER_TARGETS:
        raise TargetError(f"unknown container target {name!r}")
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
    client = _docker_client()
    if name == "reference-ollama":
        reason = ollama_unavailable_reason()
        if reason:
            client.close()
            raise TargetUnavailable(reason)
    target = RunningTarget(name, base_url="", workdir=workdir)
    with _sigterm_as_interrupt():
        images = _images()
        parts = _Containers(client, _use_host_network(client), timeout)
        try:
            backend = _start_ollama(parts) if name == "reference-ollama" else None
            _start_stack(parts, images, workdir, profile, backend, target)
            yield target
        finally:
            parts.close()
            client.close()


def _start_ollama(parts: _Containers) -> tuple[str, int]:
    """Ollama with a small chat model and an embedding model (served under the gateway's name)."""
    from testcontainers.ollama import OllamaContainer

    host = parts.host_network
    ollama = parts.start("ollama", OLLAMA_IMAGE, [], cls=OllamaContainer, publish=(11434,),
                         env={"OLLAMA_HOST": f"127.0.0.1:{_free_port()}"} if host else None)
    port = int(ollama.env["OLLAMA_HOST"].rsplit(":", 1)[1]) if host else 11434
    for model in (OLLAMA_CHAT_MODEL, OLLAMA_EMBEDDING_MODEL):
        ollama.pull_model(model)
    ollama.exec(f"ollama cp {OLLAMA_EMBEDDING_MODEL} {GATEWAY_EMBEDDING_MODEL}")
    return ("127.0.0.1", port) if host else ("ollama", 11434)
