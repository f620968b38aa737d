"""The OpenAI error model.

Every error a client sees is `{"error": {"message", "type", "param", "code"}}` with an honest
HTTP status. Adapters raise `APIError` and render `body()`; nothing else reaches a client.
"""

from __future__ import annotations

import json
from typing import Any

INVALID_REQUEST = "invalid_request_error"
NOT_FOUND = "not_found_error"
SERVER_ERROR = "server_error"


class APIError(Exception):
    """An error with the status and body a client receives."""

    def __init__(
        self,
        status: int,
        message: str,
        type: str = INVALID_REQUEST,
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code

    def error_object(self) -> dict[str, Any]:
        return {"message": self.message, "type": self.type, "param": self.param, "code": self.code}

    def body(self) -> dict[str, Any]:
        return {"error": self.error_object()}

    def body_bytes(self) -> bytes:
        return json.dumps(self.body(), separators=(",", ":")).encode()

    def __repr__(self) -> str:
        return f"APIError({self.status}, {self.message!r}, type={self.type!r}, param={self.param!r})"


def invalid_request(message: str, param: str | None = None, code: str | None = None) -> APIError:
    return APIError(400, message, INVALID_REQUEST, param, code)


def not_found(kind: str, object_id: str, param: str | None = None) -> APIError:
    return APIError(404, f"No {kind} found with id '{object_id}'.", INVALID_REQUEST, param, "not_found")


def payload_too_large(limit: int) -> APIError:
    return APIError(413, f"Request body exceeds the limit of {limit} bytes.", INVALID_REQUEST, None,
                    "payload_too_large")


def backend_unreachable(detail: str) -> APIError:
    return APIError(502, f"The model backend could not be reached: {detail}", SERVER_ERROR, None,
                    "backend_unreachable")


def backend_bad_response(detail: str) -> APIError:
    return APIError(502, f"The model backend returned an invalid response: {detail}", SERVER_ERROR, None,
                    "backend_bad_response")


def backend_timeout(seconds: float) -> APIError:
    return APIError(504, f"The model backend did not answer within {seconds:g} s.", SERVER_ERROR, None,
                    "backend_timeout")


def from_backend_http(status: int, body: bytes) -> APIError:
    """Map a backend HTTP error to the client's error.

    A backend 4xx is the client's fault (bad model name, context too long): pass it on with the
    backend's status and message. A backend 5xx is the gateway's upstream failing: 502.
    """
    message, err_type, param, code = _parse_backend_error(body)
    if 400 <= status < 500:
        return APIError(status, message or f"The model backend rejected the request ({status}).",
                        err_type or INVALID_REQUEST, param, code)
    detail = message or f"HTTP {status}"
    return APIError(502, f"The model backend failed: {detail}", SERVER_ERROR, None, code or "backend_error")


def _parse_backend_error(body: bytes) -> tuple[str | None, str | None, str | None, str | None]:
    """Read an OpenAI (`{"error": {...}}`) or Ollama (`{"error": "..."}`) error body."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        text = body.decode("utf-8", "replace").strip()
        return (text[:500] or None), None, None, None
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict):
            def _s(key: str) -> str | None:
                value = err.get(key)
                return str(value) if value is not None else None
            return _s("message"), _s("type"), _s("param"), _s("code")
        if isinstance(err, str):
            return err, None, None, None
        if isinstance(data.get("message"), str):
            return data["message"], None, None, None
    return None, None, None, None
