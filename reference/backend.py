"""HTTP client to the model server (any OpenAI-compatible Chat Completions endpoint, or with
`api="responses"` a stateless Responses endpoint: `reference.core.upstream` is the codec, so
`chat` / `stream_chat` take and give chat shapes either way).

Every transport fault becomes an `APIError` with an honest status, so no backend failure can
be mistaken for a successful answer: unreachable -> 502, not JSON -> 502, too slow -> 504,
backend 4xx passed on with its message, backend 5xx -> 502 (`errors.from_backend_http`).

Every call carries the request id of the request it serves (`x-request-id`), so the model
server's logs can be joined with the gateway's; with `metrics`, each call's duration and time to
first byte are recorded (operation `chat`, `chat_stream`, `embeddings`, `models`; path `direct`).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx

from reference.core import errors, upstream
from reference.core.serialization import dump_bytes
from reference.core.upstream import BackendApi
from reference.observability.logs import HEADER as REQUEST_ID_HEADER
from reference.observability.logs import current_request_id
from reference.observability.metrics import GatewayMetrics


def api_root(base_url: str) -> str:
    """`http://host:port` and `http://host:port/v1` both mean `http://host:port/v1`.

    A base URL with any other path (`https://api.example.com/openai/v1`) is taken as the API
    root as given, the way the openai SDK treats `base_url`.
    """
    base = base_url.rstrip("/")
    if urlsplit(base).path in ("", "/"):
        base += "/v1"
    return base


def chat_completions_url(base_url: str) -> str:
    """`.../v1/chat/completions` under `api_root(base_url)`."""
    return api_root(base_url) + "/chat/completions"


def model_call_url(base_url: str, api: BackendApi) -> str:
    """Where model calls go: `.../chat/completions` or `.../responses` under the API root."""
    return api_root(base_url) + upstream.upstream_path(api)


class Backend:
    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
        metrics: GatewayMetrics | None = None,
        api: BackendApi = "chat",
    ) -> None:
        if api not in upstream.BACKEND_APIS:
            raise ValueError(f"backend api must be one of {', '.join(upstream.BACKEND_APIS)}")
        self.base_url = base_url
        self.metrics = metrics
        self.api: BackendApi = api
        self.url = model_call_url(base_url, api)
        self.timeout = timeout
        headers = {"content-type": "application/json", "accept": "application/json"}
        # The gateway's own credentials for the model server (None without a key): the Envoy
        # path sets this header on the requests Envoy sends upstream.
        self.authorization: str | None = f"Bearer {api_key}" if api_key else None
        if self.authorization:
            headers["authorization"] = self.authorization
        # One timeout for connect, each read and write: for a stream it bounds the gap between
        # two chunks, not the whole answer, so long generations are not cut off.
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout), headers=headers, transport=transport
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    def observe(self, operation: str, started: float, ttfb: float | None) -> None:
        """Record one call that started at `started` (perf_counter) and ends now."""
        if self.metrics is not None:
            self.metrics.backend_call(operation, "direct", ttfb, time.perf_counter() - started)

    async def chat(self, request: dict[str, Any]) -> dict[str, Any]:
        """POST a non-streaming model call and return its answer as a chat completion."""
        started = time.perf_counter()
        try:
            body = dump_bytes(upstream.request_body(self.api, request))
            resp = await self._client.post(self.url, content=body, headers=request_headers())
        except httpx.TimeoutException as exc:
            raise errors.backend_timeout(self.timeout) from exc
        except httpx.HTTPError as exc:
            raise errors.backend_unreachable(_describe(exc)) from exc
        finally:
            self.observe("chat", started, None)
        # Keep only the answer's bytes: the response object holds the request, whose body (the
        # whole conversation, serialised) need not outlive the hop.
        status, content = resp.status_code, resp.content
        del resp
        if status >= 400:
            raise errors.from_backend_http(status, content)
        return upstream.parse_answer(self.api, content)

    async def stream_chat(self, request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """POST a streaming chat completion and yield its chunks until `[DONE]`.

        A stream that ends without `[DONE]` (connection dropped) is a 502: the answer is
        truncated, and passing it off as complete would hide the fault.
        """
        started = False
        began = time.perf_counter()
        ttfb: float | None = None
        try:
            body = dump_bytes(upstream.request_body(self.api, request))
            async with self._client.stream("POST", self.url, content=body, headers=request_headers()) as resp:
                started = True
                if resp.status_code >= 400:
                    raise errors.from_backend_http(resp.status_code, await resp.aread())
                decoder = upstream.stream_decoder(self.api)
                async for data in resp.aiter_bytes():
                    if ttfb is None:
                        ttfb = time.perf_counter() - began
                    for event in decoder.feed(data):
                        if not isinstance(event, dict):  # DONE
                            return
                        yield event
                # The body ended: a last event without its blank line still counts.
                for event in decoder.close():
                    if not isinstance(event, dict):  # DONE
                        return
                    yield event
        except httpx.TimeoutException as exc:
            raise errors.backend_timeout(self.timeout) from exc
        except httpx.HTTPError as exc:
            if started:
                # Headers arrived, then the connection broke: a truncated answer, not an
                # unreachable backend.
                raise errors.backend_bad_response(f"the stream broke off ({_describe(exc)})") from exc
            raise errors.backend_unreachable(_describe(exc)) from exc
        finally:
            self.observe("chat_stream", began, ttfb)
        raise errors.backend_bad_response(f"the stream ended without {upstream.stream_end(self.api)}")


    async def list_models(self) -> dict[str, Any]:
        """`GET /v1/models` of the model server, as an OpenAI list object
        (`{"object": "list", "data": [{"id", "object": "model", ...}]}`); faults as for chat."""
        started = time.perf_counter()
        try:
            resp = await self._client.get(api_root(self.base_url) + "/models", headers=request_headers())
        except httpx.TimeoutException as exc:
            raise errors.backend_timeout(self.timeout) from exc
        except httpx.HTTPError as exc:
            raise errors.backend_unreachable(_describe(exc)) from exc
        finally:
            self.observe("models", started, None)
        if resp.status_code >= 400:
            raise errors.from_backend_http(resp.status_code, resp.content)
        try:
            body = resp.json()
        except ValueError as exc:
            raise errors.backend_bad_response("the model list is not JSON") from exc
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list) or not all(isinstance(m, dict) and isinstance(m.get("id"), str)
                                                 for m in data):
            raise errors.backend_bad_response("the model list has no data array of models with ids")
        return {"object": "list", "data": data}


def request_headers() -> dict[str, str] | None:
    """Per-call headers: the id of the request being served (None outside a request)."""
    request_id = current_request_id()
    return {REQUEST_ID_HEADER: request_id} if request_id is not None else None


def _describe(exc: httpx.HTTPError) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
