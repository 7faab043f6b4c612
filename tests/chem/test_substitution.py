"""Ionic substitution on prototypes: charge balance, ranking, determinism, windows, bad input."""

from __future__ import annotations

import pytest
from helpers import nacl, perovskite

from crystaloop.chem.substitution import (
    OxidationStateError,
    decorate,
    ranked_substitutions,
    substitution_proposals,
)

ELEMENTS = ["Sr", "Ba", "Ca", "Ti", "Zr", "Hf", "O", "Na", "K", "Cl", "Br"]


def _alloy():
    from pymatgen.core import Lattice, Structure

    # two alkali metals: no charge-balanced oxidation states
    return Structure(Lattice.cubic(4.0), ["K", "Na"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def _prototypes():
    return [("mp-srtio3", perovskite()), ("mp-nacl", nacl())]


def _charge(proposal, prototype) -> float:
    from pymatgen.core import Species

    decorated = decorate(prototype, "p")
    total = 0.0
    for ion, count in decorated.composition.items():
        target = Species.from_str(proposal.substitution.get(str(ion), str(ion)))
        total += target.oxi_state * count
    return total


def test_proposals_are_charge_balanced_substitutions_most_probable_first():
    proposals, skipped = substitution_proposals(_prototypes(), ELEMENTS)
    assert skipped == [] and len(proposals) > 5
    by_id = dict(_prototypes())
    probabilities = [p.probability for p in proposals]
    assert probabilities == sorted(probabilities, reverse=True)
    assert all(p > 1e-3 for p in probabilities)
    for p in proposals:
        assert p.substitution, "every proposal changes at least one ion"
        assert abs(_charge(p, by_id[p.prototype])) < 1e-9
        assert {el.symbol for el in p.structure.composition} <= set(ELEMENTS)
        assert len(p.structure) == len(by_id[p.prototype])
    formulas = {p.structure.composition.reduced_formula for p in proposals}
    assert "BaTiO3" in formulas and "KCl" in formulas


def test_the_ranking_is_deterministic_for_a_seed():
    first, _ = substitution_proposals(_prototypes(), ELEMENTS, seed=4)
    again, _ = substitution_proposals(_prototypes(), ELEMENTS, seed=4)
    assert [(p.prototype, p.substitution) for p in first] == [
        (p.prototype, p.substitution) for p in again
    ]
    other, _ = substitution_proposals(_prototypes(), ELEMENTS, seed=5)
    assert sorted(str(p.substitution) for p in other) == sorted(str(p.substitution) for p in first)


def test_windows_are_consecutive_deduplicated_and_leave_out_known_structures():
    whole = ranked_substitutions(_prototypes(), ELEMENTS, start=0, n=6)
    head = ranked_substitutions(_prototypes(), ELEMENTS, start=0, n=3)
    tail = ranked_substitutions(_prototypes(), ELEMENTS, start=3, n=3)
    formulas = [p.structure.composition.reduced_formula for p in whole.proposals]
    assert formulas == [
        p.structure.composition.reduced_formula for p in head.proposals + tail.proposals
    ]
    assert len(set(formulas)) == len(formulas)  # one prototype each: a formula is one structure
    top = whole.proposals[0].structure
    from crystaloop.chem.metrics import dedup_key

    def known(keys):
        return {k: [("corpus-1", top)] for k in keys if k == dedup_key(top)}

    without = ranked_substitutions(_prototypes(), ELEMENTS, start=0, n=5, known=known)
    assert without.known == 1
    assert [p.structure.composition.reduced_formula for p in without.proposals] == formulas[1:]
    short = ranked_substitutions(_prototypes(), ["Sr", "Ba", "Ti", "O"], start=0, n=100)
    assert short.exhausted and 0 < len(short.proposals) < 100


def test_a_prototype_without_oxidation_states_is_reported_by_id():
    with pytest.raises(OxidationStateError, match=r"prototype alloy-1 \(KNa\).*oxidation states"):
        decorate(_alloy(), "alloy-1")
    proposals, skipped = substitution_proposals(
        [("alloy-1", _alloy()), ("mp-nacl", nacl())], ELEMENTS
    )
    assert [s["record"] for s in skipped] == ["alloy-1"]
    assert "no usable oxidation states" in skipped[0]["reason"]
    assert proposals and {p.prototype for p in proposals} == {"mp-nacl"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": 0.0}, "threshold must be in"),
        ({"threshold": 1.5}, "threshold must be in"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        substitution_proposals(_prototypes(), ELEMENTS, **kwargs)


def test_no_allowed_ion_and_bad_windows_are_refused():
    with pytest.raises(ValueError, match="no ion of the elements Xx"):
        substitution_proposals(_prototypes(), ["Xx"])
    with pytest.raises(ValueError, match="start ≥ 0 and n ≥ 1"):
        ranked_substitutions(_prototypes(), ELEMENTS, start=0, n=0)
