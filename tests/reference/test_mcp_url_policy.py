"""MCP server URL allow-list (`serve --mcp-allow-url`) and credential-free logging of URLs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import respx
from quart import Quart

from fixtures.backend.respx_routes import mount
from reference.backend import Backend
from reference.gateway import build_gateway
from reference.logredact import RedactURLCredentials, redact_url_credentials
from reference.mcp_client import MCPToolCache, url_allowed
from reference.store import SQLiteStore

BACKEND = "http://backend.test"
ALLOWED = ("https://mcp.example.com/mcp", "http://127.0.0.1:8931")


@pytest.mark.parametrize(("url", "ok"), [
    ("https://mcp.example.com/mcp", True),
    ("https://mcp.example.com/mcp/sub", True),
    ("https://MCP.example.com/mcp", True),
    ("https://user:pw@mcp.example.com/mcp", True),
    ("https://mcp.example.com/mcpx", False),
    ("https://mcp.example.com/", False),
    ("http://mcp.example.com/mcp", False),
    ("https://mcp.example.com:8443/mcp", False),
    ("https://mcp.example.com.evil.test/mcp", False),
    ("https://evil.test/?https://mcp.example.com/mcp", False),
    ("http://127.0.0.1:8931/anything", True),
    ("http://127.0.0.1:8932/", False),
    ("http://169.254.169.254/latest/meta-data", False),
    ("not a url", False),
])
def test_url_allowed(url: str, ok: bool) -> None:
    assert url_allowed(url, ALLOWED) is ok


def test_no_allow_list_allows_everything() -> None:
    assert url_allowed("http://169.254.169.254/", ()) is True


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Quart]:
    with respx.mock(assert_all_called=False) as router:
        mount(router, BACKEND)
        gateway = build_gateway(SQLiteStore(tmp_path / "db.sqlite"), Backend(BACKEND, timeout=5),
                                mcp_cache=MCPToolCache(allowed_urls=ALLOWED))
        yield gateway.http_app()
        await gateway.aclose()


@pytest.mark.parametrize("stream", [False, True])
async def test_mcp_tool_outside_the_allow_list_is_400_naming_the_tool(app: Quart, stream: bool) -> None:
    tools = [{"type": "mcp", "server_label": "meta", "server_url": "http://u:secretpw@169.254.169.254/mcp"}]
    resp = await app.test_client().post("/v1/responses", json={
        "model": "m", "input": "hi", "tools": tools, "stream": stream})
    assert resp.status_code == 400
    error = (await resp.get_json())["error"]
    assert error["code"] == "mcp_server_not_allowed"
    assert error["param"] == "tools[0].server_url"
    assert "'meta'" in error["message"]
    assert "secretpw" not in error["message"]


async def test_connector_outside_the_allow_list_is_400(app: Quart) -> None:
    resp = await app.test_client().post("/v1/connectors", json={
        "label": "meta", "server_url": "http://169.254.169.254/mcp"})
    assert resp.status_code == 400, await resp.get_data(as_text=True)
    error = (await resp.get_json())["error"]
    assert error["code"] == "mcp_server_not_allowed" and error["param"] == "server_url"


def test_redact_url_credentials() -> None:
    text = 'HTTP Request: POST http://user:s3cret@127.0.0.1:1/mcp "HTTP/1.1 200 OK" and https://tok@h/x'
    out = redact_url_credentials(text)
    assert "s3cret" not in out and "tok@" not in out
    assert "http://****@127.0.0.1:1/mcp" in out and "https://****@h/x" in out


def test_log_filter_redacts_formatted_messages(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redact")
    handler = logging.Handler()
    seen: list[str] = []
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    handler.addFilter(RedactURLCredentials())
    logger.addHandler(handler)
    try:
        logger.warning("calling %s", "http://user:s3cret@host/mcp")
    finally:
        logger.removeHandler(handler)
    assert seen == ["calling http://****@host/mcp"]


def test_serve_logs_no_url_credentials_and_applies_the_allow_list(tmp_path: Path) -> None:
    """End to end through `serve --log-level INFO --mcp-allow-url`: the MCP fixture server is
    used with credentials in its URL; nothing of them reaches the log, and a server off the
    list is refused."""
    import httpx

    from devstack.gateway_process import start_subprocess
    from fixtures import mcp_server
    from fixtures.backend.server import start_subprocess as start_backend

    mcp = mcp_server.start()
    try:
        with start_backend(port=0) as backend:
            allowed = mcp.url.rsplit("/", 1)[0]
            gateway = start_subprocess(["--backend-url", backend.url, "--http-port", "0", "--db",
                                        str(tmp_path / "db.sqlite"), "--log-level", "INFO",
                                        "--mcp-allow-url", allowed])
            try:
                url = mcp.url.replace("http://", "http://user:s3cretpw@")
                tools = [{"type": "mcp", "server_label": "fixture", "server_url": url,
                          "require_approval": "never"}]
                r = httpx.post(f"{gateway.url}/responses", timeout=30, json={
                    "model": "m", "input": '[[tool:mcp7_fixture_add:{"a":1,"b":2}]]', "tools": tools})
                assert r.status_code == 200, r.text
                refused = httpx.post(f"{gateway.url}/responses", timeout=30, json={
                    "model": "m", "input": "hi", "tools": [
                        {"type": "mcp", "server_label": "other", "server_url": "http://127.0.0.1:9/mcp"}]})
                assert refused.status_code == 400
                assert refused.json()["error"]["code"] == "mcp_server_not_allowed"
            finally:
                gateway.stop()
            output = gateway.output
            assert "s3cretpw" not in output
            assert "****@127.0.0.1" in output  # the request was logged, redacted
    finally:
        mcp.stop()
