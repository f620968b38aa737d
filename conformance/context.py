"""What a case sees: ``CaseContext`` (HTTP helpers that record a transcript, checks, verdict
exits, profile, model, scripted-backend detection, schema validation, gRPC channel)."""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import secrets
import shlex
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from conformance.model import Case
from conformance.profiles import PROFILES, Profile
from conformance.sse import SSEEvent, SSEParser, json_objects

if TYPE_CHECKING:
    from conformance.schema import SchemaValidator

MAX_BODY_CHARS = 64_000
_MISSING: Any = object()


# --------------------------------------------------------------------------- verdict exits


class CaseExit(Exception):
    """Base of the exceptions a case raises to end with a verdict other than PASS."""


class CheckFailed(CaseExit):
    def __init__(self, what: str, expected: Any = None, actual: Any = None) -> None:
        super().__init__(what)
        self.what = what
        self.expected = expected
        self.actual = actual


class Unimplemented(CaseExit):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RateLimited(Exception):
    """The target kept answering 429 after every allowed retry (verdict ERROR, never FAIL)."""


class BlockedByProbe(Exception):
    """The case's own set-up failed exactly as a probe of this run did: the case is BLOCKED by
    that probe (its verdict carries the finding) instead of repeating it as a FAIL."""

    def __init__(self, probe_id: str) -> None:
        super().__init__(probe_id)
        self.probe_id = probe_id


#: The probe of creating a response (a plain non-streaming create answers 200 with an object).
CREATE_PROBE = "responses.create.probe"


class Skipped(CaseExit):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --------------------------------------------------------------------------- transcript


@dataclass
class Exchange:
    """One HTTP request and its answer, as recorded for the report."""

    method: str
    url: str
    request_headers: dict[str, str]
    request_body: str | None
    curl: str
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str | None = None
    sse_frames: list[dict[str, Any]] | None = None
    sse_discarded_tail: str | None = None
    # WebSocket mode (conformance/websocket.py): every frame with direction and arrival time
    ws_frames: list[dict[str, Any]] | None = None
    elapsed_ms: float | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Check:
    what: str
    ok: bool
    expected: Any = None
    actual: Any = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "ok": self.ok,
            "expected": _jsonable(self.expected),
            "actual": _jsonable(self.actual),
        }


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)


def _clip(text: str) -> str:
    if len(text) <= MAX_BODY_CHARS:
        return text
    return text[:MAX_BODY_CHARS] + f"\n... [{len(text) - MAX_BODY_CHARS} more characters clipped]"


@dataclass
class StreamResult:
    """A streamed answer: status, headers, the raw bytes and the parsed SSE events."""

    status: int
    headers: httpx.Headers
    raw: bytes
    events: list[SSEEvent]
    chunks: int
    discarded_tail: str | None
    comments: list[str]
    # When each event of ``events`` was parsed, in milliseconds since the request was sent (the
    # harness's clock; the same times the transcript shows as ``t_ms``), and when the response
    # headers and the end of the body arrived. Timing cases judge streaming by these.
    arrivals_ms: list[float] = field(default_factory=list)
    headers_ms: float | None = None
    end_ms: float | None = None

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @property
    def done_marker(self) -> bool:
        return any(e.data == "[DONE]" for e in self.events)

    @property
    def payloads(self) -> list[dict[str, Any]]:
        """The JSON object of every event whose data is JSON (``[DONE]`` and garbage left out)."""
        return json_objects(self.events)

    @property
    def bad_frames(self) -> list[str]:
        """Data of events that are neither a JSON object nor ``[DONE]``."""
        bad: list[str] = []
        for e in self.events:
            if e.data == "[DONE]":
                continue
            try:
                value = json.loads(e.data)
            except ValueError:
                bad.append(e.data)
                continue
            if not isinstance(value, dict):
                bad.append(e.data)
        return bad

    @property
    def types(self) -> list[str]:
        return [str(p.get("type")) for p in self.payloads]

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [p for p in self.payloads if p.get("type") == event_type]

    def timed_payloads(self) -> list[tuple[float, dict[str, Any]]]:
        """``(arrival ms, JSON object)`` of every event whose data is a JSON object."""
        out: list[tuple[float, dict[str, Any]]] = []
        for e, t in zip(self.events, self.arrivals_ms, strict=True):
            try:
                value = json.loads(e.data)
            except ValueError:
                continue
            if isinstance(value, dict):
                out.append((t, value))
        return out

    def json(self) -> Any:
        """For a non-SSE answer (e.g. an error): the body as JSON."""
        return json.loads(self.raw)


# --------------------------------------------------------------------------- configuration


@dataclass
class RunConfig:
    """Everything about the target and the run that a case may need."""

    base_url: str
    profile: Profile = PROFILES["openai"]
    model: str = "scripted"
    api_key: str | None = None
    api_key_env: str | None = None
    timeout: float = 30.0
    extproc: str | None = None
    target_name: str = "custom"
    validator: SchemaValidator | None = None
    transport: httpx.AsyncBaseTransport | None = None  # tests inject in-process transports
    extra_headers: dict[str, str] = field(default_factory=dict)
    # an MCP server the *gateway* can reach (--mcp-server-url); MCP cases are UNIMPLEMENTED without
    mcp_server_url: str | None = None
    # case id -> reason: a known, documented limitation of the target (--waivers FILE). A waived
    # case still runs; a FAIL or ERROR is reported as SKIPPED with the reason and what was seen.
    waivers: dict[str, str] = field(default_factory=dict)
    # A 429 is the target's rate limit (a router's cooldown after backend errors), not a verdict
    # on the case that met it: the request is repeated up to ``rate_limit_retries`` times, after
    # the answer's ``Retry-After`` (capped at ``max_retry_after`` seconds) or a doubling backoff.
    rate_limit_retries: int = 3
    max_retry_after: float = 10.0
    # Whether the key was given for this target (--api-key / --api-key-env) rather than picked
    # from OPENAI_API_KEY; only then do the auth cases assume the target needs it.
    api_key_explicit: bool = True
    # A key of a second tenant (--second-api-key-env): the tenant-isolation cases act as both.
    second_api_key: str | None = None


def retry_delay(headers: httpx.Headers, attempt: int, cap: float) -> float:
    """Seconds to wait before retrying a 429: ``Retry-After`` (seconds or an HTTP date), else
    0.5 s doubled per attempt; never more than ``cap``."""
    value = headers.get("retry-after", "").strip()
    delay: float | None = None
    if value:
        try:
            delay = float(value)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
                delay = (when - datetime.now(UTC)).total_seconds()
            except (TypeError, ValueError):
                delay = None
    if delay is None or delay != delay:  # absent, unreadable or NaN
        delay = 0.5 * 2**attempt
    return min(max(delay, 0.0), cap)


class RunState:
    """State shared by the cases of one run (the scripted-backend probe runs once)."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.scripted: bool | None = None
        self.scripted_reason: str = ""
        # probes of this run that did not pass: id -> (expected, seen) of the failed check; the runner
        # keeps their results beside, for the BLOCKED verdicts they cause
        self.probe_failures: dict[str, tuple[str, Any]] = {}
        self.probe_results: dict[str, Any] = {}


def probe_expected(nonce: str) -> str:
    """The reply of ``fixtures.backend`` to ``[[probe:NONCE]]`` (ARCHITECTURE.md)."""
    return "fixtures.backend/1 " + hashlib.sha256(nonce.encode()).hexdigest()[:16]


def output_text(response: Mapping[str, Any]) -> str:
    """Concatenated ``output_text`` parts of the message items of a Response object."""
    parts: list[str] = []
    for item in response.get("output") or []:
        if not isinstance(item, dict) or item.get("type") != "message":
            continue
        for part in item.get("content") or []:
            if isinstance(part, dict) and part.get("type") == "output_text":
                parts.append(str(part.get("text", "")))
    return "".join(parts)


# --------------------------------------------------------------------------- the context


class CaseContext:
    def __init__(self, case: Case, config: RunConfig, state: RunState, client: httpx.AsyncClient) -> None:
        self.case = case
        self.config = config
        self.state = state
        self.client = client
        self.transcript: list[Exchange] = []
        self.checks: list[Check] = []
        self.notes: list[str] = []
        self.rate_limit_retries = 0
        self._grpc_channel: Any = None

    # ---- facts about the run
    @property
    def profile(self) -> Profile:
        return self.config.profile

    @property
    def model(self) -> str:
        return self.config.model

    def note(self, text: str) -> None:
        """Attach an observation to the report (no effect on the verdict)."""
        self.notes.append(text)

    # ---- verdict helpers
    def check(self, cond: Any, what: str, *, expected: Any = None, actual: Any = None) -> None:
        """Record a check; end the case with FAIL (MUST) / NON_STRICT (SHOULD, INFO) when false."""
        ok = bool(cond)
        self.checks.append(Check(what, ok, expected, actual))
        if not ok:
            raise CheckFailed(what, expected, actual)

    def check_eq(self, actual: Any, expected: Any, what: str) -> None:
        self.check(actual == expected, what, expected=expected, actual=actual)

    def unimplemented(self, reason: str) -> None:
        raise Unimplemented(reason)

    def skip(self, reason: str) -> None:
        raise Skipped(reason)

    def validate(self, obj: Any, schema_name: str) -> None:
        """Validate against ``--openapi PATH`` when given (otherwise a no-op)."""
        if self.config.validator is None:
            return
        errors = self.config.validator.errors(obj, schema_name)
        self.check(
            not errors,
            f"object validates against schema {schema_name!r} of {self.config.validator.path}",
            expected="no schema errors",
            actual=errors[:10],
        )

    # ---- HTTP
    async def _rate_limited(self, resp_headers: httpx.Headers, attempt: int, what: str) -> None:
        """After a 429: wait and return (the caller retries), or raise ``RateLimited``."""
        if attempt >= self.config.rate_limit_retries:
            raise RateLimited(
                f"rate limited: {what} answered 429 after {attempt} retries "
                "(the target's rate limit, not this case's requirement)"
            )
        delay = retry_delay(resp_headers, attempt, self.config.max_retry_after)
        self.rate_limit_retries += 1
        self.note(f"{what} answered 429; retried after {delay:g} s")
        await asyncio.sleep(delay)

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return self.config.base_url.rstrip("/") + "/" + path.lstrip("/")

    def _headers(self, headers: Mapping[str, str] | None, has_json: bool) -> dict[str, str]:
        out: dict[str, str] = {}
        if has_json:
            out["content-type"] = "application/json"
        if self.config.api_key:
            out["authorization"] = f"Bearer {self.config.api_key}"
        out.update(self.config.extra_headers)
        if headers:
            out.update({k.lower(): v for k, v in headers.items()})
        return out

    def _curl(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None, stream: bool
    ) -> str:
        parts = ["curl", "-sS"]
        if stream:
            parts.append("-N")
        parts += ["-X", method, shlex.quote(url)]
        for k, v in headers.items():
            if k == "authorization" and self.config.api_key:
                var = self.config.api_key_env or "API_KEY"
                parts += ["-H", f'"authorization: Bearer ${var}"']
            else:
                parts += ["-H", shlex.quote(f"{k}: {v}")]
        if body is not None:
            parts += ["--data-raw", shlex.quote(body.decode("utf-8", "replace"))]
        return " ".join(parts)

    def _redacted(self, headers: Mapping[str, str]) -> dict[str, str]:
        return {k: ("Bearer ***" if k.lower() == "authorization" else v) for k, v in headers.items()}

    def _prepare(
        self,
        method: str,
        path: str,
        json_body: Any,
        content: bytes | str | None,
        headers: Mapping[str, str] | None,
        stream: bool,
    ) -> tuple[str, dict[str, str], bytes | None, Exchange]:
        url = self.url(path)
        body: bytes | None
        if json_body is not _MISSING:
            body = json.dumps(json_body).encode()
        elif isinstance(content, str):
            body = content.encode()
        else:
            body = content
        hdrs = self._headers(headers, has_json=json_body is not _MISSING)
        ex = Exchange(
            method=method,
            url=url,
            request_headers=self._redacted(hdrs),
            request_body=_clip(body.decode("utf-8", "replace")) if body is not None else None,
            curl=self._curl(method, url, hdrs, body, stream),
        )
        self.transcript.append(ex)
        return url, hdrs, body, ex

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = _MISSING,
        content: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request and record it; transport faults propagate (verdict ERROR).

        A 429 is retried (``RunConfig.rate_limit_retries``); each attempt is in the transcript."""
        if params:
            path = path + ("&" if "?" in path else "?") + str(httpx.QueryParams(dict(params)))
        attempt = 0
        while True:
            resp = await self._request_once(method, path, json, content, headers)
            if resp.status_code != 429:
                return resp
            await self._rate_limited(resp.headers, attempt, f"{method} {path}")
            attempt += 1

    async def _request_once(
        self,
        method: str,
        path: str,
        json: Any,
        content: bytes | str | None,
        headers: Mapping[str, str] | None,
    ) -> httpx.Response:
        url, hdrs, body, ex = self._prepare(method, path, json, content, headers, stream=False)
        start = time.perf_counter()
        try:
            resp = await self.client.request(method, url, headers=hdrs, content=body)
        except httpx.HTTPError as exc:
            ex.error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            ex.elapsed_ms = round((time.perf_counter() - start) * 1000, 1)
        ex.status = resp.status_code
        ex.response_headers = dict(resp.headers)
        ex.response_body = _clip(resp.text)
        return resp

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("POST", path, **kw)

    async def delete(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("DELETE", path, **kw)

    async def stream(
        self,
        method: str,
        path: str,
        *,
        json: Any = _MISSING,
        content: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> StreamResult:
        """Send a request and read its answer as an event stream with the harness's parser.

        Frames received before a transport fault are kept in the transcript; a 429 is retried
        like ``request`` does."""
        attempt = 0
        while True:
            got = await self._stream_once(method, path, json, content, headers)
            if got.status != 429:
                return got
            await self._rate_limited(got.headers, attempt, f"{method} {path}")
            attempt += 1

    async def _stream_once(
        self,
        method: str,
        path: str,
        json: Any,
        content: bytes | str | None,
        headers: Mapping[str, str] | None,
    ) -> StreamResult:
        url, hdrs, body, ex = self._prepare(method, path, json, content, headers, stream=True)
        hdrs.setdefault("accept", "text/event-stream")
        parser = SSEParser()
        events: list[SSEEvent] = []
        frames: list[dict[str, Any]] = []
        arrivals: list[float] = []
        headers_ms: float | None = None
        raw = bytearray()
        chunks = 0
        start = time.perf_counter()
        ex.sse_frames = frames
        try:
            async with self.client.stream(method, url, headers=hdrs, content=body) as resp:
                ex.status = resp.status_code
                ex.response_headers = dict(resp.headers)
                headers_ms = round((time.perf_counter() - start) * 1000, 1)
                async for chunk in resp.aiter_bytes():  # content-decoded, chunking kept
                    chunks += 1
                    raw += chunk
                    t_ms = round((time.perf_counter() - start) * 1000, 1)
                    for ev in parser.feed(chunk):
                        events.append(ev)
                        arrivals.append(t_ms)
                        frame = ev.as_dict()
                        frame["t_ms"] = t_ms
                        frames.append(frame)
        except httpx.HTTPError as exc:
            ex.error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            ex.elapsed_ms = round((time.perf_counter() - start) * 1000, 1)
            ex.response_body = _clip(bytes(raw).decode("utf-8", "replace"))
        parser.close()
        ex.sse_discarded_tail = parser.discarded_tail
        return StreamResult(
            status=resp.status_code,
            headers=resp.headers,
            raw=bytes(raw),
            events=events,
            chunks=chunks,
            discarded_tail=parser.discarded_tail,
            comments=parser.comments,
            arrivals_ms=arrivals,
            headers_ms=headers_ms,
            end_ms=ex.elapsed_ms,
        )

    # ---- Responses conveniences
    def body(self, input: Any = "Say hello.", **extra: Any) -> dict[str, Any]:
        """A create-response body with the run's model."""
        out: dict[str, Any] = {"model": self.model, "input": input}
        out.update(extra)
        return out

    async def create(self, input: Any = "Say hello.", **extra: Any) -> httpx.Response:
        return await self.post("/responses", json=self.body(input, **extra))

    async def create_ok(self, input: Any = "Say hello.", **extra: Any) -> dict[str, Any]:
        """Create a response and return it, failing the case unless it is a 200 JSON object.

        When the create probe of this run failed and this create fails the same check with the
        same answer, the case is BLOCKED by the probe (one root cause, one FAIL)."""
        return self.created_ok(await self.create(input, **extra))

    def created_ok(self, resp: httpx.Response, what: str = "POST /responses") -> dict[str, Any]:
        """``json_ok`` for the answer of a non-streaming create: BLOCKED by the create probe when
        that probe failed in this run with the same check (expected and seen alike)."""
        try:
            return self.json_ok(resp, what)
        except CheckFailed as failed:
            seen = self.state.probe_failures.get(CREATE_PROBE)
            if self.case.id != CREATE_PROBE and seen == (failed.expected, failed.actual):
                raise BlockedByProbe(CREATE_PROBE) from None
            raise

    def json_ok(self, resp: httpx.Response, what: str) -> dict[str, Any]:
        self.check(resp.status_code == 200, f"{what} answers 200", expected=200, actual=resp.status_code)
        try:
            data = resp.json()
        except ValueError:
            data = None
        self.check(
            isinstance(data, dict),
            f"{what} answers a JSON object",
            expected="JSON object",
            actual=resp.text[:200],
        )
        assert isinstance(data, dict)
        return data

    async def create_stream(self, input: Any = "Say hello.", **extra: Any) -> StreamResult:
        return await self.stream("POST", "/responses", json=self.body(input, stream=True, **extra))

    output_text = staticmethod(output_text)

    # ---- the scripted tier
    async def require_scripted(self) -> None:
        """End with UNIMPLEMENTED unless ``fixtures.backend`` is behind the gateway.

        Detection sends ``[[probe:NONCE]]`` once per run; the scripted backend answers
        ``fixtures.backend/1 `` + sha256(NONCE)[:16], which no real model will guess."""
        async with self.state.lock:
            if self.state.scripted is None:
                nonce = secrets.token_hex(8)
                try:
                    resp = await self.create(f"[[probe:{nonce}]]")
                    data = resp.json() if resp.status_code == 200 else None
                    got = output_text(data) if isinstance(data, dict) else None
                except (httpx.HTTPError, ValueError) as exc:
                    got, resp = None, None
                    self.state.scripted_reason = f"scripted-backend probe failed: {type(exc).__name__}: {exc}"
                want = probe_expected(nonce)
                self.state.scripted = got == want
                if not self.state.scripted and not self.state.scripted_reason:
                    if resp is not None and resp.status_code != 200:
                        shown = f"HTTP {resp.status_code}"
                    else:
                        shown = repr((got or "")[:60])
                    self.state.scripted_reason = (
                        f"needs the scripted backend (fixtures.backend) behind the gateway; probe reply was "
                        f"{shown}, expected {want!r}"
                    )
        if not self.state.scripted:
            raise Unimplemented(self.state.scripted_reason)

    # ---- gRPC (ext_proc targets)
    def grpc_channel(self) -> Any:
        """A ``grpc.aio`` channel to the ``--extproc`` target (SKIPPED when none was given)."""
        if not self.config.extproc:
            raise Skipped("no --extproc HOST:PORT target given")
        if self._grpc_channel is None:
            import grpc  # local import: HTTP-only runs never load grpc

            self._grpc_channel = grpc.aio.insecure_channel(self.config.extproc)
        return self._grpc_channel

    async def aclose(self) -> None:
        if self._grpc_channel is not None:
            await self._grpc_channel.close()
            self._grpc_channel = None
