"""Shared test configuration.

Hypothesis profiles: `ci` keeps property tests fast and deterministic on the 2-core CI machine;
`dev` searches harder. nox passes `--hypothesis-profile` (ci when CI is set).
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=300, deadline=None)
settings.load_profile("ci")
