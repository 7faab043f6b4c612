"""The dedup stages' comparisons: StructureMatcher over groups of structures with one dedup key.

Groups are independent, so :func:`run_groups` runs them in a process pool in bundles balanced by
cost. Within a group, the lattice-shape prefilter (:class:`~crystaloop.chem.dedup.ShapeFilter`)
hands the matcher only the pairs whose lattices can match. A comparison where the matcher raised
is not a non-match: it is reported with the error (:data:`DedupOutcome`) and the screens drop the
structure with that reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

from crystaloop.chem.dedup import (
    Reduced,
    ShapeFilter,
    dedup_matcher,
    fit_reduced,
    try_reduced_cell,
)

if TYPE_CHECKING:
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.core import Structure


def short_error(err: BaseException) -> str:
    """Return ``err`` in one line: its type and the first line of its message."""
    lines = str(err).strip().splitlines()
    first = lines[0] if lines else ""
    return f"{type(err).__name__}: {first}"[:200] if first else type(err).__name__


def _first_match(
    matcher: StructureMatcher,
    structure: Structure,
    reduced: Structure | None,
    others: Iterable[Reduced],
) -> tuple[Any, str | None]:
    """Compare ``structure`` with ``others`` until one matches.

    ``others`` are ``(id, structure, reduced cell)`` (:meth:`ShapeFilter.candidates`); pairs with
    both reduced cells skip the matcher's own reduction.

    Returns
    -------
    tuple
        ``(id, None)`` for the first match; ``(None, None)`` when every comparison ran and none
        matched; ``(id, error)`` when none matched and the matcher raised (it does on some
        degenerate cells), with the id of the first comparison that raised and the error. A
        comparison that raised is not a non-match.
    """
    failed: tuple[Any, str] | None = None
    for ident, other, other_reduced in others:
        try:
            if fit_reduced(matcher, structure, reduced, other, other_reduced):
                return ident, None
        except Exception as err:  # pymatgen raises many types on degenerate cells
            if failed is None:
                failed = (ident, short_error(err))
    return failed if failed is not None else (None, None)


#: What a dedup group task returns for each member it drops: ``(index, id, None)`` when the
#: member matches ``id``; ``(index, id, error)`` when the matcher raised comparing it with ``id``
#: and found no match elsewhere.
DedupOutcome = tuple[int, Any, str | None]


def batch_group(members: list[tuple[int, Structure]], _: None) -> list[DedupOutcome]:
    """Return the outcomes of the members that match an earlier kept member or the matcher fails on.

    Neither kind is kept; the ids are batch indices.
    """
    matcher = dedup_matcher()
    kept = ShapeFilter()
    out: list[DedupOutcome] = []
    for index, structure in members:
        cell = try_reduced_cell(structure)
        ident, error = _first_match(matcher, structure, cell, kept.candidates(structure, cell))
        if ident is None:
            kept.append(index, structure, cell)
        else:
            out.append((index, ident, error))
    return out


def corpus_group(
    members: list[tuple[int, Structure]], candidates: list[tuple[str, Structure]]
) -> list[DedupOutcome]:
    """Return the outcomes of the members that match a corpus structure or the matcher fails on.

    The ids are corpus ``material_id``.
    """
    matcher = dedup_matcher()
    known = ShapeFilter(candidates)
    out: list[DedupOutcome] = []
    for index, structure in members:
        cell = try_reduced_cell(structure)
        ident, error = _first_match(matcher, structure, cell, known.candidates(structure, cell))
        if ident is not None:
            out.append((index, ident, error))
    return out


def _run_bundle(fn: Callable[..., list], groups: list[tuple[Any, Any]]) -> list:
    """Pool task: ``fn`` on each group of a bundle, results concatenated."""
    out: list = []
    for members, extra in groups:
        out.extend(fn(members, extra))
    return out


def run_groups(
    fn: Callable[..., list],
    groups: list[tuple[list[tuple[int, Structure]], Any]],
    costs: list[int],
    pool: Executor | None,
    processes: int,
) -> list:
    """Run ``fn(members, extra)`` on every group, in the pool in balanced bundles if given."""
    if pool is None or len(groups) <= 1:
        return _run_bundle(fn, groups)
    n_bundles = min(len(groups), 4 * processes)
    bundles: list[list] = [[] for _ in range(n_bundles)]
    loads = [0] * n_bundles
    for cost, group in sorted(zip(costs, groups, strict=True), key=lambda cg: -cg[0]):
        target = loads.index(min(loads))
        bundles[target].append(group)
        loads[target] += cost
    out: list = []
    for part in pool.map(_run_bundle, [fn] * n_bundles, bundles):
        out.extend(part)
    return out
