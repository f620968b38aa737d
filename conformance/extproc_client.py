"""Playing Envoy on the ext_proc gRPC protocol: build ``ProcessingRequest`` sequences, send them
on one ``Process`` stream and read the ``ProcessingResponse`` replies.

One ``Process`` stream is one HTTP request through Envoy ("the process is a request/response
conversation, but using a gRPC stream to make it easier for the server to maintain state",
external_processor.proto). ``ExtProcStream`` writes one message and waits (bounded) for its
reply, recording both in the case transcript. The reply readers (``header_sets``,
``body_of`` ...) apply the rules Envoy applies, e.g. a header value is read from ``raw_value``
first (Envoy 1.40 reads ``raw_value``; envoy/README.md, The ext_proc contract, C4).

No verdicts here: cases call ``ctx.check``. The module only imports ``protos`` (never
``reference``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from google.protobuf import text_format

import protos

if TYPE_CHECKING:
    from conformance.context import CaseContext

PM = protos.ProcessingMode

EXT_PROC_METHOD = f"/{protos.EXT_PROC_SERVICE}/Process"

#: How long the harness waits for one reply. Envoy's default ``message_timeout`` is 200 ms; real
#: processors are given more here, but a server that never answers must not hang the run.
DEFAULT_REPLY_TIMEOUT = 10.0


class NoReply(Exception):
    """The server sent no reply in time (``timed_out``) or ended the stream (``status``)."""

    def __init__(
        self,
        what: str,
        *,
        timed_out: bool,
        status: Any = None,
        details: str = "",
        pushback: str | None = None,
    ) -> None:
        super().__init__(what)
        self.what = what
        self.timed_out = timed_out
        self.status = status
        self.details = details
        self.pushback = pushback  # the `grpc-retry-pushback-ms` trailer, when the server sent one

    @property
    def rate_limited(self) -> bool:
        """The server ended the stream RESOURCE_EXHAUSTED ("Some resource has been exhausted,
        perhaps a per-user quota", gRPC status codes): its rate limit, the 429 of gRPC."""
        return getattr(self.status, "name", None) == "RESOURCE_EXHAUSTED"


def _pushback(metadata: Any) -> str | None:
    for key, value in metadata or ():
        if key == "grpc-retry-pushback-ms":
            return str(value)
    return None


# --------------------------------------------------------------------------- building requests


def header_map(pairs: Iterable[tuple[str, str]]) -> Any:
    """A HeaderMap the way Envoy 1.40 sends it: values in ``raw_value``, ``value`` empty."""
    return protos.HeaderMap(headers=[protos.HeaderValue(key=k, raw_value=v.encode()) for k, v in pairs])


def protocol_config(*, request_body_mode: int = PM.BUFFERED, response_body_mode: int = PM.BUFFERED) -> Any:
    """What Envoy puts in the first message of a stream: the body modes of the filter config."""
    return protos.ProtocolConfiguration(
        request_body_mode=request_body_mode, response_body_mode=response_body_mode
    )


def request_headers(
    body: bytes | None = None,
    *,
    path: str = "/v1/responses",
    method: str = "POST",
    extra: Sequence[tuple[str, str]] = (),
    end_of_stream: bool = False,
) -> Any:
    pairs = [
        (":method", method),
        (":path", path),
        (":scheme", "http"),
        (":authority", "gateway.test"),
        ("content-type", "application/json"),
        ("accept-encoding", "gzip"),
    ]
    if body is not None:
        pairs.append(("content-length", str(len(body))))
    pairs.extend(extra)
    return protos.ProcessingRequest(
        request_headers=protos.HttpHeaders(headers=header_map(pairs), end_of_stream=end_of_stream)
    )


def request_body(body: bytes, *, end_of_stream: bool = True) -> Any:
    return protos.ProcessingRequest(request_body=protos.HttpBody(body=body, end_of_stream=end_of_stream))


def response_headers(
    status: int = 200,
    content_type: str = "application/json",
    *,
    content_length: int | None = None,
    extra: Sequence[tuple[str, str]] = (),
) -> Any:
    pairs = [(":status", str(status)), ("content-type", content_type)]
    if content_length is not None:
        pairs.append(("content-length", str(content_length)))
    pairs.extend(extra)
    return protos.ProcessingRequest(response_headers=protos.HttpHeaders(headers=header_map(pairs)))


def response_body(body: bytes, *, end_of_stream: bool = True) -> Any:
    return protos.ProcessingRequest(response_body=protos.HttpBody(body=body, end_of_stream=end_of_stream))


def request_trailers(pairs: Sequence[tuple[str, str]] = (("x-client-trailer", "1"),)) -> Any:
    return protos.ProcessingRequest(request_trailers=protos.HttpTrailers(trailers=header_map(pairs)))


def response_trailers(pairs: Sequence[tuple[str, str]] = (("x-upstream-trailer", "1"),)) -> Any:
    return protos.ProcessingRequest(response_trailers=protos.HttpTrailers(trailers=header_map(pairs)))


def with_protocol_config(message: Any, config: Any) -> Any:
    """Envoy sends ``protocol_config`` in the first message of a stream only."""
    out = protos.ProcessingRequest()
    out.CopyFrom(message)
    out.protocol_config.CopyFrom(config)
    return out


# --------------------------------------------------------------------------- upstream bodies


def chat_completion(
    text: str, *, model: str = "scripted", prompt_tokens: int = 7, completion_tokens: int = 3
) -> dict[str, Any]:
    """A Chat Completions answer as a model server sends it."""
    return {
        "id": "chatcmpl-harness-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def chat_chunk(delta: dict[str, Any], finish_reason: str | None = None, *, model: str = "scripted") -> bytes:
    obj = {
        "id": "chatcmpl-harness-2",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def chat_sse(words: Sequence[str], *, model: str = "scripted") -> list[bytes]:
    """The SSE frames of a streamed chat completion, one frame per list element, ``[DONE]`` last."""
    frames = [chat_chunk({"role": "assistant", "content": ""}, model=model)]
    frames += [chat_chunk({"content": w}, model=model) for w in words]
    frames.append(chat_chunk({}, "stop", model=model))
    frames.append(b"data: [DONE]\n\n")
    return frames


# A gateway may send the model call to a Chat Completions endpoint (the contract's C1) or, as a
# legitimate alternative, to a stateless Responses endpoint (`POST .../responses` with `store:
# false`, the gateway keeping the state). The harness plays whichever upstream the rewritten
# request names, so the same cases judge both.
CHAT_UPSTREAM = "chat"
RESPONSES_UPSTREAM = "responses"


def upstream_api(replies: Iterable[Any], client_path: str = "/v1/responses") -> str:
    """Which upstream the request phases' replies send the request to: ``responses`` when the
    final ``:path`` is a Responses path, else ``chat``."""
    path = apply_mutations({":path": client_path}, replies).get(":path", "").split("?", 1)[0]
    return RESPONSES_UPSTREAM if path.rstrip("/").endswith("/responses") else CHAT_UPSTREAM


def response_object(
    text: str, *, model: str = "scripted", prompt_tokens: int = 7, completion_tokens: int = 3
) -> dict[str, Any]:
    """A completed Response as a stateless Responses model server sends it."""
    return {
        "id": "resp_harness_1",
        "object": "response",
        "created_at": 1_700_000_000,
        "status": "completed",
        "model": model,
        "store": False,
        "output": [
            {
                "id": "msg_harness_1",
                "type": "message",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ],
        "usage": {
            "input_tokens": prompt_tokens,
            "output_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def upstream_json(api: str, text: str, *, model: str = "scripted", prompt_tokens: int = 7,
                  completion_tokens: int = 3) -> bytes:
    """The non-streaming answer of the upstream `api` (``chat`` or ``responses``), as bytes."""
    build = response_object if api == RESPONSES_UPSTREAM else chat_completion
    return json.dumps(build(text, model=model, prompt_tokens=prompt_tokens,
                            completion_tokens=completion_tokens)).encode()


def _response_event(kind: str, seq: int, **fields: Any) -> bytes:
    payload = json.dumps({"type": kind, "sequence_number": seq, **fields}, separators=(",", ":"))
    return f"event: {kind}\ndata: {payload}\n\n".encode()


def responses_sse(words: Sequence[str], *, model: str = "scripted") -> list[bytes]:
    """The SSE frames of a streamed Response (one frame per list element; no ``[DONE]``)."""
    text = "".join(words)
    final = response_object(text, model=model, completion_tokens=max(1, len(words)))
    started = {**final, "status": "in_progress", "output": [], "usage": None}
    item = final["output"][0]
    where = {"item_id": item["id"], "output_index": 0}
    part = {"type": "output_text", "text": "", "annotations": []}
    events: list[tuple[str, dict[str, Any]]] = [
        ("response.created", {"response": started}),
        ("response.in_progress", {"response": started}),
        ("response.output_item.added", {"output_index": 0, "item": {**item, "status": "in_progress",
                                                                    "content": []}}),
        ("response.content_part.added", {**where, "content_index": 0, "part": part}),
        *[("response.output_text.delta", {**where, "content_index": 0, "delta": w}) for w in words],
        ("response.output_text.done", {**where, "content_index": 0, "text": text}),
        ("response.content_part.done", {**where, "content_index": 0, "part": item["content"][0]}),
        ("response.output_item.done", {"output_index": 0, "item": item}),
        ("response.completed", {"response": final}),
    ]
    return [_response_event(kind, seq, **fields) for seq, (kind, fields) in enumerate(events)]


def upstream_sse(api: str, words: Sequence[str], *, model: str = "scripted") -> list[bytes]:
    """The event stream of the upstream `api` carrying `words` as text deltas."""
    return responses_sse(words, model=model) if api == RESPONSES_UPSTREAM else chat_sse(words, model=model)


# --------------------------------------------------------------------------- reading replies


def kind(reply: Any) -> str | None:
    """Which ``response`` oneof a ProcessingResponse carries (``request_body``, ...)."""
    return reply.WhichOneof("response")  # type: ignore[no-any-return]


def common(reply: Any) -> Any | None:
    """The CommonResponse of a headers/body reply (None for other kinds)."""
    k = kind(reply)
    if k in ("request_headers", "response_headers", "request_body", "response_body"):
        return getattr(reply, k).response
    return None


def header_value(h: Any) -> str:
    """Envoy 1.40 reads ``raw_value`` (``value`` is the older field)."""
    return h.raw_value.decode("utf-8", "replace") if h.raw_value else str(h.value)


@dataclass
class Mutation:
    """The header mutation of one reply: set headers (lower-cased names) and removed names."""

    set: dict[str, str] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    value_only: list[str] = field(default_factory=list)  # set with `value` and no `raw_value`


def header_mutation(reply: Any) -> Mutation:
    out = Mutation()
    c = common(reply)
    if c is None or not c.HasField("header_mutation"):
        return out
    for opt in c.header_mutation.set_headers:
        key = opt.header.key.lower()
        out.set[key] = header_value(opt.header)
        if not opt.header.raw_value and opt.header.value:
            out.value_only.append(key)
    out.removed = [k.lower() for k in c.header_mutation.remove_headers]
    return out


def apply_mutations(headers: Mapping[str, str], replies: Iterable[Any]) -> dict[str, str]:
    """The headers Envoy ends up with after applying each reply's mutation in order
    (removals first, then sets, as Envoy's mutation utils do)."""
    out = {k.lower(): v for k, v in headers.items()}
    for reply in replies:
        m = header_mutation(reply)
        for k in m.removed:
            out.pop(k, None)
        out.update(m.set)
    return out


def body_of(reply: Any) -> bytes | None:
    """The replacement body of a reply (``body`` or ``streamed_response.body``); None when the
    reply leaves the body unchanged."""
    c = common(reply)
    if c is None or not c.HasField("body_mutation"):
        return None
    bm = c.body_mutation
    which = bm.WhichOneof("mutation")
    if which == "body":
        return bytes(bm.body)
    if which == "streamed_response":
        return bytes(bm.streamed_response.body)
    if which == "clear_body":
        return b"" if bm.clear_body else None
    return None


@dataclass
class Immediate:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def immediate(reply: Any) -> Immediate | None:
    if kind(reply) != "immediate_response":
        return None
    ir = reply.immediate_response
    headers = {opt.header.key.lower(): header_value(opt.header) for opt in ir.headers.set_headers}
    # proto3: an unset status reads as 0 (HttpStatus `Empty`); cases compare it as it is.
    return Immediate(int(ir.status.code), headers, bytes(ir.body))


def is_openai_error(obj: Any) -> bool:
    """``{"error": {"message": str, "type": str, ...}}`` (the OpenAI error object)."""
    err = obj.get("error") if isinstance(obj, dict) else None
    return isinstance(err, dict) and isinstance(err.get("message"), str) and isinstance(err.get("type"), str)


def describe(message: Any) -> str:
    return text_format.MessageToString(message, as_utf8=True)


# --------------------------------------------------------------------------- the stream


class ExtProcStream:
    """One ``Process`` call: write a message, read its reply; every exchange is recorded."""

    def __init__(self, ctx: CaseContext, *, timeout: float | None = None, metadata: Any = None) -> None:
        self.ctx = ctx
        channel = ctx.grpc_channel()
        self.timeout = timeout if timeout is not None else min(ctx.config.timeout, DEFAULT_REPLY_TIMEOUT)
        self._stub = protos.ext_proc_pb2_grpc.ExternalProcessorStub(channel)
        self._metadata = metadata
        self.call = self._stub.Process(metadata=metadata)
        self.replies: list[Any] = []
        self.written: list[Any] = []  # the messages of this call, as sent (replayed after a rate limit)
        self.sent = 0
        self.first = True
        self._rate_limit_attempts = 0

    def _record(self, message: Any, reply: Any, error: str | None, elapsed: float) -> None:
        from conformance.context import Exchange  # local: context imports nothing from here

        self.sent += 1
        self.ctx.transcript.append(
            Exchange(
                method="gRPC",
                url=f"grpc://{self.ctx.config.extproc}{EXT_PROC_METHOD} (message {self.sent})",
                request_headers={},
                request_body=describe(message) if message is not None else None,
                curl="# ext_proc stream message; replay: responses-conformance run --extproc "
                f"{self.ctx.config.extproc} --cases {self.ctx.case.id}",
                response_body=describe(reply) if reply is not None else None,
                elapsed_ms=round(elapsed * 1000, 1),
                error=error,
            )
        )

    async def send(self, message: Any, config: Any = None) -> Any:
        """Write one message (the first one carries ``config``, the filter's body modes, as
        Envoy does) and return the server's reply; raises ``NoReply``."""
        message = await self.write(message, config)
        return await self.read(message)

    async def write(self, message: Any, config: Any = None) -> Any:
        """Write one message without waiting for a reply (full-duplex streaming); returns the
        message as sent."""
        import grpc

        if self.first:
            message = with_protocol_config(message, config if config is not None else protocol_config())
            self.first = False
        try:
            async with asyncio.timeout(self.timeout):
                await self.call.write(message)
        except TimeoutError:
            self._record(message, None, f"could not write within {self.timeout:g}s", self.timeout)
            raise NoReply(f"could not write within {self.timeout:g}s", timed_out=True) from None
        except (grpc.aio.AioRpcError, grpc.aio.UsageError) as exc:
            code = exc.code() if isinstance(exc, grpc.aio.AioRpcError) else await self._status()
            self._record(message, None, f"stream ended: {code}", 0.0)
            ended = NoReply(f"stream ended with {code}", timed_out=False, status=code,
                            pushback=await self._trailer_pushback())
            if not ended.rate_limited:
                raise ended from None
            await self._after_rate_limit(ended)  # the call is open again with what came before
            return await self.write(message)
        self.written.append(message)
        return message

    async def _trailer_pushback(self) -> str | None:
        try:
            async with asyncio.timeout(self.timeout):
                return _pushback(await self.call.trailing_metadata())
        except Exception:  # a call that ended without trailers has no pushback
            return None

    async def _after_rate_limit(self, ended: NoReply) -> None:
        """RESOURCE_EXHAUSTED before any reply is retried like an HTTP 429: after the server's
        pushback (``grpc-retry-pushback-ms``, gRFC A6) or a doubling backoff, a new ``Process`` call
        carries again the messages written so far. After a reply the processor holds state of
        this stream that a new call would not have, so the case ends ERROR (``RateLimited``)."""
        import httpx

        from conformance.context import RateLimited

        what = "the ext_proc Process stream (RESOURCE_EXHAUSTED)"
        if self.replies:
            raise RateLimited(f"rate limited: {what} after {len(self.replies)} replies "
                              "(the target's rate limit, not this case's requirement)")
        seconds = None
        if ended.pushback is not None:
            try:
                seconds = int(ended.pushback) / 1000
            except ValueError:
                seconds = None
        known = seconds is not None and seconds >= 0
        headers = httpx.Headers({"retry-after": f"{seconds:g}"} if known else {})
        await self.ctx._rate_limited(headers, self._rate_limit_attempts, what)
        self._rate_limit_attempts += 1
        self.call.cancel()
        self.call = self._stub.Process(metadata=self._metadata)
        again, self.written = self.written, []
        for message in again:
            await self.write(message)

    async def read(self, message: Any = None) -> Any:
        """The next reply (recorded against ``message``); raises ``NoReply``. A stream ended
        RESOURCE_EXHAUSTED is the processor's rate limit, never a verdict (``_after_rate_limit``)."""
        while True:
            try:
                return await self._read_once(message)
            except NoReply as ended:
                if not ended.rate_limited:
                    raise
                await self._after_rate_limit(ended)

    async def _read_once(self, message: Any = None) -> Any:
        import grpc

        start = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):
                reply = await self.call.read()
        except TimeoutError:
            self._record(message, None, f"no reply within {self.timeout:g}s", time.perf_counter() - start)
            raise NoReply(f"no reply within {self.timeout:g}s", timed_out=True) from None
        except grpc.aio.AioRpcError as exc:
            self._record(
                message, None, f"stream ended: {exc.code().name} {exc.details()}", time.perf_counter() - start
            )
            raise NoReply(
                f"stream ended with {exc.code().name}",
                timed_out=False,
                status=exc.code(),
                details=exc.details() or "",
                pushback=_pushback(exc.trailing_metadata()),
            ) from None
        if reply is grpc.aio.EOF:
            status = await self._status()
            self._record(message, None, f"stream closed: {status}", time.perf_counter() - start)
            raise NoReply(f"stream closed by the server ({status})", timed_out=False, status=status,
                          pushback=await self._trailer_pushback())
        self._record(message, reply, None, time.perf_counter() - start)
        self.replies.append(reply)
        return reply

    async def _status(self) -> Any:
        try:
            async with asyncio.timeout(self.timeout):
                return await self.call.code()
        except TimeoutError:
            return None

    async def finish(self) -> Any:
        """Half-close (Envoy is done with the request) and return the call's final status code,
        or None when the server does not end the call within the timeout."""
        import grpc

        try:
            async with asyncio.timeout(self.timeout):
                await self.call.done_writing()
                while True:
                    extra = await self.call.read()
                    if extra is grpc.aio.EOF:
                        break
                    self.replies.append(extra)
                return await self.call.code()
        except TimeoutError:
            return None
        except grpc.aio.AioRpcError as exc:
            return exc.code()

    def cancel(self) -> None:
        self.call.cancel()


def responses_body(model: str, input: Any = "Say hello.", **extra: Any) -> bytes:
    out: dict[str, Any] = {"model": model, "input": input}
    out.update(extra)
    return json.dumps(out).encode()
