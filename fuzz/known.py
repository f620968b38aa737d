"""Fuzz failures that are already understood: reference bugs pinned by xfail tests, and
divergences between the official OpenAI document and the API it describes.

`KNOWN_FINDINGS` are bugs in the reference, each with a strict-xfail regression test in
`tests/fuzz/test_fuzz_regressions.py`. While one stands, the fuzz run prints it as KNOWN and still
exits 0, so CI keeps failing only on *new* findings; once the owner fixes it, its xfail test
XPASSes (strict: the suite fails) and the fix removes the xfail and the entry here together.

`ACCEPTED` are places where the OpenAI document disagrees with the real API and the reference
follows the API; each carries the reason. They print as ACCEPTED and never fail the run.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Match:
    profile: str
    code: str
    """schemathesis failure code (ST103 status code, ST105 content type, ST108 schema, ...)."""
    operations: str
    """fnmatch pattern over the operation label `METHOD /path`."""
    reason: str
    message: str = ""
    """regular expression searched in the failure message ('' matches any)."""
    test: str = ""
    """the regression test pinning a known finding."""
    response: str = ""
    """regular expression searched in the answer (status line and body; '' matches any)."""
    target: str = "*"
    """fnmatch pattern over the target name (`direct`, `envoy`)."""

    def matches(self, profile: str, code: str, operation: str, message: str, *,
                response: str = "", target: str = "") -> bool:
        return (
            (self.profile, self.code) == (profile, code)
            and fnmatch.fnmatchcase(operation, self.operations)
            and fnmatch.fnmatchcase(target, self.target)
            and (not self.message or re.search(self.message, message) is not None)
            and (not self.response or re.search(self.response, response) is not None)
        )


_T = "tests/fuzz/test_fuzz_regressions.py::"

# Fixed findings keep their regression tests in tests/fuzz/test_fuzz_regressions.py:
# DELETE /v1/responses documented as object "response" (now "response.deleted"); the event
# stream of POST /v1/responses undocumented; /health and file content without a documented
# 200 (reference/http/openapi.py); through Envoy, a 502 after an early 405 whose body the gateway
# had not read (reference/http/errors.py drains the body or answers `connection: close`).
KNOWN_FINDINGS: tuple[Match, ...] = ()

ACCEPTED: tuple[Match, ...] = (
    Match(
        "openai", "ST108", "GET /v1/*",
        "List pages: the document marks first_id/last_id as required strings, yet an empty page "
        "has no first or last id; the API answers null there, and so does the reference.",
        message=r"null is not of type \"string\"[\s\S]*(first_id|last_id)",
    ),
    Match(
        "openai", "ST108", "* /v1/files*",
        "The document contradicts itself: CreateFileRequest.purpose accepts `evals`, but the "
        "OpenAIFile.purpose enum (the answer) lacks it; the reference echoes the purpose it accepted.",
        message=r"\"evals\" is not one of",
    ),
    Match(
        "openai", "ST201", "POST /v1/vector_stores*",
        "Deliberate (reference/http/vector_stores.py `_body`): an empty body reads as {}; every "
        "field of CreateVectorStoreRequest / UpdateVectorStoreRequest is optional, so the "
        "document's `requestBody.required: true` adds nothing a client could get wrong.",
        message=r"Missing request body",
    ),
    Match(
        "openai", "ST105", "GET /v1/files/{file_id}/content",
        "File content is the stored bytes with their own media type; the document declares "
        "application/json (a JSON string) for it.",
    ),
)


def known(profile: str, code: str, operation: str, message: str, *,
          response: str = "", target: str = "") -> Match | None:
    return next((m for m in KNOWN_FINDINGS
                 if m.matches(profile, code, operation, message, response=response, target=target)), None)


def accepted(profile: str, code: str, operation: str, message: str, *,
             response: str = "", target: str = "") -> Match | None:
    return next((m for m in ACCEPTED
                 if m.matches(profile, code, operation, message, response=response, target=target)), None)
