"""Space-group guidance of a conditional CSP generator: does asking for a space group give it?

For each held-out test structure (its model card's split), the generator samples its composition
conditioned on the structure's own space group (spglib at symprec 0.1 Å) with classifier-free
guidance w (0: the unconditional velocity / score, 1: the conditional one, > 1: pushed further).
Reported per w, mean ± std over sampling seeds: the share of samples in the target space group,
the share that is not P1, and the CSP match rate / RMSE (DiffCSP's protocol, k = 1).

    python benchmarks/spacegroup_guidance.py --model DIR [--n-test 100] [--weights 0,1,2,4]
        [--seeds 0,1,2] [--steps 50] [--out benchmarks/results/spacegroup_guidance.json]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from bench_common import hardware
from generators import read_card_splits, structures_of

from crystaloop.chem.metrics import csp_metrics
from crystaloop.chem.symmetry import SymmetryError, symmetry_info
from crystaloop.ml.checkpoint import read_card
from crystaloop.ml.generative.checkpoint import load_generator
from crystaloop.ml.generative.crystal import crystal_arrays
from crystaloop.ml.generative.samplers import SamplerOptions, sample_crystals


def spacegroup_of(structure) -> int | None:
    """Space group at symprec 0.1 Å; ``None`` when spglib fails (counted as a miss, not P1)."""
    try:
        return symmetry_info(structure, symprec=0.1).number
    except SymmetryError:
        return None


def one_run(model, test, targets, weight, steps, seed) -> dict:
    """Sample each test composition once, conditioned on its target space group."""
    by_group = defaultdict(list)
    for i, sg in enumerate(targets):
        by_group[sg].append(i)
    generated = [None] * len(test)
    torch.manual_seed(seed)
    for sg, members in sorted(by_group.items()):
        arrays = [crystal_arrays(test[i][1]) for i in members]
        crystals = sample_crystals(
            model,
            [a.num_atoms for a in arrays],
            [a.numbers.tolist() for a in arrays],
            options=SamplerOptions(steps=steps, guidance=weight),
            spacegroup=sg,
        )
        for i, structure in zip(members, structures_of(crystals), strict=True):
            generated[i] = structure
    groups = [spacegroup_of(s) for s in generated]
    metrics = csp_metrics([[s] for s in generated], [s for _, s in test], ks=[1])["k1"]
    return {
        "in_target": float(np.mean([g == t for g, t in zip(groups, targets, strict=True)])),
        "not_p1": float(np.mean([g is not None and g != 1 for g in groups])),
        "match_rate": metrics["match_rate"],
        "rmse": metrics["rmse"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a CSP model directory")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--n-test", type=int, default=100)
    parser.add_argument("--weights", default="0,1,2,4")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/spacegroup_guidance.json")
    )
    args = parser.parse_args()
    model = load_generator(args.model, device="cpu")
    if not model.config.cond_spacegroup:
        raise SystemExit(f"{args.model} was not trained with a space-group condition")
    test = read_card_splits(read_card(args.model), args.data)["test"][: args.n_test]
    targets = [spacegroup_of(s) or 1 for _, s in test]
    rows = []
    for weight in [float(w) for w in args.weights.split(",")]:
        runs = [
            one_run(model, test, targets, weight, args.steps, int(seed))
            for seed in args.seeds.split(",")
        ]
        row = {"guidance": weight, "runs": runs}
        for key in ("in_target", "not_p1", "match_rate", "rmse"):
            values = [r[key] for r in runs if r[key] is not None]
            row[key] = float(np.mean(values)) if values else None
            row[f"{key}_std"] = float(np.std(values)) if values else None
        rows.append(row)
    share_p1 = float(np.mean([t == 1 for t in targets]))
    print(f"{args.model}: {len(test)} test structures, {share_p1:.0%} of them P1 at 0.1 Å")
    print(f"{'w':>4}{'in target SG':>18}{'not P1':>18}{'match k=1':>18}{'RMSE':>10}")
    for r in rows:
        print(
            f"{r['guidance']:>4g}{100 * r['in_target']:>11.1f} ± {100 * r['in_target_std']:.1f}%"
            f"{100 * r['not_p1']:>11.1f} ± {100 * r['not_p1_std']:.1f}%"
            f"{100 * r['match_rate']:>11.1f} ± {100 * r['match_rate_std']:.1f}%"
            f"{r['rmse'] if r['rmse'] is None else round(r['rmse'], 3):>10}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "hardware": hardware(),
                "args": {k: str(v) for k, v in vars(args).items()},
                "target_share_p1": share_p1,
                "rows": rows,
            },
            indent=2,
        )  # fmt: skip
    )
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
