"""Pre-flight: before any case runs, check that the target can be tested at all.

A dead URL, a base URL without its API root (`/v1`), a wrong scheme, a key the target refuses,
or an ext_proc address that is not ``host:port`` would otherwise give one ERROR (or FAIL) per
case. Each is one ``PreflightError`` with one line saying what to fix; the CLI exits 2."""

from __future__ import annotations

import asyncio
import contextlib
import re
from urllib.parse import urlsplit

import httpx

from conformance.context import RunConfig

# `[v6 address]:port` or `host:port` (a host name or an IPv4 address; no scheme, no path)
_HOSTPORT = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?))"
                       r":(?P<port>[0-9]{1,5})$")


class PreflightError(Exception):
    """The target cannot be tested as given; the message is one line saying why."""


def parse_hostport(address: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` with a port in 1..65535, nothing else."""
    m = _HOSTPORT.match(address.strip())
    port = int(m.group("port")) if m else 0
    if not m or not 0 < port < 65536:
        raise PreflightError(
            f"--extproc {address!r} is not HOST:PORT (e.g. 127.0.0.1:10000 or [::1]:10000, port 1-65535)"
        )
    return (m.group("v6") or m.group("host")), port


def check_base_url(url: str) -> None:
    """The base URL is an absolute http(s) URL with a host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PreflightError(
            f"--base-url {url!r} is not an http:// or https:// URL with a host "
            "(e.g. http://127.0.0.1:8080/v1)"
        )
    try:
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError as exc:
        raise PreflightError(f"--base-url {url!r}: {exc}") from exc


def _key_advice(config: RunConfig) -> str:
    if config.api_key:
        source = f"${config.api_key_env}" if config.api_key_env else "--api-key"
        return f"the target refuses the API key from {source} (401 on POST /responses)"
    return (
        "the target needs an API key (401 on POST /responses): give --api-key KEY, "
        "--api-key-env VAR or set OPENAI_API_KEY"
    )


async def check_target(config: RunConfig, *, timeout: float = 10.0) -> None:
    """One request: ``POST {base}/responses`` with an empty object (invalid, so no model runs).

    Any answer but 401, 404 and 405 means the harness reaches a Responses API root."""
    check_base_url(config.base_url)
    url = config.base_url.rstrip("/") + "/responses"
    headers = {"content-type": "application/json", **config.extra_headers}
    if config.api_key:
        headers["authorization"] = f"Bearer {config.api_key}"
    try:
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(timeout), transport=config.transport, follow_redirects=False
        ) as client:
            resp = await client.post(url, content=b"{}", headers=headers)
    except httpx.HTTPError as exc:
        hint = ""
        if urlsplit(url).scheme == "https" and isinstance(exc, httpx.ConnectError):
            hint = " (does the target speak plain http://?)"
        raise PreflightError(f"cannot reach {url}: {type(exc).__name__}: {exc}{hint}") from exc
    if resp.status_code == 401:
        raise PreflightError(_key_advice(config))
    if resp.status_code in (404, 405):
        path = urlsplit(config.base_url).path.rstrip("/")
        advice = (
            f"; the API root usually ends in /v1: try --base-url {config.base_url.rstrip('/')}/v1"
            if not path.endswith("/v1")
            else ": is this the gateway's API root?"
        )
        raise PreflightError(f"POST {url} answers {resp.status_code}{advice}")
    if 300 <= resp.status_code < 400:
        where = resp.headers.get("location", "?")
        raise PreflightError(
            f"POST {url} answers {resp.status_code} (redirect to {where}): give the final URL"
        )


async def check_extproc(address: str, *, timeout: float = 5.0) -> None:
    """The ext_proc address parses strictly and accepts a TCP connection."""
    host, port = parse_hostport(address)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError) as exc:
        raise PreflightError(f"cannot connect to --extproc {address}: {type(exc).__name__}: {exc}") from exc
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def preflight(config: RunConfig) -> None:
    """Every pre-flight check of a run (``PreflightError`` on the first that fails)."""
    if config.extproc:
        parse_hostport(config.extproc)
    await check_target(config)
    if config.extproc:
        await check_extproc(config.extproc)
