"""Small structures and files for tests."""

from __future__ import annotations


def nacl(a: float = 5.64):
    from pymatgen.core import Lattice, Structure

    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


def perovskite(a: float = 3.9):
    from pymatgen.core import Lattice, Structure

    return Structure(
        Lattice.cubic(a),
        ["Sr", "Ti", "O", "O", "O"],
        [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
    )


def cif_of(structure) -> str:
    from pymatgen.io.cif import CifWriter

    return str(CifWriter(structure))
