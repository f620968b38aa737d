"""Envoy's External Processor protocol, the harness playing Envoy (--extproc HOST:PORT).

Cases that drive an Envoy External Processor server directly, the harness playing Envoy
(``responses-conformance run --extproc HOST:PORT``).

Each ``Process`` stream is one HTTP request ``POST /v1/responses``. The harness sends what the
gateway's Envoy filter config sends (envoy/templates/gateway.yaml: request body BUFFERED,
response headers SEND, response body BUFFERED with ``allow_mode_override``), and in a few cases
also the request headers or a statically STREAMED response body, as other deployments do. The
upstream answers (chat completions, SSE chunks, errors) are written by the harness, so these
cases need no model backend.

Sentences quoted come from Envoy's ``envoy/service/ext_proc/v3/external_processor.proto``, the
gRPC health checking protocol, the OpenAI Responses API and, for what the translation must
produce and what Envoy does with the replies, the ext_proc contract in envoy/README.md (C1-C7)."""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from conformance import extproc_client as xp
from conformance.context import CaseContext
from conformance.model import Level, case
from conformance.profiles import TERMINAL_EVENTS
from conformance.sse import SSEEvent, SSEParser, json_objects

PROTO = "envoy/service/ext_proc/v3/external_processor.proto"
HEALTH = "grpc/health/v1/health.proto (gRPC health checking protocol)"
OAI = "openai-openapi.yaml"
CONTRACT = "envoy/README.md, The ext_proc contract"
_C3 = (
    'C3: "Envoy answers a body rewrite that keeps a stale `content-length` with a 500 and an empty '
    "body: a server that replaces a body removes the header (in the headers phase) or sets the new "
    'length with the body mutation."'
)

PM = xp.PM

# A header value this long is not a header a model server needs: it is request state smuggled
# upstream (contract C2).
MAX_HEADER_BYTES = 1024


# --------------------------------------------------------------------------- shared steps


async def _send(ctx: CaseContext, s: xp.ExtProcStream, message: Any, what: str, config: Any = None) -> Any:
    """Send one message; a missing reply (timeout, stream closed or failed) fails the case."""
    try:
        return await s.send(message, config)
    except xp.NoReply as exc:
        ctx.check(False, f"the server answers {what}", expected="a ProcessingResponse", actual=exc.what)
    raise AssertionError("unreachable")


def _kind_is(ctx: CaseContext, reply: Any, want: str, what: str) -> None:
    ctx.check(
        xp.kind(reply) == want,
        f"{what} is answered with a `{want}` ProcessingResponse",
        expected=want,
        actual=xp.kind(reply) if xp.kind(reply) != "immediate_response" else _immediate_summary(reply),
    )


def _immediate_summary(reply: Any) -> str:
    imm = xp.immediate(reply)
    if imm is None:
        return str(xp.kind(reply))
    return f"immediate_response {imm.status}: {imm.body[:200]!r}"


def _marker() -> str:
    return "harness-" + secrets.token_hex(6)


async def _request(
    ctx: CaseContext,
    body: bytes,
    *,
    send_headers: bool = False,
    response_body_mode: int = PM.BUFFERED,
) -> tuple[xp.ExtProcStream, list[Any]]:
    """The request phases: optional request_headers, then the BUFFERED request body.
    Returns the stream and the replies (headers reply first when sent)."""
    s = xp.ExtProcStream(ctx)
    config = xp.protocol_config(response_body_mode=response_body_mode)
    replies = []
    if send_headers:
        replies.append(await _send(ctx, s, xp.request_headers(body), "request_headers", config))
        if xp.kind(replies[-1]) == "immediate_response":
            return s, replies
    replies.append(await _send(ctx, s, xp.request_body(body), "the request body", config))
    return s, replies


async def _chat_request(
    ctx: CaseContext, body: bytes, *, send_headers: bool = False
) -> tuple[Any, dict[str, Any]]:
    """A valid request through the request phases: the request_body reply and the chat request
    it puts upstream (checked to be a JSON object)."""
    _s, replies = await _request(ctx, body, send_headers=send_headers)
    reply = replies[-1]
    _kind_is(ctx, reply, "request_body", "a valid Responses request body")
    new_body = xp.body_of(reply)
    ctx.check(
        new_body is not None,
        "the request body is replaced (body_mutation)",
        expected="a body mutation",
        actual=None,
    )
    assert new_body is not None
    try:
        chat = json.loads(new_body)
    except ValueError:
        chat = None
    ctx.check(
        isinstance(chat, dict),
        "the new request body is a JSON object",
        expected="JSON object",
        actual=new_body[:300],
    )
    assert isinstance(chat, dict)
    if xp.upstream_api(replies) == xp.RESPONSES_UPSTREAM:
        return reply, _responses_as_chat(ctx, chat)
    return reply, chat


def _responses_as_chat(ctx: CaseContext, body: dict[str, Any]) -> dict[str, Any]:
    """A request for a Responses upstream, seen as the chat request it stands for, once it is
    checked to be stateless: the gateway keeps the state, so the model server is neither asked to
    store the exchange nor to look anything up (the history travels in `input`)."""
    ctx.check(
        body.get("store") is False,
        "a Responses upstream request carries store: false (the API stores by default)",
        expected=False,
        actual=body.get("store"),
    )
    for name in ("previous_response_id", "conversation"):
        ctx.check(
            body.get(name) is None,
            f"a Responses upstream request carries no {name} (the gateway expands it)",
            expected=None,
            actual=body.get(name),
        )
    messages: list[dict[str, Any]] = []
    if isinstance(body.get("instructions"), str) and body["instructions"]:
        messages.append({"role": "system", "content": body["instructions"]})
    raw = body.get("input")
    items = [{"role": "user", "content": raw}] if isinstance(raw, str) else raw if isinstance(raw, list) \
        else []
    for item in items:
        if isinstance(item, dict) and item.get("type", "message") == "message":
            messages.append({"role": item.get("role"), "content": item.get("content")})
    view = {key: value for key, value in body.items() if key not in ("input", "instructions")}
    view["messages"] = messages
    return view


@dataclass
class Buffered:
    """A whole non-streaming exchange."""

    stream: xp.ExtProcStream
    request_reply: Any
    headers_reply: Any
    body_reply: Any
    final_headers: dict[str, str] = field(default_factory=dict)
    final_body: bytes | None = None


async def _buffered(
    ctx: CaseContext,
    text: str = "pong from the harness",
    *,
    input: str = "ping",
    send_headers: bool = False,
    upstream_content_length: bool = True,
    usage: tuple[int, int] = (7, 3),
    **extra: Any,
) -> Buffered:
    """request body -> response headers (200 JSON) -> response body (a chat completion)."""
    body = xp.responses_body(ctx.model, input, **extra)
    s, replies = await _request(ctx, body, send_headers=send_headers)
    _kind_is(ctx, replies[-1], "request_body", "a valid Responses request body")
    chat = xp.upstream_json(xp.upstream_api(replies), text, model=ctx.model, prompt_tokens=usage[0],
                            completion_tokens=usage[1])
    length = len(chat) if upstream_content_length else None
    rh = await _send(
        ctx, s, xp.response_headers(200, "application/json", content_length=length), "response_headers"
    )
    _kind_is(ctx, rh, "response_headers", "a 200 application/json upstream answer")
    rb = await _send(ctx, s, xp.response_body(chat), "the response body")
    upstream = {":status": "200", "content-type": "application/json"}
    if length is not None:
        upstream["content-length"] = str(length)
    out = Buffered(s, replies[-1], rh, rb)
    out.final_headers = xp.apply_mutations(upstream, [rh, rb])
    new = xp.body_of(rb)
    out.final_body = chat if new is None else new
    return out


def _response_json(ctx: CaseContext, ex: Buffered) -> dict[str, Any]:
    _kind_is(ctx, ex.body_reply, "response_body", "the upstream chat completion body")
    body = xp.body_of(ex.body_reply)
    ctx.check(
        body is not None,
        "the upstream body is replaced (body_mutation)",
        expected="a body mutation",
        actual=None,
    )
    assert body is not None
    try:
        obj = json.loads(body)
    except ValueError:
        obj = None
    ctx.check(
        isinstance(obj, dict),
        "the new response body is a JSON object",
        expected="JSON object",
        actual=body[:300],
    )
    assert isinstance(obj, dict)
    return obj


def _user_texts(messages: list[Any]) -> list[str]:
    out: list[str] = []
    for m in messages:
        if not isinstance(m, dict) or m.get("role") != "user":
            continue
        content = m.get("content")
        if isinstance(content, str):
            out.append(content)
        elif isinstance(content, list):
            out.extend(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return out


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


# --------------------------------------------------------------------------- streaming


@dataclass
class Streamed:
    stream: xp.ExtProcStream
    headers_reply: Any
    mode: int
    chunk_replies: list[Any]
    bodies: list[bytes]
    events: list[SSEEvent]
    end_immediate: xp.Immediate | None = None
    frames: list[bytes] = field(default_factory=list)
    """What the upstream sent (before any splitting by the caller)."""

    @property
    def payloads(self) -> list[dict[str, Any]]:
        return json_objects(self.events)

    @property
    def types(self) -> list[str]:
        return [str(p.get("type")) for p in self.payloads]


def _effective_mode(announced: int, headers_reply: Any) -> int:
    """Envoy (with allow_mode_override) switches the response body mode when the
    response_headers reply carries a mode_override naming one."""
    if xp.kind(headers_reply) == "response_headers" and headers_reply.HasField("mode_override"):
        mode = headers_reply.mode_override.response_body_mode
        if mode != PM.NONE:
            return int(mode)
    return announced


def _sse(ctx: CaseContext, words: list[str]) -> Callable[[str], list[bytes]]:
    """The upstream event stream carrying `words`, in the dialect of the upstream the gateway
    chose (``xp.upstream_api``)."""
    return lambda api: xp.upstream_sse(api, words, model=ctx.model)


async def _streamed(
    ctx: CaseContext,
    frames: list[bytes] | Callable[[str], list[bytes]],
    *,
    announce: int = PM.STREAMED,
    upstream_status: int = 200,
    content_length: int | None = None,
) -> Streamed:
    """A ``stream: true`` request whose upstream answers an event stream, fed in the pieces
    given (one response_body message per piece, the last with end_of_stream). `frames` may be a
    function of the upstream API the request was sent to (``xp.upstream_api``); a
    `content_length` of -1 is the length of those frames."""
    body = xp.responses_body(ctx.model, "count to three", stream=True)
    s, replies = await _request(ctx, body, response_body_mode=announce)
    _kind_is(ctx, replies[-1], "request_body", "a valid streaming Responses request body")
    if callable(frames):
        frames = frames(xp.upstream_api(replies))
    if content_length == -1:
        content_length = len(b"".join(frames))
    rh = await _send(
        ctx,
        s,
        xp.response_headers(upstream_status, "text/event-stream", content_length=content_length),
        "response_headers of an event stream",
    )
    out = Streamed(s, rh, _effective_mode(announce, rh), [], [], [], frames=frames)
    imm = xp.immediate(rh)
    if imm is not None:
        out.end_immediate = imm
        return out
    parser = SSEParser()
    pieces = [b"".join(frames)] if out.mode == PM.BUFFERED else frames
    if out.mode == PM.FULL_DUPLEX_STREAMED:
        # Replies are not tied one to one to messages: write everything, then read until the
        # server marks the end of the replaced stream.
        for i, piece in enumerate(pieces):
            try:
                await s.write(xp.response_body(piece, end_of_stream=i == len(pieces) - 1))
            except xp.NoReply as exc:
                ctx.check(False, "the server keeps the stream open", expected="open stream", actual=exc.what)
        while True:
            try:
                reply = await s.read()
            except xp.NoReply as exc:
                ctx.check(
                    False,
                    "the server ends the replaced body (streamed_response.end_of_stream)",
                    expected="a reply with end_of_stream",
                    actual=exc.what,
                )
            out.chunk_replies.append(reply)
            if _collect(out, reply, parser, None):
                break
            c = xp.common(reply)
            if c is not None and c.body_mutation.streamed_response.end_of_stream:
                break
    else:
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            reply = await _send(
                ctx, s, xp.response_body(piece, end_of_stream=last), f"response body piece {i + 1}"
            )
            out.chunk_replies.append(reply)
            if _collect(out, reply, parser, piece):
                break
    parser.close()
    return out


def _collect(out: Streamed, reply: Any, parser: SSEParser, piece: bytes | None) -> bool:
    """Add what a reply puts downstream (``piece`` is the upstream bytes it answers, which pass
    unchanged when the reply has no body mutation); True when the reply ends the response."""
    imm = xp.immediate(reply)
    if imm is not None:
        out.end_immediate = imm
        out.bodies.append(imm.body)
        out.events.extend(parser.feed(imm.body))
        return True
    body = xp.body_of(reply)
    if body is None:
        body = piece or b""
    out.bodies.append(body)
    out.events.extend(parser.feed(body))
    return False


def _three_words() -> list[str]:
    return ["one ", "two ", "three"]


# --------------------------------------------------------------------------- health


async def _health(ctx: CaseContext, service: str) -> None:
    import grpc

    from protos import health_pb2, health_pb2_grpc

    stub = health_pb2_grpc.HealthStub(ctx.grpc_channel())
    try:
        resp = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=ctx.config.timeout)
    except grpc.aio.AioRpcError as exc:
        ctx.check(
            False,
            f"grpc.health.v1.Health/Check for {service!r} answers",
            expected="SERVING",
            actual=f"{exc.code().name}: {exc.details()}",
        )
        return
    ctx.check_eq(
        health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status),
        "SERVING",
        f"health status of {service!r}",
    )


@case("extproc.health.serving-overall", Level.MUST, source=HEALTH)
async def health_overall(ctx: CaseContext) -> None:
    """gRPC health answers SERVING for the server as a whole

    "A client can query the server's health status by calling the Check method ... The server should use an
    empty string as the key for server's overall health status" (Envoy health-checks ext_proc clusters with
    grpc_health_check)
    """
    await _health(ctx, "")


@case("extproc.health.serving-service", Level.MUST, source=HEALTH)
async def health_service(ctx: CaseContext) -> None:
    """gRPC health answers SERVING for envoy.service.ext_proc.v3.ExternalProcessor

    "A client can query the server's health status by calling the Check method, and a deadline should be set
    on the rpc. The client can optionally set the service name it wants to query for health status." Envoy's
    grpc_health_check sends service_name.
    """
    from protos import EXT_PROC_SERVICE

    await _health(ctx, EXT_PROC_SERVICE)


# --------------------------------------------------------------------------- request headers


@case("extproc.request-headers.reply-kind", Level.MUST, source=PROTO)
async def request_headers_kind(ctx: CaseContext) -> None:
    """request_headers of POST /v1/responses get a request_headers reply

    request_headers: "Unless observability_mode is true, the server must send back a HeaderResponse message,
    an ImmediateResponse message, or close the stream." A valid Responses request must go on upstream, so the
    reply is a HeadersResponse.
    """
    s = xp.ExtProcStream(ctx)
    body = xp.responses_body(ctx.model, "ping")
    reply = await _send(ctx, s, xp.request_headers(body), "request_headers")
    _kind_is(ctx, reply, "request_headers", "request_headers of POST /v1/responses")


@case("extproc.request.path-chat-completions", Level.MUST, source=f"{PROTO}; {CONTRACT}")
async def path_chat_completions(ctx: CaseContext) -> None:
    """the upstream :path becomes the Chat Completions path

    HeaderMutation.set_headers: "Add or replace HTTP headers." C1: "A `POST /v1/responses` runs through the
    ext_proc filter, which turns it into a Chat Completions request for the model backend: `:path` becomes
    `/v1/chat/completions`" (in the request_headers or the request_body reply). A gateway whose model server
    speaks Responses may keep a `.../responses` path, with a stateless Responses body (`store: false`).
    """
    body = xp.responses_body(ctx.model, "ping")
    _s, replies = await _request(ctx, body, send_headers=True)
    for r, what in zip(replies, ("request_headers", "the request body"), strict=False):
        ctx.check(
            xp.kind(r) != "immediate_response",
            f"{what} of a valid request is not answered locally",
            expected="the request goes upstream",
            actual=_immediate_summary(r),
        )
    final = xp.apply_mutations({":path": "/v1/responses"}, replies)
    path = final.get(":path", "").split("?", 1)[0]
    if xp.upstream_api(replies) == xp.RESPONSES_UPSTREAM:
        # A Responses upstream is a legitimate choice, but then the body must be a stateless
        # Responses request, not the client's (which the API would store by default).
        try:
            sent = json.loads(xp.body_of(replies[-1]) or b"null")
        except ValueError:
            sent = None
        ctx.check(
            isinstance(sent, dict) and "input" in sent and sent.get("store") is False,
            "an upstream :path of .../responses carries a stateless Responses request",
            expected="a body with input and store: false",
            actual=sent if sent is not None else xp.body_of(replies[-1]),
        )
        return
    ctx.check(
        path.endswith("/chat/completions"),
        "the final upstream :path is a chat completions path",
        expected=".../chat/completions",
        actual=path,
    )


def _check_content_length(ctx: CaseContext, final: dict[str, str], body: bytes, what: str) -> None:
    got = final.get("content-length")
    ctx.check(
        got is None or got.strip() == str(len(body)),
        f"{what}: content-length is removed or equals the new body's length",
        expected=f"absent or {len(body)}",
        actual=got,
    )


@case(
    "extproc.request.content-length-headers-mode",
    Level.MUST,
    spec='CommonResponse.body_mutation: "Replace the body of the last message sent to the remote '
    'server on this stream." ' + _C3,
    source=f"{PROTO}; {CONTRACT}",
)
async def content_length_headers_mode(ctx: CaseContext) -> None:
    """no stale request content-length when request headers are sent"""
    body = xp.responses_body(ctx.model, "ping " * 40, instructions="Be brief.")
    _s, replies = await _request(ctx, body, send_headers=True)
    _kind_is(ctx, replies[-1], "request_body", "a valid Responses request body")
    new = xp.body_of(replies[-1])
    new_body = body if new is None else new
    final = xp.apply_mutations({"content-length": str(len(body))}, replies)
    _check_content_length(ctx, final, new_body, "request (headers SEND, body BUFFERED)")


@case(
    "extproc.request-body.content-length",
    Level.MUST,
    spec="With request_header_mode SKIP the client's content-length reaches the upstream unless "
    "the body reply changes it. " + _C3,
    source=CONTRACT,
)
async def content_length_body_mode(ctx: CaseContext) -> None:
    """no stale request content-length when only the body is sent"""
    body = xp.responses_body(ctx.model, "ping " * 40, instructions="Be brief.")
    _s, replies = await _request(ctx, body)
    _kind_is(ctx, replies[-1], "request_body", "a valid Responses request body")
    new = xp.body_of(replies[-1])
    new_body = body if new is None else new
    final = xp.apply_mutations({"content-length": str(len(body))}, replies)
    _check_content_length(ctx, final, new_body, "request (headers SKIP, body BUFFERED)")


@case("extproc.headers.raw-value", Level.MUST, source=f"config/core/v3/base.proto; {CONTRACT}")
async def raw_value(ctx: CaseContext) -> None:
    """header values are set with raw_value

    HeaderValue.raw_value: "Header value is encoded as bytes which can support non-utf8 characters." C4:
    "Envoy sends header values in `raw_value` (bytes) with `value` empty, and a server sets headers with
    `raw_value` too."
    """
    ex = await _buffered(ctx, send_headers=True)
    replies = [*ex.stream.replies]
    value_only = {
        xp.kind(r): xp.header_mutation(r).value_only for r in replies if xp.header_mutation(r).value_only
    }
    ctx.check(
        not value_only, "every set header carries raw_value", expected="raw_value set", actual=value_only
    )


def _leaks(value: str, markers: list[str]) -> bool:
    if any(m in value for m in markers):
        return True
    compact = value.strip()
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            raw = decode(compact + "=" * (-len(compact) % 4))
        except (binascii.Error, ValueError):
            continue
        text = raw.decode("utf-8", "replace")
        if any(m in text for m in markers):
            return True
    return False


@case("extproc.request.no-state-in-headers", Level.MUST, source=CONTRACT)
async def no_state_in_headers(ctx: CaseContext) -> None:
    """no conversation state in headers sent upstream

    C2: "Per-request state lives in the gRPC stream handler (one ext_proc stream is one HTTP request); no
    conversation content (history, instructions, input) travels upstream in a request header."
    """
    marker, secret_instr = _marker(), _marker()
    body = xp.responses_body(
        ctx.model, f"{marker} " + "lorem ipsum " * 120, instructions=f"{secret_instr} answer briefly"
    )
    _s, replies = await _request(ctx, body, send_headers=True)
    _kind_is(ctx, replies[-1], "request_body", "a valid Responses request body")
    offenders: dict[str, str] = {}
    for r in replies:
        for k, v in xp.header_mutation(r).set.items():
            if len(v.encode()) > MAX_HEADER_BYTES or _leaks(v, [marker, secret_instr]):
                offenders[k] = v[:120] + ("..." if len(v) > 120 else "")
    ctx.check(
        not offenders,
        f"no header set upstream carries the input or instructions (or exceeds {MAX_HEADER_BYTES} bytes)",
        expected="no such header",
        actual=offenders,
    )


# --------------------------------------------------------------------------- request body


@case("extproc.request-body.reply-kind", Level.MUST, source=PROTO)
async def request_body_kind(ctx: CaseContext) -> None:
    """a valid request body gets a request_body reply

    request_body: "Unless observability_mode is true, the server must send back a BodyResponse message, an
    ImmediateResponse message, or close the stream."
    """
    _s, replies = await _request(ctx, xp.responses_body(ctx.model, "ping"))
    _kind_is(ctx, replies[-1], "request_body", "a valid Responses request body (BUFFERED, end_of_stream)")


@case(
    "extproc.request-body.chat-request",
    Level.MUST,
    source=f"{CONTRACT}; {OAI} CreateChatCompletionRequest",
)
async def chat_request(ctx: CaseContext) -> None:
    """the new request body is a Chat Completions request

    C1: "the body [becomes] a chat request with `model` and `messages`"; `model`: "ID of the model to use",
    `messages`: "A list of messages comprising the conversation so far".
    """
    marker = _marker()
    _, chat = await _chat_request(ctx, xp.responses_body(ctx.model, f"hello {marker}"))
    ctx.check_eq(chat.get("model"), ctx.model, "chat request model")
    messages = chat.get("messages")
    ctx.check(
        isinstance(messages, list) and len(messages) > 0,
        "chat request has a non-empty messages list",
        expected="list",
        actual=messages,
    )
    assert isinstance(messages, list)
    ctx.check(
        any(marker in t for t in _user_texts(messages)),
        "the input text is a user message",
        expected=f"a user message containing {marker!r}",
        actual=messages,
    )


@case("extproc.request-body.instructions-system", Level.MUST, source=f"{OAI} CreateResponse.instructions")
async def instructions_system(ctx: CaseContext) -> None:
    """instructions become the first, system message

    instructions: "A system (or developer) message inserted into the model's context."
    """
    instr = f"Answer like a pirate {_marker()}."
    _, chat = await _chat_request(ctx, xp.responses_body(ctx.model, "ahoy", instructions=instr))
    messages = chat.get("messages") or [None]
    first = messages[0] if isinstance(messages, list) and messages else None
    ctx.check(
        isinstance(first, dict) and first.get("role") in ("system", "developer"),
        "the first chat message is a system (or developer) message",
        expected="system",
        actual=first,
    )
    assert isinstance(first, dict)
    ctx.check_eq(_text_of(first.get("content")), instr, "the system message text")


@case("extproc.request-body.stream-flag", Level.MUST, source=f"{OAI} CreateResponse.stream")
async def stream_flag(ctx: CaseContext) -> None:
    """stream is carried to the chat request

    stream: "If set to true, the model response data will be streamed to the client as it is generated using
    server-sent events."
    """
    _, on = await _chat_request(ctx, xp.responses_body(ctx.model, "ping", stream=True))
    ctx.check_eq(on.get("stream"), True, "chat stream for stream: true")
    _, off = await _chat_request(ctx, xp.responses_body(ctx.model, "ping", stream=False))
    ctx.check(
        off.get("stream") in (None, False),
        "chat stream for stream: false",
        expected="false or absent",
        actual=off.get("stream"),
    )


async def _rejected(ctx: CaseContext, body: bytes, what: str) -> None:
    _s, replies = await _request(ctx, body)
    reply = replies[-1]
    imm = xp.immediate(reply)
    ctx.check(
        imm is not None,
        f"{what} is answered with an ImmediateResponse (never sent upstream)",
        expected="immediate_response",
        actual=f"{xp.kind(reply)} (body mutation: {(xp.body_of(reply) or b'')[:200]!r})",
    )
    assert imm is not None
    ctx.check_eq(imm.status, 400, f"{what}: immediate response status")
    ctx.check(
        imm.headers.get("content-type", "").split(";")[0].strip().lower() == "application/json",
        f"{what}: content-type application/json",
        expected="application/json",
        actual=imm.headers,
    )
    ctx.check(
        xp.is_openai_error(imm.json()),
        f"{what}: the body is an OpenAI error object",
        expected='{"error": {"message": ..., "type": ...}}',
        actual=imm.body[:300],
    )


_IMMEDIATE_SPEC = (
    'ProcessingResponse.immediate_response: "If specified, attempt to create a locally generated '
    "response, send it downstream, and stop processing additional filters and ignore any "
    'additional messages received from the remote server for this request or response." An '
    "invalid request is the client's error: 400 with an OpenAI error object."
)


@case("extproc.request-body.invalid-json-400", Level.MUST, spec=_IMMEDIATE_SPEC, source=PROTO)
async def invalid_json(ctx: CaseContext) -> None:
    """a body that is not JSON gets an immediate 400"""
    await _rejected(ctx, b'{"model": "m", "input": ', "a body that is not JSON")


@case("extproc.request-body.missing-model-400", Level.MUST, spec=_IMMEDIATE_SPEC, source=PROTO)
async def missing_model(ctx: CaseContext) -> None:
    """a request without model gets an immediate 400"""
    await _rejected(ctx, json.dumps({"input": "ping"}).encode(), "a request without model")


@case("extproc.request-body.wrong-type-400", Level.MUST, spec=_IMMEDIATE_SPEC, source=PROTO)
async def wrong_type(ctx: CaseContext) -> None:
    """a request with a mistyped field gets an immediate 400"""
    await _rejected(
        ctx,
        json.dumps({"model": ctx.model, "input": "ping", "temperature": "hot"}).encode(),
        'temperature: "hot"',
    )


# --------------------------------------------------------------------------- response headers


@case("extproc.response-headers.reply-kind", Level.MUST, source=PROTO)
async def response_headers_kind(ctx: CaseContext) -> None:
    """a 200 JSON upstream answer gets a response_headers reply

    response_headers: "Unless observability_mode is true, the server must send back a HeaderResponse message
    or close the stream."
    """
    await _buffered(ctx)  # checks the kind of each reply on the way


@case("extproc.response-headers.sse-mode-override", Level.SHOULD, source=f"{PROTO}; {CONTRACT}")
async def sse_mode_override(ctx: CaseContext) -> None:
    """an event-stream answer switches the response body to a streamed mode

    ProcessingResponse.mode_override: "Override how parts of the HTTP request and response are processed for
    the duration of this particular request/response only. Servers may use this to intelligently control how
    requests are processed based on the headers and other metadata that they see." C6: "The backend's
    chat-completion SSE chunks are rewritten into Responses SSE events as they pass".
    """
    body = xp.responses_body(ctx.model, "count", stream=True)
    s, replies = await _request(ctx, body, response_body_mode=PM.BUFFERED)
    _kind_is(ctx, replies[-1], "request_body", "a valid streaming Responses request body")
    rh = await _send(
        ctx, s, xp.response_headers(200, "text/event-stream"), "response_headers of an event stream"
    )
    _kind_is(ctx, rh, "response_headers", "a 200 text/event-stream upstream answer")
    mode = _effective_mode(PM.BUFFERED, rh)
    ctx.check(
        mode in (PM.STREAMED, PM.FULL_DUPLEX_STREAMED),
        "mode_override sets response_body_mode STREAMED or FULL_DUPLEX_STREAMED",
        expected="STREAMED or FULL_DUPLEX_STREAMED",
        actual=PM.BodySendMode.Name(mode),
    )
    if mode == PM.FULL_DUPLEX_STREAMED:
        # Envoy refuses FULL_DUPLEX_STREAMED unless the trailer mode is SEND (contract C5).
        ctx.check_eq(
            PM.HeaderSendMode.Name(rh.mode_override.response_trailer_mode),
            "SEND",
            "FULL_DUPLEX_STREAMED comes with response_trailer_mode SEND",
        )


@case(
    "extproc.response-headers.sse-content-length",
    Level.MUST,
    spec="The events sent downstream are not the upstream bytes: a kept content-length is stale. "
    + _C3,
    source=CONTRACT,
)
async def sse_content_length(ctx: CaseContext) -> None:
    """a rewritten event stream does not keep the upstream content-length"""
    run = await _streamed(ctx, _sse(ctx, _three_words()), content_length=-1)
    total = len(b"".join(run.frames))
    ctx.check(
        run.end_immediate is None or run.end_immediate.status == 200,
        "the stream is not refused",
        expected="a stream",
        actual=run.end_immediate,
    )
    final = xp.apply_mutations(
        {":status": "200", "content-type": "text/event-stream", "content-length": str(total)},
        [run.headers_reply],
    )
    ctx.check(
        "content-length" not in final,
        "content-length is removed in the response_headers reply",
        expected="absent",
        actual=final.get("content-length"),
    )


# --------------------------------------------------------------------------- response body


@case("extproc.response-body.reply-kind", Level.MUST, source=PROTO)
async def response_body_kind(ctx: CaseContext) -> None:
    """the buffered upstream body gets a response_body reply

    response_body: "Unless observability_mode is true, the server must send back a BodyResponse message or
    close the stream."
    """
    ex = await _buffered(ctx)
    _kind_is(ctx, ex.body_reply, "response_body", "the upstream chat completion body")


@case("extproc.response-body.response-object", Level.MUST, source=f"{OAI} Response")
async def response_object(ctx: CaseContext) -> None:
    """the chat completion becomes a completed Response object

    Response.object: "The object type of this resource - always set to `response`."; id: "Unique identifier
    for this Response."; output_text is the model's text.
    """
    text = f"the answer is {_marker()}"
    ex = await _buffered(ctx, text)
    obj = _response_json(ctx, ex)
    ctx.check_eq(obj.get("object"), "response", "object")
    ctx.check(
        isinstance(obj.get("id"), str) and obj["id"].startswith("resp_"),
        "id starts with resp_",
        expected="resp_...",
        actual=obj.get("id"),
    )
    ctx.check_eq(obj.get("status"), "completed", "status")
    ctx.check_eq(ctx.output_text(obj), text, "output text equals the chat content")
    ctx.validate(obj, ctx.profile.response_schema)


@case("extproc.response-body.usage", Level.MUST, source=f"{OAI} ResponseUsage")
async def response_usage(ctx: CaseContext) -> None:
    """chat usage is mapped to Responses usage

    ResponseUsage: "input_tokens: The number of input tokens. output_tokens: The number of output tokens.
    total_tokens: The total number of tokens used."
    """
    ex = await _buffered(ctx, usage=(11, 5))
    obj = _response_json(ctx, ex)
    usage = obj.get("usage") if isinstance(obj.get("usage"), dict) else {}
    assert isinstance(usage, dict)
    got = {k: usage.get(k) for k in ("input_tokens", "output_tokens", "total_tokens")}
    ctx.check_eq(got, {"input_tokens": 11, "output_tokens": 5, "total_tokens": 16}, "usage")


@case(
    "extproc.response-body.content-length",
    Level.MUST,
    spec='CommonResponse.body_mutation: "Replace the body of the last message sent to the remote '
    'server on this stream." The upstream content-length no longer describes it. ' + _C3,
    source=f"{PROTO}; {CONTRACT}",
)
async def response_content_length(ctx: CaseContext) -> None:
    """no stale response content-length after the body is replaced"""
    ex = await _buffered(ctx, "a reply of a different length than the chat completion")
    _kind_is(ctx, ex.body_reply, "response_body", "the upstream chat completion body")
    assert ex.final_body is not None
    _check_content_length(ctx, ex.final_headers, ex.final_body, "response")


# --------------------------------------------------------------------------- streaming


def _check_stream_replies(ctx: CaseContext, run: Streamed) -> None:
    bad = [xp.kind(r) for r in run.chunk_replies if xp.kind(r) != "response_body"]
    ctx.check(
        run.end_immediate is None and not bad and run.chunk_replies,
        "every upstream piece is answered with a response_body reply",
        expected="response_body replies",
        actual=bad or (run.end_immediate and f"immediate {run.end_immediate.status}") or "no replies",
    )


def _check_event_stream(ctx: CaseContext, run: Streamed, want_text: str) -> None:
    payloads = run.payloads
    types = run.types
    ctx.check(
        types[:1] == ["response.created"],
        "the first event is response.created",
        expected="response.created",
        actual=types[:3],
    )
    seqs = [p.get("sequence_number") for p in payloads]
    ints = [x for x in seqs if isinstance(x, int)]
    ctx.check(
        len(ints) == len(seqs) and ints == sorted(set(ints)),
        "sequence_number strictly increases",
        expected="increasing integers",
        actual=seqs,
    )
    terminals = [t for t in types if t in TERMINAL_EVENTS]
    ctx.check(
        len(terminals) == 1 and types[-1] == terminals[0],
        "exactly one terminal event, and it is the last",
        expected="one of " + ", ".join(TERMINAL_EVENTS),
        actual=types[-4:],
    )
    ctx.check_eq(terminals[0], "response.completed", "the terminal event")
    deltas = "".join(
        str(p.get("delta", "")) for p in payloads if p.get("type") == "response.output_text.delta"
    )
    done = [p.get("text") for p in payloads if p.get("type") == "response.output_text.done"]
    ctx.check_eq(deltas, want_text, "output_text deltas concatenate to the chat text")
    ctx.check_eq(done, [want_text], "response.output_text.done text")


@case("extproc.stream.reply-kind", Level.MUST, source=PROTO)
async def stream_reply_kind(ctx: CaseContext) -> None:
    """each streamed upstream piece gets a response_body reply

    response_body: "Unless observability_mode is true, the server must send back a BodyResponse message or
    close the stream." (STREAMED: one message per upstream chunk)
    """
    run = await _streamed(ctx, _sse(ctx, _three_words()))
    _check_stream_replies(ctx, run)


@case("extproc.stream.mutation-kind-matches-mode", Level.MUST, source=CONTRACT)
async def stream_mutation_kind_matches_mode(ctx: CaseContext) -> None:
    """in STREAMED mode body replies use body_mutation.body, not streamed_response

    C5: "In `STREAMED` mode each upstream chunk is one message, answered with `BodyMutation(body=...)`;
    `FULL_DUPLEX_STREAMED` takes `streamed_response` replies and needs the trailer mode `SEND`. The other
    mutation kind truncates the stream or lets the raw upstream JSON through with a 200."
    """
    run = await _streamed(ctx, _sse(ctx, _three_words()))
    _check_stream_replies(ctx, run)
    expected = "streamed_response" if run.mode == PM.FULL_DUPLEX_STREAMED else "body"
    kinds = []
    for reply in run.chunk_replies:
        common = xp.common(reply)
        if common is not None and common.HasField("body_mutation"):
            kinds.append(common.body_mutation.WhichOneof("mutation"))
    wrong = [k for k in kinds if k != expected]
    ctx.check(
        kinds and not wrong,
        f"every body mutation is `{expected}` in the active mode",
        expected=expected,
        actual=kinds,
    )


@case("extproc.stream.event-stream", Level.MUST, source=f"{CONTRACT}; {OAI} ResponseStreamEvent")
async def stream_event_stream(ctx: CaseContext) -> None:
    """the rewritten pieces form a valid Responses event stream

    C6: "The backend's chat-completion SSE chunks are rewritten into Responses SSE events as they pass";
    streaming events: response.created first, sequence_number "The sequence number for this event", deltas,
    one terminal event.
    """
    run = await _streamed(ctx, _sse(ctx, _three_words()))
    _check_stream_replies(ctx, run)
    _check_event_stream(ctx, run, "".join(_three_words()))


@case("extproc.stream.split-lines", Level.MUST, source=PROTO)
async def stream_split_lines(ctx: CaseContext) -> None:
    """SSE lines split across upstream pieces are reassembled

    HttpBody: "A chunk of the HTTP request or response body." Chunks follow the transport, not SSE framing: an
    event may be split anywhere, even inside a line.
    """
    def pieces(api: str) -> list[bytes]:
        # Cut every frame in the middle of its data line and between its two closing newlines,
        # so pieces end mid-line, mid-terminator, and carry the end of one event with the start
        # of the next.
        frames = xp.upstream_sse(api, _three_words(), model=ctx.model)
        data, cuts, start = b"".join(frames), [], 0
        for f in frames:
            cuts += [start + len(f) // 2, start + len(f) - 1]
            start += len(f)
        bounds = [0, *cuts, len(data)]
        return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]

    run = await _streamed(ctx, pieces)
    _check_stream_replies(ctx, run)
    _check_event_stream(ctx, run, "".join(_three_words()))


@case("extproc.stream.incremental", Level.SHOULD, source=CONTRACT)
async def stream_incremental(ctx: CaseContext) -> None:
    """text deltas go out before the upstream stream ends

    C6: "The backend's chat-completion SSE chunks are rewritten into Responses SSE events as they pass,
    keeping the time to first byte and the spacing of the chunks."
    """
    run = await _streamed(ctx, _sse(ctx, _three_words()))
    _check_stream_replies(ctx, run)
    before_end = b"".join(run.bodies[:-1])
    ctx.check(
        b"response.output_text.delta" in before_end,
        "a text delta is released before the end_of_stream piece",
        expected="a delta before the last reply",
        actual=[len(b) for b in run.bodies],
    )


@case("extproc.stream.terminal-by-end", Level.MUST, source=PROTO)
async def stream_terminal_by_end(ctx: CaseContext) -> None:
    """held-back data is released by the end of the stream

    BodyMutation.body: "The entire body to replace." Nothing may be left held back when the upstream stream
    ends: the reply to the end_of_stream piece completes the event stream.
    """
    run = await _streamed(ctx, _sse(ctx, ["alpha ", "beta"]))
    _check_stream_replies(ctx, run)
    types = run.types
    ctx.check(
        bool(types) and types[-1] in TERMINAL_EVENTS,
        "the event stream ends with a terminal event by the last reply",
        expected="response.completed last",
        actual=types[-3:],
    )


@case(
    "extproc.stream.buffered-fallback",
    Level.MUST,
    source="extensions/filters/http/ext_proc/v3/processing_mode.proto",
)
async def stream_buffered_fallback(ctx: CaseContext) -> None:
    """an event stream answered in BUFFERED mode is still rewritten

    ProcessingMode BUFFERED: "Buffer the message body in memory and send the entire body at once." A server
    that does not override the mode still gets the whole upstream stream and must answer it with Responses
    events.
    """
    run = await _streamed(ctx, _sse(ctx, _three_words()), announce=PM.BUFFERED)
    _check_stream_replies(ctx, run)
    _check_event_stream(ctx, run, "".join(_three_words()))


# --------------------------------------------------------------------------- upstream errors


async def _upstream_error(
    ctx: CaseContext, status: int, body: bytes, *, stream: bool = False
) -> tuple[int, bytes, str]:
    """An upstream answer with ``status``; returns what goes downstream: (status, body, how)."""
    s, replies = await _request(ctx, xp.responses_body(ctx.model, "ping", stream=stream))
    _kind_is(ctx, replies[-1], "request_body", "a valid Responses request body")
    ctype = "application/json"
    rh = await _send(ctx, s, xp.response_headers(status, ctype, content_length=len(body)), "response_headers")
    imm = xp.immediate(rh)
    if imm is not None:
        return imm.status, imm.body, "immediate response to response_headers"
    rb = await _send(ctx, s, xp.response_body(body), "the response body")
    imm = xp.immediate(rb)
    if imm is not None:
        return imm.status, imm.body, "immediate response to response_body"
    final = xp.apply_mutations({":status": str(status)}, [rh, rb])
    new = xp.body_of(rb)
    try:
        final_status = int(final.get(":status", status))
    except ValueError:
        final_status = status
    return final_status, body if new is None else new, "header and body mutation"


def _error_body(status: int) -> bytes:
    return json.dumps(
        {"error": {"message": f"upstream said {status}", "type": "server_error", "param": None, "code": None}}
    ).encode()


def _check_error(ctx: CaseContext, got: tuple[int, bytes, str], want_status: int, what: str) -> None:
    status, body, how = got
    try:
        obj = json.loads(body)
    except ValueError:
        obj = None
    ctx.check(
        not (isinstance(obj, dict) and obj.get("status") == "completed"),
        f"{what}: never a completed response",
        expected="an error",
        actual=body[:300],
    )
    ctx.check_eq(status, want_status, f"{what}: status sent downstream ({how})")
    ctx.check(
        xp.is_openai_error(obj),
        f"{what}: the body is an OpenAI error object",
        expected='{"error": {"message": ..., "type": ...}}',
        actual=body[:300],
    )


_ERRORS_SPEC = (
    'C7: "Backend errors become OpenAI error objects with honest status codes: a backend 4xx keeps '
    "its status, a 5xx or an answer that is not a chat completion is a 502 Bad Gateway; with "
    '`stream: true` the error may also be an event stream ending in `response.failed`. A backend '
    'error never becomes a completed response."'
)


@case("extproc.upstream.5xx-502", Level.MUST, spec=_ERRORS_SPEC, source=CONTRACT)
async def upstream_5xx(ctx: CaseContext) -> None:
    """an upstream 503 becomes a 502 OpenAI error"""
    got = await _upstream_error(ctx, 503, _error_body(503))
    _check_error(ctx, got, 502, "upstream 503")


@case("extproc.upstream.4xx-status", Level.MUST, spec=_ERRORS_SPEC, source=CONTRACT)
async def upstream_4xx(ctx: CaseContext) -> None:
    """upstream 400 and 429 keep their status as OpenAI errors"""
    for status in (400, 429):
        got = await _upstream_error(ctx, status, _error_body(status))
        _check_error(ctx, got, status, f"upstream {status}")


@case("extproc.upstream.garbage-502", Level.MUST, spec=_ERRORS_SPEC, source=CONTRACT)
async def upstream_garbage(ctx: CaseContext) -> None:
    """an upstream 200 that is not JSON becomes a 502 OpenAI error"""
    got = await _upstream_error(ctx, 200, b"<html>this is not a chat completion")
    _check_error(ctx, got, 502, "garbage upstream body")


@case("extproc.upstream.stream-garbage-failed", Level.MUST, source=f"{OAI} ResponseFailedEvent")
async def stream_garbage(ctx: CaseContext) -> None:
    """garbage in the upstream event stream ends it with response.failed

    response.failed: "An event that is emitted when a response fails." A stream that cannot be read must not
    end as completed.
    """
    def frames(api: str) -> list[bytes]:
        out = xp.upstream_sse(api, ["one "], model=ctx.model)
        out.insert(2, b"data: {this is not JSON\n\n")
        return out

    run = await _streamed(ctx, frames)
    types = run.types
    if run.end_immediate is not None and run.end_immediate.status >= 400:
        # An error answer before any event went out is an honest failure too.
        ctx.check(
            xp.is_openai_error(run.end_immediate.json()),
            "the error is an OpenAI error object",
            expected="error object",
            actual=run.end_immediate.body[:300],
        )
        return
    ctx.check(
        "response.failed" in types,
        "a response.failed event is sent",
        expected="response.failed",
        actual=types,
    )
    ctx.check(
        "response.completed" not in types, "no response.completed event", expected="absent", actual=types
    )


@case("extproc.upstream.stream-error-status", Level.MUST, spec=_ERRORS_SPEC, source=CONTRACT)
async def stream_error_status(ctx: CaseContext) -> None:
    """an upstream 503 to a streaming request is not a completed response"""
    status, body, how = await _upstream_error(ctx, 503, _error_body(503), stream=True)
    if status >= 400:
        _check_error(ctx, (status, body, how), 502, "upstream 503 (stream: true)")
        return
    parser = SSEParser()
    events = parser.feed(body)
    types = []
    for e in events:
        try:
            types.append(json.loads(e.data).get("type"))
        except (ValueError, AttributeError):
            types.append(None)
    ctx.check(
        "response.failed" in types and "response.completed" not in types,
        "a 200 event stream for a failed upstream ends in response.failed",
        expected="response.failed",
        actual=types or body[:300],
    )


# --------------------------------------------------------------------------- store


@case("extproc.store.get-equals-body", Level.MUST, source=f"{OAI} CreateResponse.store")
async def store_get(ctx: CaseContext) -> None:
    """a response made through ext_proc is retrievable over HTTP

    store: "Whether to store the generated model response for later retrieval via API." GET
    /v1/responses/{response_id} returns the same Response the ext_proc body mutation sent.
    """
    if not ctx.config.base_url:
        ctx.skip("no --base-url: the gateway's HTTP API is needed to read the stored response")
    ex = await _buffered(ctx, f"stored {_marker()}")
    obj = _response_json(ctx, ex)
    got = await ctx.get(f"/responses/{obj.get('id')}")
    ctx.check_eq(got.status_code, 200, f"GET /responses/{obj.get('id')} status")
    ctx.check_eq(got.json(), obj, "the stored response equals the body mutation")


# --------------------------------------------------------------------------- protocol


@case("extproc.protocol.out-of-order", Level.MUST, source=PROTO)
async def out_of_order(ctx: CaseContext) -> None:
    """a response phase without a request is refused, not hung

    ProcessingRequest: "the server must send back a HeaderResponse message or close the stream." A response
    for which no Responses request was seen cannot be translated: answer locally or end the stream with an
    error, never wait or pass it through.
    """
    s = xp.ExtProcStream(ctx)
    chat = json.dumps(xp.chat_completion("stray")).encode()
    try:
        reply = await s.send(xp.response_headers(200, "application/json", content_length=len(chat)))
    except xp.NoReply as exc:
        ctx.check(
            not exc.timed_out,
            "the server answers or ends the stream in time",
            expected="an answer",
            actual=exc.what,
        )
        return
    ctx.check(
        xp.kind(reply) == "immediate_response",
        "the stray response is answered locally (immediate_response) or the stream ends",
        expected="immediate_response or a closed stream",
        actual=xp.kind(reply),
    )


@case("extproc.protocol.ends-after-half-close", Level.MUST, source=PROTO)
async def ends_after_half_close(ctx: CaseContext) -> None:
    """the server ends the stream once Envoy is done

    "At any point above, if the server closes the gRPC stream cleanly, then Envoy proceeds without consulting
    the server." After the last phase Envoy half-closes; the server must end the call (status OK) rather than
    leave it open.
    """
    import grpc

    ex = await _buffered(ctx)
    code = await ex.stream.finish()
    ctx.check(
        code == grpc.StatusCode.OK,
        "the call ends with status OK after the client half-closes",
        expected="OK",
        actual=getattr(code, "name", code)
        if code is not None
        else f"still open after {ex.stream.timeout:g}s",
    )


@case("extproc.protocol.response-trailers", Level.MUST, source=PROTO)
async def response_trailers(ctx: CaseContext) -> None:
    """response trailers, when sent, get a response_trailers reply

    response_trailers: "The HTTP trailers for the response path. Unless observability_mode is true, the server
    must send back a TrailerResponse message or close the stream."
    """
    s, replies = await _request(ctx, xp.responses_body(ctx.model, "ping"))
    _kind_is(ctx, replies[-1], "request_body", "a valid Responses request body")
    rh = await _send(ctx, s, xp.response_headers(200, "application/json"), "response_headers")
    _kind_is(ctx, rh, "response_headers", "a 200 application/json upstream answer")
    chat = xp.upstream_json(xp.upstream_api(replies), "with trailers", model=ctx.model)
    # Trailers follow: the body message does not end the stream.
    rb = await _send(ctx, s, xp.response_body(chat, end_of_stream=False), "the response body")
    _kind_is(ctx, rb, "response_body", "the upstream body")
    rt = await _send(ctx, s, xp.response_trailers(), "response_trailers")
    _kind_is(ctx, rt, "response_trailers", "response_trailers")


@case("extproc.protocol.request-trailers", Level.MUST, source=PROTO)
async def request_trailers(ctx: CaseContext) -> None:
    """request trailers, when sent, get a request_trailers reply

    request_trailers: "The HTTP trailers for the request path. Unless observability_mode is true, the server
    must send back a TrailerResponse message or close the stream."
    """
    s = xp.ExtProcStream(ctx)
    body = xp.responses_body(ctx.model, "ping")
    rh = await _send(ctx, s, xp.request_headers(body), "request_headers")
    _kind_is(ctx, rh, "request_headers", "request_headers of POST /v1/responses")
    # Trailers follow: the body message does not end the stream.
    rb = await _send(ctx, s, xp.request_body(body, end_of_stream=False), "the request body")
    ctx.check(
        xp.kind(rb) in ("request_body", "immediate_response"),
        "the request body is answered with a request_body (or immediate) reply",
        expected="request_body",
        actual=xp.kind(rb),
    )
    if xp.kind(rb) == "immediate_response":
        return
    rt = await _send(ctx, s, xp.request_trailers(), "request_trailers")
    ctx.check(
        xp.kind(rt) in ("request_trailers", "immediate_response"),
        "request_trailers are answered with a request_trailers (or immediate) reply",
        expected="request_trailers",
        actual=xp.kind(rt),
    )


# --------------------------------------------------------------------------- not create requests
# A WebSocket upgrade reaches an ext_proc filter only as the request headers of GET /v1/responses
# (Envoy's HTTP filters never see WebSocket frames), and POST /v1/responses/compact and
# /input_tokens are not create requests. A deployment that routes them through the filter (the
# reference's Envoy config does not, envoy/README.md) needs the processor to pass them through
# untouched: translating them into a Chat Completions request breaks the upgrade or the endpoint.

SURFACE_SOURCE = f"{PROTO}; envoy/README.md (WebSocket mode bypasses ext_proc)"


async def _surface_reply(ctx: CaseContext, s: xp.ExtProcStream, message: object, what: str) -> object:
    try:
        return await s.send(message, xp.protocol_config())
    except xp.NoReply as exc:
        ctx.check(False, f"the server answers {what}", expected="a ProcessingResponse", actual=exc.what)
    raise AssertionError("unreachable")


def _check_untouched(ctx: CaseContext, reply: object, headers: dict[str, str], what: str) -> None:
    ctx.check(xp.kind(reply) == "request_headers", f"{what} get a request_headers reply",
              expected="request_headers", actual=xp.kind(reply))
    final = xp.apply_mutations(headers, [reply])
    ctx.check_eq({k: final.get(k) for k in headers}, headers, f"{what} after the processor's mutations")


@case("extproc.websocket.upgrade-untouched", Level.MUST, source=SURFACE_SOURCE)
async def upgrade_untouched(ctx: CaseContext) -> None:
    """The headers of a WebSocket upgrade of GET /v1/responses pass through untouched

    request_headers: "the server must send back a HeaderResponse message, an ImmediateResponse message, or
    close the stream." The upgrade is all an ext_proc filter sees of WebSocket mode (never the frames):
    rewriting it into a chat completions request breaks it.
    """
    key = secrets.token_hex(8)
    extra = [("upgrade", "websocket"), ("connection", "Upgrade"), ("sec-websocket-key", key),
             ("sec-websocket-version", "13")]
    s = xp.ExtProcStream(ctx)
    upgrade = xp.request_headers(None, method="GET", extra=extra, end_of_stream=True)
    reply = await _surface_reply(ctx, s, upgrade, "the request_headers of a WebSocket upgrade")
    headers = {":method": "GET", ":path": "/v1/responses", **dict(extra)}
    _check_untouched(ctx, reply, headers, "the upgrade's headers")


@case("extproc.compact.not-translated", Level.MUST, source=SURFACE_SOURCE)
async def compact_not_translated(ctx: CaseContext) -> None:
    """POST /v1/responses/compact is not translated into a chat completions request

    HeaderMutation.set_headers: "Add or replace HTTP headers." BodyMutation: "Replace the body of the last
    message sent to the remote server on this stream." Only POST /v1/responses is a create request;
    /v1/responses/compact answers a compaction, not a response.
    """
    body = json.dumps({"model": ctx.model, "input": [{"role": "user", "content": "hello"}]}).encode()
    s = xp.ExtProcStream(ctx)
    head = await _surface_reply(ctx, s, xp.request_headers(body, path="/v1/responses/compact"),
                        "the request_headers of POST /v1/responses/compact")
    _check_untouched(ctx, head, {":method": "POST", ":path": "/v1/responses/compact"},
                     "the compact request's headers")
    reply = await _surface_reply(ctx, s, xp.request_body(body), "the compact request's body")
    ctx.check(xp.kind(reply) == "request_body", "the body gets a request_body reply",
              expected="request_body", actual=xp.kind(reply))
    new_body = xp.body_of(reply)
    ctx.check(new_body is None or new_body == body, "the compact request's body goes upstream unchanged",
              expected="no body mutation", actual=(new_body or b"")[:300])
