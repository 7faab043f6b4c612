"""Candidate screens: the cheap filters a generated structure passes before it costs an oracle call.

The stages run in a fixed order and a candidate stops at the first one it fails; its
:class:`ScreenVerdict` names that stage and says why:

1. ``validity`` -- :func:`~crystaloop.chem.validity.structure_problem` (finite lattice, every
   periodic distance at least ``min_distance`` Å, volume at least ``min_volume`` Å³, at most
   ``max_sites`` sites);
2. ``species`` -- at most ``max_species`` distinct elements;
3. ``smact`` -- SMACT charge neutrality with the Pauling test
   (:func:`~crystaloop.chem.composition.smact_problem`);
4. ``symmetry`` -- spglib can analyse the structure at ``symprec`` and at the corpus tolerance
   (a :class:`~crystaloop.chem.symmetry.SymmetryError` is a failure of the analysis, not P1,
   so such a candidate is dropped here whether or not ``allow_p1`` is set: without the analysis
   it has no fingerprint or dedup key);
5. ``spacegroup`` -- spglib finds more than P1 at ``symprec`` (skipped with ``allow_p1``);
6. ``duplicate_in_batch`` -- no earlier candidate of the batch matches it;
7. ``duplicate_of_corpus`` -- no known structure matches it (the corpus, and whatever else the
   lookup adds, such as earlier candidates of a campaign);
8. ``duplicate_check`` -- not a screen of its own: a candidate for which the StructureMatcher
   raised while comparing it (stage 6 or 7) and found no match is dropped here with
   ``duplicate check failed: ...``; the check could not show that it is new, so it does not
   pass as new.

Both dedup stages compare only structures with the same *dedup key* (reduced formula and
primitive-cell size at the corpus tolerance) with :func:`~crystaloop.chem.dedup.dedup_matcher`.
The space group is deliberately not part of the key: generated structures are noisy, and 0.02 Å
of noise changes spglib's space group at symprec 0.1 (Pm-3m → Cm) while the matcher still matches
them; with the space group in the key, half of such near-copies of corpus entries passed as
novel. The corpus is reached through a callable, so this module knows no store. Each verdict
also carries the corpus-style :func:`~crystaloop.chem.dedup.fingerprint` for storage.

Stages 1-5 and the keys are per structure; with ``processes > 1`` they run in chunks in a
process pool, and so do the matcher comparisons of the dedup stages, one task per bundle of
dedup-key groups (groups are independent). The verdicts do not depend on ``processes``.
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from crystaloop.chem.composition import smact_problem
from crystaloop.chem.dedup import fingerprint
from crystaloop.chem.dedup_groups import batch_group, corpus_group, run_groups, short_error
from crystaloop.chem.symmetry import DEFAULT_SYMPREC, SymmetryError, symmetry_info
from crystaloop.chem.validity import MIN_DISTANCE, MIN_VOLUME, structure_problem

if TYPE_CHECKING:
    from pymatgen.core import Structure

#: The screens, in the order they run.
STAGES: tuple[str, ...] = (
    "validity",
    "species",
    "smact",
    "symmetry",
    "spacegroup",
    "duplicate_in_batch",
    "duplicate_of_corpus",
    "duplicate_check",
)

#: The stages run per structure (before the dedup stages), plus the fingerprint step.
_PER_STRUCTURE = ("validity", "species", "smact", "symmetry", "spacegroup", "fingerprint")

#: ``(reduced formula, primitive-cell size)``: only structures with equal keys can match.
DedupKey = tuple[str, int]

#: Maps dedup keys to the ``(material_id, structure)`` pairs of the corpus that may match them
#: (same reduced formula; a cell size that is a multiple of the primitive size).
CorpusLookup = Callable[[list[DedupKey]], dict[DedupKey, list[tuple[str, "Structure"]]]]

_MAX_CHUNK = 256


@dataclass(frozen=True)
class ScreenConfig:
    """Tunables of the screens.

    Attributes
    ----------
    max_sites
        Largest number of sites accepted (``validity``).
    min_distance
        Smallest periodic site-site distance, in Å (``validity``).
    min_volume
        Smallest cell volume, in Å³ (``validity``).
    max_species
        Largest number of distinct elements (``species``).
    symprec
        spglib tolerance of the ``spacegroup`` screen, in Å. The dedup fingerprint always uses the
        corpus tolerance (:data:`~crystaloop.chem.symmetry.DEFAULT_SYMPREC`) so that it agrees
        with the stored one.
    allow_p1
        Skip the ``spacegroup`` screen.
    dedup_batch
        Run the ``duplicate_in_batch`` screen.
    """

    max_sites: int = 500
    min_distance: float = MIN_DISTANCE
    min_volume: float = MIN_VOLUME
    max_species: int = 10
    symprec: float = DEFAULT_SYMPREC
    allow_p1: bool = False
    dedup_batch: bool = True


DEFAULT_CONFIG = ScreenConfig()


@dataclass(frozen=True)
class ScreenVerdict:
    """What the screens decided about one candidate.

    Attributes
    ----------
    index
        Position of the candidate in the screened list.
    passed
        True when the candidate passed every screen.
    stage
        Name of the first screen it failed (one of :data:`STAGES`), ``None`` when it passed.
    reason
        Why it failed, in words; ``None`` when it passed.
    spacegroup
        Space-group number at ``symprec``, when spglib analysed the structure.
    fingerprint
        Corpus fingerprint (formula, space group, primitive size), when all of stages 1-5 passed.
    dedup_key
        ``(reduced formula, primitive-cell size)``, when all of stages 1-5 passed.
    duplicate_of
        The id of what it duplicates: the kept batch member (its id, or ``"batch:<index>"`` when
        no ids were given) or the corpus ``material_id``.
    """

    index: int
    passed: bool
    stage: str | None
    reason: str | None
    spacegroup: int | None = None
    fingerprint: str | None = None
    dedup_key: DedupKey | None = None
    duplicate_of: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the verdict as a JSON-serialisable dict."""
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------- per structure


def _check_one(
    index: int, structure: Structure, config: ScreenConfig, seconds: dict[str, float]
) -> ScreenVerdict:
    """Run stages 1-5 and the fingerprint on one structure, adding the time of each to seconds."""
    stage = "validity"
    spacegroup: int | None = None
    t0 = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t0
        now = time.perf_counter()
        seconds[name] = seconds.get(name, 0.0) + now - t0
        t0 = now

    def fail(reason: str) -> ScreenVerdict:
        lap(stage)
        return ScreenVerdict(index, False, stage, reason, spacegroup=spacegroup)

    try:
        problem = structure_problem(
            structure,
            max_sites=config.max_sites,
            min_distance=config.min_distance,
            min_volume=config.min_volume,
        )
        if problem is not None:
            return fail(problem)
        lap(stage)

        stage = "species"
        composition = structure.composition
        n_species = len(composition.elements)
        if n_species > config.max_species:
            return fail(f"{n_species} distinct elements, more than the cap of {config.max_species}")
        lap(stage)

        stage = "smact"
        problem = smact_problem(composition)
        if problem is not None:
            return fail(f"{composition.reduced_formula}: {problem}")
        lap(stage)

        stage = "spacegroup"
        try:
            sym = symmetry_info(structure, symprec=config.symprec)
        except SymmetryError as err:  # an analysis that failed is not P1
            stage = "symmetry"
            return fail(f"spglib failed: {err}")
        spacegroup = sym.number
        if sym.number == 1 and not config.allow_p1:
            return fail(f"space group P1: spglib finds no symmetry at symprec={config.symprec} Å")
        lap(stage)

        stage = "fingerprint"
        if config.symprec != DEFAULT_SYMPREC:
            try:
                sym = symmetry_info(structure, symprec=DEFAULT_SYMPREC)
            except SymmetryError as err:
                stage = "symmetry"
                return fail(f"spglib failed: {err}")
        key = fingerprint(composition.reduced_formula, sym.number, sym.n_primitive)
        lap(stage)
    except Exception as err:  # pymatgen raises many types on degenerate input
        if stage == "fingerprint":
            stage = "spacegroup"
        return fail(f"check failed ({short_error(err)})")
    return ScreenVerdict(
        index,
        True,
        None,
        None,
        spacegroup=spacegroup,
        fingerprint=key,
        dedup_key=(composition.reduced_formula, sym.n_primitive),
    )


def _check_chunk(
    items: list[tuple[int, Structure]], config: ScreenConfig
) -> tuple[list[ScreenVerdict], dict[str, float]]:
    """Pool task: :func:`_check_one` on each ``(index, structure)``, with the time per stage."""
    seconds: dict[str, float] = {}
    return [_check_one(i, s, config, seconds) for i, s in items], seconds


# --------------------------------------------------------------------------- driver


def _warm_up(_: int) -> None:
    """Pool task: import what the screens use, so that start-up is not charged to one stage."""
    import pymatgen.analysis.structure_matcher  # noqa: F401
    import pymatgen.symmetry.analyzer  # noqa: F401
    import smact  # noqa: F401


def _add(timings: dict[str, float] | None, key: str, value: float) -> None:
    if timings is not None:
        timings[key] = timings.get(key, 0.0) + value


def _per_structure(
    structures: Sequence[Structure],
    config: ScreenConfig,
    pool: Executor | None,
    processes: int,
    timings: dict[str, float] | None,
) -> list[ScreenVerdict]:
    items = list(enumerate(structures))
    t0 = time.perf_counter()
    if pool is None:
        verdicts, seconds = _check_chunk(items, config)
    else:
        size = max(1, min(_MAX_CHUNK, math.ceil(len(items) / (4 * processes))))
        chunks = [items[i : i + size] for i in range(0, len(items), size)]
        verdicts, seconds = [], {}
        for part, part_seconds in pool.map(_check_chunk, chunks, [config] * len(chunks)):
            verdicts.extend(part)
            for key, value in part_seconds.items():
                seconds[key] = seconds.get(key, 0.0) + value
    wall = time.perf_counter() - t0
    # Share the wall time of the phase among the stages in proportion to the time spent in each,
    # so that per-stage seconds add up to wall time whether or not a pool ran them.
    busy = sum(seconds.values())
    for key in _PER_STRUCTURE:
        _add(timings, key, wall * seconds.get(key, 0.0) / busy if busy else 0.0)
    return verdicts


def _group_by_key(
    verdicts: Iterable[ScreenVerdict], structures: Sequence[Structure]
) -> dict[DedupKey, list[tuple[int, Structure]]]:
    groups: dict[DedupKey, list[tuple[int, Structure]]] = {}
    for v in verdicts:
        if v.passed and v.dedup_key is not None:
            groups.setdefault(v.dedup_key, []).append((v.index, structures[v.index]))
    return groups


def _drop(
    verdict: ScreenVerdict, stage: str, reason: str, duplicate_of: str | None
) -> ScreenVerdict:
    return dataclasses.replace(
        verdict, passed=False, stage=stage, reason=reason, duplicate_of=duplicate_of
    )


def screen_structures(
    structures: Sequence[Structure],
    config: ScreenConfig = DEFAULT_CONFIG,
    *,
    ids: Sequence[str] | None = None,
    corpus_lookup: CorpusLookup | None = None,
    processes: int = 1,
    timings: dict[str, float] | None = None,
) -> list[ScreenVerdict]:
    """Screen candidate structures; return one verdict per structure, in input order.

    Parameters
    ----------
    structures
        The candidates.
    config
        Tunables of the screens.
    ids
        Names of the candidates (same length as ``structures``), used in ``duplicate_of`` of
        batch duplicates; ``"batch:<index>"`` when not given.
    corpus_lookup
        Maps a list of dedup keys to the corpus ``(material_id, structure)`` pairs that may match;
        the ``duplicate_of_corpus`` screen is skipped when ``None``. Called once per call.
    processes
        Worker processes ("spawn" context); 1 runs everything in this process.
    timings
        When given, the seconds spent in each stage are added to it under the stage names (the
        ``duplicate_check`` drops are charged to the dedup stage that made them), plus
        ``fingerprint``, ``corpus_lookup`` (the lookup call alone, also counted in
        ``duplicate_of_corpus``), ``pool_start`` (starting the workers, when ``processes > 1``)
        and ``total``. All are wall-clock seconds; the per-structure
        phase's wall time is shared among its stages in proportion to the time spent in each.

    Returns
    -------
    list of ScreenVerdict
        ``verdicts[i]`` is about ``structures[i]``.
    """
    if ids is not None and len(ids) != len(structures):
        raise ValueError(f"{len(ids)} ids for {len(structures)} structures")
    if processes < 1:
        raise ValueError("processes must be at least 1")
    t_start = time.perf_counter()
    for stage in STAGES:  # every stage has an entry, 0 when it took no time of its own
        _add(timings, stage, 0.0)
    pool: ProcessPoolExecutor | None = None
    if processes > 1 and len(structures) > 0:
        pool = ProcessPoolExecutor(
            max_workers=processes, mp_context=multiprocessing.get_context("spawn")
        )
        list(pool.map(_warm_up, range(processes)))
        _add(timings, "pool_start", time.perf_counter() - t_start)
    try:
        verdicts = _per_structure(structures, config, pool, processes, timings)

        if config.dedup_batch:
            t0 = time.perf_counter()
            groups = [g for g in _group_by_key(verdicts, structures).values() if len(g) > 1]
            pairs = run_groups(
                batch_group,
                [(g, None) for g in groups],
                [len(g) ** 2 for g in groups],
                pool,
                processes,
            )
            for index, kept, error in sorted(pairs, key=lambda p: p[0]):
                kept_id = ids[kept] if ids is not None else f"batch:{kept}"
                formula = structures[index].composition.reduced_formula
                if error is not None:
                    verdicts[index] = _drop(
                        verdicts[index],
                        "duplicate_check",
                        f"duplicate check failed: the matcher raised comparing {formula} with "
                        f"batch member {kept_id} ({error})",
                        None,
                    )
                    continue
                verdicts[index] = _drop(
                    verdicts[index],
                    "duplicate_in_batch",
                    f"{formula} matches batch member {kept_id}, kept as the first occurrence",
                    kept_id,
                )
            _add(timings, "duplicate_in_batch", time.perf_counter() - t0)

        if corpus_lookup is not None:
            t0 = time.perf_counter()
            by_key = _group_by_key(verdicts, structures)
            found = corpus_lookup(sorted(by_key)) if by_key else {}
            _add(timings, "corpus_lookup", time.perf_counter() - t0)
            work = [(by_key[k], list(found[k])) for k in sorted(by_key) if found.get(k)]
            pairs = run_groups(
                corpus_group, work, [len(m) * len(c) for m, c in work], pool, processes
            )
            for index, material_id, error in sorted(pairs, key=lambda p: p[0]):
                formula = structures[index].composition.reduced_formula
                if error is not None:
                    verdicts[index] = _drop(
                        verdicts[index],
                        "duplicate_check",
                        f"duplicate check failed: the matcher raised comparing {formula} with "
                        f"known structure {material_id} ({error})",
                        None,
                    )
                    continue
                verdicts[index] = _drop(
                    verdicts[index],
                    "duplicate_of_corpus",
                    f"{formula} matches known structure {material_id}",
                    material_id,
                )
            _add(timings, "duplicate_of_corpus", time.perf_counter() - t0)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    _add(timings, "total", time.perf_counter() - t_start)
    return verdicts


def screen_summary(verdicts: Iterable[ScreenVerdict]) -> dict[str, Any]:
    """Count the candidates that passed and those dropped at each stage.

    Returns
    -------
    dict
        ``{"total": n, "passed": n_passed, "dropped": {stage: count for stage in STAGES}}``;
        ``dropped["symmetry"]`` counts the candidates spglib could not analyse and
        ``dropped["duplicate_check"]`` those the StructureMatcher failed on.
    """
    dropped = dict.fromkeys(STAGES, 0)
    total = passed = 0
    for v in verdicts:
        total += 1
        if v.passed:
            passed += 1
        elif v.stage is not None:
            dropped[v.stage] = dropped.get(v.stage, 0) + 1
    return {"total": total, "passed": passed, "dropped": dropped}
