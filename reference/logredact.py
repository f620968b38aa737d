"""Keep credentials embedded in URLs (`scheme://user:password@host`) out of the logs.

Clients put credentials in MCP server URLs; the HTTP client libraries log every request's URL
at INFO. A filter on the log handlers rewrites each record's formatted message with the
userinfo part replaced by `****`, whichever library logged it.
"""

from __future__ import annotations

import logging
import re

# RFC 3986 section 3.2.1: userinfo is everything between "//" and the first "@" of the authority.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s@\"']+@")


def redact_url_credentials(text: str) -> str:
    return _USERINFO.sub(r"\g<scheme>****@", text)


class RedactURLCredentials(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_url_credentials(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def install(handlers: list[logging.Handler] | None = None) -> None:
    """Add the filter to `handlers` (default: the root logger's)."""
    for handler in handlers if handlers is not None else logging.getLogger().handlers:
        if not any(isinstance(f, RedactURLCredentials) for f in handler.filters):
            handler.addFilter(RedactURLCredentials())
