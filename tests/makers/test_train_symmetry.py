"""TrainGeneratorMaker leaves out discoveries spglib cannot analyse and counts them apart."""

from __future__ import annotations

import pytest
from helpers import stable_labels
from pymatgen.core import Lattice, Structure

from crystaloop.makers.train_generator import TrainGeneratorMaker


def _perovskite(shift: float = 0.0) -> Structure:
    return Structure(
        Lattice.cubic(3.9),
        ["Sr", "Ti", "O", "O", "O"],
        [[0, 0, 0], [0.5 + shift, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
    )


def _p1_cell() -> Structure:
    lattice = Lattice.from_parameters(4.1, 4.6, 5.3, 81, 97, 104)
    coords = [[0.02, 0.05, 0.11], [0.47, 0.61, 0.39], [0.23, 0.83, 0.71], [0.81, 0.29, 0.57]]
    return Structure(lattice, ["Sr", "Ti", "O", "O"], coords)


def _unanalysable() -> Structure:
    """Two atoms on one spot: spglib cannot analyse it (a SymmetryError, not P1)."""
    coords = [[0, 0, 0], [0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0]]
    return Structure(Lattice.cubic(3.9), ["Sr", "Sr", "Ti", "O"], coords)


def test_spglib_failures_are_left_out_and_counted_apart_from_p1(settings):
    from crystaloop.chem.symmetry import SymmetryError, idealized_primitive

    with pytest.raises(SymmetryError):  # the fixture is a cell spglib cannot analyse
        idealized_primitive(_unanalysable())
    stable_labels(settings, [_p1_cell(), _unanalysable()])
    out = TrainGeneratorMaker(min_new_stable=1, epochs=1, check_samples=0).train("perov5", "c", 0)
    assert not out.trained and out.model == "perov5"
    assert "2 new stable, 0 of them with symmetry" in out.reason
    assert "(1 left out: spglib failed)" in out.reason


def test_the_fine_tune_records_the_spglib_failures(settings):
    from crystaloop.stores.factory import open_store

    stable_labels(settings, [_perovskite(0.005), _perovskite(0.0), _p1_cell(), _unanalysable()])
    maker = TrainGeneratorMaker(min_new_stable=2, epochs=1, seconds=5, check_samples=0)
    out = maker.train("perov5", "c", 0)
    assert out.trained
    (doc,) = open_store(settings, "models").query({"kind": "generator"})
    assert doc["metrics"]["new_stable"] == 2
    assert doc["metrics"]["stable_without_symmetry"] == 1  # the P1 cell
    assert doc["metrics"]["stable_spglib_failed"] == 1
