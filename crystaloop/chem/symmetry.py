"""Space-group analysis with spglib through pymatgen.

A structure spglib cannot analyse raises :class:`SymmetryError`: it is never reported as P1,
since "no symmetry found" and "the analysis failed" are different answers. Callers decide what a
failure means for them (the screens drop the candidate at stage ``symmetry``, an ingest rejects
the record, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pymatgen.core import Structure

DEFAULT_SYMPREC = 0.1


class SymmetryError(ValueError):
    """spglib (through pymatgen) could not analyse a structure.

    The message says why, in words (the underlying error's type and first line).
    """


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


def _spglib_errors() -> tuple[type[BaseException], ...]:
    """Return the exception types spglib and pymatgen raise on a cell they cannot analyse.

    pymatgen raises ``SymmetryUndeterminedError`` (a ValueError) when spglib returns no dataset;
    degenerate lattices give numpy's ``LinAlgError`` (also a ValueError) or arithmetic errors;
    spglib itself raises ``SpglibError``. Anything else (a TypeError from passing something that
    is not a structure, ...) is a bug and propagates unchanged.
    """
    errors: tuple[type[BaseException], ...] = (ValueError, ArithmeticError, RuntimeError)
    try:
        from spglib import SpglibError
    except ImportError:  # older spglib releases have no dedicated error type
        return errors
    return (*errors, SpglibError)


def _describe(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    first = lines[0] if lines else ""
    return f"{type(err).__name__}: {first}"[:200] if first else type(err).__name__


def symmetry_info(structure: Structure, symprec: float = DEFAULT_SYMPREC) -> SymmetryInfo:
    """Return the space group of ``structure`` found at tolerance ``symprec`` (Å).

    Raises
    ------
    SymmetryError
        When spglib cannot analyse the structure (the message says why). Such a structure is not
        reported as P1: P1 means spglib analysed it and found no symmetry.
    """
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        dataset = SpacegroupAnalyzer(structure, symprec=symprec).get_symmetry_dataset()
    except _spglib_errors() as err:
        raise SymmetryError(f"{_describe(err)} (symprec={symprec:g} Å)") from err
    if dataset is None:  # older pymatgen releases return None instead of raising
        raise SymmetryError(f"spglib returned no symmetry dataset (symprec={symprec:g} Å)")
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

    Returns
    -------
    Structure or None
        The idealised cell; ``None`` only when the structure is P1 at ``symprec`` (nothing to
        idealise).

    Raises
    ------
    SymmetryError
        When spglib cannot analyse the structure or pymatgen cannot build the standard cell.
    """
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        analyzer = SpacegroupAnalyzer(structure, symprec=symprec)
        if analyzer.get_space_group_number() == 1:
            return None
        return analyzer.get_primitive_standard_structure()
    except _spglib_errors() as err:
        raise SymmetryError(f"{_describe(err)} (symprec={symprec:g} Å)") from err
