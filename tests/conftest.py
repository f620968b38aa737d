"""Shared test configuration.

Hypothesis profiles: `ci` keeps property tests fast and deterministic on the 2-core CI machine;
`dev` searches harder. nox passes `--hypothesis-profile` (ci when CI is set).

pytest loads this file even for `pytest --gateway-url URL` from the repository root (the
conformance cases, which need no dev extras): without hypothesis it registers nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import postgres

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # the harness installed alone: no property tests to configure
    pass
else:
    settings.register_profile(
        "ci",
        max_examples=60,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    settings.register_profile("dev", max_examples=300, deadline=None)
    settings.load_profile("ci")


@pytest.fixture(scope="session", autouse=True)
def _stop_throwaway_postgres() -> Iterator[None]:
    """The PostgreSQL server `tests.support.postgres` starts on first use stops with the session
    (stdlib only until then: the harness installed alone loads this file too)."""
    yield
    postgres.stop()
