"""Structure modification on held-out polymorph groups, against plain oracle relaxation.

For the held-out (test) groups of a modifier's own split (its card names the data, the split
plan and the groups), every member but the most stable is a source:

* **match** to the group's most stable polymorph (StructureMatcher with DiffCSP's tolerances,
  ``get_rms_dist(output, target)``) among the first k = 1 and k = ``--samples`` outputs;
  "input" is the same test on the unmodified source (how often the source already is it);
* **oracle energy** (CHGNet static, the embedded oracle's model, eV/atom) of the first output
  against the source's: share lowered, mean and median ΔE;
* **baseline**: CHGNet relaxation (FIRE, fmax 0.1 eV/Å, cell relaxed, ≤ 300 steps: atomate2's
  force-field relax settings) of ``--relax-sources`` sources per seed, and the same relaxation
  of their first modified output: match to the most stable polymorph and ΔE against the
  source. Modification is worth a step when modification + relaxation beats relaxation alone.

Seeds vary the sampling (and the relaxed subset); the model is fixed. Prints one table per seed
and the mean ± std over seeds, and writes JSON.

Usage::

    python benchmarks/modifier.py --model carbon24 --seeds 0 1 2 --samples 5
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

import numpy as np
from bench_common import hardware


def test_pairs(model_dir: Path) -> tuple[list, dict]:
    """Return the held-out pairs of the modifier's own split, and its card."""
    from crystaloop.ml.checkpoint import read_card
    from crystaloop.ml.data.split import SplitPlan
    from crystaloop.ml.modify.fit import pair_splits
    from crystaloop.stores.ingest.training_sets import read_crystal_sources

    card = read_card(model_dir)
    training = card["training"]
    split = {k: v for k, v in training["split"].items() if k != "by"}
    crystals, errors, _ = read_crystal_sources(
        training["data"], max_sites=500, eform_label=training["energy_label"]
    )
    if errors:
        raise SystemExit(f"{len(errors)} unreadable records, e.g. {errors[0]}")
    pairs = pair_splits(crystals, SplitPlan.from_dict(split))["test"]
    if sorted({p.group for p in pairs}) != sorted(training["groups"]["test"]):
        raise SystemExit("the data no longer gives the card's test groups")
    return pairs, card


def chgnet_static(model, structures: list) -> np.ndarray:
    """CHGNet energies per atom (NaN where CHGNet fails on a structure)."""
    out = np.full(len(structures), np.nan)
    for k in range(0, len(structures), 32):
        chunk = structures[k : k + 32]
        try:
            preds = model.predict_structure(chunk, task="e", batch_size=32)
            out[k : k + len(chunk)] = [float(p["e"]) for p in preds]
        except Exception:  # one bad structure fails its batch: one by one
            for i, s in enumerate(chunk):
                with contextlib.suppress(Exception):  # stays NaN: counted as failed
                    out[k + i] = float(model.predict_structure(s, task="e")["e"])
    return out


def chgnet_relax(optimizer, structure) -> tuple[object, float]:
    """Relaxed structure and its energy per atom (``(None, nan)`` when the relaxation fails)."""
    try:
        result = optimizer.relax(structure, fmax=0.1, steps=300, relax_cell=True, verbose=False)
    except Exception:
        return None, float("nan")
    final = result["final_structure"]
    return final, float(result["trajectory"].energies[-1]) / len(final)


def match_rate(samples: list[list], targets: list, k: int = 1) -> float:
    """The CSP match rate (``chem.metrics.csp_match``); a failed relaxation (None) is no match."""
    from crystaloop.chem.metrics import csp_match

    keep = [i for i, row in enumerate(samples) if all(s is not None for s in row)]
    if not keep:
        return 0.0
    found = csp_match([samples[i] for i in keep], [targets[i] for i in keep], k)
    return found["match_rate"] * len(keep) / len(samples)


def run_seed(model, pairs, seed: int, samples: int, steps: int | None, n_relax: int, chgnet):
    """Return the metrics of one sampling seed."""
    from chgnet.model import StructOptimizer

    from crystaloop.chem.metrics import structural_validity
    from crystaloop.ml.generative.crystal import to_structure
    from crystaloop.ml.generative.samplers import SamplerOptions
    from crystaloop.ml.modify.sampling import modify_crystals

    start = time.perf_counter()
    outputs = modify_crystals(
        model,
        [p.source for p in pairs],
        samples,
        [p.delta_e for p in pairs],
        seed=seed,
        options=SamplerOptions(steps=steps),
    )
    seconds = time.perf_counter() - start
    outs = [[to_structure(c.lattice, c.frac, c.numbers) for c in row] for row in outputs]
    sources = [to_structure(p.source.lattice, p.source.frac, p.source.numbers) for p in pairs]
    targets = [to_structure(p.target.lattice, p.target.frac, p.target.numbers) for p in pairs]
    row: dict = {"seed": seed, "sources": len(pairs), "sampling_s": round(seconds, 1)}
    from crystaloop.chem.metrics import csp_metrics

    totals = {"k1": 0.0, f"k{samples}": 0.0, "input": 0.0}
    for group in sorted({p.group for p in pairs}):  # each pair matched once, per group
        mine = [i for i, p in enumerate(pairs) if p.group == group]
        found = csp_metrics([outs[i] for i in mine], [targets[i] for i in mine], (1, samples))
        inputs = match_rate([[sources[i]] for i in mine], [targets[i] for i in mine])
        row[f"match_k1_{group}"] = found["k1"]["match_rate"]
        row[f"match_input_{group}"] = inputs
        totals["k1"] += found["k1"]["match_rate"] * len(mine)
        totals[f"k{samples}"] += found[f"k{samples}"]["match_rate"] * len(mine)
        totals["input"] += inputs * len(mine)
    row["match_k1"] = totals["k1"] / len(pairs)
    row["match_input"] = totals["input"] / len(pairs)
    row[f"match_k{samples}"] = totals[f"k{samples}"] / len(pairs)
    row["valid_k1"] = structural_validity([o[0] for o in outs])
    e_in = chgnet_static(chgnet, sources)
    e_out = chgnet_static(chgnet, [o[0] for o in outs])
    delta = e_out - e_in
    ok = np.isfinite(delta)
    row["energy_failed"] = int((~ok).sum())
    row["lowered_k1"] = float(np.mean(delta[ok] < 0))
    row["mean_dE_k1"] = float(np.mean(delta[ok]))
    row["median_dE_k1"] = float(np.median(delta[ok]))
    # baseline: relax the source; and modification followed by the same relaxation
    optimizer = StructOptimizer(model=chgnet, optimizer_class="FIRE")
    picks = np.random.default_rng(seed).choice(
        len(pairs), size=min(n_relax, len(pairs)), replace=False
    )
    relaxed_in, relaxed_out, d_in, d_out = [], [], [], []
    for i in picks:
        s_in, e_rin = chgnet_relax(optimizer, sources[i])
        s_out, e_rout = chgnet_relax(optimizer, outs[i][0])
        relaxed_in.append([s_in])
        relaxed_out.append([s_out])
        d_in.append(e_rin - e_in[i])
        d_out.append(e_rout - e_in[i])
    sub_targets = [targets[i] for i in picks]
    d_in, d_out = np.array(d_in), np.array(d_out)
    row["relaxed_n"] = len(picks)
    row["relax_match"] = match_rate(relaxed_in, sub_targets)
    row["modify_relax_match"] = match_rate(relaxed_out, sub_targets)
    row["relax_mean_dE"] = float(np.nanmean(d_in))
    row["modify_relax_mean_dE"] = float(np.nanmean(d_out))
    both = np.isfinite(d_in) & np.isfinite(d_out)
    row["modify_relax_lower_than_relax"] = float(np.mean(d_out[both] < d_in[both] - 1e-3))
    row["relax_failed"] = int(np.isnan(d_in).sum() + np.isnan(d_out).sum())
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="carbon24", help="Modifier name or directory.")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--max-sources", type=int, default=None, help="Cap the held-out sources.")
    parser.add_argument("--relax-sources", type=int, default=30)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/modifier.json"))
    args = parser.parse_args()

    from chgnet.model import CHGNet

    from crystaloop.ml.modify.checkpoint import find_modifier, load_modifier

    directory = find_modifier(args.model)
    model = load_modifier(directory)
    pairs, card = test_pairs(directory)
    if args.max_sources and len(pairs) > args.max_sources:
        keep = np.random.default_rng(0).choice(len(pairs), args.max_sources, replace=False)
        pairs = [pairs[i] for i in sorted(keep)]
    chgnet = CHGNet.load(verbose=False)
    rows = []
    for seed in args.seeds:
        rows.append(
            run_seed(model, pairs, seed, args.samples, args.steps, args.relax_sources, chgnet)
        )
        print(json.dumps(rows[-1]), file=sys.stderr)
    keys = [k for k in rows[0] if k not in ("seed",)]
    summary = {
        k: {
            "mean": float(np.mean([r[k] for r in rows])),
            "std": float(np.std([r[k] for r in rows])),
        }
        for k in keys
    }
    print(
        f"modifier {directory.name} ({card['generator']}, prior {card['prior']}) on the test "
        f"groups {', '.join(card['training']['groups']['test'])}; seeds {args.seeds}"
    )
    print(f"{'metric':34s} {'mean':>9s} {'std':>8s}")
    for k, v in summary.items():
        print(f"{k:34s} {v['mean']:9.4f} {v['std']:8.4f}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "hardware": hardware(),
                "model": str(directory),
                "card": {k: card[k] for k in ("generator", "prior", "training")},
                "samples": args.samples,
                "steps": args.steps,
                "per_seed": rows,
                "summary": summary,
            },
            indent=1,
        )
    )
    print(f"written {args.json}")


if __name__ == "__main__":
    main()
