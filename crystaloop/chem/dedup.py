"""Deduplication of crystals: cheap invariant prefilters, then pymatgen's StructureMatcher.

Two structures can only match when their reduced formulas, space groups and primitive-cell sizes
agree; :func:`fingerprint` hashes those three, so a store query on one indexed field finds the few
structures worth handing to :class:`~pymatgen.analysis.structure_matcher.StructureMatcher`.

Within such a group (many polymorphs of one formula: carbon, SiO₂), :class:`ShapeFilter` drops the
pairs whose lattices cannot match before the matcher sees them. The matcher reduces both cells to
their primitive, Niggli-reduced form, scales them to one volume per site (``scale=True``) and then
needs a basis of one lattice whose lengths are within ``ltol`` (20 %) of the other's. The
invariant of :func:`lattice_shape` is that reduced cell's size and its three lengths divided by
the cube root of the volume per site (scale-free, so the volume scaling changes nothing); a pair
is kept when every length ratio is within ``exp(±SHAPE_TOLERANCE)`` (±49 %, more than twice the
matcher's ±20 %, because the matcher may map onto a basis other than the Niggli one), or when the
reduced sizes differ (then the matcher's supercell logic decides). ``benchmarks/dedup_scale.py``
checks on a sample that no pair the plain matcher matches is dropped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.core import Structure

#: StructureMatcher tolerances for uniqueness and novelty (DESIGN.md §5).
DEDUP_TOLERANCES = {"ltol": 0.2, "stol": 0.3, "angle_tol": 5.0}
#: Largest ``|ln(a₁ / a₂)|`` of a reduced, scale-free lattice length for a pair to be compared.
SHAPE_TOLERANCE = 0.4


def fingerprint(formula: str, spacegroup_number: int, n_primitive: int) -> str:
    """Return the dedup prefilter key of a structure (16 hex characters)."""
    text = f"{formula}|{spacegroup_number}|{n_primitive}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def may_match(key: tuple[str, int], formula: str, nsites: int) -> bool:
    """Return True when a stored cell (reduced ``formula``, ``nsites`` sites) can match ``key``.

    ``key`` is a candidate's ``(reduced formula, primitive-cell size)``: a match needs the same
    formula and a stored cell that is a whole number of primitive cells.
    """
    return formula == key[0] and key[1] > 0 and nsites % key[1] == 0


def dedup_matcher() -> StructureMatcher:
    """Return the StructureMatcher used for uniqueness and novelty."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    return StructureMatcher(**DEDUP_TOLERANCES)


def first_match(
    structure: Structure,
    candidates: Iterable[tuple[str, Structure]],
    matcher: StructureMatcher | None = None,
) -> str | None:
    """Return the id of the first candidate that matches ``structure``, or ``None``.

    Parameters
    ----------
    structure
        The structure to look up.
    candidates
        ``(id, structure)`` pairs sharing the structure's fingerprint.
    matcher
        The matcher; :func:`dedup_matcher` by default.
    """
    matcher = matcher or dedup_matcher()
    for candidate_id, candidate in candidates:
        if matcher.fit(structure, candidate):
            return candidate_id
    return None


def lattice_shape(structure: Structure) -> np.ndarray:
    """Return ``[n, a, b, c]``: the primitive Niggli cell's size and scale-free lengths.

    ``a ≤ b ≤ c`` are the reduced lengths divided by ``(V / n) ** (1/3)``.
    """
    primitive = structure.get_primitive_structure()
    lattice = primitive.lattice.get_niggli_reduced_lattice()
    n = len(primitive)
    unit = (lattice.volume / n) ** (1.0 / 3.0)
    return np.array([n, *sorted(lattice.abc)], dtype=float) / np.array([1.0, unit, unit, unit])


class ShapeFilter:
    """``(id, structure)`` pairs with their :func:`lattice_shape`, for prefiltered comparisons.

    Shapes are computed when first needed: a structure that no query meets costs nothing.

    Parameters
    ----------
    pairs
        The structures a query may match, each with its id.
    tolerance
        :data:`SHAPE_TOLERANCE` by default.
    """

    def __init__(
        self,
        pairs: Iterable[tuple[str, Structure]] = (),
        tolerance: float = SHAPE_TOLERANCE,
    ) -> None:
        self.pairs: list[tuple[str, Structure]] = list(pairs)
        self._shapes: list[np.ndarray | None] = [None] * len(self.pairs)
        self._stacked: np.ndarray | None = None
        self.tolerance = tolerance

    def __len__(self) -> int:
        return len(self.pairs)

    def append(self, ident: str, structure: Structure, shape: np.ndarray | None = None) -> None:
        """Add one structure (with its shape, when already known)."""
        self.pairs.append((ident, structure))
        self._shapes.append(shape)
        self._stacked = None

    def compatible(self, shape: np.ndarray) -> np.ndarray:
        """Return, per stored structure, whether one of this ``shape`` may match it."""
        if not self.pairs:
            return np.zeros(0, dtype=bool)
        if self._stacked is None:
            for i, known in enumerate(self._shapes):
                if known is None:
                    self._shapes[i] = lattice_shape(self.pairs[i][1])
            self._stacked = np.vstack(self._shapes)
        stored = self._stacked
        other_size = stored[:, 0] != shape[0]
        close = np.all(np.abs(np.log(stored[:, 1:] / shape[1:])) <= self.tolerance, axis=1)
        return other_size | close

    def candidates(
        self, structure: Structure, shape: np.ndarray | None = None
    ) -> list[tuple[str, Structure]]:
        """Return the stored pairs that ``structure`` may match, in stored order."""
        if not self.pairs:
            return []
        mask = self.compatible(lattice_shape(structure) if shape is None else shape)
        return [pair for pair, keep in zip(self.pairs, mask, strict=True) if keep]
