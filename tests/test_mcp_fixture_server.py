"""The fixture MCP server itself: `python -m fixtures.mcp_server --port 0`, the stats route, and
clean shutdown of the in-thread helper."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fixtures import mcp_server
from reference.mcp_client import MCPServerRef, MCPToolCache

ROOT = Path(__file__).resolve().parents[1]
LINE = re.compile(r"fixtures\.mcp_server listening on (http://127\.0\.0\.1:(\d+)/mcp)")


@pytest.fixture
def cli_server() -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fixtures.mcp_server", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline() if proc.stdout else ""))
        reader.start()
        reader.join(20)
        assert lines and LINE.fullmatch(lines[0].strip()), (lines, proc.poll())
        match = LINE.fullmatch(lines[0].strip())
        assert match is not None
        yield proc, match.group(1)
    finally:
        proc.terminate()  # by PID: only the child we started
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


async def test_cli_prints_its_url_and_serves(cli_server: tuple[subprocess.Popen[str], str]) -> None:
    proc, url = cli_server
    ref = MCPServerRef("cli", url)
    cache = MCPToolCache()
    assert [t.name for t in await cache.list_tools(ref)][:3] == ["add", "echo", "lookup_weather"]
    assert (await cache.call_tool(ref, "add", {"a": 20, "b": 22})).output_text == "42"
    stats_url = url.removesuffix("/mcp") + mcp_server.STATS_PATH
    async with httpx.AsyncClient() as http:
        stats = (await http.get(stats_url)).json()
        assert stats["list_tools"] == 1 and stats["call_tool"] == {"add": 1}
        assert all(r["method"] in ("POST", "GET", "DELETE") for r in stats["requests"])
        assert (await http.delete(stats_url)).status_code == 204
        assert (await http.get(stats_url)).json() == {"list_tools": 0, "call_tool": {}, "requests": []}
    assert proc.poll() is None


def test_thread_helper_stops_cleanly() -> None:
    handle = mcp_server.start()
    port = int(handle.base_url.rsplit(":", 1)[1])
    assert handle.url == f"http://127.0.0.1:{port}/mcp"
    response = httpx.get(handle.base_url + mcp_server.STATS_PATH)
    assert response.status_code == 200 and response.json()["list_tools"] == 0
    handle.stop()
    assert not handle._thread.is_alive()
    # The port is released: nothing accepts connections there any more.
    with socket.socket() as sock, pytest.raises(OSError):
        sock.settimeout(1)
        sock.connect(("127.0.0.1", port))


def test_auth_token_is_enforced() -> None:
    with mcp_server.start(auth_token="t") as handle:
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        assert httpx.post(handle.url, json=body).status_code == 401
        assert handle.snapshot()["requests"][0]["method"] == "POST"
