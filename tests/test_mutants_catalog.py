"""The mutant catalog: one registry of faults, one proof table; every proof fault is a mutant
expecting the cases that name it, and its targeted selection runs them."""

from __future__ import annotations

import conformance.cases  # noqa: F401  (registers the cases)
from conformance.model import REGISTRY, Level, select
from fixtures.mutants.catalog import ALL, HAND_WRITTEN, MUTANTS, PROOF_MUTANTS, select_mutants
from fixtures.mutants.proofs import PROOFS
from fixtures.mutants.vocabulary import REGISTERED, targeted_globs

PROOF_RIGS = {"proof.mutproxy.": "http", "proof.stateful.": "stateful", "proof.extproc.": "extproc"}


def test_ids_are_unique_and_every_registered_fault_is_a_mutant() -> None:
    assert len(MUTANTS) == len(ALL) == len(REGISTERED) == len(HAND_WRITTEN) + len(PROOF_MUTANTS)
    assert len(HAND_WRITTEN) >= 50
    assert len(ALL) >= 294
    assert select_mutants([]) == list(ALL)


def test_every_proof_mutant_expects_cases_that_exist() -> None:
    ids = {c.id for c in REGISTRY.all()}
    for mt in PROOF_MUTANTS:
        assert mt.expect, mt.id
        assert mt.description and mt.rule and mt.category, mt.id
        assert set(mt.expect) <= ids, mt.id
        # its targeted selection runs every expected case, and is not the full run
        chosen = {c.id for c in select(REGISTRY.all(), mt.targeted)}
        assert set(mt.expect) <= chosen, mt.id
        assert 0 < len(chosen) < len(REGISTRY), mt.id
        assert mt.targeted == targeted_globs(mt.expect)


def test_proof_ids_name_their_rig() -> None:
    for mt in PROOF_MUTANTS:
        assert PROOF_RIGS[mt.id[: mt.id.index(".", len("proof.")) + 1]] == mt.rig, mt.id
    for mt in HAND_WRITTEN:
        assert mt.rig == "http", mt.id


def test_level_follows_the_expected_cases() -> None:
    for mt in PROOF_MUTANTS:
        levels = {REGISTRY.get(c).level for c in mt.expect}
        strongest = min(levels, key=[Level.MUST, Level.SHOULD, Level.INFO].index)
        assert mt.level == strongest.value, mt.id


def test_the_proof_table_and_the_proof_mutants_agree() -> None:
    ids = {c.id for c in REGISTRY.all()}
    assert set(PROOFS) <= ids, sorted(set(PROOFS) - ids)
    named = {f for faults in PROOFS.values() for f in faults}
    assert named == {mt.id for mt in PROOF_MUTANTS}
    for case_id, faults in PROOFS.items():
        assert faults and len(set(faults)) == len(faults), case_id
        for f in faults:
            assert case_id in MUTANTS[f].expect, (case_id, f)


def test_hand_written_mutants_run_full_unless_gaps() -> None:
    for mt in HAND_WRITTEN:
        assert mt.description and mt.rule and mt.category, mt.id
        if mt.id.startswith("gap."):
            ids = {c.id for c in REGISTRY.all()}
            assert mt.expect and set(mt.expect) <= ids, mt.id
            assert mt.targeted == targeted_globs(mt.expect), mt.id
        else:
            assert not mt.targeted, mt.id


def test_select_by_prefix() -> None:
    assert {mt.rig for mt in select_mutants(["proof.stateful.*"])} == {"stateful"}
    assert select_mutants(["proof.extproc"]) == [mt for mt in PROOF_MUTANTS if mt.rig == "extproc"]
