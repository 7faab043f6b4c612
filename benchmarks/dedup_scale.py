"""Deduplication at corpus scale: candidates against a corpus, with and without the shape prefilter.

Data (synthesised, say so when quoting): the package's real structures -- Perov-5 and Carbon-24
samples and the Materials Project cells of ``matbench_dielectric`` with at most 20 sites -- and,
to reach ``--corpus`` structures, variants of them: one element replaced by a neighbour of its
group of the periodic table, or the cell stretched by 40-80 % along one axis (both new
structures at the matcher's tolerances, mostly). ``--candidates`` are drawn from the corpus and
mutated (seeded): a rotated copy or a 0.02 Å jitter (true duplicates), a substitution, a 0.3 Å
rattle, or a strain.

Every structure gets its dedup key as the screens compute it (reduced formula, primitive size at
the corpus tolerance) and the candidates are compared with the same-key corpus structures by the
screens' own corpus stage (:func:`crystaloop.chem.dedup_groups.corpus_group` in ``--processes``
processes): StructureMatcher on what the lattice-shape prefilter keeps. The plain matcher (no
prefilter) runs on a seeded sample of ``--sample`` candidates, which also checks the prefilter:
each sample candidate is compared with *every* same-key corpus structure, and a pair the matcher
matches but the prefilter drops is a lost duplicate. Reported: seconds and candidates/s of the
keys, the shapes and the comparisons, matcher calls per candidate, and the extrapolation to
``--target-candidates`` × ``--target-corpus`` on ``--target-cores`` cores (per-core rates measured
here, comparisons scaled by the corpus's growth: the same-key group of a candidate grows with the
corpus).

    python benchmarks/dedup_scale.py [--corpus 10000] [--candidates 10000] [--sample 300]
        [--processes 2] [--out benchmarks/results/dedup_scale.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from bench_common import ELEMENT_GROUPS, displaced, hardware, package_structures

SEED = 0
GROUP_OF = {el: group for group in ELEMENT_GROUPS for el in group}


def _substituted(structure, rng):
    elements = sorted({el.symbol for el in structure.composition.elements})
    old = str(rng.choice(elements))
    group = [el for el in GROUP_OF.get(old, [old]) if el not in elements] or [old]
    out = structure.copy()
    out.replace_species({old: str(rng.choice(group))})
    return out


def _strained(structure, rng, low: float = 0.05, high: float = 0.15):
    from pymatgen.core import Lattice, Structure

    factors = np.ones(3)
    factors[int(rng.integers(3))] += rng.uniform(low, high)
    matrix = structure.lattice.matrix * factors[:, None]
    return Structure(Lattice(matrix), structure.species, structure.frac_coords)


def _rotated(structure, rng):
    from pymatgen.core.operations import SymmOp

    out = structure.copy()
    out.apply_operation(
        SymmOp.from_axis_angle_and_translation(rng.normal(size=3), rng.uniform(0, 360))
    )
    return out


def corpus_of(real: list, size: int, rng) -> list:
    """Real structures first (shuffled), then substituted or stretched variants up to ``size``."""
    order = rng.permutation(len(real))
    corpus = [real[int(i)] for i in order[:size]]
    while len(corpus) < size:
        base = real[int(rng.integers(len(real)))]
        if rng.random() < 0.5:
            corpus.append(_substituted(base, rng))
        else:
            corpus.append(_strained(base, rng, 0.4, 0.8))
    return corpus


def candidates_of(corpus: list, size: int, rng) -> tuple[list, list[str]]:
    kinds = ["copy", "jitter", "substitute", "rattle", "strain"]
    weights = np.array([0.2, 0.2, 0.3, 0.15, 0.15])
    out, made = [], []
    for kind in rng.choice(kinds, size=size, p=weights):
        base = corpus[int(rng.integers(len(corpus)))]
        if kind == "copy":
            out.append(_rotated(base, rng))
        elif kind == "jitter":
            out.append(displaced(base, 0.02, rng))
        elif kind == "substitute":
            out.append(_substituted(base, rng))
        elif kind == "rattle":
            out.append(displaced(base, 0.3, rng))
        else:
            out.append(_strained(base, rng, 0.2, 0.4))
        made.append(str(kind))
    return out, made


def _key(structure):
    from crystaloop.chem.symmetry import symmetry_info

    try:
        info = symmetry_info(structure)
    except Exception:  # an spglib failure: no key, the screens would drop it with the reason
        return None
    return (structure.composition.reduced_formula, info.n_primitive)


def _keys_chunk(structures):
    return [_key(s) for s in structures]


def keys_of(structures, pool, processes):
    chunks = [structures[i : i + 256] for i in range(0, len(structures), 256)]
    out = []
    for part in pool.map(_keys_chunk, chunks) if pool else map(_keys_chunk, chunks):
        out.extend(part)
    return out


def _plain_all(task):
    """Every same-key comparison of one sample candidate: the matches, kept or not by the filter."""
    from crystaloop.chem.dedup import ShapeFilter, dedup_matcher, try_reduced_cell

    structure, group = task
    matcher = dedup_matcher()
    cell = try_reduced_cell(structure)
    kept = {ident for ident, _, _ in ShapeFilter(group).candidates(structure, cell)}
    t0 = time.perf_counter()
    first_seconds = None
    matches, lost, errors = [], [], 0
    for ident, other in group:
        try:
            hit = matcher.fit(structure, other)
        except Exception:
            errors += 1
            continue
        if hit:
            if first_seconds is None:
                first_seconds = time.perf_counter() - t0
            matches.append(ident)
            if ident not in kept:
                lost.append(ident)
    total = time.perf_counter() - t0
    return {
        "matches": len(matches),
        "lost": lost,
        "errors": errors,
        "first_match_s": first_seconds if first_seconds is not None else total,
        "comparisons": len(group),
        "kept": len(kept),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=int, default=10000)
    parser.add_argument("--candidates", type=int, default=10000)
    parser.add_argument("--sample", type=int, default=300)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--target-candidates", type=int, default=1_000_000)
    parser.add_argument("--target-corpus", type=int, default=1_100_000)
    parser.add_argument("--target-cores", type=int, default=16)
    parser.add_argument(
        "--fit-with",
        type=Path,
        help="JSON of a run at another corpus size: the per-candidate comparison time is fitted "
        "as a + b × corpus size through both runs for the extrapolation",
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/dedup_scale.json"))
    args = parser.parse_args()
    from crystaloop.chem.dedup_groups import corpus_group, run_groups

    rng = np.random.default_rng(SEED)
    t0 = time.perf_counter()
    real = package_structures(20)
    corpus = corpus_of(real, args.corpus, rng)
    cands, kinds = candidates_of(corpus, args.candidates, rng)
    make_s = time.perf_counter() - t0
    print(
        f"{len(real)} real structures; corpus {len(corpus)}, candidates {len(cands)} "
        f"made in {make_s:.0f} s",
        flush=True,
    )

    pool = ProcessPoolExecutor(args.processes, mp_context=multiprocessing.get_context("spawn"))
    try:
        t0 = time.perf_counter()
        corpus_keys = keys_of(corpus, pool, args.processes)
        cand_keys = keys_of(cands, pool, args.processes)
        keys_s = time.perf_counter() - t0
        by_key: dict = {}
        for i, key in enumerate(corpus_keys):
            if key is not None:
                by_key.setdefault(key, []).append((f"c{i}", corpus[i]))
        members: dict = {}
        for i, key in enumerate(cand_keys):
            if key is not None and key in by_key:
                members.setdefault(key, []).append((i, cands[i]))
        work = [(members[k], by_key[k]) for k in sorted(members)]
        pairs_plain = sum(len(m) * len(c) for m, c in work)
        print(
            f"keys in {keys_s:.0f} s; {sum(len(m) for m, _ in work)} candidates share a key "
            f"with the corpus, {pairs_plain} same-key pairs",
            flush=True,
        )

        t0 = time.perf_counter()
        dropped = run_groups(
            corpus_group, work, [len(m) * len(c) for m, c in work], pool, args.processes
        )
        filtered_s = time.perf_counter() - t0
        print(
            f"dedup with the prefilter: {filtered_s:.0f} s, {len(dropped)} duplicates", flush=True
        )

        with_key = [
            (i, cands[i], by_key[cand_keys[i]])
            for i in range(len(cands))
            if cand_keys[i] is not None and cand_keys[i] in by_key
        ]
        picks = rng.choice(len(with_key), size=min(args.sample, len(with_key)), replace=False)
        sample = [with_key[int(p)] for p in picks]
        t0 = time.perf_counter()
        checks = list(pool.map(_plain_all, [(s, g) for _, s, g in sample]))
        sample_s = time.perf_counter() - t0
    finally:
        pool.shutdown()

    lost = sum(len(c["lost"]) for c in checks)
    true_pairs = sum(c["matches"] for c in checks)
    plain_first_s = sum(c["first_match_s"] for c in checks)  # the plain matcher, first match
    per_cand_plain = plain_first_s / max(len(checks), 1)
    n_with_key = len(with_key)
    plain_all_s = per_cand_plain * n_with_key / args.processes  # wall on these processes
    kept_ratio = sum(c["kept"] for c in checks) / max(sum(c["comparisons"] for c in checks), 1)
    dedup_count = Counter(kinds[i] for i, _, _ in dropped)

    # extrapolation: per-core rates; comparisons grow with the corpus (groups grow linearly)
    cores = args.processes
    per_core_keys = (len(corpus) + len(cands)) / (keys_s * cores)
    per_core_pairs_filtered = max(len(cands), 1) / (filtered_s * cores) if filtered_s else None
    growth = args.target_corpus / len(corpus)
    scale = args.target_candidates / len(cands)
    target_keys_s = (args.target_candidates + args.target_corpus) / (
        per_core_keys * args.target_cores
    )
    # per candidate, core seconds of the comparisons: measured here; at the target corpus size
    # either fitted through two runs (a + b × corpus size) or bounded: the same (groups do not
    # grow: new entries are new formulas) and linear (every group grows with the corpus)
    per_cand = filtered_s * cores / len(cands)
    fitted = None
    if args.fit_with is not None:
        other = json.loads(args.fit_with.read_text())
        m0, p0 = other["meta"]["corpus"], other["per_candidate_core_s"]
        if m0 != len(corpus):
            slope = (per_cand - p0) / (len(corpus) - m0)
            fitted = max(per_cand + slope * (args.target_corpus - len(corpus)), 0.0)
    bounds = {"flat": per_cand, "linear": per_cand * growth}
    if fitted is not None:
        bounds["fitted"] = fitted
    target_filtered_s = (fitted if fitted is not None else per_cand * growth) * (
        args.target_candidates / args.target_cores
    )
    target_plain_s = plain_all_s * cores * scale * growth / args.target_cores
    hw = hardware()
    print(
        f"\n{len(cands)} candidates against {len(corpus)} corpus structures (synthesised from "
        f"{len(real)} real ones), {cores} processes; {hw['cpu_model'] or hw['machine']}, "
        f"{hw['cpus']} cores"
    )
    rows = [
        ("dedup keys (spglib)", keys_s, len(corpus) + len(cands)),
        ("comparisons, prefilter + matcher", filtered_s, len(cands)),
        ("comparisons, plain matcher (from sample)", plain_all_s, len(cands)),
    ]
    print(f"{'step':<44}{'seconds':>10}{'items/s':>10}")
    for name, seconds, items in rows:
        print(f"{name:<44}{seconds:>10.1f}{items / seconds if seconds else 0:>10.1f}")
    print(
        f"\nsample of {len(checks)}: {true_pairs} matching same-key pairs, lost by the "
        f"prefilter: {lost}; the prefilter keeps {100 * kept_ratio:.1f} % of same-key pairs"
    )
    print(f"duplicates found by kind: {dict(dedup_count)}")
    print(
        f"extrapolated to {args.target_candidates:,} × {args.target_corpus:,} on "
        f"{args.target_cores} cores: keys {target_keys_s / 60:.1f} min, comparisons with the "
        f"prefilter {target_filtered_s / 60:.1f} min (plain matcher {target_plain_s / 60:.1f} "
        f"min); total {(target_keys_s + target_filtered_s) / 60:.1f} min"
    )
    report = {
        "meta": {
            **hw,
            **{k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "real_structures": len(real),
            "synthesised": True,
        },
        "make_s": make_s,
        "keys_s": keys_s,
        "filtered_s": filtered_s,
        "plain_estimated_s": plain_all_s,
        "sample_s": sample_s,
        "candidates_sharing_a_key": n_with_key,
        "same_key_pairs": pairs_plain,
        "duplicates": len(dropped),
        "duplicates_by_kind": dict(dedup_count),
        "sample": {
            "n": len(checks),
            "true_pairs": true_pairs,
            "lost": lost,
            "kept_ratio": kept_ratio,
            "errors": sum(c["errors"] for c in checks),
        },
        "per_core": {"keys_per_s": per_core_keys, "candidates_per_s": per_core_pairs_filtered},
        "per_candidate_core_s": per_cand,
        "per_candidate_core_s_at_target": bounds,
        "extrapolation_min": {
            "keys": target_keys_s / 60,
            "comparisons": target_filtered_s / 60,
            "plain_comparisons": target_plain_s / 60,
            "total": (target_keys_s + target_filtered_s) / 60,
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
