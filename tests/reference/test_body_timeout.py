"""The direct server does not wait forever for a request body: a client that stalls mid-body gets
a 408 OpenAI error and the connection closes (JSON routes, and streamed file uploads)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from devstack.gateway_process import GatewayProcess, start_subprocess

TIMEOUT = 1.0


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    db: Path = tmp_path_factory.mktemp("body-timeout") / "db.sqlite"
    proc = start_subprocess(["--backend-url", "http://127.0.0.1:9", "--http-port", "0", "--db", str(db),
                             "--body-timeout", str(TIMEOUT)])
    try:
        yield proc
    finally:
        proc.stop()


def _stall(gateway: GatewayProcess, head: bytes, partial: bytes) -> tuple[bytes, float]:
    parts = urlsplit(gateway.base_url)
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=10) as sock:
        start = time.monotonic()
        sock.sendall(head + partial)
        answer = b""
        while chunk := sock.recv(65536):  # until the server closes the connection
            answer += chunk
        return answer, time.monotonic() - start


def test_stalled_json_body_is_408_and_closed(gateway: GatewayProcess) -> None:
    head = (b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n")
    answer, elapsed = _stall(gateway, head, b'{"model": "m"')
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b'"request_timeout"' in answer
    assert elapsed < TIMEOUT + 5


def test_stalled_upload_is_408_and_closed(gateway: GatewayProcess) -> None:
    boundary = b"XyZ"
    partial = (b"--XyZ\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nassistants\r\n"
               b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n"
               b"Content-Type: text/plain\r\n\r\nsome text")
    head = (b"POST /v1/files HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary="
            + boundary + b"\r\nContent-Length: 100000\r\n\r\n")
    answer, elapsed = _stall(gateway, head, partial)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b'"request_timeout"' in answer
    assert elapsed < TIMEOUT + 5
