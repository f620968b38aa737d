"""Status codes a document does not declare but the reference may rightly answer, with reasons.

schemathesis' `status_code_conformance` fails on every status code the operation does not
declare. The official OpenAI document declares almost nothing but 200 (and 429, sometimes 404),
while the API it describes answers malformed requests with 400 and unknown ids with 404. The
fuzzer's `status_code_allowlisted` check (see `fuzz/hooks.py`) replaces the plain check: a
status is accepted when the document declares it or when an entry below matches.

5xx never belongs here: `not_a_server_error` fails on every 5xx whatever this list says.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

PROFILES = ("reference", "openai")
# How `fuzz.run` tells the hooks module, inside `st run`, which profile it is checking.
PROFILE_ENV = "FUZZ_PROFILE"

# https://platform.openai.com/docs/guides/error-codes#api-errors lists, for the REST API:
# "400 - Bad Request", "401 - Invalid Authentication", "403", "404 - Not Found",
# "429 - Rate limit reached", "500 - Server error", "503 - Overloaded".
OPENAI_ERROR_CODES = "https://platform.openai.com/docs/guides/error-codes"


@dataclass(frozen=True)
class Allowance:
    profile: str
    """`reference` (the reference's own /openapi.json) or `openai` (the official document)."""
    status: int
    reason: str
    operations: str = "*"
    """fnmatch pattern over `METHOD /path` labels (e.g. `GET /v1/responses/*`)."""


ALLOWLIST: tuple[Allowance, ...] = (
    # --- the official OpenAI document (declares 200/429 and a few 404s) -------------------------
    Allowance(
        "openai", 400,
        "Invalid parameters get 400 invalid_request_error naming `param` "
        f"({OPENAI_ERROR_CODES}: '400 - Bad Request: the request was malformed'); the document "
        "declares no error response for most operations. Negative fuzzing produces these on purpose.",
    ),
    Allowance(
        "openai", 404,
        "An id that does not exist, in the path or in the body (`conversation`, `file_ids`, "
        f"`vector_store_ids`), is 404 with an OpenAI error object ({OPENAI_ERROR_CODES}: "
        "'404 - Not Found'); the document declares 404 only on DELETE /responses/{id} and "
        "POST /responses/{id}/cancel. Fuzzed ids and the document's examples (conv_123, "
        "file-abc123) do not exist on the target.",
    ),
    Allowance(
        "openai", 413,
        "A body over the gateway's --max-body-bytes limit is 413 before it is parsed (RFC 9110 "
        "15.5.14 Content Too Large); the OpenAI document does not model request size limits.",
    ),
    Allowance(
        "openai", 405,
        "A method the route does not serve is 405 with an Allow header (RFC 9110 15.5.6); only "
        "schemathesis' unsupported_method check sends those.",
    ),
    # --- the reference's own document (declares 200, 400, 404, 502, 504 on every /v1 route) --
    Allowance(
        "reference", 413,
        "Quart's MAX_CONTENT_LENGTH answer to an oversized body (reference/http/app.py); "
        "quart-schema cannot document a status raised before the route runs.",
    ),
    Allowance(
        "reference", 405,
        "A method the route does not serve is 405 with an Allow header (RFC 9110 15.5.6), raised "
        "by Quart's router before any documented route runs.",
    ),
)


def reason_for(profile: str, label: str, status: int) -> str | None:
    """The allow-list's reason for `status` on operation `label` (`METHOD /path`), or None."""
    for entry in ALLOWLIST:
        same = (entry.profile, entry.status) == (profile, status)
        if same and fnmatch.fnmatchcase(label, entry.operations):
            return entry.reason
    return None
