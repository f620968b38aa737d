"""The mutating proxy (fixtures/mutants/mutproxy.py) in front of the reference gateway, as the
pytest fixtures the issue-4 case proofs use, and checks of the proxy itself."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from conformance.targets import builtin_target
from fixtures.mutants.mutproxy import (  # noqa: F401  (re-exported for the other case proofs)
    MUTATIONS,
    Exchange,
    MutatingProxy,
    Mutation,
    ProxiedReference,
    RunningProxy,
)


@pytest.fixture(scope="module")
def proxied_reference() -> Iterator[ProxiedReference]:
    """The reference gateway + scripted backend (subprocesses) behind a mutating proxy."""
    with builtin_target("reference") as target:
        root = target.base_url.rstrip("/").removesuffix("/v1")
        running = RunningProxy(MutatingProxy(root)).start()
        try:
            yield ProxiedReference(running, target.base_url)
        finally:
            running.stop()


@pytest.fixture
def mp(proxied_reference: ProxiedReference) -> Iterator[ProxiedReference]:
    proxied_reference.proxy.active = set()
    yield proxied_reference
    proxied_reference.proxy.active = set()


# ---------------------------------------------------------------------- the proxy itself


def test_proxy_is_transparent(mp: ProxiedReference) -> None:
    via = httpx.post(
        mp.base_url + "/responses", json={"model": "scripted", "input": "[[text:same]]"}, timeout=30
    )
    direct = httpx.post(
        mp.upstream + "/responses", json={"model": "scripted", "input": "[[text:same]]"}, timeout=30
    )
    assert via.status_code == direct.status_code == 200
    strip = ("id", "created_at", "completed_at", "output")
    assert {k: v for k, v in via.json().items() if k not in strip} == {
        k: v for k, v in direct.json().items() if k not in strip
    }
    with httpx.stream(
        "POST",
        mp.base_url + "/responses",
        json={"model": "scripted", "input": "hi", "stream": True},
        timeout=30,
    ) as r:
        text = r.read().decode()
    assert r.headers["content-type"].startswith("text/event-stream")
    assert "response.completed" in text


def test_a_mutation_changes_the_answer(mp: ProxiedReference) -> None:
    mp.proxy.active = {"echo-temperature"}
    got = httpx.post(
        mp.base_url + "/responses", json={"model": "scripted", "input": "x", "temperature": 0.2}, timeout=30
    )
    assert got.json()["temperature"] == 1.0
