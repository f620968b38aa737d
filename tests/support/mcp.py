"""Test helpers from tests/reference/test_mcp_client.py, shared with other test modules."""

from __future__ import annotations

import socket

TOKEN = "s3cret"


def free_closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
