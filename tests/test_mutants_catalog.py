"""The mutant catalog: every fault the case proofs use is promoted to a mutant, each promoted
mutant names expected cases that exist, and its targeted selection runs them."""

from __future__ import annotations

import conformance.cases  # noqa: F401  (registers the cases)
from conformance.model import REGISTRY, Level, select
from fixtures.mutants.catalog import ALL, CATALOG, GAPS, MUTANTS, ORIGINAL, PROMOTED, select_mutants
from fixtures.mutants.faulty_extproc import EXTRA_KILLS, FAULTS
from fixtures.mutants.faulty_extproc import KILLS as EXTPROC_KILLS
from fixtures.mutants.mutproxy import MUTATIONS
from fixtures.mutants.promoted import targeted_globs
from fixtures.mutants.responses_breaks import BREAKS as RESPONSES_BREAKS
from fixtures.mutants.stateful import BREAKS as STATEFUL_BREAKS
from fixtures.mutants.stateful import SMUT

TABLES = {"mutproxy": set(MUTATIONS), "stateful": set(SMUT), "relay": set(FAULTS)}


def test_ids_are_unique_and_the_catalog_is_both_parts() -> None:
    assert len(MUTANTS) == len(CATALOG) == len(ORIGINAL) + len(GAPS)
    assert len({mt.id for mt in ALL}) == len(ALL) == len(CATALOG) + len(PROMOTED)
    assert len(ORIGINAL) >= 45
    assert len(ALL) >= 280
    # the runner selects from all of them
    assert select_mutants([]) == list(ALL)


def test_every_promoted_mutant_expects_cases_that_exist() -> None:
    for mt in PROMOTED:
        assert mt.expect, mt.id
        assert mt.description and mt.rule and mt.category, mt.id
        for case_id in mt.expect:
            assert case_id in {c.id for c in REGISTRY.all()}, (mt.id, case_id)
        # its targeted selection runs every expected case, and is not the full run
        chosen = {c.id for c in select(REGISTRY.all(), mt.targeted)}
        assert set(mt.expect) <= chosen, mt.id
        assert 0 < len(chosen) < len(REGISTRY), mt.id
        assert mt.targeted == targeted_globs(mt.expect)


def test_promoted_mutants_name_a_real_mutation_of_their_rig() -> None:
    for mt in PROMOTED:
        assert mt.rig in TABLES, mt.id
        assert mt.mutation in TABLES[mt.rig], mt.id
        assert mt.id == f"proof.{'extproc' if mt.rig == 'relay' else mt.rig}.{mt.mutation}"


def test_level_follows_the_expected_cases() -> None:
    for mt in PROMOTED:
        levels = {REGISTRY.get(c).level for c in mt.expect}
        assert mt.level == ("MUST" if Level.MUST in levels else "SHOULD"), mt.id


def test_every_proof_fault_is_promoted_with_the_cases_it_proves() -> None:
    by_id = {mt.id: mt for mt in PROMOTED}
    proofs = (
        [("mutproxy", c, m) for c, m in RESPONSES_BREAKS.items()]
        + [("stateful", c, m) for c, m in STATEFUL_BREAKS.items()]
        + [("extproc", c, f) for c, f in [*EXTPROC_KILLS.items(), *EXTRA_KILLS]]
    )
    for rig, case_id, name in proofs:
        assert case_id in by_id[f"proof.{rig}.{name}"].expect, (rig, case_id, name)
    # every mutation of the tables is a mutant
    assert {mt.mutation for mt in PROMOTED if mt.rig == "mutproxy"} == set(MUTATIONS)
    assert {mt.mutation for mt in PROMOTED if mt.rig == "stateful"} == set(SMUT)
    assert {mt.mutation for mt in PROMOTED if mt.rig == "relay"} == set(FAULTS)


def test_original_mutants_keep_full_runs() -> None:
    for mt in ORIGINAL:
        assert mt.rig == "proxy" and not mt.targeted and mt.mutation is None, mt.id


def test_every_must_case_of_the_proofs_is_expected_by_some_mutant() -> None:
    expected = {c for mt in PROMOTED for c in mt.expect}
    proven = set(RESPONSES_BREAKS) | set(STATEFUL_BREAKS) | set(EXTPROC_KILLS)
    assert proven <= expected


def test_select_by_rig_prefix() -> None:
    assert {mt.rig for mt in select_mutants(["proof.stateful.*"])} == {"stateful"}
    assert select_mutants(["proof.extproc"]) == [mt for mt in PROMOTED if mt.rig == "relay"]


def test_gap_mutants_are_targeted_proxy_mutants_with_real_cases() -> None:
    ids = {c.id for c in REGISTRY.all()}
    for mt in GAPS:
        assert mt.rig == "proxy" and mt.http is not None, mt.id
        assert mt.expect and set(mt.expect) <= ids, mt.id
        assert mt.targeted == targeted_globs(mt.expect), mt.id
