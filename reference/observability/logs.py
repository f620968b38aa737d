"""Request ids, the access log and the log formats.

The request id of the request being served lives in `REQUEST_ID` (a context variable): the HTTP
middleware and the ext_proc servicer set it when a request arrives, asyncio tasks started while
serving it inherit it, and `StoreThread.run` carries it to the store thread. `RequestIdFilter`
puts it on every log record (`request_id`, `-` outside a request), so both formats show it.

The id is the client's (or Envoy's) `x-request-id` when it has a sane one, else a new UUID4
(Envoy's own format), so a request keeps one id from Envoy's access log through the gateway to
the model server.
"""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
HEADER = "x-request-id"
LOG_FORMATS = ("text", "json")

access_log = logging.getLogger("reference.access")

# Echoed into headers and log lines: printable ASCII without spaces, bounded. Anything else is
# replaced by a fresh id rather than passed on (header and log-line injection).
_SANE_ID = re.compile(r"[!-~]{1,200}")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s"


def request_id_for(given: str | None) -> str:
    """The id of a request that arrived with `x-request-id: given` (None: none)."""
    if given is not None and _SANE_ID.fullmatch(given):
        return given
    return str(uuid.uuid4())


def current_request_id() -> str | None:
    return REQUEST_ID.get()


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get() or "-"
        return True


def log_access(method: str, path: str, status: int, seconds: float, request_id: str,
               *, via: str) -> None:
    """One line per request (`via`: `http` for the HTTP server, `extproc` for a request seen
    through Envoy's filter); the fields are also record attributes, so the JSON format has them
    as keys."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    duration_ms = round(seconds * 1000, 2)
    access_log.info("%s %s %d %.2fms", method, path, status, duration_ms,
                    extra={"method": method, "path": path, "status": status,
                           "duration_ms": duration_ms, "request_id": request_id, "via": via})


def formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        from pythonjsonlogger.json import JsonFormatter

        return JsonFormatter(JSON_FIELDS, rename_fields={"asctime": "time", "levelname": "level",
                                                         "name": "logger"})
    if log_format == "text":
        return logging.Formatter(TEXT_FORMAT)
    raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")


def install(log_format: str, handlers: list[logging.Handler] | None = None) -> None:
    """Give `handlers` (default: the root logger's) the format and the request-id filter."""
    chosen = formatter(log_format)
    for handler in handlers if handlers is not None else logging.getLogger().handlers:
        handler.setFormatter(chosen)
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())
