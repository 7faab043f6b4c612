"""Generative-model metrics of DESIGN.md §5.

- **CSP**: for each reference, the first ``k`` samples generated for its composition are compared
  with ``StructureMatcher(stol=0.5, angle_tol=10, ltol=0.3)``; a pair counts only when both
  structures are structurally valid. The match rate is the fraction of references with a match;
  the RMSE is the mean over matched references of the smallest ``get_rms_dist`` among their
  matched samples (pymatgen normalises it by ``(V/N)^(1/3)``).
- **Validity**: structural (:func:`~crystaloop.chem.validity.structure_problem`: distances ≥ 0.5 Å,
  volume ≥ 0.1 Å³) and compositional (SMACT with the Pauling test).
- **Uniqueness / novelty**: ``StructureMatcher(ltol=0.2, stol=0.3, angle_tol=5)`` within the batch /
  against a reference set, comparing only structures of equal reduced formula.
- **Distribution distances**: Wasserstein distances of density, number of atoms and number of
  elements; total variation distance of the site-weighted element frequencies.

**Matcher errors.** The StructureMatcher raises on some degenerate cells. A comparison that raised
is neither a match nor a non-match, so it is never silently counted as one: every rate counts only
what the matcher decided, and the outputs say how many comparisons raised (``matcher_errors``) and
how many references / structures were left undecided by them (``unresolved``,
``uniqueness_unresolved``, ``novelty_unresolved``). An undecided item counts against the rate
(not matched, not unique, not novel), so each rate is a lower bound and ``rate + unresolved / n``
the matching upper bound.

**Symmetry errors.** Structures are grouped for the matcher by reduced formula and spglib
primitive-cell size; one spglib cannot analyse
(:class:`~crystaloop.chem.symmetry.SymmetryError`) is compared with every structure of its
formula instead, so a failed analysis widens the prefilter and never decides an answer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from crystaloop.chem.composition import smact_valid
from crystaloop.chem.dedup import dedup_matcher
from crystaloop.chem.symmetry import SymmetryError, symmetry_info
from crystaloop.chem.validity import structure_problem

if TYPE_CHECKING:
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.core import Structure

#: StructureMatcher tolerances of the CSP match rate (DESIGN.md §5).
CSP_TOLERANCES = {"stol": 0.5, "angle_tol": 10.0, "ltol": 0.3}

# No cap on the number of sites for the metrics: only distances and volume matter.
_NO_SITE_CAP = 10**9


def is_structurally_valid(structure: Structure) -> bool:
    """Return True when ``structure`` passes the structural validity check (no site cap)."""
    try:
        return structure_problem(structure, max_sites=_NO_SITE_CAP) is None
    except Exception:  # a structure the check cannot even read is not valid
        return False


def _is_compositionally_valid(structure: Structure) -> bool:
    try:
        return smact_valid(structure.composition)
    except Exception:
        return False


@dataclass(frozen=True)
class _MatcherFailed:
    """A comparison for which the matcher raised (an entry of the CSP table)."""

    error: str


def _describe(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    first = lines[0] if lines else ""
    return f"{type(err).__name__}: {first}"[:200] if first else type(err).__name__


def _match_any(
    matcher: StructureMatcher, structure: Structure, others: Iterable[Structure]
) -> tuple[bool | None, int]:
    """Return whether ``structure`` matches one of ``others``, and how many comparisons raised.

    The answer is True at the first match, False when every comparison ran and none matched,
    and None when none matched but the matcher raised on at least one comparison (undecided).
    """
    errors = 0
    for other in others:
        try:
            if matcher.fit(structure, other):
                return True, errors
        except Exception:  # pymatgen raises many types on degenerate cells: counted, not a no
            errors += 1
    return (None if errors else False), errors


def _fraction(flags: Sequence[bool]) -> float:
    return float(sum(flags)) / len(flags) if flags else 0.0


# --------------------------------------------------------------------------- CSP


def csp_matcher() -> StructureMatcher:
    """Return the StructureMatcher of the CSP match rate."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    return StructureMatcher(**CSP_TOLERANCES)


#: An entry of the CSP table: the rms distance of a match, ``None`` for no match (or an invalid
#: structure), or the failure of a comparison for which the matcher raised.
_Rms = float | _MatcherFailed | None


def _rms_table(
    samples: Sequence[Sequence[Structure]], references: Sequence[Structure], k: int
) -> list[list[_Rms]]:
    """Return, per reference, the rms distance of each of its first ``k`` samples or ``None``.

    ``None`` marks a sample that is invalid, does not match, or belongs to an invalid reference;
    a :class:`_MatcherFailed` a sample for which ``get_rms_dist`` raised.
    """
    if len(samples) != len(references):
        raise ValueError(f"{len(samples)} sample lists for {len(references)} references")
    matcher = csp_matcher()
    table: list[list[_Rms]] = []
    for reference, candidates in zip(references, samples, strict=True):
        first = list(candidates)[:k]
        row: list[_Rms] = [None] * len(first)
        if is_structurally_valid(reference):
            for i, sample in enumerate(first):
                if not is_structurally_valid(sample):
                    continue
                try:
                    result = matcher.get_rms_dist(sample, reference)
                except Exception as err:  # pymatgen raises many types on degenerate cells
                    row[i] = _MatcherFailed(_describe(err))
                    continue
                if result is not None:
                    row[i] = float(result[0])
        table.append(row)
    return table


def csp_rms_distances(
    samples: Sequence[Sequence[Structure]], references: Sequence[Structure]
) -> list[list[float | str | None]]:
    """Return the DiffCSP-protocol rms distance of every sample to its reference.

    ``samples[i]`` are structures of ``references[i]``'s composition. Each entry is the
    normalised rms distance of ``get_rms_dist(sample, reference)`` when they match, ``None``
    when they do not (or either is structurally invalid), and the error's description (a
    ``str``) when the matcher raised: an error is not a non-match.
    """
    k = max((len(s) for s in samples), default=0)
    return [
        [entry.error if isinstance(entry, _MatcherFailed) else entry for entry in row]
        for row in _rms_table(samples, references, k)
    ]


def _match_from_table(table: list[list[_Rms]], k: int) -> dict[str, Any]:
    best = []
    errors = unresolved = 0
    for row in table:
        matched = [rms for rms in row[:k] if isinstance(rms, float)]
        failed = sum(isinstance(rms, _MatcherFailed) for rms in row[:k])
        errors += failed
        if matched:
            best.append(min(matched))
        elif failed:
            unresolved += 1
    n = len(table)
    return {
        "match_rate": len(best) / n if n else 0.0,
        "rmse": float(np.mean(best)) if best else None,
        "n": n,
        "matcher_errors": errors,
        "unresolved": unresolved,
    }


def csp_match(
    samples: Sequence[Sequence[Structure]], references: Sequence[Structure], k: int
) -> dict[str, Any]:
    """Return the CSP match rate and RMSE of the first ``k`` samples of each reference.

    Parameters
    ----------
    samples
        ``samples[i]`` are the structures generated for the composition of ``references[i]``, in
        the order they were generated.
    references
        The true structures.
    k
        Number of samples per reference that count.

    Returns
    -------
    dict
        ``match_rate`` (matched references / ``n``), ``rmse`` (mean over matched references of
        the smallest normalised rms distance; ``None`` when none matched), ``n`` (number of
        references), ``matcher_errors`` (sample-reference comparisons among the first ``k`` for
        which ``get_rms_dist`` raised) and ``unresolved`` (references with no match among their
        first ``k`` samples and at least one such error). An unresolved reference counts as
        unmatched, so ``match_rate`` is a lower bound and ``match_rate + unresolved / n`` the
        upper bound.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    return _match_from_table(_rms_table(samples, references, k), k)


def csp_metrics(
    samples: Sequence[Sequence[Structure]],
    references: Sequence[Structure],
    ks: Sequence[int] = (1, 20),
) -> dict[str, dict[str, Any]]:
    """Return :func:`csp_match` for each ``k`` of ``ks`` as ``{"k1": ..., "k20": ...}``.

    Only the ``k`` that every reference has samples for are reported; each pair is matched once.
    """
    available = min((len(s) for s in samples), default=0)
    usable = sorted({k for k in ks if 1 <= k <= available})
    if not usable:
        return {}
    table = _rms_table(samples, references, usable[-1])
    return {f"k{k}": _match_from_table(table, k) for k in usable}


# --------------------------------------------------------------------------- de novo


def structural_validity(structures: Sequence[Structure]) -> float:
    """Return the fraction of structurally valid structures (0 for an empty list)."""
    return _fraction([is_structurally_valid(s) for s in structures])


def compositional_validity(structures: Sequence[Structure]) -> float:
    """Return the fraction of structures whose composition passes SMACT (0 for an empty list)."""
    return _fraction([_is_compositionally_valid(s) for s in structures])


def dedup_key(structure: Structure) -> tuple[str, int]:
    """Reduced formula and spglib primitive-cell size: structures with other keys never match.

    The same prefilter as the screens (:mod:`crystaloop.chem.screens`); without the size, a
    single-element set such as Carbon-24 puts every pair through the matcher.

    Raises
    ------
    SymmetryError
        When spglib cannot analyse the structure.
    """
    return structure.composition.reduced_formula, symmetry_info(structure).n_primitive


def _primitive_size(structure: Structure) -> int | None:
    """Return the spglib primitive-cell size, ``None`` when spglib cannot analyse the structure."""
    try:
        return symmetry_info(structure).n_primitive
    except SymmetryError:
        return None


class _Prefilter:
    """Structures by reduced formula with their primitive-cell size (``None``: unknown).

    :meth:`candidates` returns those of the same formula whose size equals the asked one; an
    unknown size on either side cannot rule a pair out, so such pairs are always returned.
    """

    def __init__(self) -> None:
        self._by_formula: dict[str, list[tuple[int | None, Structure]]] = {}

    def add(self, formula: str, size: int | None, structure: Structure) -> None:
        self._by_formula.setdefault(formula, []).append((size, structure))

    def candidates(self, formula: str, size: int | None) -> list[Structure]:
        return [
            s
            for n, s in self._by_formula.get(formula, ())
            if size is None or n is None or n == size
        ]


def _unique_states(structures: Sequence[Structure]) -> tuple[list[bool | None], int]:
    """Return :func:`unique_flags` and the number of comparisons for which the matcher raised."""
    matcher = dedup_matcher()
    kept = _Prefilter()
    flags: list[bool | None] = []
    errors = 0
    for structure in structures:
        formula, size = structure.composition.reduced_formula, _primitive_size(structure)
        matched, failed = _match_any(matcher, structure, kept.candidates(formula, size))
        errors += failed
        unique = None if matched is None else not matched
        if unique:
            kept.add(formula, size, structure)
        flags.append(unique)
    return flags, errors


def unique_flags(structures: Sequence[Structure]) -> list[bool | None]:
    """Return, for each structure, whether it matches no earlier structure of the list.

    Each structure is compared with the earlier unique structures of the same dedup key
    (reduced formula and primitive-cell size; the first of each set of duplicates stands for
    it; a structure spglib cannot analyse is compared with every earlier unique structure of
    its formula).

    Returns
    -------
    list of bool or None
        True (unique), False (matches an earlier one) or None (undecided: the matcher raised on
        a comparison and no other comparison matched; such a structure does not stand for a set
        either).
    """
    return _unique_states(structures)[0]


def uniqueness(structures: Sequence[Structure]) -> float:
    """Return the fraction of structures that match no earlier structure of the list.

    See :func:`unique_flags`; an undecided structure counts as not unique (the fraction is a
    lower bound). 0 for an empty list.
    """
    return _fraction([flag is True for flag in unique_flags(structures)])


def _novel_states(
    structures: Sequence[Structure], reference: Sequence[Structure]
) -> tuple[list[bool | None], int]:
    """Return :func:`novelty_flags` and the number of comparisons for which the matcher raised."""
    matcher = dedup_matcher()
    known = _Prefilter()
    for other in reference:
        known.add(other.composition.reduced_formula, _primitive_size(other), other)
    flags: list[bool | None] = []
    errors = 0
    for structure in structures:
        formula, size = structure.composition.reduced_formula, _primitive_size(structure)
        matched, failed = _match_any(matcher, structure, known.candidates(formula, size))
        errors += failed
        flags.append(None if matched is None else not matched)
    return flags, errors


def novelty_flags(
    structures: Sequence[Structure], reference: Sequence[Structure]
) -> list[bool | None]:
    """Return, for each structure, whether it matches no structure of ``reference``.

    Only reference structures of the same dedup key (reduced formula, primitive-cell size) are
    compared (all of the formula when spglib cannot analyse one side). None marks an undecided
    structure: the matcher raised on a comparison and no other comparison matched.
    """
    return _novel_states(structures, reference)[0]


def novelty(structures: Sequence[Structure], reference: Sequence[Structure]) -> float:
    """Return the fraction of structures that match no structure of ``reference``.

    See :func:`novelty_flags`; an undecided structure counts as not novel (the fraction is a
    lower bound). 0 for an empty list.
    """
    return _fraction([flag is True for flag in novelty_flags(structures, reference)])


def _element_frequencies(structures: Sequence[Structure]) -> dict[str, float]:
    counts: Counter[str] = Counter()
    for structure in structures:
        for element, amount in structure.composition.get_el_amt_dict().items():
            counts[element] += amount
    total = sum(counts.values())
    return {el: c / total for el, c in counts.items()} if total else {}


def distribution_distances(
    generated: Sequence[Structure], reference: Sequence[Structure]
) -> dict[str, float | None]:
    """Return distances between the property distributions of two sets of structures.

    Returns
    -------
    dict
        ``wdist_density`` (Wasserstein distance of densities, g/cm³), ``wdist_num_atoms`` (of
        numbers of sites), ``wdist_num_elements`` (of numbers of distinct elements) and
        ``element_tvd`` (total variation distance of the element frequencies, each site counted
        once). All ``None`` when either set is empty.
    """
    keys = ("wdist_density", "wdist_num_atoms", "wdist_num_elements", "element_tvd")
    if not generated or not reference:
        return dict.fromkeys(keys)
    from scipy.stats import wasserstein_distance

    def props(structures: Sequence[Structure]) -> tuple[list[float], list[int], list[int]]:
        return (
            [float(s.density) for s in structures],
            [len(s) for s in structures],
            [len(s.composition.elements) for s in structures],
        )

    gen, ref = props(generated), props(reference)
    p, q = _element_frequencies(generated), _element_frequencies(reference)
    tvd = 0.5 * sum(abs(p.get(el, 0.0) - q.get(el, 0.0)) for el in set(p) | set(q))
    return {
        "wdist_density": float(wasserstein_distance(gen[0], ref[0])),
        "wdist_num_atoms": float(wasserstein_distance(gen[1], ref[1])),
        "wdist_num_elements": float(wasserstein_distance(gen[2], ref[2])),
        "element_tvd": float(tvd),
    }


def de_novo_metrics(
    generated: Sequence[Structure], reference: Sequence[Structure]
) -> dict[str, Any]:
    """Return the de novo generation metrics of ``generated`` against the ``reference`` set.

    Validity is over all generated structures; uniqueness, novelty and the distribution
    distances are over the valid ones (structurally and compositionally), as CDVAE and DiffCSP
    report them.

    Returns
    -------
    dict
        ``n``, ``structural_validity``, ``compositional_validity``, ``validity`` (both),
        ``n_valid``, ``uniqueness``, ``novelty``, ``uniqueness_unresolved`` and
        ``novelty_unresolved`` (valid structures the matcher left undecided because it raised;
        they count as not unique / not novel, so ``uniqueness + uniqueness_unresolved / n_valid``
        is the upper bound), ``matcher_errors`` (comparisons for which the matcher raised, both
        checks together) and the keys of :func:`distribution_distances`.
    """
    structural = [is_structurally_valid(s) for s in generated]
    compositional = [_is_compositionally_valid(s) for s in generated]
    both = [a and b for a, b in zip(structural, compositional, strict=True)]
    valid = [s for s, ok in zip(generated, both, strict=True) if ok]
    unique, unique_errors = _unique_states(valid)
    novel, novel_errors = _novel_states(valid, reference)
    return {
        "n": len(generated),
        "structural_validity": _fraction(structural),
        "compositional_validity": _fraction(compositional),
        "validity": _fraction(both),
        "n_valid": len(valid),
        "uniqueness": _fraction([flag is True for flag in unique]),
        "novelty": _fraction([flag is True for flag in novel]),
        "uniqueness_unresolved": sum(flag is None for flag in unique),
        "novelty_unresolved": sum(flag is None for flag in novel),
        "matcher_errors": unique_errors + novel_errors,
        **distribution_distances(valid, reference),
    }
