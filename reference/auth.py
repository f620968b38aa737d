"""Optional API keys (`serve|up --api-keys FILE`): one `KEY TENANT` pair per line, `#` comments.

With keys, every route except health needs `Authorization: Bearer KEY`; a missing or unknown
key is a 401 OpenAI error with code `invalid_api_key` (what the OpenAI API answers). The key's
tenant then scopes every stored object (`reference.store.tenancy`).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from pathlib import Path

from reference.core.errors import INVALID_REQUEST, APIError

ApiKeys = Mapping[str, str]


def parse_api_keys(text: str, *, source: str = "api keys") -> dict[str, str]:
    keys: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ValueError(f"{source}:{number}: expected 'KEY TENANT', got {len(parts)} field(s)")
        key, tenant = parts
        if key in keys:
            raise ValueError(f"{source}:{number}: the key is listed twice")
        keys[key] = tenant
    if not keys:
        raise ValueError(f"{source}: no keys (an empty key file would lock every client out)")
    return keys


def load_api_keys(path: str | Path) -> dict[str, str]:
    return parse_api_keys(Path(path).read_text(encoding="utf-8"), source=str(path))


def _unauthorized(message: str) -> APIError:
    return APIError(401, message, INVALID_REQUEST, None, "invalid_api_key")


def tenant_for(authorization: str | None, keys: ApiKeys) -> str:
    """The tenant of a request's `Authorization` header; 401 `invalid_api_key` otherwise."""
    if not authorization:
        raise _unauthorized("You didn't provide an API key. You need to provide your API key in an "
                            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
    scheme, _, key = authorization.strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise _unauthorized("The Authorization header must be 'Bearer YOUR_KEY'.")
    for known, tenant in keys.items():
        # Constant time per comparison: the answer time does not tell how much of a key matched.
        if hmac.compare_digest(known.encode(), key.encode()):
            return tenant
    shown = key[:3] + "*" * 4 + key[-4:] if len(key) > 8 else "*" * 4
    raise _unauthorized(f"Incorrect API key provided: {shown}.")
