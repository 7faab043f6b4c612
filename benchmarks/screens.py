"""Throughput of the candidate screens, and the dedup time of N candidates against the corpus.

The candidates are mutations of the bundled sample corpus (``crystaloop/data``: Perov-5 and
Carbon-24, 2,600 structures), drawn with a fixed seed so that every screen has work:

- ``copy``: a corpus structure in another setting (rotated, sometimes a supercell) -- a corpus
  duplicate;
- ``jitter``: atoms displaced by about 0.02 Å -- still symmetric, mostly a corpus duplicate;
- ``rattle``: atoms displaced by about 0.3 Å -- mostly P1, sometimes overlapping;
- ``compress``: the cell shrunk to 20 % of its lengths -- overlapping atoms;
- ``substitute``: one element replaced by another of its group -- mostly new, some in the corpus;
- ``random_element``: one element replaced by a random one -- often not charge balanced;
- ``batch_copy``: a rotated copy of an earlier candidate -- a batch duplicate;
- ``many_species``: a 60-site perovskite supercell with 11 elements -- too many species.

The corpus lookup is a dict from fingerprint (computed as ``crystaloop corpus ingest`` does) to the
corpus structures having it, built before the clock starts.

    python benchmarks/screens.py [--n 10000] [--processes 2]
        [--out benchmarks/results/screens.json]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
from bench_common import ELEMENT_GROUPS, displaced, hardware

import crystaloop
from crystaloop.chem.dedup import may_match
from crystaloop.chem.screens import STAGES, screen_structures, screen_summary
from crystaloop.chem.validity import structure_problem

DATA = Path(crystaloop.__file__).resolve().parent / "data"
SEED = 0
KINDS = {
    "copy": 0.15,
    "jitter": 0.17,
    "rattle": 0.15,
    "compress": 0.05,
    "substitute": 0.25,
    "random_element": 0.10,
    "batch_copy": 0.10,
    "many_species": 0.03,
}
GROUPS = ELEMENT_GROUPS
GROUP_OF = {el: group for group in GROUPS for el in group}
ANY_ELEMENT = sorted(GROUP_OF)


def load_corpus() -> list[tuple[str, object]]:
    """Return ``(material_id, Structure)`` for the bundled Perov-5 and Carbon-24 samples."""
    from pymatgen.core import Structure

    csv.field_size_limit(sys.maxsize)
    out = []
    for name in ("perov_5", "carbon_24"):
        with gzip.open(DATA / f"{name}.csv.gz", "rt", newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    structure = Structure.from_str(row["cif"], fmt="cif")
                out.append((f"{name}:{row['material_id']}", structure))
    return out


def corpus_index(corpus: list[tuple[str, object]]) -> dict[str, list[tuple[str, object]]]:
    """Group the valid corpus structures by reduced formula (the indexed ``formula`` field)."""
    index: dict[str, list[tuple[str, object]]] = {}
    for material_id, structure in corpus:
        if structure_problem(structure, max_sites=500) is not None:
            continue
        index.setdefault(structure.composition.reduced_formula, []).append((material_id, structure))
    return index


def _rotated(structure, rng: np.random.Generator):
    from pymatgen.core.operations import SymmOp

    out = structure.copy()
    axis = rng.normal(size=3)
    out.apply_operation(SymmOp.from_axis_angle_and_translation(axis, rng.uniform(0, 360)))
    return out


def _replaced(structure, old: str, new: str):
    out = structure.copy()
    out.replace_species({old: new})
    return out


def mutate(kind: str, base, made: list, rng: np.random.Generator):
    """Return one candidate of the given kind made from corpus structure ``base``."""
    from pymatgen.core import Lattice, Structure

    elements = sorted({el.symbol for el in base.composition.elements})
    if kind == "copy":
        out = _rotated(base, rng)
        return out * (1, 1, 2) if rng.random() < 0.3 else out
    if kind == "jitter":
        return displaced(base, 0.02, rng)
    if kind == "rattle":
        return displaced(base, 0.3, rng)
    if kind == "compress":
        return Structure(Lattice(base.lattice.matrix * 0.2), base.species, base.frac_coords)
    if kind == "substitute":
        old = str(rng.choice(elements))
        group = GROUP_OF.get(old, [old])
        new = str(rng.choice([el for el in group if el not in elements] or group))
        return _replaced(base, old, new)
    if kind == "random_element":
        old = str(rng.choice(elements))
        new = str(rng.choice([el for el in ANY_ELEMENT if el not in elements]))
        return _replaced(base, old, new)
    if kind == "batch_copy" and made:
        return _rotated(made[int(rng.integers(len(made)))], rng)
    if kind == "many_species":
        cell = Structure(
            Lattice.cubic(4.0),
            ["Sr", "Ti", "O", "O", "O"],
            [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
        ) * (2, 2, 3)
        chosen = rng.choice(ANY_ELEMENT, size=11, replace=False)
        for i, el in enumerate(chosen):
            cell.replace(i, str(el))
        return cell
    return base.copy()


def candidates(corpus: list[tuple[str, object]], n: int) -> tuple[list, list[str], list[int]]:
    """Return ``n`` candidate structures, the mutation kind of each and its corpus source."""
    rng = np.random.default_rng(SEED)
    names = list(KINDS)
    weights = np.array([KINDS[k] for k in names])
    kinds = [str(k) for k in rng.choice(names, size=n, p=weights / weights.sum())]
    made: list = []
    sources: list[int] = []
    for kind in kinds:
        sources.append(int(rng.integers(len(corpus))))
        made.append(mutate(kind, corpus[sources[-1]][1], made, rng))
    return made, kinds, sources


def missed_corpus_duplicates(structures, kinds, sources, verdicts, corpus) -> dict[str, dict]:
    """Count the copies and jitters that passed although they match their corpus source.

    Such a candidate got a different fingerprint from its source (spglib found another space
    group or primitive cell), so the prefilter never handed the pair to the StructureMatcher.
    """
    from crystaloop.chem.dedup import dedup_matcher

    matcher = dedup_matcher()
    out = {}
    for kind in ("copy", "jitter"):
        chosen = [i for i, k in enumerate(kinds) if k == kind]
        passed = [i for i in chosen if verdicts[i].passed]
        missed = [i for i in passed if matcher.fit(structures[i], corpus[sources[i]][1])]
        out[kind] = {
            "candidates": len(chosen),
            "dropped_as_corpus_duplicate": sum(
                verdicts[i].stage == "duplicate_of_corpus" for i in chosen
            ),
            "passed": len(passed),
            "passed_but_match_their_source": len(missed),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/screens.json"))
    args = parser.parse_args()

    t0 = time.perf_counter()
    corpus = load_corpus()
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    index = corpus_index(corpus)
    t_index = time.perf_counter() - t0
    t0 = time.perf_counter()
    structures, kinds, sources = candidates(corpus, args.n)
    t_make = time.perf_counter() - t0
    print(
        f"corpus: {len(corpus)} structures read in {t_load:.1f} s, "
        f"{sum(len(v) for v in index.values())} valid in {len(index)} formula groups "
        f"indexed in {t_index:.1f} s; {args.n} candidates made in {t_make:.1f} s",
        flush=True,
    )

    def lookup(keys):
        """What the corpus store does: query by formula, keep cells of whole primitive cells."""
        return {
            k: [(m, st) for m, st in index.get(k[0], []) if may_match(k, k[0], len(st))]
            for k in keys
        }

    timings: dict[str, float] = {}
    verdicts = screen_structures(
        structures, corpus_lookup=lookup, processes=args.processes, timings=timings
    )
    summary = screen_summary(verdicts)

    rows = [{"stage": "pool_start", "seconds": timings.get("pool_start", 0.0)}]
    entering = args.n
    for stage in (*STAGES[:4], "fingerprint", *STAGES[4:]):
        dropped = summary["dropped"].get(stage, 0)
        seconds = timings.get(stage, 0.0)
        rows.append(
            {
                "stage": stage,
                "seconds": seconds,
                "entered": entering,
                "per_s": entering / seconds if seconds else None,
                "dropped": dropped,
            }
        )
        entering -= dropped
    outcome: dict[str, Counter] = {}
    for kind, verdict in zip(kinds, verdicts, strict=True):
        outcome.setdefault(kind, Counter())[verdict.stage or "passed"] += 1
    misses = missed_corpus_duplicates(structures, kinds, sources, verdicts, corpus)
    hw = hardware()

    print(
        f"\n{args.n} candidates, {args.processes} process(es); {hw['cpu_model'] or hw['machine']}, "
        f"{hw['cpus']} cores, Python {hw['python']}"
    )
    header = f"{'stage':<22}{'seconds':>10}{'entered':>10}{'structures/s':>14}{'dropped':>10}"
    print(header)
    print("-" * len(header))
    for r in rows:
        rate = f"{r['per_s']:.1f}" if r.get("per_s") is not None else "-"
        entered, dropped = r.get("entered", "-"), r.get("dropped", "-")
        print(f"{r['stage']:<22}{r['seconds']:>10.2f}{entered:>10}{rate:>14}{dropped:>10}")
    print("-" * len(header))
    total = timings["total"]
    n_dropped = args.n - summary["passed"]
    print(f"{'total':<22}{total:>10.2f}{args.n:>10}{args.n / total:>14.1f}{n_dropped:>10}")
    dedup = timings.get("duplicate_in_batch", 0.0) + timings.get("duplicate_of_corpus", 0.0)
    print(
        f"\ndedup time for {args.n} candidates against the sample corpus ({len(corpus)} "
        f"structures): {dedup:.2f} s (batch {timings.get('duplicate_in_batch', 0.0):.2f} s, "
        f"corpus {timings.get('duplicate_of_corpus', 0.0):.2f} s, of which lookup "
        f"{timings.get('corpus_lookup', 0.0):.3f} s; fingerprints "
        f"{timings.get('fingerprint', 0.0):.2f} s more)"
    )
    print(f"passed: {summary['passed']} of {args.n}")
    print("\noutcome by mutation kind:")
    for kind in KINDS:
        counts = outcome.get(kind, Counter())
        print(f"  {kind:<16}" + ", ".join(f"{k} {v}" for k, v in counts.most_common()))

    print("\ncorpus duplicates the fingerprint prefilter missed (match their source, passed):")
    for kind, m in misses.items():
        print(
            f"  {kind:<16}{m['passed_but_match_their_source']} of {m['candidates']} "
            f"({m['dropped_as_corpus_duplicate']} caught as corpus duplicates)"
        )

    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "meta": {
            **hw,
            "n": args.n,
            "processes": args.processes,
            "seed": SEED,
            "corpus_structures": len(corpus),
            "corpus_formula_groups": len(index),
            "setup_s": {"read_corpus": t_load, "index_corpus": t_index, "make": t_make},
        },
        "timings_s": timings,
        "stages": rows,
        "dedup_s": dedup,
        "summary": summary,
        "outcome_by_kind": {k: dict(v) for k, v in outcome.items()},
        "missed_corpus_duplicates": misses,
    }
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
