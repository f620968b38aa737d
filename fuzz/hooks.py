"""schemathesis hooks loaded by `st run` (through `SCHEMATHESIS_HOOKS=fuzz.hooks`).

Registers `status_code_allowlisted`: schemathesis' own `status_code_conformance`, except that an
undocumented status listed in `fuzz.allowlist` for the current profile (environment variable
`FUZZ_PROFILE`: `reference` or `openai`) passes. The run selects it instead of the plain check.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from schemathesis.core.failures import Failure
from schemathesis.specs.openapi.checks import status_code_conformance

from fuzz.allowlist import PROFILE_ENV, reason_for


@schemathesis.check
def status_code_allowlisted(ctx: Any, response: Any, case: Any) -> bool | None:
    try:
        return status_code_conformance(ctx, response, case)
    except Failure:
        profile = os.environ.get(PROFILE_ENV, "reference")
        if reason_for(profile, case.operation.label, response.status_code) is not None:
            return None
        raise
