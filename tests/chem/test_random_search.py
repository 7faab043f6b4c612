"""Random symmetric structures (PyXtal): composition, space group, seeding, failures."""

from __future__ import annotations

import pytest

from crystaloop.chem.random_search import (
    RandomSearchError,
    random_structures,
    random_symmetric_structure,
)

SRTIO3 = {"Sr": 1, "Ti": 1, "O": 3}


def test_a_random_crystal_has_the_composition_and_a_symmetric_space_group():
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    made = random_symmetric_structure(SRTIO3, seed=0, record="c-1")
    counts = {el.symbol: int(n) for el, n in made.structure.composition.items()}
    assert counts == SRTIO3 and made.record == "c-1"
    assert 2 <= made.spacegroup <= 230
    found = SpacegroupAnalyzer(made.structure, symprec=1e-3).get_space_group_number()
    assert found >= 2


def test_random_crystals_are_seeded():
    first = random_symmetric_structure(SRTIO3, seed=3)
    again = random_symmetric_structure(SRTIO3, seed=3)
    other = random_symmetric_structure(SRTIO3, seed=4)
    assert first.spacegroup == again.spacegroup and first.structure == again.structure
    assert other.structure != first.structure


def test_a_composition_no_space_group_can_hold_is_an_error_naming_it():
    with pytest.raises(RandomSearchError, match=r"c-2 \(Na1Cl2\): no space group of the 1"):
        random_symmetric_structure({"Na": 1, "Cl": 2}, seed=0, record="c-2", spacegroups=[221])
    with pytest.raises(RandomSearchError, match="'Xx' is not an element"):
        random_symmetric_structure({"Xx": 1}, seed=0, record="c-3")
    with pytest.raises(RandomSearchError, match="not a positive whole number"):
        random_symmetric_structure({"Na": 0.5}, seed=0, record="c-4")


def test_a_batch_reports_failures_and_keeps_the_rest():
    batch = random_structures(
        [("a", SRTIO3), ("bad", {"Xx": 2}), ("b", {"Na": 2, "Cl": 2})], seed=1
    )
    assert [s.record for s in batch.structures] == ["a", "b"]
    assert batch.failed == [{"record": "bad", "reason": "bad: 'Xx' is not an element"}]
    # the k-th composition has its own seed: a failure earlier in the list changes nothing else
    other = random_structures([("a", SRTIO3), ("x", {"K": 1}), ("b", {"Na": 2, "Cl": 2})], seed=1)
    assert other.structures[-1].structure == batch.structures[-1].structure
