"""Servers shared by the reference tests: each fixture starts one real process or thread on a
free loopback port per test module that asks for it, and stops it when that module is done."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import OpenAI

from devstack.gateway_process import GatewayProcess, start_subprocess
from devstack.stack import Stack, StackConfig
from fixtures import mcp_server
from fixtures.backend.server import run_in_thread
from fixtures.mcp_server import MCPServerHandle
from tests.support.mcp import TOKEN


@pytest.fixture(scope="module")
def mcp() -> Iterator[MCPServerHandle]:
    """The fixture MCP server (`fixtures.mcp_server`), without authentication."""
    handle = mcp_server.start()
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="module")
def auth_mcp() -> Iterator[MCPServerHandle]:
    """The fixture MCP server that demands `Authorization: Bearer <TOKEN>`."""
    handle = mcp_server.start(auth_token=TOKEN)
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """A real `responses-gateway serve` subprocess in front of the scripted backend server."""
    db: Path = tmp_path_factory.mktemp("gateway") / "gateway.sqlite3"
    with run_in_thread() as backend, start_subprocess(
        ["--backend-url", backend.url, "--http-port", "0", "--db", str(db)]
    ) as gw:
        yield gw


@pytest.fixture
def client(gateway: GatewayProcess) -> Iterator[OpenAI]:
    """The official `openai` SDK, unchanged, against `gateway`."""
    # max_retries=0: a failure must show up as the status the gateway sent, not a retry.
    with OpenAI(base_url=gateway.url, api_key="unused", max_retries=0, timeout=20) as c:
        yield c


@pytest.fixture(scope="module")
def up_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """`responses-gateway up`'s stack: scripted backend, gateway subprocess and a real Envoy."""
    db = tmp_path_factory.mktemp("up-stack") / "gateway.sqlite3"
    with Stack(StackConfig(db=str(db))) as running:
        yield running


@pytest.fixture(params=["direct", "envoy"])
def up_client(request: pytest.FixtureRequest, up_stack: Stack) -> Iterator[OpenAI]:
    """The `openai` SDK against `up_stack`: the gateway's HTTP port directly, then through Envoy
    (where `POST /v1/responses` goes through the ext_proc filter)."""
    root = up_stack.http_url if request.param == "direct" else up_stack.envoy_url
    with OpenAI(base_url=root.rstrip("/") + "/v1", api_key="unused", max_retries=0, timeout=60) as c:
        yield c
