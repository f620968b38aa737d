"""Identifier generation.

OpenAI ids are a type prefix, an underscore and an opaque token (`resp_...`, `msg_...`,
`fc_...`). Clients and the conformance harness rely on the prefix to tell object kinds apart.
"""

from __future__ import annotations

import secrets

RESPONSE = "resp"
MESSAGE = "msg"
FUNCTION_CALL = "fc"
CALL = "call"
FILE = "file"
VECTOR_STORE = "vs"
CONVERSATION = "conv"
PROMPT = "pmpt"
CONNECTOR = "conn"


def new_id(prefix: str) -> str:
    """Return `<prefix>_<48 hex chars>`; 192 random bits make collisions irrelevant."""
    return f"{prefix}_{secrets.token_hex(24)}"
