"""Envoy stacks that tests of several modules share."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from gateway_envoy.launcher import RequestMode, render

from devstack.stack import Stack, StackConfig


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EgressStack(Stack):
    """A Stack whose Envoy also has the `backend_egress` listener (render(egress_port=...)),
    optionally with a short message_timeout to prove the servicer extends it."""

    def __init__(self, config: StackConfig, *, message_timeout_s: float = 10.0, egress: bool = True,
                 request_mode: RequestMode = "buffered") -> None:
        super().__init__(config)
        self.message_timeout_s = message_timeout_s
        self.egress = egress
        self.request_mode: RequestMode = request_mode
        self.egress_port: int | None = None

    def _start_envoy(self) -> None:
        backend, http = urlsplit(self.backend_url), urlsplit(self.http_url)
        self.egress_port = _free_port() if self.egress else None
        config = render(
            listen_port=0, admin_port=0,
            http_host=http.hostname or "127.0.0.1", http_port=http.port or 80,
            extproc_host=self.extproc_host, extproc_port=self.extproc_port,
            backend_host=backend.hostname or "127.0.0.1", backend_port=backend.port or 80,
            mode=self.config.mode, request_buffer_limit=self.config.max_body_bytes,
            backend_timeout_s=self.config.backend_timeout, message_timeout_s=self.message_timeout_s,
            egress_port=self.egress_port, request_mode=self.request_mode,
        )
        self.envoy = self.envoy_process(config)
        self.envoy.start()
