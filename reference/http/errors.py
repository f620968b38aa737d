"""Error rendering: every failure a client sees is an OpenAI error object with an honest status.

Quart's own HTTP errors (unknown route 404, wrong method 405, body over MAX_CONTENT_LENGTH 413)
are rendered the same way, and anything unexpected becomes a 500 whose details stay in the
server log: no traceback ever reaches a client.
"""

from __future__ import annotations

import logging

from quart import Quart, Response, current_app, has_request_context, request, websocket
from werkzeug.exceptions import HTTPException

from reference.core import errors
from reference.core.errors import APIError

log = logging.getLogger("reference.http")


def error_response(err: APIError, headers: dict[str, str] | None = None) -> Response:
    return Response(err.body_bytes(), status=err.status, content_type="application/json",
                    headers=headers)


def _method_and_path() -> tuple[str, str]:
    """The failing request's method and path; a WebSocket upgrade (GET) has no `request`."""
    if has_request_context():
        return request.method, request.path
    return "GET", websocket.path


def _from_http_exception(exc: HTTPException) -> APIError:
    status = exc.code or 500
    method, path = _method_and_path()
    if status == 404:
        return APIError(404, f"Invalid URL ({method} {path})", errors.INVALID_REQUEST, None, "not_found")
    if status == 405:
        return APIError(405, f"Method {method} is not allowed for {path}.",
                        errors.INVALID_REQUEST, None, "method_not_allowed")
    if status == 413 and has_request_context():
        limit = request.max_content_length or 0
        return errors.payload_too_large(limit)
    if status == 408:
        return errors.request_timeout(current_app.config.get("BODY_TIMEOUT"))
    if status >= 500:
        return APIError(status, "The server had an error while processing your request.", errors.SERVER_ERROR)
    return APIError(status, exc.description or exc.name, errors.INVALID_REQUEST)


async def _drain_body(status: int | None) -> bool:
    """Read an unread request body (routing errors answer before any handler reads it).

    Returns False when the body cannot be drained: it is over the size limit (413) or broken.
    A WebSocket upgrade request has no body to drain: its error is the HTTP answer to the upgrade.
    """
    if not has_request_context():
        return True
    has_body = request.content_length not in (None, 0) or "transfer-encoding" in request.headers
    if not has_body:
        return True
    if status in (408, 413):
        # Over the size limit, or the client stopped sending: waiting for the rest is the
        # very thing to avoid.
        return False
    try:
        await request.get_data(cache=False)
    except Exception:  # an aborted or oversized body: the connection is spent either way
        return False
    return True


def register_error_handlers(app: Quart) -> None:
    @app.errorhandler(APIError)
    async def _api_error(err: APIError) -> Response:
        # 408: the rest of the body is still owed, so this connection cannot carry another request.
        # 401: the body was never read either (the key check comes first).
        return error_response(err, {"connection": "close"} if err.status in (401, 408) else None)

    @app.errorhandler(HTTPException)
    async def _http_error(exc: HTTPException) -> Response:
        headers: dict[str, str] = {}
        if exc.code == 405:
            # RFC 9110: a 405 response MUST carry Allow.
            headers.update(h for h in (exc.get_headers() or []) if h[0].lower() == "allow")
        if not await _drain_body(exc.code):
            # The body is still on the wire: this connection cannot carry another request. Say
            # so, or a proxy that pools connections (Envoy) reuses it and gets a reset (found
            # by fuzzing through Envoy: a 405 on a request with a body, then a 502).
            headers["connection"] = "close"
        return error_response(_from_http_exception(exc), headers or None)

    @app.errorhandler(Exception)
    async def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", *_method_and_path())
        return error_response(APIError(500, "The server had an error while processing your request.",
                                       errors.SERVER_ERROR, None, "internal_error"))
