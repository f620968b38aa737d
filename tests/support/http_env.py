"""Request and error helpers for tests that drive the gateway's HTTP app through Quart's test client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import respx

from fixtures.backend.respx_routes import mount
from reference.backend import Backend
from reference.gateway import Gateway, build_gateway
from reference.store import SQLiteStore

BACKEND = "http://backend.test"


def sqlite_gateway(db: Path) -> Gateway:
    """A gateway on the SQLite store at `db`, its backend at BACKEND (mount it with respx)."""
    return build_gateway(SQLiteStore(db), Backend(BACKEND, timeout=5))


@contextlib.asynccontextmanager
async def scripted_gateway(db: Path) -> AsyncIterator[Gateway]:
    """`sqlite_gateway(db)` with the scripted backend mounted by respx, closed on exit."""
    with respx.mock(assert_all_called=False) as router:
        mount(router, BACKEND)
        gateway = sqlite_gateway(db)
        try:
            yield gateway
        finally:
            await gateway.aclose()


def body_kwargs(body: Any = None, data: bytes | None = None) -> dict[str, Any]:
    """Keyword arguments for a test-client request: `data` as raw bytes labelled JSON (to send
    what `json=` cannot encode), else `body` as JSON, else no body."""
    if data is not None:
        return {"data": data, "headers": {"content-type": "application/json"}}
    return {} if body is None else {"json": body}


def error_fields(parsed: Any) -> dict[str, Any]:
    """The `error` object of an OpenAI error body, after checking the body has its exact shape."""
    assert set(parsed) == {"error"} and set(parsed["error"]) == {"message", "type", "param", "code"}
    err: dict[str, Any] = parsed["error"]
    return err
