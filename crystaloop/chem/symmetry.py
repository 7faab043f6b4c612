"""Space-group analysis with spglib through pymatgen."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pymatgen.core import Structure

DEFAULT_SYMPREC = 0.1


@dataclass(frozen=True)
class SymmetryInfo:
    """Space group of a structure and the size of its primitive cell.

    Attributes
    ----------
    number
        International space-group number (1 when spglib finds no symmetry).
    symbol
        Hermann–Mauguin symbol.
    n_primitive
        Number of sites in the primitive cell spglib finds (invariant to the choice of cell).
    """

    number: int
    symbol: str
    n_primitive: int


def symmetry_info(structure: Structure, symprec: float = DEFAULT_SYMPREC) -> SymmetryInfo:
    """Return the space group of ``structure`` found at tolerance ``symprec`` (Å).

    A structure spglib cannot analyse is reported as P1 with its own number of sites.
    """
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        analyzer = SpacegroupAnalyzer(structure, symprec=symprec)
        dataset = analyzer.get_symmetry_dataset()
    except Exception:  # spglib raises several error types on degenerate cells
        dataset = None
    if dataset is None:
        return SymmetryInfo(number=1, symbol="P1", n_primitive=len(structure))
    n_primitive = len(set(int(i) for i in dataset.mapping_to_primitive))
    return SymmetryInfo(
        number=int(dataset.number),
        symbol=str(dataset.international),
        n_primitive=n_primitive,
    )


def idealized_primitive(structure: Structure, symprec: float = DEFAULT_SYMPREC) -> Structure | None:
    """Return the idealised primitive standard cell of ``structure`` at tolerance ``symprec``.

    The sites are moved onto the exact positions of the space group spglib finds, so a structure
    an oracle relaxed to a slightly distorted cell becomes the symmetric one it is close to.
    Returns ``None`` when the structure is P1 at ``symprec`` (nothing to idealise) or spglib
    cannot analyse it.
    """
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        analyzer = SpacegroupAnalyzer(structure, symprec=symprec)
        if analyzer.get_space_group_number() == 1:
            return None
        return analyzer.get_primitive_standard_structure()
    except Exception:  # spglib raises several error types on degenerate cells
        return None
