"""Formation energies and hulls with an oracle's own references."""

from __future__ import annotations

import pytest
from pymatgen.core import Composition

from crystaloop.chem.energies import (
    Phase,
    chemsys_of,
    element_prototype,
    energies_above_hull,
    formation_energy_per_atom,
    subsystems,
)

REFS = {"Na": -1.0, "Cl": -2.0}


def test_chemsys_and_subsystems():
    assert chemsys_of(["O", "Ba", "O"]) == "Ba-O"
    assert subsystems("O-Ba-Ti") == ["Ba", "O", "Ti", "Ba-O", "Ba-Ti", "O-Ti", "Ba-O-Ti"]


def test_formation_energy_against_the_references():
    # NaCl with E = −4 eV: (−4 − (−1 − 2)) / 2 = −0.5 eV/atom
    assert formation_energy_per_atom(Composition("NaCl"), -4.0, REFS) == pytest.approx(-0.5)
    with pytest.raises(KeyError, match="no elemental reference energy for F"):
        formation_energy_per_atom(Composition("NaF"), -4.0, REFS)


def test_energy_above_hull():
    stable = Phase("ab", Composition("NaCl"), -4.0)  # −0.5 eV/atom
    above = Phase("a3b", Composition("Na3Cl"), -5.2)  # (−5.2 + 5) / 4 = −0.05 eV/atom
    hull = energies_above_hull([stable, above], [], REFS)
    assert hull["ab"] == pytest.approx(0.0)
    # hull at x_Cl = 0.25 runs between Na (0) and NaCl (−0.5): −0.25 eV/atom; −0.05 is 0.2 above
    assert hull["a3b"] == pytest.approx(0.2)
    # a known phase below the candidate puts it above the hull
    lower = Phase("ab-known", Composition("NaCl"), -4.4)
    assert energies_above_hull([stable], [lower], REFS)["ab"] == pytest.approx(0.2)


@pytest.mark.parametrize("symbol", ["O", "Ba", "Mn", "Si"])
def test_element_prototypes_are_pure_and_sane(symbol):
    structure = element_prototype(symbol)
    assert {str(el) for el in structure.composition.elements} == {symbol}
    assert structure.volume / len(structure) > 3.0
