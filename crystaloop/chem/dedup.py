"""Deduplication of crystals: a cheap invariant prefilter, then pymatgen's StructureMatcher.

Two structures can only match when their reduced formulas, space groups and primitive-cell sizes
agree; :func:`fingerprint` hashes those three, so a store query on one indexed field finds the few
structures worth handing to :class:`~pymatgen.analysis.structure_matcher.StructureMatcher`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.core import Structure

#: StructureMatcher tolerances for uniqueness and novelty (DESIGN.md §5).
DEDUP_TOLERANCES = {"ltol": 0.2, "stol": 0.3, "angle_tol": 5.0}


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
