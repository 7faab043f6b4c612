"""Deduplication of crystals: cheap invariant prefilters, then pymatgen's StructureMatcher.

Two structures can only match when their reduced formulas, space groups and primitive-cell sizes
agree; :func:`fingerprint` hashes those three, so a store query on one indexed field finds the few
structures worth handing to :class:`~pymatgen.analysis.structure_matcher.StructureMatcher`.

Within such a group (many polymorphs of one formula: carbon, SiO₂), :class:`ShapeFilter` drops the
pairs whose lattices cannot match before the matcher sees them. ``StructureMatcher.fit(query,
stored)`` reduces both cells to their primitive, Niggli-reduced form, scales them to one volume
per site (``scale=True``) and then needs three vectors of the *query's* lattice whose lengths are
within ``ltol`` (20 %) of the stored cell's reduced lengths. The query's shortest vectors are then
at most 1.2 × the stored lengths, while they may be much shorter (the test is one-sided: ``fit``
is not symmetric). The invariant of :func:`lattice_shape` is the reduced cell's size and its
three lengths divided by the cube root of the volume per site (scale-free, so the volume scaling
changes nothing); a pair is compared unless some query length exceeds the stored one by more
than ``exp(SHAPE_TOLERANCE)`` (×1.28, against the matcher's ×1.2 plus its angle tolerance;
800 random one-atom lattice pairs that match reached ln 1.2 = 0.182 exactly), or when the reduced
sizes differ (then the matcher's supercell logic decides). ``benchmarks/dedup_scale.py`` checks on
a sample that no pair the plain matcher matches is dropped. The filter also keeps each structure's
reduced cell, so the matcher reduces every structure once instead of twice per pair.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.core import Structure

#: StructureMatcher tolerances for uniqueness and novelty (DESIGN.md §5).
DEDUP_TOLERANCES = {"ltol": 0.2, "stol": 0.3, "angle_tol": 5.0}
#: Largest ``ln(query length / stored length)`` of a reduced, scale-free lattice length for a pair
#: to be compared (the other way is not bounded: see the module's docstring).
SHAPE_TOLERANCE = 0.25


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


def first_reduced_match(
    structure: Structure,
    reduced: Structure | None,
    candidates: Iterable[Reduced],
    matcher: StructureMatcher,
) -> str | None:
    """Return the id of the first of ``candidates`` (:meth:`ShapeFilter.candidates`) matching."""
    for candidate_id, other, other_reduced in candidates:
        if fit_reduced(matcher, structure, reduced, other, other_reduced):
            return candidate_id
    return None


def reduced_cell(structure: Structure) -> Structure:
    """Return the cell the matcher compares: Niggli-reduced, then primitive (its own order).

    What ``StructureMatcher`` does to both structures of every ``fit``; done once per structure
    here, the matcher is then called with ``skip_structure_reduction=True`` (the same result,
    about 4× faster per pair on the sample corpus).
    """
    return structure.get_reduced_structure(reduction_algo="niggli").get_primitive_structure()


def try_reduced_cell(structure: Structure) -> Structure | None:
    """Return :func:`reduced_cell`, or ``None`` where pymatgen cannot reduce the structure.

    Such a structure is compared the matcher's own way (which then reports the error).
    """
    try:
        return reduced_cell(structure)
    except Exception:  # pymatgen raises many types on degenerate cells
        return None


def lattice_shape(structure: Structure, reduced: Structure | None = None) -> np.ndarray:
    """Return ``[n, a, b, c]``: the reduced cell's size and scale-free Niggli lengths.

    ``a ≤ b ≤ c`` are the lengths divided by ``(V / n) ** (1/3)``; ``reduced`` is
    :func:`reduced_cell` of ``structure`` when already known.
    """
    cell = reduced_cell(structure) if reduced is None else reduced
    lattice = cell.lattice.get_niggli_reduced_lattice()
    n = len(cell)
    unit = (lattice.volume / n) ** (1.0 / 3.0)
    return np.array([n, *sorted(lattice.abc)], dtype=float) / np.array([1.0, unit, unit, unit])


#: A structure with its reduced cell (``None`` when it has none) and its id.
Reduced = tuple[Any, "Structure", "Structure | None"]
_UNKNOWN_SHAPE = np.full(4, np.nan)


class ShapeFilter:
    """``(id, structure)`` pairs, reduced as the matcher reduces them, for prefiltered matching.

    Each structure's :func:`reduced_cell` and :func:`lattice_shape` are computed when first
    needed (a structure no query meets costs nothing) and then serve every query. A structure
    pymatgen cannot reduce has no shape and is always a candidate, compared the matcher's way.

    Parameters
    ----------
    pairs
        The structures a query may match, each with its id.
    tolerance
        :data:`SHAPE_TOLERANCE` by default.
    """

    def __init__(
        self,
        pairs: Iterable[tuple[Any, Structure]] = (),
        tolerance: float = SHAPE_TOLERANCE,
    ) -> None:
        self.pairs: list[tuple[Any, Structure]] = list(pairs)
        self._reduced: list[Structure | None] = [None] * len(self.pairs)
        self._shapes: list[np.ndarray | None] = [None] * len(self.pairs)
        self._stacked: np.ndarray | None = None
        self.tolerance = tolerance

    def __len__(self) -> int:
        return len(self.pairs)

    def append(self, ident: Any, structure: Structure, reduced: Structure | None = None) -> None:
        """Add one structure (with its :func:`reduced_cell`, when already known)."""
        self.pairs.append((ident, structure))
        self._reduced.append(reduced)
        self._shapes.append(None if reduced is None else lattice_shape(structure, reduced))
        self._stacked = None

    def _fill(self) -> np.ndarray:
        if self._stacked is None:
            for i, (_, structure) in enumerate(self.pairs):
                if self._shapes[i] is not None:
                    continue
                if self._reduced[i] is None:
                    self._reduced[i] = try_reduced_cell(structure)
                cell = self._reduced[i]
                self._shapes[i] = _UNKNOWN_SHAPE if cell is None else lattice_shape(structure, cell)
            self._stacked = np.vstack(self._shapes)
        return self._stacked

    def compatible(self, shape: np.ndarray | None) -> np.ndarray:
        """Return, per stored structure, whether a query of this ``shape`` may match it.

        ``None`` (a query without a reduced cell) is compatible with everything. One-sided: a
        query length may be any shorter than the stored one, at most ``exp(tolerance)`` longer.
        """
        if not self.pairs:
            return np.zeros(0, dtype=bool)
        stored = self._fill()
        if shape is None:
            return np.ones(len(self.pairs), dtype=bool)
        with np.errstate(invalid="ignore"):
            unknown = np.isnan(stored[:, 0])
            other_size = stored[:, 0] != shape[0]
            longer = np.log(shape[1:] / stored[:, 1:])
            close = np.all(longer <= self.tolerance, axis=1)
        return unknown | other_size | close

    def candidates(self, structure: Structure, reduced: Structure | None) -> list[Reduced]:
        """Return ``(id, structure, reduced cell or None)`` of what ``structure`` may match.

        ``reduced`` is ``structure``'s :func:`reduced_cell` (``None`` when it has none); compare
        with :func:`fit_reduced`.
        """
        if not self.pairs:
            return []
        shape = None if reduced is None else lattice_shape(structure, reduced)
        mask = self.compatible(shape)
        return [
            (ident, other, self._reduced[i])
            for i, ((ident, other), keep) in enumerate(zip(self.pairs, mask, strict=True))
            if keep
        ]


def fit_reduced(
    matcher: StructureMatcher,
    structure: Structure,
    reduced: Structure | None,
    other: Structure,
    other_reduced: Structure | None,
) -> bool:
    """``matcher.fit`` of two structures, on their reduced cells when both have one."""
    if reduced is not None and other_reduced is not None:
        return bool(matcher.fit(reduced, other_reduced, skip_structure_reduction=True))
    return bool(matcher.fit(structure, other))
