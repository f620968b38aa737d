"""The OpenAI error model.

Every error a client sees is `{"error": {"message", "type", "param", "code"}}` with an honest
HTTP status. Adapters raise `APIError` and render `body()`; nothing else reaches a client.
"""

from __future__ import annotations

import json
import re
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


def response_error(err: APIError) -> dict[str, Any]:
    """The `error` of a failed Response object (and of `response.failed`).

    OpenAI's `ResponseErrorCode` is a closed list ("server_error", "rate_limit_exceeded",
    "invalid_prompt", ...), unlike the free-form `code` of an HTTP error body, so the gateway's
    own code (`backend_timeout`, ...) cannot go there. The message keeps the detail.
    """
    if err.status == 429:
        code = "rate_limit_exceeded"
    elif 400 <= err.status < 500:
        code = "invalid_prompt"
    else:
        code = "server_error"
    return {"code": code, "message": err.message}


def request_timeout(seconds: float | None) -> APIError:
    """The client did not send its request body in time (RFC 9110 section 15.5.9, 408)."""
    return APIError(408, f"The request body did not arrive within {seconds or 0:g} seconds.",
                    INVALID_REQUEST, None, "request_timeout")


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


# Labels pydantic inserts into an error `loc` for union members ("str", "list[...]",
# "function-after[...]", model class names, our CamelCase discriminator tags). They are not
# part of the client's parameter path, so they are dropped when naming `param`.
_UNION_LABELS = frozenset({"str", "int", "float", "bool", "dict", "list", "none", "bytes"})


def _is_union_label(part: str) -> bool:
    return (
        part in _UNION_LABELS
        or "[" in part
        or "-" in part
        or (part[:1].isupper())
    )


def param_path(loc: tuple[int | str, ...]) -> str:
    """Render a pydantic `loc` the way OpenAI names parameters: `input[0].content`."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif _is_union_label(part):
            continue
        else:
            path = f"{path}.{part}" if path else part
    return path


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def from_validation_error(exc: Any) -> APIError:
    """Turn a `pydantic.ValidationError` into the single 400 OpenAI would send.

    OpenAI reports one problem per request, naming it in `param` (`Unknown parameter: 'foo'.`,
    `Missing required parameter: 'model'.`, `Invalid type for 'input[0].content': ...`). Of
    pydantic's errors we report, in order: an unknown top-level parameter, a missing one, and
    otherwise the error with the deepest path (for a union, the member that matched furthest).
    """
    errors: list[dict[str, Any]] = list(exc.errors())
    if not errors:
        return invalid_request("Invalid request.")

    def depth(err: dict[str, Any]) -> int:
        return len(param_path(tuple(err["loc"])).replace("[", ".[").split("."))

    def rank(err: dict[str, Any]) -> tuple[int, int]:
        kind = err["type"]
        if kind == "extra_forbidden":
            return (0, depth(err))
        if kind == "missing":
            return (1, depth(err))
        return (2, -depth(err))

    err = min(errors, key=rank)
    param = param_path(tuple(err["loc"])) or None
    kind = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        return invalid_request(f"Unknown parameter: '{param}'.", param, "unknown_parameter")
    if kind == "missing":
        return invalid_request(f"Missing required parameter: '{param}'.", param, "missing_required_parameter")
    if kind == "invalid_value":
        # Our discriminators' error for an unknown `type` (see models.py): name the field.
        kind_value = value.get("type") if isinstance(value, dict) else value
        param = f"{param}.type" if isinstance(value, dict) else param
        return invalid_request(f"Invalid value: {json.dumps(kind_value)} for '{param}'. {err['msg']}.",
                               param, "invalid_value")
    if kind in ("less_than_equal", "less_than", "greater_than_equal", "greater_than"):
        above = kind.startswith("less")
        number = "integer" if isinstance(value, int) and not isinstance(value, bool) else "decimal"
        bound_key = {"less_than_equal": "le", "less_than": "lt", "greater_than_equal": "ge",
                     "greater_than": "gt"}[kind]
        op = {"le": "<=", "lt": "<", "ge": ">=", "gt": ">"}[bound_key]
        code = f"{number}_{'above_max' if above else 'below_min'}_value"
        return invalid_request(
            f"Invalid '{param}': {number} {'above maximum' if above else 'below minimum'} value. "
            f"Expected a value {op} {ctx.get(bound_key)}, but got {value} instead.",
            param, code)
    if kind in ("literal_error", "enum", "union_tag_invalid", "value_error", "string_too_long",
                "too_long", "string_too_short", "too_short"):
        detail = err["msg"]
        if kind == "value_error" and detail.startswith("Value error, "):
            detail = detail[len("Value error, "):]
        if kind in ("literal_error", "enum", "union_tag_invalid"):
            shown = "an object" if isinstance(value, dict) else json.dumps(value)
            return invalid_request(f"Invalid value: {shown} for '{param}'. {detail}.", param, "invalid_value")
        return invalid_request(f"Invalid '{param}': {detail}.", param, "invalid_value")
    # "Input should be a valid dictionary or instance of InputText": the class is ours, not the API's.
    msg = re.sub(r" or instance of \w+", "", err["msg"])
    return invalid_request(
        f"Invalid type for '{param}': {msg[0].lower()}{msg[1:]}, but got {_describe(value)} instead.",
        param, "invalid_type")
