"""Ionic substitution on known prototypes, ranked by pymatgen's data-mined probabilities.

The method of Hautier et al., *Data Mined Ionic Substitutions for the Discovery of New
Compounds*, Inorg. Chem. 50, 656 (2011), as pymatgen implements it
(:class:`pymatgen.analysis.structure_prediction.substitution_probability.SubstitutionProbability`,
the model behind :class:`~pymatgen.analysis.structure_prediction.substitutor.Substitutor`):

1. each prototype gets oxidation states: the bond-valence analysis (``BVAnalyzer``) of its
   structure, else the most probable charge-balanced guess of its composition
   (``Composition.oxi_state_guesses``); a prototype with neither, or with an ion outside the
   probability table, is **skipped and reported** with its id and the reason;
2. every assignment of one target ion per prototype ion whose probability
   ``p = Π_i P(target_i | ion_i)`` (:meth:`SubstitutionProbability.cond_prob_list`) exceeds
   ``threshold`` is enumerated (the branch and bound of ``Substitutor.pred_from_list``),
   restricted to ions of the allowed ``elements``; an assignment is kept when it changes at least
   one ion, keeps the number of distinct elements and is charge balanced on the prototype's
   composition (``Substitutor``'s own rules);
3. the substituted structures (oxidation states removed, the prototype's lattice and
   positions kept) are ranked by ``p``, most probable first; ties are broken by a seeded draw,
   so the ranking is deterministic for a seed;
4. walking down the ranking, a proposal that matches a higher-ranked one
   (:func:`~crystaloop.chem.dedup.first_match`, the screens' StructureMatcher) or a known
   structure (``known``, e.g. the corpus: ``Substitutor``'s ``remove_existing``) is dropped.

:func:`ranked_substitutions` returns one window ``[start, start + n)`` of that deduplicated
ranking, so consecutive windows give consecutive, disjoint batches of proposals.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from operator import mul
from typing import TYPE_CHECKING, Any

from crystaloop.chem.dedup import dedup_matcher, first_match

if TYPE_CHECKING:
    from pymatgen.core import Species, Structure

#: pymatgen's default probability threshold of ``Substitutor``.
DEFAULT_THRESHOLD = 1e-3
#: Tolerance of the charge balance (``Substitutor.charge_balanced_tol`` is 1e-9).
CHARGE_TOLERANCE = 1e-6

#: Looks up known structures by dedup key (reduced formula, primitive-cell size):
#: ``{key: [(id, structure), ...]}``, as the corpus store's ``dedup_lookup``.
KnownLookup = Callable[[list[tuple[str, int]]], dict[tuple[str, int], list[tuple[str, Any]]]]


class OxidationStateError(ValueError):
    """A prototype's oxidation states cannot be assigned (the message names it and why)."""


@dataclass(frozen=True)
class Proposal:
    """One substituted structure.

    Attributes
    ----------
    structure
        The prototype's lattice and positions with the new elements (no oxidation states).
    probability
        ``Π_i P(target_i | ion_i)`` of the substitution (Hautier et al. 2011).
    prototype
        Id of the prototype it was made from.
    substitution
        ``{prototype ion: target ion}`` of the ions that changed (e.g. ``{"Sr2+": "Ba2+"}``).
    """

    structure: Structure
    probability: float
    prototype: str
    substitution: dict[str, str]


@dataclass
class SubstitutionBatch:
    """A window of the ranked, deduplicated proposals and what could not be used.

    Attributes
    ----------
    proposals
        The proposals of the window, most probable first.
    skipped
        ``{"record": prototype id, "reason": ...}`` of every prototype that gave nothing
        because its oxidation states could not be assigned or are outside the table.
    enumerated
        Substitutions above the threshold before deduplication.
    duplicates, known
        Proposals dropped on the way to the window's end as duplicates of higher-ranked ones
        or of known structures.
    exhausted
        True when the ranking ended before the window was full.
    """

    proposals: list[Proposal] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    enumerated: int = 0
    duplicates: int = 0
    known: int = 0
    exhausted: bool = False


def decorate(structure: Structure, record: str, ions: Iterable[Species] | None = None) -> Structure:
    """Return ``structure`` with oxidation states (bond valence, else composition guesses).

    The bond-valence assignment is used when every ion it gives is in ``ions`` (``None``: any
    ion); otherwise the most probable charge-balanced guess of the composition whose ions are
    all in ``ions``.

    Raises
    ------
    OxidationStateError
        When neither assigns them; the message names ``record`` and both reasons.
    """
    from pymatgen.analysis.bond_valence import BVAnalyzer

    usable = None if ions is None else set(ions)

    def fits(species: Iterable[Any]) -> bool:
        return usable is None or all(sp in usable for sp in species)

    try:
        decorated = BVAnalyzer().get_oxi_state_decorated_structure(structure)
        if fits(decorated.composition):
            return decorated
        outside = sorted(str(sp) for sp in decorated.composition if sp not in usable)  # type: ignore[operator]
        bv_reason = f"gives {', '.join(outside)}, outside the substitution table"
    except ValueError as err:
        bv_reason = str(err) or type(err).__name__
    from pymatgen.core import Species

    for guess in structure.composition.oxi_state_guesses(max_sites=-1):
        if fits(Species(el, oxi) for el, oxi in guess.items()):
            decorated = structure.copy()
            decorated.add_oxidation_state_by_element(guess)
            return decorated
    raise OxidationStateError(
        f"prototype {record} ({structure.composition.reduced_formula}): no usable oxidation "
        f"states (bond valence: {bv_reason}; no charge-balanced guess of the composition"
        + (" with ions in the substitution table)" if usable is not None else ")")
    )


@functools.lru_cache(maxsize=1)
def _model() -> Any:
    """Return pymatgen's default substitution probability table (built once per process, ~5 s)."""
    from pymatgen.analysis.structure_prediction.substitution_probability import (
        SubstitutionProbability,
    )

    return SubstitutionProbability()


@functools.lru_cache(maxsize=1024)
def _row(ion: str, targets: tuple[str, ...]) -> tuple[tuple[str, str, float, float], ...]:
    """Return ``(target, element, oxidation state, P(target | ion))``, most probable first."""
    from pymatgen.core import Species

    model = _model()
    source = Species.from_str(ion)
    row = []
    for target in targets:
        species = Species.from_str(target)
        row.append(
            (target, species.symbol, float(species.oxi_state), model.cond_prob(species, source))
        )
    return tuple(sorted(row, key=lambda r: -r[3]))


@functools.lru_cache(maxsize=4096)
def _assignments(
    ions: tuple[str, ...], counts: tuple[float, ...], targets: tuple[str, ...], threshold: float
) -> tuple[tuple[tuple[str, ...], tuple[str, ...], float], ...]:
    """Return ``(target ions, their elements, probability)`` of the valid assignments.

    Branch and bound as ``Substitutor.pred_from_list``: rows are sorted by probability, so a
    row is left as soon as the best case falls to the threshold.
    """
    table = [_row(ion, targets) for ion in ions]
    best = [row[0][3] if row else 0.0 for row in table]
    rest = [functools.reduce(mul, best[k:], 1.0) for k in range(len(best) + 1)]
    out: list[tuple[tuple[str, ...], tuple[str, ...], float]] = []

    def recurse(chosen: list[tuple[str, str, float, float]], prob: float) -> None:
        depth = len(chosen)
        if depth == len(ions):
            names = tuple(c[0] for c in chosen)
            elements = tuple(c[1] for c in chosen)
            charge = sum(c[2] * n for c, n in zip(chosen, counts, strict=True))
            if names != ions and len(set(elements)) == depth and abs(charge) < CHARGE_TOLERANCE:
                out.append((names, elements, prob))
            return
        for entry in table[depth]:
            if prob * entry[3] * rest[depth + 1] <= threshold:
                break
            recurse([*chosen, entry], prob * entry[3])

    recurse([], 1.0)
    return tuple(out)


@dataclass(frozen=True)
class _Raw:
    probability: float
    prototype: str
    decorated: Structure
    ions: tuple[str, ...]
    elements: tuple[str, ...]
    targets: tuple[str, ...]

    def proposal(self) -> Proposal:
        structure = self.decorated.copy()
        structure.replace_species(
            {sp: el for sp, el in zip(self.decorated.composition, self._by_ion(), strict=True)}
        )
        return Proposal(
            structure=structure,
            probability=self.probability,
            prototype=self.prototype,
            substitution={
                ion: t for ion, t in zip(self.ions, self.targets, strict=True) if ion != t
            },
        )

    def _by_ion(self) -> list[str]:
        element = dict(zip(self.ions, self.elements, strict=True))
        return [element[str(sp)] for sp in self.decorated.composition]


#: The last rankings of this process (a campaign's iterations rank the same prototypes again).
_RANKINGS: dict[tuple, tuple[list[_Raw], list[dict[str, str]]]] = {}


def _ranking(
    prototypes: Sequence[tuple[str, Structure]],
    elements: Iterable[str],
    threshold: float,
    seed: int,
) -> tuple[list[_Raw], list[dict[str, str]]]:
    import numpy as np

    if not 0.0 < threshold < 1.0:
        raise ValueError(f"the substitution threshold must be in (0, 1), not {threshold}")
    model = _model()
    allowed = frozenset(elements)
    key = (
        tuple((r, s.composition.formula, len(s), s.lattice.abc) for r, s in prototypes),
        allowed,
        threshold,
        seed,
    )
    if key in _RANKINGS:
        return _RANKINGS[key]
    targets = tuple(sorted(str(s) for s in model.species if s.symbol in allowed))
    if not targets:
        raise ValueError(
            f"no ion of the elements {', '.join(sorted(allowed)) or '(none)'} is in pymatgen's "
            "substitution probability table"
        )
    known_ions = set(model.species)
    raw: list[_Raw] = []
    skipped: list[dict[str, str]] = []
    for record, structure in prototypes:
        try:
            decorated = (
                structure
                if _has_oxidation_states(structure)
                else decorate(structure, record, known_ions)
            )
        except OxidationStateError as err:
            skipped.append({"record": record, "reason": str(err)})
            continue
        composition = decorated.composition
        outside = [str(ion) for ion in composition if ion not in known_ions]
        if outside:
            skipped.append(
                {
                    "record": record,
                    "reason": f"prototype {record}: ion(s) {', '.join(outside)} not in pymatgen's "
                    "substitution probability table",
                }
            )
            continue
        ions = tuple(sorted(str(ion) for ion in composition))
        counts = tuple(float(composition[ion]) for ion in ions)
        for chosen, chosen_elements, probability in _assignments(ions, counts, targets, threshold):
            raw.append(_Raw(probability, record, decorated, ions, chosen_elements, chosen))
    ties = np.random.default_rng(seed).random(len(raw))
    # rounded: the table's normalisation sums a set, so the last bits differ between processes
    order = sorted(range(len(raw)), key=lambda k: (-float(f"{raw[k].probability:.10g}"), ties[k]))
    result = ([raw[k] for k in order], skipped)
    if len(_RANKINGS) >= 4:
        _RANKINGS.pop(next(iter(_RANKINGS)))
    _RANKINGS[key] = result
    return result


def substitution_proposals(
    prototypes: Sequence[tuple[str, Structure]],
    elements: Iterable[str],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    seed: int = 0,
) -> tuple[list[Proposal], list[dict[str, str]]]:
    """Return every substitution of the prototypes above ``threshold``, ranked, and the skipped.

    Parameters
    ----------
    prototypes
        ``(id, structure)`` of the known structures to substitute (plain or oxidation-state
        decorated).
    elements
        Elements the target ions may be of (the campaign's chemical space).
    threshold
        Probability threshold (pymatgen's default 1e-3).
    seed
        Breaks ties of equal probability (a seeded draw per proposal).

    Returns
    -------
    tuple
        The proposals, most probable first (not deduplicated), and ``{"record", "reason"}`` of
        each prototype that gave none because of its oxidation states.

    Raises
    ------
    ValueError
        For a threshold outside (0, 1) or no allowed element in the probability table.
    """
    ranked, skipped = _ranking(prototypes, elements, threshold, seed)
    return [r.proposal() for r in ranked], list(skipped)


def _has_oxidation_states(structure: Structure) -> bool:
    return all(getattr(sp, "oxi_state", None) is not None for sp in structure.composition)


def ranked_substitutions(
    prototypes: Sequence[tuple[str, Structure]],
    elements: Iterable[str],
    *,
    start: int = 0,
    n: int = 10,
    threshold: float = DEFAULT_THRESHOLD,
    seed: int = 0,
    known: KnownLookup | None = None,
    chunk: int = 32,
) -> SubstitutionBatch:
    """Return proposals ``[start, start + n)`` of the deduplicated ranking (see the module).

    Parameters
    ----------
    prototypes, elements, threshold, seed
        As in :func:`substitution_proposals`.
    start, n
        The window of the ranking after deduplication.
    known
        Looks up known structures by dedup key (e.g. the corpus): a proposal matching one is
        dropped (not novel). ``None``: nothing is known.
    chunk
        Proposals whose known structures are looked up in one call.

    Raises
    ------
    ValueError
        For ``start < 0``, ``n < 1`` or a bad threshold.
    """
    from crystaloop.chem.metrics import dedup_key
    from crystaloop.chem.symmetry import SymmetryError

    if start < 0 or n < 1:
        raise ValueError(f"the window needs start ≥ 0 and n ≥ 1, not start={start}, n={n}")
    ranked, skipped = _ranking(prototypes, elements, threshold, seed)
    out = SubstitutionBatch(skipped=list(skipped), enumerated=len(ranked))
    matcher = dedup_matcher()
    kept: dict[tuple[str, int], list[tuple[str, Structure]]] = {}
    unique = 0
    for first in range(0, len(ranked), chunk):
        part = [r.proposal() for r in ranked[first : first + chunk]]
        keys: list[tuple[str, int]] = []
        for p in part:
            try:
                keys.append(dedup_key(p.structure))
            except SymmetryError:
                keys.append((p.structure.composition.reduced_formula, 1))
        found = known(sorted(set(keys))) if known is not None else {}
        for k, (proposal, key) in enumerate(zip(part, keys, strict=True)):
            s = proposal.structure
            if first_match(s, kept.get(key, []), matcher) is not None:
                out.duplicates += 1
                continue
            if first_match(s, found.get(key, []), matcher) is not None:
                out.known += 1
                continue
            kept.setdefault(key, []).append((str(first + k), s))
            if unique >= start:
                out.proposals.append(proposal)
            unique += 1
            if unique >= start + n:
                return out
    out.exhausted = True
    return out
