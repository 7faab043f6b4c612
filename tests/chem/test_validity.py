"""Physical-structure checks of relaxed cells."""

from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure

from crystaloop.chem.validity import collapsed_pair


def test_a_relaxed_cell_with_two_atoms_fused_is_named():
    # an oracle relaxation of a generated AlSiPdNO cell ended like this (CHGNet: +4.3 eV/atom)
    lattice = Lattice.from_parameters(4.079, 4.157, 4.355, 87.27, 89.72, 89.10)
    coords = [
        [0.8506, 0.3635, 0.1214],
        [0.8475, 0.3520, 0.2830],
        [0.3494, 0.3612, 0.6969],
        [0.3421, 0.8561, 0.2881],
        [0.3456, 0.8454, 0.4654],
    ]
    cell = Structure(lattice, ["Si", "Al", "O", "N", "Pd"], coords)
    reason = collapsed_pair(cell)
    assert reason is not None and reason.startswith("Si–Al 0.70 Å apart")
    assert "1.16 Å" in reason


@pytest.mark.parametrize(
    "cell",
    [
        Structure(Lattice.cubic(3.9), ["Sr", "Ti", "O", "O", "O"],
                  [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]),
        Structure(Lattice.cubic(3.567), ["C"] * 2, [[0, 0, 0], [0.25, 0.25, 0.25]]),
        Structure(Lattice.cubic(8.0), ["H", "H"], [[0, 0, 0], [0.0925, 0, 0]]),  # H2, 0.74 Å
    ],
)  # fmt: skip
def test_real_bonds_pass(cell):
    assert collapsed_pair(cell) is None
