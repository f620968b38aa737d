"""Every `ProcessingResponse` the ext_proc server sends, built in one place.

`reference/extproc/processor.py` decides *what* to answer in each phase; this module knows *how*
Envoy wants it spelled (external_processor.proto, and what Envoy 1.40 was measured to do):

- header values go in `raw_value` ("Request header values arrive in `raw_value`; `value` is empty
  in 1.40. Set headers with `raw_value` too");
- a replaced body carries its new `content-length` or drops it ("Body rewrite with a stale
  `content-length` gives a 500 with an empty body");
- a streamed response chunk is answered with the mutation kind of the active body mode
  (`BodyMutation.body` in STREAMED, `streamed_response` in FULL_DUPLEX_STREAMED: "Replying with the
  wrong mutation kind for the active mode truncates streams");
- `mode_override` needs FULL_DUPLEX_STREAMED paired with trailers SEND ("Envoy refuses the config
  unless the matching trailer mode is SEND").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.duration_pb2 import Duration

import protos
from reference.core.errors import APIError

PM = protos.ProcessingMode

# Request headers never forwarded to the backend: the body is rewritten (so a client's
# content-length is stale) and compressed answers could not be rewritten.
DROP_REQUEST_HEADERS = ("content-length", "accept-encoding")

# The client headers the model server may see: content negotiation, tracing (W3C Trace Context
# and baggage, Zipkin B3) and request ids. Everything else a client sends (its Authorization,
# Cookie, X-Api-Key, organisation or any private header) is removed: the backend gets the
# gateway's own credentials, as on the direct path. Pseudo-headers and host stay (Envoy routes
# with them and refuses their removal).
FORWARDED_CLIENT_HEADERS = frozenset({
    "accept", "accept-language",
    "traceparent", "tracestate", "baggage",
    "b3", "x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid", "x-b3-sampled", "x-b3-flags",
    "x-request-id", "x-client-request-id",
})
_KEPT_REQUEST_HEADERS = frozenset({"host", "content-type"})


# --- headers -----------------------------------------------------------------------------------


def headers_of(message: Any) -> dict[str, str]:
    """An HttpHeaders message as a dict of lower-cased names to values (raw_value preferred)."""
    out: dict[str, str] = {}
    for h in message.headers.headers:
        value = h.raw_value.decode("utf-8", "replace") if h.raw_value else h.value
        out[h.key.lower()] = value
    return out


def _header_option(key: str, value: str | bytes) -> Any:
    raw = value.encode() if isinstance(value, str) else value
    # Envoy 1.40 reads header values from raw_value (value stays empty).
    return protos.HeaderValueOption(
        header=protos.HeaderValue(key=key, raw_value=raw),
        append_action=protos.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD,
    )


def header_mutation(set_headers: Iterable[tuple[str, str | bytes]] = (), remove: Iterable[str] = ()) -> Any:
    return protos.HeaderMutation(
        set_headers=[_header_option(k, v) for k, v in set_headers], remove_headers=list(remove)
    )


def upstream_header_mutation(client_headers: dict[str, str], authorization: str | None,
                             set_headers: Iterable[tuple[str, str | bytes]] = ()) -> Any:
    """The mutation making a client's request headers fit for the model server: only the
    allow-listed client headers stay, the gateway's own `authorization` (when it has a key) is
    set, and `set_headers` are applied on top."""
    remove = [name for name in client_headers
              if not name.startswith(":") and name not in FORWARDED_CLIENT_HEADERS
              and name not in _KEPT_REQUEST_HEADERS]
    to_set = list(set_headers)
    if authorization:
        to_set.append(("authorization", authorization))
        remove = [name for name in remove if name != "authorization"]
    for name in DROP_REQUEST_HEADERS:
        if name not in remove and not any(key == name for key, _ in to_set):
            remove.append(name)
    return header_mutation(to_set, remove)


# --- a request passed through -----------------------------------------------------------------

_PASSED_THROUGH = {
    "request_headers": lambda: protos.ProcessingResponse(request_headers=protos.HeadersResponse()),
    "request_body": lambda: protos.ProcessingResponse(request_body=protos.BodyResponse()),
    "request_trailers": lambda: protos.ProcessingResponse(request_trailers=protos.TrailersResponse()),
    "response_headers": lambda: protos.ProcessingResponse(response_headers=protos.HeadersResponse()),
    "response_body": lambda: protos.ProcessingResponse(response_body=protos.BodyResponse()),
    "response_trailers": lambda: protos.ProcessingResponse(response_trailers=protos.TrailersResponse()),
}


def passed_through(message: str | None) -> list[Any]:
    """The reply that leaves this message (`ProcessingRequest.request` oneof name) of a request
    the processor does not translate as it is; none for an unknown message."""
    make = _PASSED_THROUGH.get(message or "")
    return [make()] if make is not None else []


# --- request phases ----------------------------------------------------------------------------


def request_headers(chat_path: str, client_headers: dict[str, str], authorization: str | None) -> Any:
    """The request headers' reply: `:path` becomes the backend's chat path (a header mutation
    needs no `allow_all_routing` for `:path`), the client's headers are cut down to the
    allow-list and carry the gateway's credentials. Dropping content-length lets Envoy switch to
    chunked encoding for the rewritten body (the body reply sets the right length)."""
    headers = upstream_header_mutation(client_headers, authorization, [(":path", chat_path)])
    return protos.ProcessingResponse(request_headers=protos.HeadersResponse(
        response=protos.CommonResponse(header_mutation=headers)))


def request_body_held() -> Any:
    """A piece of a request body kept until the rest arrives: empty bytes send nothing on."""
    return protos.ProcessingResponse(request_body=protos.BodyResponse(
        response=protos.CommonResponse(body_mutation=protos.BodyMutation(body=b""))))


def request_body_replaced(chat: bytes, chat_path: str, client_headers: dict[str, str],
                          authorization: str | None) -> Any:
    """The Responses request body replaced by the chat request (BUFFERED request body): the
    headers travel with the body reply, content-length set to the new body's length."""
    headers = upstream_header_mutation(client_headers, authorization, [
        (":path", chat_path), ("content-length", str(len(chat))), ("content-type", "application/json")])
    return protos.ProcessingResponse(request_body=protos.BodyResponse(response=protos.CommonResponse(
        header_mutation=headers, body_mutation=protos.BodyMutation(body=chat))))


def request_to_http_server(marker_header: str, client_headers: dict[str, str],
                           authorization: str | None) -> Any:
    """The reply to a BUFFERED request body that hands the request to the gateway's own HTTP
    server: the marker header selects the config's route to it and `clear_route_cache` makes
    Envoy pick the route again. Envoy holds the request headers until this reply, so the router
    connects only to that server. The request goes as the client sent it: the reply to its
    headers (which must be safe for a request whose body never comes) already pointed `:path`
    at the model server and cut the client's headers down, so both are put back (the original
    `:path`, the client's headers, no gateway `authorization` the client did not send). The
    destination is the gateway itself: it checks the client's key and calls the model server
    with its own credentials."""
    restored = [(name, value) for name, value in client_headers.items()
                if (not name.startswith(":") or name == ":path") and name != "host"]
    remove = ["authorization"] if authorization and "authorization" not in client_headers else []
    return protos.ProcessingResponse(request_body=protos.BodyResponse(response=protos.CommonResponse(
        header_mutation=header_mutation([*restored, (marker_header, "1")], remove), clear_route_cache=True)))


def request_replaced_full_duplex(chat: bytes, chat_path: str, client_headers: dict[str, str],
                                 authorization: str | None) -> list[Any]:
    """FULL_DUPLEX_STREAMED request body: the held request headers' reply sets `:path` (the
    content-length is Envoy's to drop in this mode), then the new body goes out whole as one
    `streamed_response`."""
    headers = upstream_header_mutation(
        client_headers, authorization, [(":path", chat_path), ("content-type", "application/json")])
    body = protos.BodyMutation(streamed_response=protos.StreamedBodyResponse(body=chat, end_of_stream=True))
    return [
        protos.ProcessingResponse(request_headers=protos.HeadersResponse(
            response=protos.CommonResponse(header_mutation=headers))),
        protos.ProcessingResponse(request_body=protos.BodyResponse(
            response=protos.CommonResponse(body_mutation=body))),
    ]


def request_trailers() -> Any:
    return protos.ProcessingResponse(request_trailers=protos.TrailersResponse())


# --- response phases ---------------------------------------------------------------------------


def response_headers_unchanged() -> Any:
    return protos.ProcessingResponse(
        response_headers=protos.HeadersResponse(response=protos.CommonResponse()))


def response_headers_event_stream(current_body_mode: int, sse_mode: str) -> tuple[Any, int]:
    """The reply to a 2xx answer to a streaming request: event-stream headers without a
    content-length and, unless Envoy already streams the body, a `mode_override` to STREAMED (or
    FULL_DUPLEX_STREAMED) so events go out as chunks arrive. Returns the reply and the body mode
    Envoy is in afterwards (an override is honoured with `allow_mode_override: true`)."""
    reply = response_headers_unchanged()
    reply.response_headers.response.header_mutation.CopyFrom(header_mutation(
        [("cache-control", "no-cache"), ("content-type", "text/event-stream")], ["content-length"]))
    if current_body_mode in (PM.STREAMED, PM.FULL_DUPLEX_STREAMED):
        return reply, current_body_mode
    target = PM.FULL_DUPLEX_STREAMED if sse_mode == "full_duplex" else PM.STREAMED
    override = PM(response_body_mode=target)
    if target == PM.FULL_DUPLEX_STREAMED:
        # Envoy accepts FULL_DUPLEX_STREAMED only with trailers sent as well.
        override.response_trailer_mode = PM.SEND
    reply.mode_override.CopyFrom(override)
    return reply, target


def response_headers_body_not_processed() -> Any:
    """The reply to the headers of an answer that passes whole (the gateway's HTTP server
    answering a request handed to it): unchanged, and the body mode switched to NONE with
    `mode_override` so Envoy streams the body to the client without sending it here."""
    reply = response_headers_unchanged()
    reply.mode_override.CopyFrom(PM(response_body_mode=PM.NONE, response_trailer_mode=PM.SKIP))
    return reply


def response_body_unchanged() -> Any:
    return protos.ProcessingResponse(response_body=protos.BodyResponse(response=protos.CommonResponse()))


def response_body_json(text: bytes) -> Any:
    """A BUFFERED response body replaced by the Responses object, with its content-length."""
    headers = header_mutation([("content-length", str(len(text))), ("content-type", "application/json")])
    return protos.ProcessingResponse(response_body=protos.BodyResponse(response=protos.CommonResponse(
        header_mutation=headers, body_mutation=protos.BodyMutation(body=text))))


def response_body_chunk(data: bytes, *, body_mode: int, end: bool) -> Any:
    """One streamed response chunk replaced by `data`, in the mutation kind of `body_mode`."""
    if body_mode == PM.FULL_DUPLEX_STREAMED:
        mutation = protos.BodyMutation(
            streamed_response=protos.StreamedBodyResponse(body=data, end_of_stream=end))
    else:
        # STREAMED: each reply replaces that chunk; empty bytes hold nothing back.
        mutation = protos.BodyMutation(body=data)
    return protos.ProcessingResponse(
        response_body=protos.BodyResponse(response=protos.CommonResponse(body_mutation=mutation)))


def response_trailers() -> Any:
    return protos.ProcessingResponse(response_trailers=protos.TrailersResponse())


# --- answering without the upstream ------------------------------------------------------------


def immediate(status: int, body: bytes, content_type: str = "application/json", details: str = "") -> Any:
    """An ImmediateResponse: Envoy sends it to the client as it is ("ImmediateResponse 400 with a
    JSON body reaches the client as sent")."""
    headers = [("content-type", content_type)]
    if content_type.startswith("text/event-stream"):
        headers.append(("cache-control", "no-cache"))
    return protos.ProcessingResponse(immediate_response=protos.ImmediateResponse(
        status=protos.HttpStatus(code=status), headers=header_mutation(headers), body=body, details=details))


def error(err: APIError) -> Any:
    """The OpenAI error object of `err` as an ImmediateResponse with its status."""
    return immediate(err.status, err.body_bytes(), details=f"gateway_{err.code or err.type}")


def message_timeout(seconds: float | None) -> Any | None:
    """A message restarting Envoy's wait for our reply (`override_message_timeout`), or None
    without a timeout to ask for."""
    if not seconds:
        return None
    timeout = Duration()
    timeout.FromNanoseconds(int(seconds * 1e9))
    return protos.ProcessingResponse(override_message_timeout=timeout)


# `ProcessingResponse.streamed_immediate_response` (field 11, a `StreamedImmediateResponse` with
# the oneof `headers_response` = 1 (HttpHeaders), `body_response` = 2 (StreamedBodyResponse),
# `trailers_response` = 3 (HeaderMap)) is in Envoy 1.40's external_processor.proto but not in
# the xds-protos 1.85 stubs. The two messages are declared here with exactly those numbers and
# types, in a private package of the default descriptor pool, and serialised; parsed as a
# ProcessingResponse the bytes keep field 11 as an unknown field, which protobuf writes back
# unchanged when gRPC serialises the reply. (Field numbers read from the descriptor compiled
# into the envoy 1.40 binary; tests/reference/extproc/test_extproc_tools_unit.py checks the wire bytes.)
_COMPAT_PACKAGE = "reference.extproc.compat"
_compat_classes: tuple[Any, Any] | None = None


def _compat() -> tuple[Any, Any]:
    global _compat_classes
    if _compat_classes is None:
        pool = descriptor_pool.Default()
        try:
            pool.FindMessageTypeByName(f"{_COMPAT_PACKAGE}.StreamedImmediateResponse")
        except KeyError:
            file = descriptor_pb2.FileDescriptorProto(
                name="reference/extproc/compat.proto", package=_COMPAT_PACKAGE, syntax="proto3",
                dependency=[protos.ext_proc_pb2.DESCRIPTOR.name, protos.core_base_pb2.DESCRIPTOR.name])
            sir = file.message_type.add(name="StreamedImmediateResponse")
            sir.oneof_decl.add(name="response")
            for name, number, type_name in (
                ("headers_response", 1, ".envoy.service.ext_proc.v3.HttpHeaders"),
                ("body_response", 2, ".envoy.service.ext_proc.v3.StreamedBodyResponse"),
                ("trailers_response", 3, ".envoy.config.core.v3.HeaderMap"),
            ):
                sir.field.add(name=name, number=number, oneof_index=0, type_name=type_name,
                              type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
                              label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
            outer = file.message_type.add(name="ProcessingResponse")
            outer.field.add(name="streamed_immediate_response", number=11,
                            type_name=f".{_COMPAT_PACKAGE}.StreamedImmediateResponse",
                            type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
                            label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
            pool.Add(file)
        _compat_classes = (
            message_factory.GetMessageClass(
                pool.FindMessageTypeByName(f"{_COMPAT_PACKAGE}.StreamedImmediateResponse")),
            message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_COMPAT_PACKAGE}.ProcessingResponse")),
        )
    return _compat_classes


def streamed_immediate(**response: Any) -> Any:
    """A ProcessingResponse carrying `streamed_immediate_response` with one of `headers_response`
    (an HttpHeaders), `body_response` (a StreamedBodyResponse) or `trailers_response`."""
    sir_class, outer_class = _compat()
    wire = outer_class(streamed_immediate_response=sir_class(**response)).SerializeToString()
    return protos.ProcessingResponse.FromString(wire)


def streamed_immediate_headers(status: int, content_type: str) -> Any:
    headers = [(":status", str(status)), ("content-type", content_type), ("cache-control", "no-cache")]
    return streamed_immediate(headers_response=protos.HttpHeaders(headers=protos.HeaderMap(
        headers=[protos.HeaderValue(key=k, raw_value=v.encode()) for k, v in headers])))


def streamed_immediate_body(data: bytes, *, end: bool) -> Any:
    return streamed_immediate(body_response=protos.StreamedBodyResponse(body=data, end_of_stream=end))
