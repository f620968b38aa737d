"""The `auth.api-key.*` and `tenants.*` cases proven on the `auth` rig (the `proof.auth.*` faults of
fixtures/mutants/proofs.py): each PASSes on a reference run with `--api-keys`, the harness given
its key, and FAILs (NON_STRICT for a SHOULD case) with the fault on. Without a key they are UNIMPLEMENTED."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from conformance.context import RunConfig
from conformance.model import REGISTRY, Verdict
from conformance.profiles import PROFILES
from conformance.runner import run_cases
from conformance.targets import RunningTarget, builtin_target
from fixtures.mutants.catalog import get_mutant
from fixtures.mutants.faults.auth import KEY, KEY_FILE, SECOND_KEY
from fixtures.mutants.proofs import PROOFS
from fixtures.mutants.proxy import ThreadedProxy

PAIRS = [(c, f) for c, faults in PROOFS.items() for f in faults if f.startswith("proof.auth.")]


@pytest.fixture(scope="module")
def keyed_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedProxy]:
    """The mutant proxy in front of a reference run with `--api-keys`."""
    keys: Path = tmp_path_factory.mktemp("keys") / "keys"
    keys.write_text(KEY_FILE)
    target: RunningTarget
    with builtin_target("reference", timeout=60, gateway_args=["--api-keys", str(keys)]) as target:
        proxy = ThreadedProxy(target.base_url)
        try:
            yield proxy
        finally:
            proxy.stop()


@pytest.fixture
def proxy(keyed_proxy: ThreadedProxy) -> Iterator[ThreadedProxy]:
    keyed_proxy.set_mutant(None)
    yield keyed_proxy
    keyed_proxy.set_mutant(None)


def _config(proxy: ThreadedProxy, *, key: str | None = KEY) -> RunConfig:
    return RunConfig(base_url=proxy.url, profile=PROFILES["openai"], model="scripted", timeout=30,
                     api_key=key, api_key_env="MUTANTS_API_KEY" if key else None,
                     second_api_key=SECOND_KEY if key else None)


def test_every_auth_case_has_a_proof() -> None:
    own = {c.id for c in REGISTRY.all() if c.id.startswith(("auth.api-key.", "tenants."))}
    assert own == {c for c, _ in PAIRS}


@pytest.mark.parametrize(("case_id", "fault_id"), PAIRS)
async def test_case_passes_on_reference_and_is_caught_when_broken(
    proxy: ThreadedProxy, prove: Callable[..., Awaitable[None]], case_id: str, fault_id: str,
) -> None:
    await prove(case_id, _config(proxy), lambda: proxy.set_mutant(get_mutant(fault_id)))


async def test_without_a_key_the_cases_are_unimplemented(proxy: ThreadedProxy) -> None:
    cases = [REGISTRY.get(c) for c, _ in PAIRS]
    results = (await run_cases(list(dict.fromkeys(cases)), _config(proxy, key=None))).results
    assert {r.verdict for r in results} == {Verdict.UNIMPLEMENTED}, [(r.case.id, r.verdict) for r in results]
