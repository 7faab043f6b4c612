"""Random symmetric structures of given compositions (AIRSS-style random structure search).

The classic crystal-structure-prediction baseline (Pickard & Needs, J. Phys.: Condens. Matter
23, 053201 (2011)), with the random symmetric crystals of PyXtal (Fredericks et al., Comput.
Phys. Commun. 261, 107810 (2021)): for each composition (atom counts of one cell), a space group
is drawn at random among those whose Wyckoff positions can hold the counts
(``pyxtal.symmetry.Group.check_compatible``), and ``pyxtal.from_random`` places the atoms on
them in a random lattice (PyXtal's default volume factor). A space group PyXtal fails to fill
is replaced by another draw, up to ``max_tries``; a composition no allowed space group can hold
is **reported** with its record and the reason, never replaced by another composition.

Space group 1 (P1) is left out by default: the screens drop P1 structures unless told otherwise.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pymatgen.core import Structure

#: Space groups drawn from by default (P1 is screened out by the campaigns' screens).
DEFAULT_SPACEGROUPS = tuple(range(2, 231))


class RandomSearchError(ValueError):
    """A composition cannot be made into a random symmetric structure (the message says why)."""


@dataclass
class RandomStructure:
    """One random symmetric crystal.

    Attributes
    ----------
    record
        Id of the composition it was made for.
    structure
        The crystal (conventional cell, the requested atom counts).
    spacegroup
        The space group PyXtal built it in.
    """

    record: str
    structure: Structure
    spacegroup: int


@dataclass
class RandomSearchBatch:
    """Random crystals of a list of compositions, and the compositions that failed."""

    structures: list[RandomStructure] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)


@functools.lru_cache(maxsize=65536)
def _compatible(spacegroup: int, counts: tuple[int, ...]) -> bool:
    from pyxtal.symmetry import Group

    return bool(Group(spacegroup).check_compatible(list(counts))[0])


def _check(counts: Mapping[str, int], record: str) -> tuple[list[str], list[int]]:
    from pymatgen.core import Element

    if not counts:
        raise RandomSearchError(f"{record}: empty composition")
    species, numbers = [], []
    for symbol, count in counts.items():
        if not Element.is_valid_symbol(symbol):
            raise RandomSearchError(f"{record}: {symbol!r} is not an element")
        if int(count) != count or count < 1:
            raise RandomSearchError(
                f"{record}: {symbol} count {count} is not a positive whole number of atoms"
            )
        species.append(symbol)
        numbers.append(int(count))
    return species, numbers


def random_symmetric_structure(
    counts: Mapping[str, int],
    seed: int,
    *,
    record: str = "composition",
    spacegroups: Sequence[int] = DEFAULT_SPACEGROUPS,
    max_tries: int = 10,
) -> RandomStructure:
    """Return a random crystal of ``counts`` atoms in a random compatible space group, seeded.

    Parameters
    ----------
    counts
        Atoms of each element in the cell, e.g. ``{"Sr": 1, "Ti": 1, "O": 3}``.
    seed
        Seeds the space-group draw and PyXtal's placement: equal seeds give equal crystals.
    record
        Id named in errors.
    spacegroups
        Space groups to draw from.
    max_tries
        Space groups tried before giving up.

    Raises
    ------
    RandomSearchError
        For a bad composition, when no space group of ``spacegroups`` can hold the counts, or
        when PyXtal fails in ``max_tries`` of them.
    """
    import numpy as np
    from pyxtal import pyxtal

    species, numbers = _check(counts, record)
    formula = "".join(f"{s}{n}" for s, n in zip(species, numbers, strict=True))
    compatible = [g for g in spacegroups if _compatible(int(g), tuple(numbers))]
    if not compatible:
        raise RandomSearchError(
            f"{record} ({formula}): no space group of the {len(spacegroups)} allowed "
            "has Wyckoff positions for these atom counts"
        )
    rng = np.random.default_rng(seed)
    tried = rng.permutation(compatible)[:max_tries]
    errors = []
    for group in tried:
        crystal = pyxtal()
        try:
            crystal.from_random(
                3, int(group), species, numbers, random_state=int(rng.integers(2**31))
            )
        except Exception as err:  # PyXtal signals failures with several exception types
            errors.append(f"{int(group)}: {type(err).__name__}: {err}")
            continue
        if not crystal.valid:
            errors.append(f"{int(group)}: no valid placement")
            continue
        structure = crystal.to_pymatgen()
        return RandomStructure(record=record, structure=structure, spacegroup=int(group))
    raise RandomSearchError(
        f"{record} ({formula}): PyXtal placed no crystal in {len(tried)} space groups "
        f"({'; '.join(errors[:3])})"
    )


def random_structures(
    compositions: Iterable[tuple[str, Mapping[str, int]]],
    seed: int,
    *,
    spacegroups: Sequence[int] = DEFAULT_SPACEGROUPS,
    max_tries: int = 10,
) -> RandomSearchBatch:
    """Return one random symmetric crystal per ``(record, counts)``, seeded; report failures.

    The ``k``-th composition uses the seed ``(seed, k)``, so one failure does not change the
    others' crystals. Failed compositions are listed as ``{"record", "reason"}``.
    """
    import numpy as np

    out = RandomSearchBatch()
    for k, (record, counts) in enumerate(compositions):
        sub = int(np.random.SeedSequence([seed, k]).generate_state(1)[0])
        try:
            out.structures.append(
                random_symmetric_structure(
                    counts, sub, record=record, spacegroups=spacegroups, max_tries=max_tries
                )
            )
        except RandomSearchError as err:
            out.failed.append({"record": record, "reason": str(err)})
    return out
