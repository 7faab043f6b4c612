from __future__ import annotations

import pytest
from helpers import perovskite
from pymatgen.core import Lattice, Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from crystaloop.chem.symmetry import SymmetryError, idealized_primitive, symmetry_info


def coincident() -> Structure:
    """Two atoms on the same spot: spglib cannot analyse the cell."""
    return Structure(Lattice.cubic(3.0), ["Na", "Na"], [[0, 0, 0], [0, 0, 0]])


def p1_cell() -> Structure:
    lattice = Lattice.from_parameters(4.1, 4.6, 5.3, 81, 97, 104)
    coords = [[0.02, 0.05, 0.11], [0.47, 0.61, 0.39], [0.23, 0.83, 0.71], [0.81, 0.29, 0.57]]
    return Structure(lattice, ["Sr", "Ti", "O", "O"], coords)


def test_symmetry_info_of_a_good_and_a_p1_structure():
    info = symmetry_info(perovskite())
    assert (info.number, info.symbol, info.n_primitive) == (221, "Pm-3m", 5)
    assert symmetry_info(p1_cell()).number == 1


def test_a_cell_spglib_cannot_analyse_is_an_error_not_p1():
    with pytest.raises(SymmetryError, match="symprec=0.1"):
        symmetry_info(coincident())
    with pytest.raises(SymmetryError):
        idealized_primitive(coincident())


def test_symmetry_error_is_a_value_error_with_the_reason():
    assert issubclass(SymmetryError, ValueError)
    with pytest.raises(ValueError, match="Unable to determine symmetry"):
        symmetry_info(coincident())


def test_an_spglib_exception_becomes_a_symmetry_error_naming_it(monkeypatch):
    from spglib import SpglibError

    def broken(self):
        raise SpglibError("spglib gave up")

    monkeypatch.setattr(SpacegroupAnalyzer, "get_symmetry_dataset", broken)
    with pytest.raises(SymmetryError, match="SpglibError: spglib gave up") as info:
        symmetry_info(perovskite())
    assert isinstance(info.value.__cause__, SpglibError)


def test_no_dataset_is_an_error(monkeypatch):
    monkeypatch.setattr(SpacegroupAnalyzer, "get_symmetry_dataset", lambda self: None)
    with pytest.raises(SymmetryError, match="no symmetry dataset"):
        symmetry_info(perovskite())


def test_a_bug_is_not_disguised_as_a_symmetry_error(monkeypatch):
    def buggy(self):
        raise TypeError("a bug")

    monkeypatch.setattr(SpacegroupAnalyzer, "get_symmetry_dataset", buggy)
    with pytest.raises(TypeError, match="a bug"):
        symmetry_info(perovskite())


def test_idealized_primitive_is_none_only_for_p1():
    assert idealized_primitive(p1_cell()) is None
    ideal = idealized_primitive(perovskite())
    assert ideal is not None and len(ideal) == 5


def test_idealized_primitive_raises_when_the_standard_cell_fails(monkeypatch):
    def broken(self, *args, **kwargs):
        raise ValueError("cannot build the standard cell")

    monkeypatch.setattr(SpacegroupAnalyzer, "get_primitive_standard_structure", broken)
    with pytest.raises(SymmetryError, match="cannot build the standard cell"):
        idealized_primitive(perovskite())
