from __future__ import annotations

import pytest
from pymatgen.core import Composition

from crystaloop.chem.composition import smact_problem, smact_valid


@pytest.mark.parametrize("formula", ["NaCl", "SrTiO3", "LiFePO4", "Fe", "Fe3Al", "Na2Cl2"])
def test_valid_compositions(formula):
    assert smact_valid(Composition(formula))


@pytest.mark.parametrize("formula", ["NaCl2", "Xe2F", "Na2O3"])
def test_invalid_compositions_say_why(formula):
    reason = smact_problem(Composition(formula))
    assert reason is not None and "charge" in reason
